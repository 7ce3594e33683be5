"""Differentiable functions: linear maps, activations, softmax, dropout and losses.

Each is one primitive with its own vector-Jacobian product, written in the numerically stable
form (log-sum-exp, logits-based losses) so that logits of magnitude 1e4 neither overflow nor
produce log(0). Every loss takes the mean over all elements, as PyTorch's default does.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor, as_tensor


def linear(x: Any, weight: Tensor, bias: Tensor | None = None, activation: str | None = None) -> Tensor:
    """``x @ weight + bias`` as one node; weight has shape (in_features, out_features).

    ``activation="relu"`` fuses a ReLU into the same node (applied in place, one graph node and one
    array fewer per layer), as :class:`glassnet.nn.MLP` does for its hidden layers.
    """
    if activation not in (None, "relu"):
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    x = as_tensor(x)
    a, w = x.data, weight.data
    if a.shape[-1] != w.shape[0]:
        raise ValueError(f"linear: input of shape {tuple(a.shape)} has {a.shape[-1]} features, "
                         f"weight of shape {tuple(w.shape)} expects {w.shape[0]}")
    xp = x.xp
    out = a @ w
    if bias is not None:
        out += bias.data
    parents = (x, weight) if bias is None else (x, weight, bias)
    numpy_path = backend.is_numpy(xp)
    relu = activation == "relu"
    if relu:
        out = xp.maximum(out, 0, out=out) if numpy_path else xp.maximum(out, 0)

    def _bw(g: Any) -> tuple:
        if relu:
            kernels = backend.kernels_for(g, out) if g.ndim == 2 else None
            if kernels is not None:
                g = kernels.relu_grad(g, out)
            else:
                g = g * (out > 0) if numpy_path else g * xp.astype(out > 0, g.dtype)
        gx = g @ w.T if x.requires_grad else None
        if a.ndim == 2:
            gw = None
            if weight.requires_grad:
                sink = weight.grad_sink()
                if sink is None:
                    gw = a.T @ g
                else:  # straight into the optimizer's flat gradient buffer: no temporary, no copy
                    weight.grad = xp.matmul(a.T, g, out=sink)
            gb = None
            if bias is not None and bias.requires_grad:
                if numpy_path:  # a BLAS matrix-vector product sums the rows faster than a strided reduction
                    sink = bias.grad_sink()
                    gb = np.matmul(_ones(g.shape[0], g.dtype), g, out=sink)
                    if sink is not None:
                        bias.grad, gb = sink, None
                else:
                    gb = xp.sum(g, axis=0)
        else:
            a2, g2 = xp.reshape(a, (-1, a.shape[-1])), xp.reshape(g, (-1, g.shape[-1]))
            gw = a2.T @ g2
            gb = xp.sum(g2, axis=0) if bias is not None else None
        return gx, gw, gb

    return Tensor._make(out, xp, parents, _bw)


@functools.lru_cache(maxsize=32)
def _ones(n: int, dtype: Any) -> np.ndarray:
    """A read-only NumPy vector of n ones, kept: the row-summing operand of bias gradients."""
    ones = np.ones((n,), dtype=dtype)
    ones.flags.writeable = False
    return ones


# ---- activations -----------------------------------------------------------------------------
def relu(x: Any) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    x = as_tensor(x)
    xp = x.xp
    out = xp.maximum(x.data, 0)
    if backend.is_numpy(xp):  # NumPy multiplies by a boolean mask directly, skipping a cast
        return Tensor._make(out, xp, (x,), lambda g: (g * (out > 0),))
    return Tensor._make(out, xp, (x,), lambda g: (g * xp.astype(out > 0, g.dtype),))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    x = as_tensor(x)
    xp, a = x.xp, x.data
    positive = a > 0
    out = xp.where(positive, a, a * negative_slope)
    return Tensor._make(out, xp, (x,), lambda g: (xp.where(positive, g, g * negative_slope),))


def _sigmoid(a: Any, xp: Any) -> Any:
    # exp(-|a|) never overflows; the two branches give full precision on both tails
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow."""
    x = as_tensor(x)
    out = _sigmoid(x.data, x.xp)
    return Tensor._make(out, x.xp, (x,), lambda g: (g * out * (1.0 - out),))


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return as_tensor(x).tanh()


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x) with the exact normal CDF, or its tanh approximation (``approximate="tanh"``)."""
    x = as_tensor(x)
    xp, a = x.xp, x.data
    if approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        inner = k * (a + 0.044715 * a ** 3)
        t = xp.tanh(inner)
        out = 0.5 * a * (1.0 + t)

        def _bw(g: Any) -> tuple:
            dinner = k * (1.0 + 3 * 0.044715 * a * a)
            return (g * (0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * dinner),)
    elif approximate == "none":
        cdf = 0.5 * (1.0 + backend.erf(a / math.sqrt(2.0), xp))
        out = a * cdf

        def _bw(g: Any) -> tuple:
            pdf = xp.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
            return (g * (cdf + a * pdf),)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Tensor._make(out, xp, (x,), _bw)


def identity(x: Any) -> Tensor:
    """x itself."""
    return as_tensor(x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so nothing overflows."""
    x = as_tensor(x)
    xp = x.xp
    e = xp.exp(x.data - xp.max(x.data, axis=axis, keepdims=True))
    out = e / xp.sum(e, axis=axis, keepdims=True)
    return Tensor._make(out, xp, (x,), lambda g: (out * (g - xp.sum(g * out, axis=axis, keepdims=True)),))


def _log_softmax(a: Any, xp: Any, axis: int) -> Any:
    shifted = a - xp.max(a, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """log(softmax(x)) by log-sum-exp: finite for any finite logits."""
    x = as_tensor(x)
    xp = x.xp
    out = _log_softmax(x.data, xp, axis)
    return Tensor._make(out, xp, (x,), lambda g: (g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True),))


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    xp = x.xp
    if p == 1.0:
        return x * 0.0
    mask = backend.keep_mask(tuple(x.data.shape), p, xp, x.data.dtype, rng, like=x.data)
    return Tensor._make(x.data * mask, xp, (x,), lambda g: (g * mask,))


# ---- losses ----------------------------------------------------------------------------------
def _pair(pred: Any, target: Any, name: str) -> tuple[Tensor, Tensor]:
    pred = as_tensor(pred)
    target = target if isinstance(target, Tensor) else Tensor(backend.asarray(target, like=pred.data))
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction of shape {pred.shape} and target of shape {target.shape} differ")
    return pred, target


def mse_loss(pred: Any, target: Any) -> Tensor:
    """Mean of (pred - target)^2 over all elements."""
    pred, target = _pair(pred, target, "mse_loss")
    xp = pred.xp
    diff = pred.data - target.data
    n = pred.size
    out = xp.sum(diff * diff) / n

    def _bw(g: Any) -> tuple:
        gp = (2.0 / n) * g * diff
        return gp, -gp if target.requires_grad else None

    return Tensor._make(out, xp, (pred, target), _bw)


def l1_loss(pred: Any, target: Any) -> Tensor:
    """Mean of |pred - target|; the gradient at 0 is 0."""
    pred, target = _pair(pred, target, "l1_loss")
    xp = pred.xp
    diff = pred.data - target.data
    n = pred.size
    out = xp.sum(xp.abs(diff)) / n

    def _bw(g: Any) -> tuple:
        gp = (g / n) * xp.sign(diff)
        return gp, -gp if target.requires_grad else None

    return Tensor._make(out, xp, (pred, target), _bw)


def huber_loss(pred: Any, target: Any, delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, delta * (|d| - delta / 2) elsewhere; mean over elements."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    pred, target = _pair(pred, target, "huber_loss")
    xp = pred.xp
    diff = pred.data - target.data
    ad = xp.abs(diff)
    n = pred.size
    out = xp.sum(xp.where(ad < delta, 0.5 * diff * diff, delta * (ad - 0.5 * delta))) / n

    def _bw(g: Any) -> tuple:
        gp = (g / n) * xp.clip(diff, -delta, delta)
        return gp, -gp if target.requires_grad else None

    return Tensor._make(out, xp, (pred, target), _bw)


def class_indices(target: Any, n_classes: int, xp: Any, like: Any = None) -> Any:
    """Integer class indices from ``target`` as an ``xp`` array (on ``like``'s device), checked to lie in
    [0, n_classes)."""
    if isinstance(target, Tensor):
        target = target.data
    if like is None or type(target) is not type(like):  # lists and other namespaces' arrays into xp
        target = xp.asarray(target, device=None if like is None else backend.device(like))
    if not xp.isdtype(target.dtype, "integral"):
        as_int = xp.astype(target, xp.int64)
        if not bool(xp.all(xp.astype(as_int, target.dtype) == target)):
            raise ValueError("cross_entropy: class index targets must be whole numbers")
        target = as_int
    if target.shape[0] and (int(xp.min(target)) < 0 or int(xp.max(target)) >= n_classes):
        raise ValueError(f"cross_entropy: target class indices must lie in [0, {n_classes - 1}] for "
                         f"{n_classes} classes, got values from {int(xp.min(target))} to {int(xp.max(target))}")
    return target


def cross_entropy(logits: Any, target: Any) -> Tensor:
    """Softmax cross-entropy of (N, C) logits, mean over the N rows, as one fused primitive.

    ``target`` is either N integer class indices or an (N, C) array of class probabilities.
    The gradient is (softmax(logits) - onehot(target)) / N.
    """
    logits = as_tensor(logits)
    xp, z = logits.xp, logits.data
    if z.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {tuple(z.shape)}")
    n, c = z.shape
    t = target.data if isinstance(target, Tensor) else target
    kernels = backend.kernels_for(z, t) if getattr(t, "shape", None) == (n,) else None
    if kernels is not None and t.dtype.kind in "iu":
        grad = np.empty_like(z)  # softmax(z) - onehot(y), in the same compiled pass as the loss
        total = kernels.softmax_cross_entropy(z, t, grad)
        if not math.isnan(total):  # NaN: a class index out of range, or NaN logits; the path below tells
            return Tensor._make(z.dtype.type(total / n), xp, (logits,), lambda g: (grad * (g / n),))
    logp = _log_softmax(z, xp, axis=1)
    if (t.ndim if hasattr(t, "ndim") else len(backend.to_numpy(t).shape)) == 1:
        y = class_indices(target, c, xp, like=z)
        if y.shape[0] != n:
            raise ValueError(f"cross_entropy: {n} rows of logits but {y.shape[0]} targets")
        if backend.is_numpy(xp):
            picked = logp[xp.arange(n), y]
        else:
            picked = xp.sum(xp.where(xp.arange(c)[None, :] == y[:, None], logp, 0.0), axis=1)
        out = -xp.sum(picked) / n

        def _bw(g: Any) -> tuple:
            grad = xp.exp(logp)
            if backend.is_numpy(xp):
                grad[xp.arange(n), y] -= 1.0
            else:
                grad = grad - xp.astype(xp.arange(c)[None, :] == y[:, None], grad.dtype)
            return (grad * (g / n),)

        return Tensor._make(out, xp, (logits,), _bw)

    probs = target if isinstance(target, Tensor) else Tensor(backend.asarray(target, like=z))
    p = probs.data
    if tuple(p.shape) != (n, c):
        raise ValueError(f"cross_entropy: probability targets must have the logits' shape {(n, c)}, "
                         f"got {tuple(p.shape)}")
    out = -xp.sum(p * logp) / n

    def _bw_probs(g: Any) -> tuple:
        gz = (xp.exp(logp) * xp.sum(p, axis=1, keepdims=True) - p) * (g / n)
        return gz, (-logp * (g / n)) if probs.requires_grad else None

    return Tensor._make(out, xp, (logits, probs), _bw_probs)


def _clamped_logs(p: Any, xp: Any) -> tuple[Any, Any]:
    # log(p) and log(1 - p), each clamped at -100 as PyTorch does; at p = 0 or 1 the -100 stands in
    # directly, so no log(0) is ever evaluated
    inside_p, inside_q = p > 0, p < 1
    log_p = xp.where(inside_p, xp.log(xp.where(inside_p, p, 1.0)), -100.0)
    log_q = xp.where(inside_q, xp.log1p(-xp.where(inside_q, p, 0.0)), -100.0)
    return xp.clip(log_p, -100.0, None), xp.clip(log_q, -100.0, None)


def binary_cross_entropy(prob: Any, target: Any) -> Tensor:
    """-(t log p + (1 - t) log(1 - p)), mean; each log is clamped at -100, so never log(0)."""
    prob, target = _pair(prob, target, "binary_cross_entropy")
    xp, p, t = prob.xp, prob.data, target.data
    if bool(xp.any(p < 0)) or bool(xp.any(p > 1)):
        raise ValueError("binary_cross_entropy: probabilities must lie in [0, 1]; "
                         "use binary_cross_entropy_with_logits for raw scores")
    n = prob.size
    log_p, log_q = _clamped_logs(p, xp)
    out = -xp.sum(t * log_p + (1.0 - t) * log_q) / n

    def _bw(g: Any) -> tuple:
        gp = (g / n) * (p - t) / xp.clip(p * (1.0 - p), 1e-12, None)
        return gp, (g / n) * (log_q - log_p) if target.requires_grad else None

    return Tensor._make(out, xp, (prob, target), _bw)


def binary_cross_entropy_with_logits(logits: Any, target: Any) -> Tensor:
    """Binary cross-entropy of sigmoid(logits) computed from the logits: max(x,0) - x t + log1p(e^-|x|)."""
    logits, target = _pair(logits, target, "binary_cross_entropy_with_logits")
    xp, x, t = logits.xp, logits.data, target.data
    n = logits.size
    out = xp.sum(xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))) / n

    def _bw(g: Any) -> tuple:
        gx = (g / n) * (_sigmoid(x, xp) - t)
        return gx, (-(g / n) * x) if target.requires_grad else None

    return Tensor._make(out, xp, (logits, target), _bw)
