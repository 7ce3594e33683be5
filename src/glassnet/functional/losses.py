"""Losses, each the mean over elements as PyTorch's default: wrappers that check the inputs and then
run autograd's fused, numerically stable primitives (logits-based, log-sum-exp, logs clamped at -100)."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Tensor, as_tensor, ops


def _pair(pred: Any, target: Any, name: str) -> tuple[Tensor, Tensor]:
    pred = as_tensor(pred)
    target = target if isinstance(target, Tensor) else Tensor(backend.asarray(target, like=pred.data))
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction of shape {pred.shape} and target of shape {target.shape} differ")
    return pred, target


def mse_loss(pred: Any, target: Any) -> Tensor:
    """Mean of (pred - target)^2 over all elements."""
    return ops.mse_loss(*_pair(pred, target, "mse_loss"))


def l1_loss(pred: Any, target: Any) -> Tensor:
    """Mean of |pred - target|; the gradient at 0 is 0."""
    return ops.l1_loss(*_pair(pred, target, "l1_loss"))


def huber_loss(pred: Any, target: Any, delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, delta * (|d| - delta / 2) elsewhere; mean over elements."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return ops.huber_loss(*_pair(pred, target, "huber_loss"), delta)


def cross_entropy(logits: Any, target: Any) -> Tensor:
    """Softmax cross-entropy of (N, C) logits, mean over the N rows, as one fused primitive.

    ``target`` is either N integer class indices or an (N, C) array of class probabilities.
    The gradient is (softmax(logits) - onehot(target)) / N.
    """
    logits = as_tensor(logits)
    z = logits.data
    if z.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {tuple(z.shape)}")
    t = target.data if isinstance(target, Tensor) else target
    if (t.ndim if hasattr(t, "ndim") else len(backend.to_numpy(t).shape)) == 1:
        return ops.softmax_cross_entropy(logits, t)
    probs = target if isinstance(target, Tensor) else Tensor(backend.asarray(target, like=z))
    if tuple(probs.shape) != tuple(z.shape):
        raise ValueError(f"cross_entropy: probability targets must have the logits' shape {tuple(z.shape)}, "
                         f"got {tuple(probs.shape)}")
    return ops.soft_cross_entropy(logits, probs)


def binary_cross_entropy(prob: Any, target: Any) -> Tensor:
    """-(t log p + (1 - t) log(1 - p)), mean; each log is clamped at -100, so never log(0)."""
    return ops.binary_cross_entropy(*_pair(prob, target, "binary_cross_entropy"))


def binary_cross_entropy_with_logits(logits: Any, target: Any) -> Tensor:
    """Binary cross-entropy of sigmoid(logits), computed from the logits without overflow."""
    return ops.binary_cross_entropy_with_logits(*_pair(logits, target, "binary_cross_entropy_with_logits"))
