"""RemoteNamespace and RemoteObject: the learner's objects are usable but never trusted."""

import pytest

from mlkit.grading.codec import decode, encode
from mlkit.grading.exceptions import AnswerMissingError, CodecError, LearnerCodeError
from mlkit.grading.remote import MAX_REPLY_CHARS, KernelProbe, RemoteNamespace, RemoteObject


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __bool__(self):
        return True

    __array_interface__ = {"data": (0, False), "shape": (1,), "typestr": "<f8", "version": 3}

    def predict(self, rows):
        return [1] * len(rows)


class FakeProbe:
    """Performs requests on a dict of 'learner' names in-process, through the codec."""

    def __init__(self, names):
        self.names = names
        self.refs = {}
        self.gone = None

    def request(self, payload):
        op = payload["op"]
        if op == "get":
            if payload["name"] not in self.names:
                raise AnswerMissingError(payload["name"])
            value = self.names[payload["name"]]
        else:
            target = self.refs[payload["ref"]]
            if op == "getattr":
                value = getattr(target, payload["name"])
            elif op == "call":
                args = decode(payload["args"], lambda r: self.refs[r["id"]])
                try:
                    value = target(*args)
                except Exception as err:
                    raise LearnerCodeError(type(err).__name__, str(err)) from None
            else:
                value = len(target)
        return decode(encode(value, self._remember), self._reference)

    def _remember(self, obj):
        self.refs[len(self.refs) + 1] = obj
        return {"t": "ref", "id": len(self.refs), "type": type(obj).__qualname__}

    def _reference(self, data):
        return RemoteObject(self, data["id"], data["type"])


def test_an_always_equal_answer_equals_nothing_and_has_no_truth_value():
    ns = RemoteNamespace(FakeProbe({"churn_rate": AlwaysEqual()}))
    answer = ns.churn_rate
    assert isinstance(answer, RemoteObject)
    assert not answer == 0.25
    with pytest.raises(TypeError, match="no truth value"):
        assert answer


def test_private_and_dunder_attributes_are_refused():
    fake = RemoteNamespace(FakeProbe({"model": AlwaysEqual()})).model
    for name in ("__array_interface__", "_typ", "__class__"):
        with pytest.raises(AttributeError):
            object.__getattribute__(fake, "__getattr__")(name)


def test_methods_run_in_the_learner_namespace_and_return_data():
    ns = RemoteNamespace(FakeProbe({"model": AlwaysEqual(), "broken": lambda: 1 / 0}))
    assert ns.model.predict([[1], [2], [3]]) == [1, 1, 1]
    with pytest.raises(LearnerCodeError, match="your code raised ZeroDivisionError"):
        ns.broken()
    with pytest.raises(AnswerMissingError, match="`missing` is not defined"):
        _ = ns.missing


class ScriptedProbe(KernelProbe):
    """A KernelProbe whose kernel 'publishes' the given reply text to every request."""

    def __init__(self, reply):
        self.reported = []
        super().__init__(
            None, timeout=1, interrupt=None, alive=None, kill=None, report=self.reported.append
        )
        self.reply = reply

    async def _exchange(self, code):
        return self.reply


@pytest.mark.parametrize(
    "reply, refusal",
    [
        ("{{{ not json", "the kernel's reply is not JSON"),
        ('{"ok": true, "value": {"t": "fl', "the kernel's reply is not JSON"),
        ("\ufffd\ufffd", "the kernel's reply is not JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("x" * (MAX_REPLY_CHARS + 1), f"more than the {MAX_REPLY_CHARS} accepted"),
        ("[1, 2]", "the kernel's reply is a list, not an object"),
        ('{"ok": true, "value": {"t": "float"}}', "malformed encoded data"),
        ('{"ok": true, "value": {"t": "ref", "id": "1"}}', "a reference without a valid id"),
    ],
    ids=["garbage", "truncated", "not-utf8", "deep", "huge", "not-an-object", "bad-value", "ref"],
)
def test_a_reply_the_grader_cannot_use_fails_the_request_and_is_reported(reply, refusal):
    probe = ScriptedProbe(reply)
    with pytest.raises(CodecError, match=refusal):
        probe.request({"op": "get", "name": "churn_rate"})
    assert len(probe.reported) == 1 and refusal in probe.reported[0]
    probe.release()  # the request before the tests never fails the grader
    assert len(probe.reported) == 2


def test_no_reply_at_all_is_the_learners_and_reported():
    probe = ScriptedProbe(None)
    with pytest.raises(LearnerCodeError, match="did not answer"):
        probe.request({"op": "get", "name": "churn_rate"})
    assert probe.reported == ["the kernel published no reply to a request of the tests"]
