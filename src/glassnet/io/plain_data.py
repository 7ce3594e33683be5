"""Plain data (numbers, strings, lists, dicts, tuples, arrays, slices, dtypes) as JSON plus named tensors, and back.

Numeric arrays become tensors of the file, referred to as ``{"$array": name}``; tuples, dicts with non-string
keys, text and object arrays, slices, NumPy dtypes, and the few types that select columns by kind (``object``,
``numpy.number``...) get their own ``$`` markers. Nothing else can be stored, so nothing else can come back; a
caller that stores objects of its own (scikit-learn transformers) passes ``objects`` to encode them and to decode
their ``{"$object": ...}`` nodes, and decides which it builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .file_format import ModelFileError

_TENSOR_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64"}
_DTYPE_KINDS = "biufUO"  # the dtypes a file may name: numbers, booleans, text and Python objects
# types that stand for a kind of column (make_column_selector's dtype_include): the only types a file may name
TYPES: dict[str, type] = {"object": object, "str": str, "int": int, "float": float, "bool": bool,
                          "numpy.number": np.number, "numpy.integer": np.integer, "numpy.floating": np.floating,
                          "numpy.bool": np.bool_, "numpy.object": np.object_, "numpy.str": np.str_}
_TYPE_NAMES = {t: name for name, t in TYPES.items()}


class Encoder:
    """Turns nested plain data into JSON, moving every numeric array into a named tensor.

    ``objects(value, path, encoder)`` (optional) returns the JSON of a value that is not plain data, or raises
    TypeError naming it.
    """

    def __init__(self, objects: Callable[[Any, str, Encoder], Any] | None = None) -> None:
        self.tensors: dict[str, np.ndarray] = {}
        self.objects = objects

    def encode(self, value: Any, path: str) -> Any:
        """The JSON form of ``value``; its arrays are added to ``tensors`` under names from ``path``."""
        if value is None or isinstance(value, (bool, str, int, float)):
            return value
        if isinstance(value, np.generic):
            return self.encode(value.item(), path)
        if isinstance(value, np.ndarray):
            return self._array(value, path)
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in value):
                return {k: self.encode(v, f"{path}.{k}") for k, v in value.items()}
            return {"$items": [[self.encode(k, f"{path}.key{i}"), self.encode(v, f"{path}.{k}")]
                               for i, (k, v) in enumerate(value.items())]}
        if isinstance(value, slice):
            return {"$slice": [self.encode(v, path) for v in (value.start, value.stop, value.step)]}
        if isinstance(value, np.dtype) and value.kind in _DTYPE_KINDS:
            return {"$dtype": value.str}
        if isinstance(value, type) and value in _TYPE_NAMES:
            return {"$type": _TYPE_NAMES[value]}
        if isinstance(value, type) and issubclass(value, np.generic) and np.dtype(value).kind in _DTYPE_KINDS:
            return {"$scalar_type": np.dtype(value).str}
        if self.objects is not None:
            return self.objects(value, path, self)
        raise TypeError(f"cannot store {path.lstrip('.')!r}: {type(value).__name__} is not plain data "
                        "(arrays, numbers, strings, lists, dicts)")

    def _array(self, value: np.ndarray, path: str) -> Any:
        if value.dtype.kind in "UO":
            if not all(isinstance(v, (str, int, float, bool)) or v is None for v in value.ravel().tolist()):
                raise TypeError(f"cannot store {path!r}: object array with non-plain items")
            return {"$list_array": self.encode(value.tolist(), path), "dtype": value.dtype.kind}
        if value.dtype.name not in _TENSOR_DTYPES:
            raise TypeError(f"cannot store {path!r}: dtype {value.dtype} is not supported")
        name = path.lstrip(".") or "value"
        while name in self.tensors:
            name += "_"
        self.tensors[name] = value
        return {"$array": name}


def decode(value: Any, tensors: dict[str, np.ndarray],
           objects: Callable[[dict[str, Any], Callable[[Any], Any]], Any] | None = None) -> Any:
    """The plain data that :class:`Encoder` stored as ``value``; ModelFileError for anything malformed.

    ``objects(node, decode)`` builds the value of an ``{"$object": ...}`` node (without it, such a node is refused).
    """
    def tree(v: Any) -> Any:
        if isinstance(v, list):
            return [tree(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "$array" in v:
            if v["$array"] not in tensors:
                raise ModelFileError(f"metadata refers to tensor {v['$array']!r}, which the file does not contain")
            return tensors[v["$array"]]
        if "$tuple" in v:
            return tuple(tree(x) for x in v["$tuple"])
        if "$items" in v:
            return {tree(k): tree(x) for k, x in v["$items"]}
        if "$list_array" in v:
            return np.array(tree(v["$list_array"]), dtype=object if v.get("dtype") == "O" else None)
        if "$slice" in v:
            return slice(*(tree(x) if isinstance(x, int) or x is None else _bad(v) for x in v["$slice"]))
        if "$dtype" in v or "$scalar_type" in v:
            dtype = np.dtype(str(v.get("$dtype", v.get("$scalar_type"))))
            if dtype.kind not in _DTYPE_KINDS or dtype.fields is not None:
                _bad(v)
            return dtype if "$dtype" in v else dtype.type
        if "$type" in v:
            return TYPES[v["$type"]] if v["$type"] in TYPES else _bad(v)
        if "$object" in v:
            if objects is None:
                raise ModelFileError(f"unexpected object {v['$object']!r} in model file")
            return objects(v, tree)
        return {k: tree(x) for k, x in v.items()}

    try:
        return tree(value)
    except (TypeError, ValueError, AttributeError, RecursionError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"malformed metadata in model file: {e}") from e


def _bad(node: Any) -> Any:
    raise ModelFileError(f"malformed metadata in model file: {str(node)[:80]}")
