"""The grader's side of the grading channel: `ns` for hidden tests, backed by the kernel.

`RemoteNamespace` has the interface of mlkit.grading.namespace.LocalNamespace, but
`ns.churn_rate` asks the learner's (sandboxed) kernel for the value and gets plain data
back; objects that are not data, such as a fitted model, come back as `RemoteObject`
references whose attributes and methods are again fetched or called in the kernel.
The tests themselves, and every comparison they make, run here in the grader.

A reference is deliberately useless as a value: it equals nothing but itself, has no
truth value, and refuses private and dunder attributes, so a learner's object whose
`__eq__` always returns True, or one that fakes numpy's array interface, gains nothing.

A reply is whatever the learner's kernel published: one that is not JSON, too large,
truncated or not plain data fails the test that asked (CodecError) and is reported
(`report`), and a kernel that answers on the shell channel but then sends nothing more
on its output channel (closed, or cut off after an oversized message) is stopped,
so that no test waits for it.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from jupyter_core.utils import ensure_async, run_sync

from mlkit.grading.codec import decode, encode, loads
from mlkit.grading.exceptions import (
    AnswerMissingError,
    CodecError,
    KernelGoneError,
    LearnerCodeError,
    ProbeTimeoutError,
)
from mlkit.grading.probe import MIME, request_code

INTERRUPT_GRACE = 10.0
MAX_REPLY_CHARS = 64 * 2**20


class KernelProbe:
    """Sends requests to the learner's kernel (through nbclient's client) and reads replies."""

    def __init__(
        self,
        kc: Any,
        *,
        timeout: float,
        interrupt: Callable[[], Awaitable[None]],
        alive: Callable[[], Awaitable[bool]],
        kill: Callable[[], None],
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.kc = kc
        self.timeout = timeout
        self._interrupt = interrupt
        self._alive = alive
        self._kill = kill
        self._report = report or (lambda detail: None)
        self.gone: str | None = None
        self.broken = False  # the kernel broke the channel (and was stopped)

    def request(self, payload: dict[str, Any]) -> Any:
        """Send payload; return the decoded reply value, or raise what the kernel reported."""
        if self.gone:
            raise KernelGoneError(self.gone)
        reply = run_sync(self._exchange)(request_code(payload))
        if reply is None:
            self._report("the kernel published no reply to a request of the tests")
            raise LearnerCodeError(
                "RuntimeError", "the notebook's kernel did not answer (was mlkit changed?)"
            )
        try:
            data = loads(reply, max_chars=MAX_REPLY_CHARS, what="the kernel's reply")
            if type(data) is not dict:
                raise CodecError(f"the kernel's reply is a {type(data).__name__}, not an object")
            if data.get("ok") is True:
                return decode(data.get("value"), self._reference)
        except CodecError as err:
            self._report(f"the grader refused a reply to the tests: {err}")
            raise
        if data.get("missing") is True and payload["op"] == "get":
            raise AnswerMissingError(payload["name"])
        raise LearnerCodeError(str(data.get("type"))[:100], str(data.get("message"))[:2000])

    def release(self) -> None:
        """Ask the kernel to free what its last error holds; a failure here is not fatal."""
        try:
            self.request({"op": "release"})
        except (LearnerCodeError, CodecError, ProbeTimeoutError, KernelGoneError):
            pass  # the tests themselves will report what is wrong

    def _reference(self, data: dict[str, Any]) -> RemoteObject:
        if type(data.get("id")) is not int:
            raise CodecError("a reference without a valid id")
        return RemoteObject(self, data["id"], str(data.get("type", "object"))[:200])

    async def _exchange(self, code: str) -> Any:
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline = time.monotonic() + self.timeout
        silent_after: float | None = None  # once the kernel replied, its output must follow
        reply = None
        while True:
            now = time.monotonic()
            if silent_after is None and await self._replied(msg_id):
                silent_after = now + INTERRUPT_GRACE
            if silent_after is not None and now > silent_after:
                self._broken()
            if silent_after is None and now >= deadline:
                return await self._on_timeout(msg_id)
            wait = (deadline if silent_after is None else silent_after) - now
            msg = await self._next_message(min(max(wait, 0.05), 1.0))
            if msg is None or msg["parent_header"].get("msg_id") != msg_id:
                continue
            content = msg["content"]
            if msg["msg_type"] == "display_data" and MIME in content.get("data", {}):
                reply = content["data"][MIME]
            elif msg["msg_type"] == "status" and content.get("execution_state") == "idle":
                return reply

    async def _replied(self, msg_id: str) -> bool:
        """True once the kernel's shell reply to msg_id has arrived (earlier ones are dropped)."""
        while True:
            try:
                msg = await ensure_async(self.kc.get_shell_msg(timeout=0))
            except queue.Empty:
                return False
            if msg["parent_header"].get("msg_id") == msg_id:
                return True

    def _broken(self) -> NoReturn:
        self._kill()
        self.broken = True
        self.gone = (
            "the notebook's kernel finished a request of the tests but sent nothing more on "
            f"its output channel for {INTERRUPT_GRACE:g} s (was the channel closed?), so the "
            "grader stopped the kernel"
        )
        self._report(self.gone)
        raise KernelGoneError(self.gone)

    async def _next_message(self, timeout: float) -> dict[str, Any] | None:
        try:
            return await ensure_async(self.kc.get_iopub_msg(timeout=timeout))
        except queue.Empty:
            if not await self._alive():
                self.gone = "the notebook's kernel stopped while the tests ran"
                raise KernelGoneError(self.gone) from None
            return None

    async def _on_timeout(self, msg_id: str) -> None:
        await self._interrupt()
        deadline = time.monotonic() + INTERRUPT_GRACE
        while time.monotonic() < deadline:
            msg = await self._next_message(1.0)
            if (
                msg is not None
                and msg["parent_header"].get("msg_id") == msg_id
                and msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
            ):
                raise ProbeTimeoutError(self.timeout)
        self._kill()
        self.gone = (
            f"your code ran past the {self.timeout:g} s limit of a test and ignored the "
            "interrupt, so the grader stopped the kernel"
        )
        raise KernelGoneError(self.gone)


def _send(value: Any) -> Any:
    def reference(obj: Any) -> dict[str, Any]:
        if isinstance(obj, RemoteObject):
            return {"t": "ref", "id": obj._ref}
        raise CodecError(
            f"a test can pass plain data or the learner's own objects, not a {type(obj).__name__}"
        )

    return encode(value, reference)


class RemoteNamespace:
    """`ns` in the grader: `ns.name` is the learner's `name`, fetched from their kernel."""

    def __init__(self, probe: KernelProbe) -> None:
        object.__setattr__(self, "_probe", probe)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._probe.request({"op": "get", "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("tests read the learner's names; they do not assign them")


class RemoteObject:
    """A learner's object that is not plain data, left in their kernel and used from here."""

    def __init__(self, probe: KernelProbe, ref: int, type_name: str) -> None:
        object.__setattr__(self, "_probe", probe)
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_type_name", type_name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"tests may use public attributes only, not {name!r}")
        return self._probe.request({"op": "getattr", "ref": self._ref, "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("tests cannot change the learner's objects")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        payload = {"op": "call", "ref": self._ref, "args": _send(list(args))}
        return self._probe.request({**payload, "kwargs": _send(dict(kwargs))})

    def __getitem__(self, key: Any) -> Any:
        return self._probe.request({"op": "getitem", "ref": self._ref, "key": _send(key)})

    def __len__(self) -> int:
        length = self._probe.request({"op": "len", "ref": self._ref})
        if type(length) is not int:
            raise CodecError("len() of the learner's object is not a whole number")
        return length

    def __bool__(self) -> bool:
        raise TypeError(f"{self!r} is not plain data, so it has no truth value for a test")

    def __iter__(self) -> Any:
        raise TypeError(f"{self!r} is not plain data; a test cannot iterate over it")

    def __repr__(self) -> str:
        return f"<learner's {self._type_name}>"
