"""Mini-batches: one permutation per epoch, rows taken by index, sparse rows densified per batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from .. import backend


def batch_slices(n_samples: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of ``batch_size`` rows; the last one holds the remainder."""
    for start in range(0, n_samples, batch_size):
        yield slice(start, min(start + batch_size, n_samples))


def take_rows(data: Any, index: Any, xp: Any, dtype: Any) -> Any:
    """Rows ``index`` (a slice or integer array) of ``data`` as a dense ``xp`` array.

    ``data`` is an array of namespace ``xp`` or a host scipy.sparse matrix (then ``index`` is a
    host index), densified here one batch at a time so that it never has to fit in memory densely.
    """
    if sp.issparse(data):
        return to_device(data[index].toarray(), xp, dtype)
    if isinstance(index, slice):
        return data[index]
    return xp.take(data, index, axis=0)


def to_device(a: Any, xp: Any, dtype: Any = None) -> Any:
    """A host array as a C-contiguous array of namespace ``xp`` (no copy when it already is one)."""
    if backend.is_numpy(xp):
        return np.ascontiguousarray(a, dtype=dtype)
    if isinstance(a, np.ndarray):
        return xp.asarray(np.ascontiguousarray(a), dtype=dtype)
    return a if dtype is None else xp.astype(a, dtype)


def densify(data: Any, xp: Any, dtype: Any) -> Any:
    """All of ``data`` (dense or sparse) as one dense ``xp`` array."""
    if sp.issparse(data):
        return to_device(data.toarray(), xp, dtype)
    return data
