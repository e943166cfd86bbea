"""What a run's events become, which saved records are reused, and how large both may grow."""

import json

import pytest

from mlkit.grading.execute import MAX_DETAIL_CHARS, MAX_EVENTS_PER_KIND, RunRecord
from mlkit.grading.records import MAX_RECORD_BYTES, record_path, reusable_record, save_record
from mlkit.grading.registry import Test
from mlkit.grading.results import SubmissionResult, status_of, summary_of
from mlkit.grading.scoring import MAX_MESSAGE_CHARS, run_test


def event(kind, detail="what happened", cell=None):
    return {"kind": kind, "cell": cell, "detail": detail}


@pytest.mark.parametrize(
    "kinds, status",
    [
        (["protocol-error", "cell-error", "output-truncated"], "protocol-error"),
        (["channel-broken"], "protocol-error"),
        (["protocol-error", "kernel-died"], "kernel-died"),
        (["cell-timeout", "protocol-error"], "protocol-error"),
    ],
)
def test_garbage_from_the_kernel_is_a_learner_status(kinds, status):
    assert status_of([event(kind) for kind in kinds]) == status


def test_a_broken_channel_means_nothing_was_graded():
    summary = summary_of("protocol-error", [event("channel-broken", "cell 3 went silent")])
    assert summary.startswith("Your notebook did not run to the end: cell 3 went silent.")


def test_the_summary_names_each_kind_once_and_counts_the_rest():
    events = [event("protocol-error", f"garbage {n}") for n in range(5)]
    summary = summary_of("protocol-error", [*events, event("cell-error", "NameError: x", 4)])
    assert summary == (
        "Your notebook ran to the end. Garbage 0 (and 4 more like it). "
        "Cells that raised an error: NameError in cell 4."
    )


def test_a_run_lists_a_bounded_number_of_events_and_counts_the_others():
    run = RunRecord()
    for n in range(MAX_EVENTS_PER_KIND + 30):
        run.event("protocol-error", n, "x" * (2 * MAX_DETAIL_CHARS))
    run.event("cell-error", 1, "NameError: y")
    run.close()
    kinds = [e["kind"] for e in run.events]
    assert kinds.count("protocol-error") == MAX_EVENTS_PER_KIND and "cell-error" in kinds
    assert run.events[-1] == event("unlisted", "30 more events (protocol-error: 30)")
    assert max(len(e["detail"]) for e in run.events) == MAX_DETAIL_CHARS
    assert status_of(run.events) == "protocol-error"


def test_a_test_message_quoting_a_huge_value_is_cut():
    def quotes_the_answer(ns):
        """quotes the answer"""
        raise AssertionError(f"got {'x' * 10**6}")

    outcome = run_test(Test("q1", "quotes_the_answer", quotes_the_answer, 1, None, True), None)
    assert len(outcome.message) == MAX_MESSAGE_CHARS and outcome.message.endswith("…")


def result(learner="ada", status="ok"):
    test = {
        "name": "t", "description": "d", "points": 1, "max_points": 1, "passed": True,
        "hidden": False, "message": "", "hint": None, "reason": None,
    }  # fmt: skip
    question = {
        "question": "q1", "points": 1, "max_points": 1, "passed": True, "message": "m",
        "seconds": 0.1, "tests": [test],
    }  # fmt: skip
    return SubmissionResult(
        learner, "ada.ipynb", status, "Fine.", {"q1": question}, fingerprint="f" * 64
    )


def test_a_saved_record_is_reused_when_its_fingerprint_matches(tmp_path):
    save_record(tmp_path, result())
    assert reusable_record(tmp_path, "ada", "f" * 64) == result()
    assert reusable_record(tmp_path, "ada", "0" * 64) is None


@pytest.mark.parametrize(
    "text",
    [
        lambda good: good[: len(good) // 2],
        lambda good: "[" * 100_000 + "]" * 100_000,
        lambda good: good.replace(
            '"summary": "Fine."', '"summary": "' + "x" * MAX_RECORD_BYTES + '"'
        ),
        lambda good: good.replace('"status": "ok"', '"status": "excellent"'),
        lambda good: good.replace('"learner": "ada"', '"learner": "bob"'),
        lambda good: json.dumps({**json.loads(good), "questions": [1, 2]}),
        lambda good: json.dumps({**json.loads(good), "extra": True}),
        lambda good: good.replace('"passed": true', '"passed": "yes"'),
        lambda good: good.replace('"cell": null', '"cell": "one"'),
        lambda good: good.replace('"points": 1', '"points": true'),
    ],
    ids=[
        "truncated",
        "deep",
        "huge",
        "unknown-status",
        "other-learner",
        "questions-not-an-object",
        "extra-field",
        "passed-not-a-bool",
        "cell-not-a-number",
        "points-a-bool",
    ],
)
def test_a_broken_or_forged_record_is_graded_again(tmp_path, text):
    good = result()
    good.events = [event("cell-error", "NameError: x")]
    save_record(tmp_path, good)
    path = record_path(tmp_path, "ada")
    path.write_text(text(path.read_text()))
    assert reusable_record(tmp_path, "ada", "f" * 64) is None


def test_a_record_of_non_utf8_bytes_is_graded_again(tmp_path):
    record_path(tmp_path, "ada").parent.mkdir(parents=True)
    record_path(tmp_path, "ada").write_bytes(b"\xff\xfe\x00")
    assert reusable_record(tmp_path, "ada", "f" * 64) is None


def test_from_dict_names_the_field_that_is_wrong():
    data = result().to_dict()
    data["questions"]["q1"]["tests"][0]["hint"] = 3
    with pytest.raises(ValueError, match=r"result\.questions\.q1\.tests\[0\]\.hint is a int"):
        SubmissionResult.from_dict(data)
