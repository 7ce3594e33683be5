"""Losses, each the mean over elements as PyTorch's default: wrappers that check the inputs and then
run autograd's fused, numerically stable primitives (logits-based, log-sum-exp, logs clamped at -100)."""

from __future__ import annotations

import numbers
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


def cross_entropy(logits: Any, target: Any, weight: Any = None, label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of (N, C) logits, averaged over the rows exactly as PyTorch's.

    ``target`` is either N integer class indices or an (N, C) array of class probabilities. ``weight``
    (C non-negative class weights, a constant) scales each class's term; for index targets the mean is then
    sum(w[y_i] loss_i) / sum(w[y_i]), for probabilities it stays a mean over the N rows. ``label_smoothing``
    s in [0, 1] mixes the target with the uniform distribution: (1 - s) target + s / C. Without either,
    one fused primitive whose gradient is (softmax(logits) - onehot(target)) / N.
    """
    logits = as_tensor(logits)
    z = logits.data
    if z.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {tuple(z.shape)}")
    t = target.data if isinstance(target, Tensor) else target
    index_targets = (t.ndim if hasattr(t, "ndim") else len(backend.to_numpy(t).shape)) == 1
    if weight is None and label_smoothing == 0.0:
        if index_targets:
            return ops.softmax_cross_entropy(logits, t)
        return ops.soft_cross_entropy(logits, _probabilities(target, z))
    if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    xp, (n, c) = logits.xp, z.shape
    w = None if weight is None else _class_weights(weight, z)
    if index_targets:  # the smoothed one-hot rows, as constant probabilities
        y = ops.class_indices(t, c, xp, like=z)
        if y.shape[0] != n:
            raise ValueError(f"cross_entropy: {n} rows of logits but {y.shape[0]} targets")
        soft = xp.astype(xp.arange(c)[None, :] == y[:, None], z.dtype)
        if label_smoothing:
            soft = soft * (1.0 - label_smoothing) + label_smoothing / c
        if w is None:
            return ops.soft_cross_entropy(logits, Tensor(soft))
        return ops.soft_cross_entropy(logits, Tensor(soft * w), total=xp.sum(xp.take(w, y)))
    probs = _probabilities(target, z)  # a Tensor: a target that requires grad gets its gradient
    if label_smoothing:
        probs = probs * (1.0 - label_smoothing) + label_smoothing / c
    return ops.soft_cross_entropy(logits, probs if w is None else probs * w)


def _probabilities(target: Any, z: Any) -> Tensor:
    """Probability targets as a Tensor in the logits' namespace, checked to have the logits' shape."""
    probs = target if isinstance(target, Tensor) else Tensor(backend.asarray(target, like=z))
    if tuple(probs.shape) != tuple(z.shape):
        raise ValueError(f"cross_entropy: probability targets must have the logits' shape {tuple(z.shape)}, "
                         f"got {tuple(probs.shape)}")
    return probs


def _class_weights(weight: Any, z: Any) -> Any:
    """Class weights as a constant array in the logits' namespace and dtype: one non-negative entry per class."""
    w = backend.asarray(weight.data if isinstance(weight, Tensor) else weight, like=z)
    c = z.shape[1]
    if tuple(w.shape) != (c,):
        raise ValueError(f"cross_entropy: weight must hold one entry per class, shape ({c},), "
                         f"got shape {tuple(w.shape)}")
    xp = backend.namespace(w)
    if not bool(xp.all(w >= 0)):  # NaN fails this too
        raise ValueError(f"cross_entropy: class weights must be non-negative, got {backend.to_numpy(w).tolist()}")
    return w


def binary_cross_entropy(prob: Any, target: Any) -> Tensor:
    """-(t log p + (1 - t) log(1 - p)), mean; each log is clamped at -100, so never log(0)."""
    return ops.binary_cross_entropy(*_pair(prob, target, "binary_cross_entropy"))


def binary_cross_entropy_with_logits(logits: Any, target: Any) -> Tensor:
    """Binary cross-entropy of sigmoid(logits), computed from the logits without overflow."""
    return ops.binary_cross_entropy_with_logits(*_pair(logits, target, "binary_cross_entropy_with_logits"))
