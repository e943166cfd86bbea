"""The grader's end of the kernel's channels: garbage is dropped and named, never raised."""

import asyncio
import io

import pytest
import zmq
import zmq.asyncio
from jupyter_client.session import Session

from mlkit.grading.channels import (
    MAX_FRAME_BYTES,
    GuardedChannel,
    GuardedKernelClient,
    read_message,
)
from mlkit.grading.kernel import keep_head

SESSION = Session(key=b"the kernel's key")
PARENT = SESSION.msg_header("execute_request")


def frames(msg_type, content, *, header=None, parent=None, sign=True):
    """The frames a kernel would send, with parts given as bytes where they are raw."""
    parts = [
        header if header is not None else SESSION.pack(SESSION.msg_header(msg_type)),
        SESSION.pack(PARENT) if parent is None else parent,
        b"{}",
        content if isinstance(content, bytes) else SESSION.pack(content),
    ]
    signature = SESSION.sign(parts) if sign else b"0" * 64
    return [b"topic", b"<IDS|MSG>", signature, *parts]


def test_a_well_formed_message_is_handed_on():
    msg, problem = read_message(frames("stream", {"name": "stdout", "text": "hi\n"}), SESSION)
    assert problem == "" and msg["content"]["text"] == "hi\n"
    assert msg["parent_header"]["msg_id"] == PARENT["msg_id"]


@pytest.mark.parametrize(
    "message, problem",
    [
        (frames("stream", {"name": "stdout", "text": "x"}, sign=False), "signature"),
        (frames("stream", b"\xff\xfe{{{ not json"), "(not JSON)"),
        (frames("stream", b"[" * 100_000 + b"]" * 100_000), "nested too deeply"),
        ([b"no delimiter", b"at all"], "could not read"),
        (frames("stream", {}, header=b'{"msg_id": "x", "msg_type": 7}'), "not a Jupyter"),
        (frames("stream", {}, parent=b"[1]"), "parent header is not an object"),
        (frames("stream", [1, 2]), "content is not an object"),
        (frames("stream", {"name": "stdout", "text": 5}), "name or text is not a string"),
        (frames("stream", {"name": ["x"], "text": "x"}), "name or text is not a string"),
        (frames("display_data", {"data": [], "metadata": {}}), "data is not an object"),
        (frames("display_data", {"data": {}, "metadata": 3}), "metadata is not an object"),
        (frames("display_data", {"data": {"text/html": 5}, "metadata": {}}), "neither text"),
        (
            frames("display_data", {"data": {}, "metadata": {}, "transient": {"display_id": [1]}}),
            "display_id is not a name",
        ),
        (frames("execute_result", {"data": {}, "metadata": {}, "execution_count": -1}), "count"),
        (frames("error", {"ename": "E", "evalue": "v", "traceback": "tb"}), "traceback"),
        (frames("error", {"ename": None, "evalue": "v", "traceback": []}), "ename or evalue"),
        (frames("execute_reply", {"status": 1}), "status is not a string"),
        (frames("execute_reply", {"status": "error", "ename": "E"}), "ename or evalue"),
        (frames("status", {"execution_state": None}), "execution_state is not a string"),
        (frames("clear_output", {"wait": "soon"}), "wait is not true or false"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_message_the_grader_cannot_use_is_dropped_with_the_reason(message, problem):
    msg, reason = read_message(message, SESSION)
    assert msg is None and problem in reason


def test_json_mime_types_may_hold_any_json_and_text_may_be_lines():
    content = {"data": {"application/vnd.x+json": [1, {"a": None}], "text/plain": ["a", "b"]}}
    msg, problem = read_message(frames("display_data", {**content, "metadata": {}}), SESSION)
    assert problem == "" and msg is not None


def test_text_is_always_valid_unicode():
    raw = b'{"name": "stdout", "text": "lone \\ud800, bytes \xff\xfe"}'
    msg, problem = read_message(frames("stream", raw), SESSION)
    assert msg["content"]["text"] == "lone \ufffd, bytes \ufffd\ufffd"
    msg["content"]["text"].encode("utf-8")


def test_a_replayed_message_is_dropped():
    message = frames("stream", {"name": "stdout", "text": "once"})
    session = Session(key=SESSION.key)
    assert read_message(message, session)[0] is not None
    assert "used before" in read_message(message, session)[1]


def test_the_channel_skips_garbage_reports_it_and_returns_the_next_good_message():
    async def scenario():
        context = zmq.asyncio.Context()
        try:
            pull, push = context.socket(zmq.PULL), context.socket(zmq.PUSH)
            pull.bind("inproc://kernel")
            push.connect("inproc://kernel")
            channel = GuardedChannel(pull, Session(key=SESSION.key))
            reported = []
            channel.report = reported.append
            await push.send_multipart(frames("stream", b"not json"))
            await push.send_multipart(frames("stream", {"name": "stdout", "text": "good"}))
            msg = await channel.get_msg(timeout=None)
            return msg, reported
        finally:
            context.destroy(linger=0)

    msg, reported = asyncio.run(scenario())
    assert msg["content"]["text"] == "good"
    assert reported == ["a message the grader could not read (not JSON)"]


def test_every_socket_of_the_grading_client_refuses_oversized_frames():
    client = GuardedKernelClient()
    try:
        for kind in (zmq.SUB, zmq.DEALER):
            socket = client.context.socket(kind)
            assert socket.getsockopt(zmq.MAXMSGSIZE) == MAX_FRAME_BYTES
            socket.close(linger=0)
    finally:
        client.context.destroy(linger=0)


class Pipe(io.BytesIO):
    """What the kernel wrote to its stdout; remembers how much was read when it closes."""

    def close(self):
        self.read_to = self.tell()
        super().close()


def test_the_kernel_log_keeps_its_head_and_drains_the_rest(tmp_path):
    written = b"\xff\x00" * 150_000 + b"the end"
    pipe = Pipe(written)
    keep_head(io.BufferedReader(pipe), tmp_path / "kernel.log", limit=100_000)
    assert (tmp_path / "kernel.log").read_bytes() == written[:100_000]
    assert pipe.read_to == len(written)
