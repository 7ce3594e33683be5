"""``as_source``: the right batch source for what a user passes."""

from __future__ import annotations

from typing import Any

import array_api_compat
import scipy.sparse as sp

from .arrays import ArraySource
from .batch import BatchSource
from .iterable import IterableSource


def _rows(a: Any) -> bool:
    return sp.issparse(a) or array_api_compat.is_array_api_obj(a)


def as_source(data: Any, *, batch_size: int | None = 32, shuffle: bool = True, xp: Any = None,
              dtype: Any = None) -> BatchSource:
    """A batch source for ``data``.

    - a batch source (anything with ``batches(rng)``) is returned as it is;
    - a tuple ``(x, y)`` or ``(x, y, sample_weight)`` of arrays, sparse matrices or memmaps
      becomes an :class:`ArraySource` (``batch_size``, ``shuffle``, ``xp``, ``dtype`` go to it);
    - a bare array ``x`` becomes an :class:`ArraySource` without targets;
    - any other iterable of batch tuples, or a function returning one, becomes an :class:`IterableSource`.
    """
    if hasattr(data, "batches"):
        return data
    if _rows(data):
        return ArraySource(data, batch_size=batch_size, shuffle=shuffle, xp=xp, dtype=dtype)
    if isinstance(data, tuple) and data and _rows(data[0]):
        if len(data) not in (2, 3):
            raise ValueError(f"array data must be a tuple (x, y) or (x, y, sample_weight), got {len(data)} items")
        return ArraySource(*data, batch_size=batch_size, shuffle=shuffle, xp=xp, dtype=dtype)
    try:
        return IterableSource(data, xp=xp, dtype=dtype)
    except TypeError:
        raise TypeError(f"cannot make batches from {type(data).__name__}: pass (x, y) arrays, a batch source, or an "
                        "iterable of (x, y[, sample_weight]) tuples") from None
