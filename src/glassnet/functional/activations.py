"""Activations and softmax: thin wrappers over autograd's primitives that accept arrays as well as Tensors."""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor, as_tensor, ops
from ..autograd.tensor import axis_alias


def relu(x: Any) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    return ops.relu(as_tensor(x))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    return ops.leaky_relu(as_tensor(x), negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return ops.elu(as_tensor(x), alpha)


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow."""
    return ops.sigmoid(as_tensor(x))


def log_sigmoid(x: Any) -> Tensor:
    """log(sigmoid(x)), finite for any finite x."""
    return ops.log_sigmoid(as_tensor(x))


logsigmoid = log_sigmoid  # PyTorch's name


def silu(x: Any) -> Tensor:
    """x * sigmoid(x), also called swish."""
    return ops.silu(as_tensor(x))


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, a smooth ReLU; x itself where beta x > threshold, as in PyTorch."""
    return ops.softplus(as_tensor(x), beta, threshold)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return ops.tanh(as_tensor(x))


def gelu(x: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x) with the exact normal CDF, or its tanh approximation (``approximate="tanh"``)."""
    return ops.gelu(as_tensor(x), approximate)


def identity(x: Any) -> Tensor:
    """x itself."""
    return as_tensor(x)


def softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (``dim`` is PyTorch's name for it), shifted by the maximum so
    nothing overflows."""
    return ops.softmax(as_tensor(x), axis_alias("softmax", axis, dim, default=-1))


def log_softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """log(softmax(x)) along ``axis`` (or ``dim``) by log-sum-exp: finite for any finite logits."""
    return ops.log_softmax(as_tensor(x), axis_alias("log_softmax", axis, dim, default=-1))
