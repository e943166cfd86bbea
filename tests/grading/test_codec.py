"""The grading channel's codec: round trips of plain data, refusal of everything else."""

import json

import numpy as np
import pandas as pd
import pytest

from mlkit import data
from mlkit.grading.codec import decode, encode, loads
from mlkit.grading.exceptions import CodecError


def through_json(value, make_ref=None, resolve=None):
    return decode(json.loads(json.dumps(encode(value, make_ref))), resolve)


@pytest.mark.parametrize(
    "value",
    [None, True, 3, 2.5, "text", b"\x00\x01", [1, (2, "x")], {"a": 1, 2: [3]}, {1, 2}],
    ids=repr,
)
def test_python_data_round_trips(value):
    assert through_json(value) == value
    assert type(through_json(value)) is type(value)


def test_special_floats_and_numpy_scalars_become_python_values():
    assert np.isnan(through_json(float("nan"))) and through_json(float("-inf")) == float("-inf")
    assert type(through_json(np.float64(0.25))) is float
    assert type(through_json(np.int32(3))) is int


def test_arrays_frames_and_series_round_trip_with_dtypes():
    df = data.make_dataset(n_rows=40, seed=1)
    pd.testing.assert_frame_equal(through_json(df), df)
    pd.testing.assert_series_equal(through_json(df["plan"]), df["plan"])
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    back = through_json(array)
    assert back.dtype == array.dtype and np.array_equal(back, array)
    assert through_json(np.array(["a", "bc"])).tolist() == ["a", "bc"]


def test_objects_that_are_not_data_need_a_reference_maker():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    with pytest.raises(CodecError, match="only plain data"):
        encode(AlwaysEqual())
    refs = []
    encoded = encode([AlwaysEqual()], lambda obj: refs.append(obj) or {"t": "ref", "id": 7})
    assert decode(encoded, lambda ref: ("ref", ref["id"])) == [("ref", 7)]
    with pytest.raises(CodecError, match="reference"):
        decode(encoded)


@pytest.mark.parametrize(
    "forged",
    [
        {"t": "ndarray", "dtype": "|O", "shape": [1], "b64": "AAAAAAAAAAA="},
        {"t": "ndarray", "dtype": "<f8", "shape": [4], "b64": "AAAAAAAAAAA="},
        {"t": "pickle", "b64": "gASVAAAAAAAAAAA="},
        {"t": "dict", "items": [[1]]},
        {"t": "float", "v": "__import__('os')"},
        {"t": "objects", "kind": "O", "shape": [-1], "items": []},
        ["not", "tagged"],
        {"t": "float"},
        {"t": "dict", "items": [[{"t": "list", "items": []}, 1]]},
        {"t": "ndarray", "dtype": "no such dtype", "shape": [0], "b64": ""},
        {"t": "ndarray", "dtype": "<f8", "shape": [2**40, 0], "b64": ""},
        {"t": "objects", "kind": "O", "shape": [3], "items": [1, 2]},
        {"t": "range", "start": 0, "stop": 10**15, "step": 1},
        {"t": "range", "start": "0", "stop": "5", "step": 1},
        {"t": "series", "name": None, "values": {"t": "texts", "dtype": "object", "items": [1]}},
        {
            "t": "series",
            "name": {"t": "list", "items": []},
            "values": {"t": "texts", "dtype": "object", "items": [1]},
            "index": {"t": "range", "start": 0, "stop": 1, "step": 1},
        },
        {
            "t": "series",
            "name": None,
            "values": {"t": "texts", "dtype": "object", "items": [1, 2]},
            "index": {"t": "range", "start": 0, "stop": 5, "step": 1},
        },
    ],
    ids=[
        "object-dtype",
        "wrong-size",
        "unknown-tag",
        "bad-pair",
        "bad-float",
        "bad-shape",
        "bare-list",
        "missing-field",
        "unhashable-key",
        "unknown-dtype",
        "empty-but-huge-shape",
        "items-do-not-fill-the-shape",
        "huge-range",
        "range-of-strings",
        "series-without-index",
        "unhashable-name",
        "index-longer-than-values",
    ],
)
def test_forged_payloads_are_refused(forged):
    with pytest.raises(CodecError):
        decode(forged)


@pytest.mark.parametrize(
    "text, message",
    [
        (b"{}", "not text"),
        ("x" * 101, "has 101 characters, more than the 100 accepted"),
        ('{"ok": true, "val', "not JSON"),
        ("\x00\x01", "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["bytes", "too-long", "truncated", "binary", "deep"],
)
def test_loads_refuses_what_is_not_bounded_json(text, message):
    with pytest.raises(CodecError, match=message):
        loads(text, max_chars=100 if len(text) < 1000 else 10**6, what="the reply")


def test_loads_replaces_lone_surrogates_so_text_can_be_written_as_utf8():
    value = loads('{"a\\udc80": ["lone \\ud800", "pair \\ud83d\\ude00"]}', max_chars=100)
    assert value == {"a\ufffd": ["lone \ufffd", "pair \U0001f600"]}
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # would raise on a surrogate
