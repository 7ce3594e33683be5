"""Batch sources: where the fit loop's batches come from (arrays, sparse matrices, memmaps, any iterable)."""

from .arrays import ArraySource, densify, on_host, take_rows, to_device
from .batch import Batch, BatchSource
from .iterable import IterableSource
from .source import as_source

__all__ = ["ArraySource", "Batch", "BatchSource", "IterableSource", "as_source", "densify", "on_host", "take_rows",
           "to_device"]
