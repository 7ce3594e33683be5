"""Inverted dropout: the random mask is drawn here; its product with the input is autograd's ``mul``."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Tensor, as_tensor, ops


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p); the identity when not training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    mask = backend.keep_mask(tuple(x.data.shape), p, x.xp, x.data.dtype, rng, like=x.data)
    return ops.mul(x, Tensor(mask))
