"""Batch sources: where the fit loop's batches come from (arrays, sparse matrices, memmaps, any iterable).

A source has ``batches(rng)``, one epoch of :class:`Batch` ``(x, y, sample_weight)``, and ``n_samples``
(rows per epoch, or None); :func:`as_source` builds the right one from what a user passes.
"""

from .arrays import ArraySource, densify, take_rows, to_device
from .batch import Batch, BatchSource
from .iterable import IterableSource
from .source import as_source

__all__ = ["ArraySource", "Batch", "BatchSource", "IterableSource", "as_source", "densify", "take_rows", "to_device"]
