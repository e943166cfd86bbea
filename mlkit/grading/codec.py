"""Plain data across the grading channel: encode in one process, decode safely in another.

The grader asks the learner's kernel for values and gets them back as JSON built from a
few tagged shapes: numbers, strings, lists, dicts, numpy arrays of fixed-size dtypes,
pandas Series and DataFrames. Decoding builds only those types (no pickle, no eval,
no object arrays of arbitrary objects), so a value a learner's code produced cannot run
code in the grader or pretend to be something it is not: an object whose `__eq__`
always says True arrives as an opaque reference, which compares equal to nothing.

Anything else is encoded as a *reference* `{"t": "ref", ...}` to an object kept in the
kernel; the grader can call its methods remotely (mlkit.grading.remote).

Whatever arrives was made by the learner's code, so reading it never fails any other
way than with CodecError: `loads` parses JSON text of a bounded size (with no lone
surrogate left in any string, so that what is kept can be written as UTF-8), and
`decode` refuses every shape it does not document, however it is malformed.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from typing import Any

from mlkit.grading.exceptions import CodecError

MAX_DEPTH = 64
MAX_ELEMENTS = 2**26  # items an array's shape or a range index may describe
# A lone surrogate in a str, or the JSON escape (\ud800 to \udfff) that makes one.
SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
ARRAY_KINDS = "biufcmM"  # bool, ints, floats, complex, timedelta, datetime: no objects
TEXT_DTYPES = ("object", "str", "string")

RefMaker = Callable[[Any], dict[str, Any]]
RefResolver = Callable[[dict[str, Any]], Any]


def encode(value: Any, make_ref: RefMaker | None = None, depth: int = 0) -> Any:
    """value as JSON-ready tagged data; non-data objects go through make_ref (or fail)."""
    if depth > MAX_DEPTH:
        raise CodecError(f"value nested deeper than {MAX_DEPTH} levels")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"t": "float", "v": repr(value)}

    def again(item: Any) -> Any:
        return encode(item, make_ref, depth + 1)

    if type(value) in (list, tuple, set, frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return {"t": type(value).__name__, "items": [again(v) for v in items]}
    if type(value) is dict:
        return {"t": "dict", "items": [[again(k), again(v)] for k, v in value.items()]}
    if type(value) is bytes:
        return {"t": "bytes", "b64": base64.b64encode(value).decode("ascii")}
    encoded = _encode_numpy_or_pandas(value, again)
    if encoded is not None:
        return encoded
    if make_ref is None:
        raise CodecError(f"cannot send a {type(value).__name__}: only plain data crosses")
    return make_ref(value)


def _encode_numpy_or_pandas(value: Any, again: Callable[[Any], Any]) -> Any:
    """The encoding of a numpy or pandas value (a scalar's is its Python value's), or None."""
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        import numpy as np

        if isinstance(value, np.generic):
            if value.dtype.kind in "biufUS":
                return again(value.item())
            if value.dtype.kind in ARRAY_KINDS:
                return {"t": "scalar", "v": _array(np.asarray(value))}
        if type(value) is np.ndarray:
            if value.dtype.kind in ARRAY_KINDS and value.dtype.fields is None:
                return _array(value)
            kind = value.dtype.kind if value.dtype.kind in "US" else "O"
            items = [again(v) for v in value.ravel().tolist()]
            return {"t": "objects", "kind": kind, "shape": list(value.shape), "items": items}
    if module == "pandas":
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return {
                "t": "frame",
                "columns": [again(c) for c in value.columns],
                "data": [_column(value.iloc[:, i], again) for i in range(value.shape[1])],
                "index": _index(value.index, again),
            }
        if isinstance(value, pd.Series):
            return {
                "t": "series",
                "name": again(value.name),
                "values": _column(value, again),
                "index": _index(value.index, again),
            }
        if isinstance(value, pd.Index):
            return _index(value, again)
    return None


def _array(array: Any) -> dict[str, Any]:
    import numpy as np

    array = np.array(array, order="C", copy=True)
    return {
        "t": "ndarray",
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "b64": base64.b64encode(array.tobytes()).decode("ascii"),
    }


def _column(series: Any, again: Callable[[Any], Any]) -> dict[str, Any]:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return {
            "t": "categorical",
            "categories": again(list(dtype.categories)),
            "codes": _array(series.cat.codes.to_numpy()),
            "ordered": bool(dtype.ordered),
        }
    if getattr(dtype, "kind", "O") in ARRAY_KINDS and not isinstance(
        dtype, pd.api.extensions.ExtensionDtype
    ):
        return _array(series.to_numpy())
    name = str(dtype) if str(dtype) in TEXT_DTYPES else "object"
    items = [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else v
        for v in series.tolist()
    ]
    return {"t": "texts", "dtype": name, "items": [again(v) for v in items]}


def _index(index: Any, again: Callable[[Any], Any]) -> dict[str, Any]:
    import pandas as pd

    if isinstance(index, pd.RangeIndex):
        return {"t": "range", "start": index.start, "stop": index.stop, "step": index.step}
    return {"t": "index", "name": again(index.name), "values": _column(index.to_series(), again)}


def loads(text: Any, *, max_chars: int, what: str = "the data") -> Any:
    """Parse JSON text the learner's side produced, or raise CodecError saying what is wrong.

    Strings in the result never hold lone surrogates (each becomes U+FFFD).
    """
    if not isinstance(text, str):
        raise CodecError(f"{what} is not text (got {type(text).__name__})")
    if len(text) > max_chars:
        raise CodecError(f"{what} has {len(text)} characters, more than the {max_chars} accepted")
    try:
        value = json.loads(text)
    except RecursionError:
        raise CodecError(f"{what} is JSON nested too deeply") from None
    except ValueError as err:
        raise CodecError(f"{what} is not JSON ({str(err)[:200]})") from None
    return valid_text(value) if SURROGATE.search(text) else value


def valid_text(value: Any) -> Any:
    """value (JSON data) with every lone surrogate in its strings replaced by U+FFFD."""
    try:
        return _replace_surrogates(value)
    except RecursionError:
        raise CodecError("the data is nested too deeply") from None


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def decode(data: Any, resolve_ref: RefResolver | None = None, depth: int = 0) -> Any:
    """Rebuild a value from encode()'s output, accepting nothing but the documented shapes.

    Anything else raises CodecError: a missing field, a wrong type, data that numpy or
    pandas refuse (a shape that does not match, an unknown dtype, an unhashable key).
    """
    try:
        return _decode(data, resolve_ref, depth)
    except CodecError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as err:
        detail = f"{type(err).__name__}: {err}"[:200]
        raise CodecError(f"malformed encoded data ({detail})") from None


def _decode(data: Any, resolve_ref: RefResolver | None, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CodecError(f"value nested deeper than {MAX_DEPTH} levels")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is not dict or not isinstance(data.get("t"), str):
        raise CodecError(f"unexpected {type(data).__name__} in encoded data")

    def again(item: Any) -> Any:
        return _decode(item, resolve_ref, depth + 1)

    tag = data["t"]
    if tag == "float":
        return float(_one_of(data["v"], ("nan", "inf", "-inf")))
    if tag in ("list", "tuple", "set", "frozenset"):
        items = [again(v) for v in _list(data["items"])]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
    if tag == "dict":
        return {again(k): again(v) for k, v in (_pair(p) for p in _list(data["items"]))}
    if tag == "bytes":
        return base64.b64decode(_text(data["b64"]), validate=True)
    if tag == "ref":
        if resolve_ref is None:
            raise CodecError("a reference to a live object cannot be decoded here")
        return resolve_ref(data)
    return _decode_numpy_or_pandas(tag, data, again)


def _decode_numpy_or_pandas(tag: str, data: dict[str, Any], again: Callable[[Any], Any]) -> Any:
    import numpy as np

    if tag == "ndarray":
        return _decode_array(data)
    if tag == "scalar":
        return _decode_array(data["v"])[()]
    if tag == "objects":
        items = [again(v) for v in _list(data["items"])]
        kind = _one_of(data["kind"], ("O", "U", "S"))
        if kind == "U" and all(type(v) is str for v in items):
            array = np.array(items, dtype=str)
        elif kind == "S" and all(type(v) is bytes for v in items):
            array = np.array(items, dtype=bytes)
        else:
            array = np.empty(len(items), dtype=object)
            array[:] = items
        return array.reshape(_shape(data["shape"]))
    import pandas as pd

    if tag == "frame":
        columns = [again(c) for c in _list(data["columns"])]
        values = [_decode_column(c, again) for c in _list(data["data"])]
        if len(columns) != len(values):
            raise CodecError("frame with a different number of columns and column data")
        frame = pd.DataFrame(dict(enumerate(values)), index=_decode_index(data["index"], again))
        frame.columns = columns
        return frame
    if tag == "series":
        values = _decode_column(data["values"], again)
        return pd.Series(
            values, index=_decode_index(data["index"], again), name=again(data["name"])
        )
    if tag in ("range", "index"):
        return _decode_index(data, again)
    raise CodecError(f"unknown tag {tag!r} in encoded data")


def _decode_array(data: Any) -> Any:
    import numpy as np

    if type(data) is not dict or data.get("t") != "ndarray":
        raise CodecError("expected an encoded array")
    dtype = np.dtype(_text(data["dtype"]))
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CodecError(f"array dtype {dtype} is not plain data")
    shape = _shape(data["shape"])
    raw = base64.b64decode(_text(data["b64"]), validate=True)
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise CodecError("array data does not match its shape and dtype")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _decode_column(data: Any, again: Callable[[Any], Any]) -> Any:
    import pandas as pd

    if type(data) is not dict:
        raise CodecError("expected encoded column data")
    if data.get("t") == "categorical":
        categories = again(data["categories"])
        codes = _decode_array(data["codes"])
        return pd.Categorical.from_codes(
            codes, categories=categories, ordered=bool(data["ordered"])
        )
    if data.get("t") == "texts":
        dtype = _one_of(data["dtype"], TEXT_DTYPES)
        return pd.array(
            [again(v) for v in _list(data["items"])], dtype=None if dtype == "object" else dtype
        )
    return _decode_array(data)


def _decode_index(data: Any, again: Callable[[Any], Any]) -> Any:
    import pandas as pd

    if type(data) is not dict:
        raise CodecError("expected an encoded index")
    if data.get("t") == "range":
        bounds = range(_whole(data["start"]), _whole(data["stop"]), _whole(data["step"]))
        if len(bounds) > MAX_ELEMENTS:
            raise CodecError(f"a range index of {len(bounds)} items (at most {MAX_ELEMENTS})")
        return pd.RangeIndex(bounds.start, bounds.stop, bounds.step)
    if data.get("t") == "index":
        return pd.Index(_decode_column(data["values"], again), name=again(data["name"]))
    raise CodecError("expected an encoded index")


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise CodecError(f"expected a list, got {type(value).__name__}")
    return value


def _pair(value: Any) -> tuple[Any, Any]:
    if type(value) is not list or len(value) != 2:
        raise CodecError("expected a [key, value] pair")
    return value[0], value[1]


def _text(value: Any) -> str:
    if type(value) is not str:
        raise CodecError(f"expected a string, got {type(value).__name__}")
    return value


def _shape(value: Any) -> tuple[int, ...]:
    shape = tuple(_list(value))
    if len(shape) > MAX_DEPTH or not all(type(n) is int and n >= 0 for n in shape):
        raise CodecError(f"bad array shape {str(value)[:100]}")
    if math.prod(max(n, 1) for n in shape) > MAX_ELEMENTS:  # (10**12, 0) holds no data
        raise CodecError(f"array shape {shape} describes more than {MAX_ELEMENTS} items")
    return shape


def _whole(value: Any) -> int:
    if type(value) is not int:
        raise CodecError(f"expected a whole number, got {type(value).__name__}")
    return value


def _one_of(value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise CodecError(f"expected one of {allowed}, got {repr(value)[:100]}")
    return str(value)
