"""A batch and the protocol every batch source follows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np


class Batch(NamedTuple):
    """One mini-batch: inputs ``x``, targets ``y`` and per-row ``sample_weight`` (None where absent)."""

    x: Any
    y: Any = None
    sample_weight: Any = None


@runtime_checkable
class BatchSource(Protocol):
    """Where the fit loop's batches come from: ``batches(rng)`` yields one epoch of :class:`Batch`.

    ``rng`` is the loop's NumPy Generator; a source that shuffles draws each epoch's order from it,
    so that a seed fixes the whole run. ``n_samples`` is the number of rows an epoch holds, or None
    where that is not known in advance (a stream).
    """

    n_samples: int | None

    def batches(self, rng: np.random.Generator) -> Iterator[Batch]: ...
