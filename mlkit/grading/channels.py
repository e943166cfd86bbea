"""The grader's end of the kernel's channels: each message is bounded and checked, or dropped.

Everything the learner's kernel says reaches the grader as ZeroMQ messages: cell output
and the probe's replies on iopub, execution replies on shell. The kernel runs the
learner's code, which can send anything on those sockets, signed with the key the
kernel was given. So the client the grader uses (GuardedKernelClient):

- refuses any frame larger than MAX_FRAME_BYTES before reading it (ZeroMQ's
  MAXMSGSIZE): the connection that carried it is cut, the kernel then looks silent,
  and the grading session stops it with that reason (mlkit.grading.execute);
- drops, and reports, every message it cannot read (no or bad signature, not JSON,
  nested too deeply) and every message whose fields do not have the types the Jupyter
  protocol and the notebook format give them, so that nbclient, papermill and the
  probe only ever see well-formed messages;
- replaces lone surrogates (`\\ud800` escapes) in every string by U+FFFD, so that
  whatever is kept can be written as UTF-8.

A dropped message changes nothing but the learner's own run: the cell goes on, and
the report becomes a `protocol-error` event with the reason (mlkit.grading.results).

Known limit: ZeroMQ bounds each frame, not how many frames one message has, so a kernel
that repeats one large buffer as thousands of frames of a single message can still make
the grader's worker hold them all before any check runs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from queue import Empty
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from traitlets import Type

from mlkit.grading.codec import valid_text
from mlkit.grading.exceptions import CodecError

# Larger than any output an honest notebook makes in one message (a kernel of 2 GB can
# hardly build one), and than the probe's largest reply; reading a frame costs the
# grader about three times its size while it is parsed.
MAX_FRAME_BYTES = 256 * 2**20
MAX_NAME_CHARS = 1000  # message types, ids, stream and error names
OUTPUT_TYPES = ("display_data", "update_display_data", "execute_result")
JSON_MIME = re.compile(r"^application/(.*\+)?json$")  # as in the notebook format's schema
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

Report = Callable[[str], None]


def read_message(frames: list[bytes], session: Session) -> tuple[dict[str, Any] | None, str]:
    """(message, "") for frames the grader can use, else (None, why they were dropped)."""
    try:
        _, parts = session.feed_identities(frames)
        msg = session.deserialize(parts)
    except Exception as err:  # learner-made bytes: whatever deserialize raises, it is theirs
        return None, f"a message the grader could not read ({_unreadable(err)})"
    if any(SURROGATE_ESCAPE.search(part) for part in parts[1:5]):  # type: ignore[arg-type]
        try:
            for key in ("header", "parent_header", "metadata", "content"):
                msg[key] = valid_text(msg[key])
        except CodecError as err:
            return None, f"a message the grader could not read ({err})"
    problem = message_problem(msg)
    if problem is not None:
        kind = msg["msg_type"] if _name(msg.get("msg_type")) else "?"
        return None, f"a message of type {kind[:50]} whose {problem}"
    return msg, ""


def _unreadable(err: Exception) -> str:
    if isinstance(err, RecursionError):
        return "nested too deeply"
    if isinstance(err, json.JSONDecodeError):
        return "not JSON"
    if "Signature" in str(err):
        return "its signature is missing, wrong or used before"
    return f"not a Jupyter message: {type(err).__name__}: {str(err)[:100]}"


def message_problem(msg: dict[str, Any]) -> str | None:
    """What makes msg unusable (e.g. "text is not a string"), or None when it is usable.

    Checks what nbclient, papermill, nbformat and the probe rely on: the header's type and
    id are names, parent header, metadata and content are objects, and the content of each
    kind of message the grader reads has its fields with the protocol's types.
    """
    header, parent = msg.get("header"), msg.get("parent_header")
    if type(header) is not dict or not _name(header.get("msg_type")):
        return "header has no message type"
    if not _name(header.get("msg_id")):
        return "header has no message id"
    if type(parent) is not dict or not (parent.get("msg_id") is None or _name(parent["msg_id"])):
        return "parent header is not an object with a message id"
    if type(msg.get("metadata")) is not dict:
        return "metadata is not an object"
    content = msg.get("content")
    if type(content) is not dict:
        return "content is not an object"
    return _content_problem(header["msg_type"], content)


def _content_problem(msg_type: str, content: dict[str, Any]) -> str | None:
    count = content.get("execution_count")
    if count is not None and (type(count) is not int or count < 0):
        return "execution_count is not a count"
    transient = content.get("transient")
    if transient and (type(transient) is not dict or not _optional_name(transient, "display_id")):
        return "transient display_id is not a name"
    if msg_type == "status" and type(content.get("execution_state")) is not str:
        return "execution_state is not a string"
    if msg_type == "stream" and not (_name(content.get("name")) and _text(content.get("text"))):
        return "name or text is not a string"
    if msg_type in OUTPUT_TYPES:
        if type(content.get("metadata")) is not dict:
            return "metadata is not an object"
        return _bundle_problem(content.get("data"))
    if msg_type == "execute_reply" and type(content.get("status")) is not str:
        return "status is not a string"
    if msg_type == "error" or (msg_type == "execute_reply" and content["status"] == "error"):
        if not (_name(content.get("ename")) and _text(content.get("evalue"))):
            return "ename or evalue is not a string"
        traceback = content.get("traceback", [])
        if type(traceback) is not list or not all(_text(line) for line in traceback):
            return "traceback is not a list of strings"
    if msg_type == "clear_output" and type(content.get("wait", False)) is not bool:
        return "wait is not true or false"
    return None


def _bundle_problem(data: Any) -> str | None:
    if type(data) is not dict:
        return "data is not an object"
    for mime, value in data.items():
        if JSON_MIME.search(mime):
            continue
        if not (_text(value) or (type(value) is list and all(_text(v) for v in value))):
            return "data holds a value that is neither text nor lines of text"
    return None


def _text(value: Any) -> bool:
    return type(value) is str


def _name(value: Any) -> bool:
    return type(value) is str and len(value) <= MAX_NAME_CHARS


def _optional_name(mapping: dict[str, Any], key: str) -> bool:
    return mapping.get(key) is None or _name(mapping[key])


def _ignore(problem: str) -> None:
    pass


class GuardedChannel(AsyncZMQSocketChannel):
    """A channel that hands on only messages read_message accepts, and reports the others."""

    report: Report = staticmethod(_ignore)

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:  # type: ignore[override]
        """The next usable message within timeout seconds (None: wait), else queue.Empty."""
        assert self.socket is not None  # noqa: S101 (types only: a started channel)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not await self.socket.poll(None if wait is None else int(wait * 1000)):
                raise Empty
            msg, problem = read_message(await self.socket.recv_multipart(), self.session)
            if msg is not None:
                return msg
            self.report(problem)


class GuardedKernelClient(AsyncKernelClient):
    """The kernel client of a grading session: bounded frames, checked messages.

    `report_to(callback)` sends the reason of each dropped message to callback.
    """

    shell_channel_class = Type(GuardedChannel)
    iopub_channel_class = Type(GuardedChannel)
    stdin_channel_class = Type(GuardedChannel)
    control_channel_class = Type(GuardedChannel)

    def _context_default(self) -> zmq.asyncio.Context:
        context = super()._context_default()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)  # default of its every socket
        return context

    def report_to(self, report: Report) -> None:
        """Send the reason of every message dropped from now on to report."""
        for channel in (self.shell_channel, self.iopub_channel, self.control_channel):
            channel.report = report
