"""Plain data (numbers, strings, lists, dicts, tuples, arrays) as JSON plus named tensors, and back.

Numeric arrays become tensors of the file, referred to as ``{"$array": name}``; tuples, dicts with
non-string keys and string arrays get their own ``$`` markers. Nothing else can be stored, so
nothing else can come back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .file_format import ModelFileError

_TENSOR_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64"}


class Encoder:
    """Turns nested plain data into JSON, moving every numeric array into a named tensor."""

    def __init__(self) -> None:
        self.tensors: dict[str, np.ndarray] = {}

    def encode(self, value: Any, path: str) -> Any:
        """The JSON form of ``value``; its arrays are added to ``tensors`` under names from ``path``."""
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic):
            return value.item()
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
        raise TypeError(f"cannot store {path.lstrip('.')!r}: {type(value).__name__} is not plain data "
                        "(arrays, numbers, strings, lists, dicts)")

    def _array(self, value: np.ndarray, path: str) -> Any:
        if value.dtype.kind in "UO":
            items = value.tolist()
            if not all(isinstance(v, (str, int, float, bool)) or v is None for v in value.ravel().tolist()):
                raise TypeError(f"cannot store {path!r}: object array with non-plain items")
            return {"$list_array": items, "dtype": value.dtype.kind}
        if value.dtype.name not in _TENSOR_DTYPES:
            raise TypeError(f"cannot store {path!r}: dtype {value.dtype} is not supported")
        name = path.lstrip(".") or "value"
        while name in self.tensors:
            name += "_"
        self.tensors[name] = value
        return {"$array": name}


def decode(value: Any, tensors: dict[str, np.ndarray]) -> Any:
    """The plain data that :class:`Encoder` stored as ``value``; ModelFileError for anything malformed."""
    try:
        return _decode_tree(value, tensors)
    except (TypeError, ValueError, AttributeError, RecursionError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"malformed metadata in model file: {e}") from e


def _decode_tree(value: Any, tensors: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode_tree(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "$array" in value:
        name = value["$array"]
        if name not in tensors:
            raise ModelFileError(f"metadata refers to tensor {name!r}, which the file does not contain")
        return tensors[name]
    if "$tuple" in value:
        return tuple(_decode_tree(v, tensors) for v in value["$tuple"])
    if "$items" in value:
        return {_decode_tree(k, tensors): _decode_tree(v, tensors) for k, v in value["$items"]}
    if "$list_array" in value:
        return np.array(value["$list_array"], dtype=object if value.get("dtype") == "O" else None)
    return {k: _decode_tree(v, tensors) for k, v in value.items()}
