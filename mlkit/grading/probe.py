"""The kernel side of the grading channel: answer the grader's questions about this notebook.

After the learner's notebook has finished, the grader sends requests such as "the value
of `churn_rate`" or "call `latency_summary` with these numbers" and reads the reply as
plain data (mlkit.grading.codec). A request never contains a test: the expected values
and the verdicts stay in the grader's process. A learner's code may replace this module
in their own kernel; that only changes the values their notebook reports, which is
what answering a question is anyway.
"""

from __future__ import annotations

import json
from typing import Any

from mlkit.grading.codec import decode, encode
from mlkit.grading.namespace import user_namespace

MIME = "application/vnd.mlkit.probe+json"
MAX_MESSAGE = 2000

_refs: dict[int, Any] = {}


def request_code(payload: dict[str, Any]) -> str:
    """The one line of code that makes the kernel answer payload."""
    literal = json.dumps(json.dumps(payload))
    return f"__import__('mlkit.grading.probe', fromlist=['answer']).answer({literal})"


def answer(request: str) -> None:
    """Perform one request and publish the reply as display data of type MIME."""
    from IPython.display import publish_display_data

    try:
        reply = {"ok": True, "value": encode(_perform(json.loads(request)), _remember)}
    except BaseException as err:  # report every failure, SystemExit and interrupts included
        reply = {
            "ok": False,
            "type": type(err).__name__,
            "message": str(err)[:MAX_MESSAGE],
            "missing": isinstance(err, _Missing),
        }
    publish_display_data({MIME: json.dumps(reply)})  # type: ignore[no-untyped-call]


class _Missing(NameError):
    pass


def _perform(request: dict[str, Any]) -> Any:
    op = request["op"]
    if op == "release":
        return _release()
    if op == "get":
        names = user_namespace()
        if request["name"] not in names:
            raise _Missing(request["name"])
        return names[request["name"]]
    target = _refs[request["ref"]]
    if op == "getattr":
        return getattr(target, request["name"])
    if op == "call":
        args = decode(request["args"], _resolve)
        kwargs = decode(request["kwargs"], _resolve)
        return target(*args, **kwargs)
    if op == "getitem":
        return target[decode(request["key"], _resolve)]
    if op == "len":
        return len(target)
    raise ValueError(f"unknown request {op!r}")


def _release() -> None:
    """Clear the way for the tests: end the notebook's stray processes, drop its last error.

    A fork bomb's processes would keep the CPU busy, and forked copies of the kernel would
    answer the grader's requests alongside it; in a sandbox of its own the kernel is
    process 1 and ends them all. A cell that failed with MemoryError leaves its traceback
    (in sys.last_traceback and in IPython's formatters), and with it every object its
    frames held: the tests would run in an exhausted kernel.
    """
    import gc
    import sys

    from IPython import get_ipython

    _end_stray_processes()
    sys.last_type = sys.last_value = sys.last_traceback = None
    shell = get_ipython()
    if shell is not None:
        shell.last_execution_result = None
        for formatter in (shell.InteractiveTB, shell.SyntaxTB):
            formatter.tb = None  # IPython's formatters keep the last traceback for %debug
    gc.collect()


def _end_stray_processes() -> None:
    """As process 1 of a sandbox's pid namespace, kill every other process in it and reap.

    kill(-1) from process 1 reaches every process of its namespace but itself, and no fork
    can slip through while it runs. Outside a pid namespace of its own (the kernel is not
    process 1) this does nothing.
    """
    import os
    import signal

    if os.getpid() != 1:
        return
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:  # nothing else was running
        return
    while True:
        try:
            if os.waitpid(-1, 0)[0] == 0:
                return
        except ChildProcessError:
            return


def _remember(value: Any) -> dict[str, Any]:
    ref = len(_refs) + 1
    _refs[ref] = value
    kind = type(value)
    return {"t": "ref", "id": ref, "type": f"{kind.__module__}.{kind.__qualname__}"}


def _resolve(data: dict[str, Any]) -> Any:
    return _refs[data["id"]]
