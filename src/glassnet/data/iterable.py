"""Batches from any iterable of ``(x, y)`` or ``(x, y, sample_weight)`` tuples: streams, generators, loaders.

Such a source is shuffled by whatever produces it; ``shuffle_buffer`` adds a buffer that emits the
batches it holds in random order (from the loop's generator), as streaming readers do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .arrays import is_floating, to_device
from .batch import Batch


def _as_batch(item: Any, xp: Any, dtype: Any) -> Batch:
    if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
        what = f"{len(item)} items" if isinstance(item, (tuple, list)) else type(item).__name__
        raise TypeError(f"each batch must be a tuple (x, y) or (x, y, sample_weight), got {what}")
    if xp is None:
        return Batch(*item)
    return Batch(*(None if a is None else to_device(a, xp, dtype if is_floating(a) else None)
                   for a in item))


def _shuffled(batches: Iterator[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """The items of ``batches`` in random order, at most ``size`` of them held at a time."""
    buffer: list[Any] = []
    for item in batches:
        buffer.append(item)
        if len(buffer) == size:
            yield buffer.pop(int(rng.integers(size)))
    while buffer:
        yield buffer.pop(int(rng.integers(len(buffer))))


class IterableSource:
    """One epoch is one pass over ``iterable``: a list, any re-iterable object, or a function returning a fresh
    iterator each epoch (a generator function). A one-shot iterator (a generator object) serves one epoch only.

    ``xp`` and ``dtype``, when given, move each batch's arrays to that namespace and give their
    floating data that dtype. ``n_samples`` is the rows an epoch holds, if known.
    """

    def __init__(self, iterable: Iterable[Any] | Callable[[], Iterable[Any]], *, n_samples: int | None = None,
                 shuffle_buffer: int | None = None, xp: Any = None, dtype: Any = None) -> None:
        if not callable(iterable) and not isinstance(iterable, Iterable):
            raise TypeError(f"IterableSource needs an iterable of batches or a function returning one, "
                            f"got {type(iterable).__name__}")
        if shuffle_buffer is not None and (int(shuffle_buffer) != shuffle_buffer or shuffle_buffer < 1):
            raise ValueError(f"shuffle_buffer must be a positive integer or None, got {shuffle_buffer!r}")
        self.iterable, self.n_samples, self.shuffle_buffer = iterable, n_samples, shuffle_buffer
        self.xp, self.dtype = xp, dtype
        self._epochs = 0

    def batches(self, rng: np.random.Generator) -> Iterator[Batch]:
        """One pass over the iterable, through the shuffle buffer when there is one."""
        items = iter(self.iterable() if callable(self.iterable) else self.iterable)
        if items is self.iterable and self._epochs:
            raise ValueError("this batch source is a one-shot iterator (a generator object, say) and was already "
                             "read for an epoch; pass a list, or a function returning a fresh iterator each epoch "
                             "(the generator function itself)")
        self._epochs += 1
        if self.shuffle_buffer is not None:
            items = _shuffled(items, int(self.shuffle_buffer), rng)
        xp, dtype = self.xp, self.dtype
        for item in items:
            yield item if type(item) is Batch and xp is None else _as_batch(item, xp, dtype)
