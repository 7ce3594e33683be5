"""Row-indexable data: in-memory arrays, scipy sparse matrices and NumPy memmaps, read in mini-batches.

Each epoch draws one permutation of the rows (``rng.permutation(n)``) and cuts it into consecutive
slices of ``batch_size``; the last batch holds the remainder. Arrays of the target namespace are
indexed where they live (the permutation moves to the device once per epoch); sparse matrices and
memmaps stay on the host and only each batch's rows are read, densified and moved, so that the data
never has to fit in (device) memory densely.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import array_api_compat
import numpy as np
import scipy.sparse as sp

from .. import backend
from .batch import Batch


def take_rows(data: Any, index: Any, xp: Any, dtype: Any = None) -> Any:
    """Rows ``index`` (a slice or integer array) of ``data`` as a dense ``xp`` array.

    An array of namespace ``xp`` is sliced or indexed where it lives. A sparse matrix or memmap
    (:func:`on_host`; ``index`` is then a host index) has only those rows read, densified and moved
    to ``xp`` in ``dtype``, so that it never has to fit in memory densely.
    """
    if on_host(data):
        rows = data[index]
        return to_device(rows.toarray() if sp.issparse(rows) else rows, xp, dtype)
    if isinstance(index, slice):
        return data[index, ...]  # the ellipsis: the Array API standard indexes every axis explicitly
    return xp.take(data, index, axis=0)


def to_device(a: Any, xp: Any, dtype: Any = None) -> Any:
    """A host array as a C-contiguous array of namespace ``xp`` (no copy when it already is one)."""
    if backend.is_numpy(xp):
        return np.ascontiguousarray(a, dtype=dtype)
    if isinstance(a, np.ndarray):
        return xp.asarray(np.ascontiguousarray(a), dtype=dtype)
    return a if dtype is None or a.dtype == dtype else xp.astype(a, dtype)


def densify(data: Any, xp: Any, dtype: Any) -> Any:
    """All of ``data`` (dense or sparse) as one dense ``xp`` array."""
    if sp.issparse(data):
        return to_device(data.toarray(), xp, dtype)
    return data


def on_host(a: Any) -> bool:
    """True for data read a batch at a time from the host: scipy sparse matrices and NumPy memmaps."""
    return sp.issparse(a) or isinstance(a, np.memmap)


def _as_rows(a: Any) -> Any:
    """None, an array, or a sparse matrix in a format that indexes rows (CSR, CSC); lists become NumPy arrays."""
    if a is None or array_api_compat.is_array_api_obj(a):
        return a
    if sp.issparse(a):
        return a if a.format in ("csr", "csc") else a.tocsr()
    return np.asarray(a)


def is_floating(a: Any) -> bool:
    """True for floating data (arrays of any namespace, sparse matrices)."""
    if sp.issparse(a) or isinstance(a, np.ndarray):
        return a.dtype.kind == "f"
    return backend.is_float(a, backend.namespace(a))


class ArraySource:
    """Batches of rows of ``x`` with the same rows of ``y`` and ``sample_weight`` (either may be None).

    Each of them may be an array of any Array API namespace, a scipy sparse matrix or a NumPy
    memmap. ``xp`` is the namespace batches are delivered in (by default that of the first dense,
    in-memory array; NumPy if there is none): other in-memory arrays are moved there once, sparse
    matrices and memmaps a batch at a time. ``dtype`` (an ``xp`` dtype) is given to floating data;
    integer data (class labels) keeps its type. ``batch_size=None`` makes each epoch one batch.
    """

    def __init__(self, x: Any, y: Any = None, sample_weight: Any = None, *, batch_size: int | None = 32,
                 shuffle: bool = True, xp: Any = None, dtype: Any = None) -> None:
        arrays = [_as_rows(a) for a in (x, y, sample_weight)]
        if arrays[0] is None:
            raise ValueError("ArraySource needs the inputs x, got None")
        n = arrays[0].shape[0]
        for name, a in zip(("y", "sample_weight"), arrays[1:], strict=True):
            if a is not None and a.shape[0] != n:
                raise ValueError(f"x has {n} rows but {name} has {a.shape[0]}")
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        if xp is None:
            dense = [a for a in arrays if a is not None and not on_host(a)]
            xp = backend.namespace(dense[0]) if dense else backend.namespace(np.empty(0))
        self.xp, self.shuffle, self.n_samples = xp, bool(shuffle), int(n)
        self.batch_size = max(self.n_samples, 1) if batch_size is None else int(batch_size)
        self._host = tuple(a is not None and on_host(a) for a in arrays)
        self._dtypes = tuple(dtype if a is not None and dtype is not None and is_floating(a) else None for a in arrays)
        self._arrays = tuple(a if a is None or host else to_device(a, xp, dt)
                             for a, host, dt in zip(arrays, self._host, self._dtypes, strict=True))

    def batches(self, rng: np.random.Generator) -> Iterator[Batch]:
        """One epoch: a fresh permutation from ``rng`` (when shuffling), then consecutive slices of it."""
        xp, n, size = self.xp, self.n_samples, self.batch_size
        order = rng.permutation(n) if self.shuffle else None
        device_order = order if order is None or backend.is_numpy(xp) else xp.asarray(order)
        (x, y, w), (hx, hy, hw), (dx, dy, dw) = self._arrays, self._host, self._dtypes
        for start in range(0, n, size):
            rows = slice(start, min(start + size, n))
            host = rows if order is None else order[rows]
            device = host if device_order is order else device_order[rows]
            if order is None:  # views of resident arrays; take_rows reads host ones
                yield Batch(take_rows(x, rows, xp, dx) if hx else x[rows, ...],
                            None if y is None else take_rows(y, rows, xp, dy) if hy else y[rows, ...],
                            None if w is None else take_rows(w, rows, xp, dw) if hw else w[rows, ...])
            else:
                yield Batch(take_rows(x, host, xp, dx) if hx else xp.take(x, device, axis=0),
                            None if y is None else take_rows(y, host, xp, dy) if hy else xp.take(y, device, axis=0),
                            None if w is None else take_rows(w, host, xp, dw) if hw else xp.take(w, device, axis=0))
