"""Batch sources: where the fit loop's batches come from."""

from .arrays import batch_slices, densify, take_rows, to_device

__all__ = ["batch_slices", "densify", "take_rows", "to_device"]
