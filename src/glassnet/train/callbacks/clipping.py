"""Gradient clipping after backward: by global norm (all gradients scaled together) or by value (each clamped)."""

from __future__ import annotations

from typing import Any

from ...autograd import Tensor
from .base import Callback


def clip_grad_norm(params: list[Tensor], max_norm: float) -> None:
    """Scale all gradients together so that their global norm is at most ``max_norm`` (no host sync)."""
    params = [p for p in params if p.grad is not None]
    if not params:
        return
    xp = params[0].xp
    total = 0.0
    for p in params:
        flat = xp.reshape(p.grad, (-1,))
        total = total + xp.vecdot(flat, flat)
    scale = xp.minimum(max_norm / (total ** 0.5 + 1e-6), 1.0)
    for p in params:
        p.grad *= xp.astype(scale, p.grad.dtype)


def clip_grad_value(params: list[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    for p in params:
        if p.grad is not None:
            p.grad[...] = p.xp.clip(p.grad, -clip_value, clip_value)


class ClipGradNorm(Callback):
    """After backward, scale the gradients so that their global norm is at most ``max_norm`` (as PyTorch's
    ``clip_grad_norm_``: a factor max_norm / (norm + 1e-6), when that is below 1)."""

    def __init__(self, max_norm: float) -> None:
        if not max_norm > 0:
            raise ValueError(f"max_norm must be positive, got {max_norm}")
        self.max_norm = float(max_norm)

    def on_after_backward(self, state: Any) -> None:
        clip_grad_norm(state.optimizer.params, self.max_norm)


class ClipGradValue(Callback):
    """After backward, clamp every gradient element into [-clip_value, clip_value] (PyTorch's ``clip_grad_value_``)."""

    def __init__(self, clip_value: float) -> None:
        if not clip_value > 0:
            raise ValueError(f"clip_value must be positive, got {clip_value}")
        self.clip_value = float(clip_value)

    def on_after_backward(self, state: Any) -> None:
        clip_grad_value(state.optimizer.params, self.clip_value)
