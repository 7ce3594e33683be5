"""Element-wise work fused into one compiled pass by Numba, for NumPy arrays.

NumPy needs a dozen whole-array passes for one Adam step (sqrt, divide and the moving averages each
read and write memory), and several small calls for a softmax cross-entropy or a weight penalty; one
compiled loop does each in a single pass. The arithmetic follows PyTorch's order, in the arrays' own
dtype. Used through :func:`glassnet.backend.kernels` when numba is installed (the ``fast`` extra) and
``GLASSNET_NUMBA`` is not ``0``; the NumPy code beside each use is the reference the kernels are
tested against.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

Array = np.ndarray  # scalars are NumPy scalars of the arrays' dtype (see ``scalars``)

# error_model="numpy": division follows IEEE (no zero check), which lets the loops vectorize
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


def scalars(dtype: Any, *values: float) -> list[Any]:
    """``values`` as scalars of ``dtype``, so a float32 buffer is updated in float32 arithmetic."""
    return [dtype.type(v) for v in values]


@_jit
def sgd(p: Array, g: Array, buf: Array, lr: Any, momentum: Any, undamped: Any, weight_decay: Any, nesterov: bool,
        first: bool) -> None:
    """SGD with optional weight decay, momentum (``buf``; ``undamped`` = 1 - dampening) and Nesterov;
    ``first``: the parameters' first step (their first gradient), which starts the momentum buffer at it."""
    for i in range(p.shape[0]):
        gi = g[i]
        if weight_decay != 0:
            gi = gi + weight_decay * p[i]
        if momentum != 0:
            b = gi if first else momentum * buf[i] + undamped * gi
            buf[i] = b
            gi = gi + momentum * b if nesterov else b
        p[i] = p[i] - lr * gi


@_jit
def adam(p: Array, g: Array, m: Array, v: Array, vmax: Array, step_size: Any, b2: Any, c1: Any, c2: Any,
         bc2_sqrt: Any, eps: Any, weight_decay: Any, shrink: Any, amsgrad: bool) -> None:
    """Adam and AdamW; c1, c2 = 1 - beta1, 1 - beta2; ``shrink`` is AdamW's 1 - lr * weight_decay
    (1 for Adam, whose ``weight_decay`` is added to the gradient instead)."""
    for i in range(p.shape[0]):
        pi = p[i] * shrink
        gi = g[i]
        if weight_decay != 0:
            gi = gi + weight_decay * pi
        mi = m[i] + c1 * (gi - m[i])
        vi = b2 * v[i] + c2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vi = max(vmax[i], vi)
            vmax[i] = vi
        p[i] = pi - step_size * (mi / (np.sqrt(vi) / bc2_sqrt + eps))


@_jit
def rmsprop(p: Array, g: Array, sq: Array, buf: Array, mean: Array, lr: Any, alpha: Any, c: Any, eps: Any,
            weight_decay: Any, momentum: Any, centered: bool) -> None:
    """RMSprop (c = 1 - alpha) with optional weight decay, momentum (``buf``) and centering (``mean``)."""
    for i in range(p.shape[0]):
        gi = g[i]
        if weight_decay != 0:
            gi = gi + weight_decay * p[i]
        s = alpha * sq[i] + c * (gi * gi)
        sq[i] = s
        if centered:
            mu = mean[i] + c * (gi - mean[i])
            mean[i] = mu
            s = s - mu * mu
        d = np.sqrt(s) + eps
        if momentum != 0:
            b = momentum * buf[i] + gi / d
            buf[i] = b
            p[i] = p[i] - lr * b
        else:
            p[i] = p[i] - lr * (gi / d)


@_jit
def relu_grad(g: Array, out: Array) -> Array:
    """ReLU's backward as one pass into a new array: g where out > 0, else 0."""
    r = np.empty_like(g)
    for i in range(g.shape[0]):
        for j in range(g.shape[1]):
            r[i, j] = g[i, j] if out[i, j] > 0 else 0
    return r


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def add_penalty(grad: Array, w: Array, l2: Any, l1: Any) -> tuple[Any, Any]:
    """grad += l2 * w + l1 * sign(w) in one pass; returns (sum of w^2, sum of |w|) for the loss value.

    reassoc lets the sums run as vectorized partial sums, as a BLAS dot product does.
    """
    g, flat = grad.reshape(-1), w.reshape(-1)
    squares = absolutes = l2 * 0  # zero in the arrays' dtype
    for i in range(flat.shape[0]):
        wi = flat[i]
        squares += wi * wi
        absolutes += abs(wi)
        g[i] = g[i] + l2 * wi + l1 * np.sign(wi)
    return squares, absolutes


@_jit
def softmax_cross_entropy(z: Array, y: Array, grad: Array) -> float:
    """Sum over rows of -log softmax(z)[y] (float64), and grad = softmax(z) - onehot(y) row by row.

    Returns NaN, leaving grad partly written, when a class index lies outside [0, C).
    """
    n, c = z.shape
    total = 0.0
    for i in range(n):
        k = y[i]
        if k < 0 or k >= c:
            return math.nan
        top = z[i, 0]
        for j in range(1, c):
            top = max(top, z[i, j])
        s = 0.0
        for j in range(c):
            e = np.exp(z[i, j] - top)
            grad[i, j] = e
            s += e
        inv = 1.0 / s
        for j in range(c):
            grad[i, j] = grad[i, j] * inv
        grad[i, k] -= 1.0
        total += math.log(s) - (z[i, k] - top)
    return total
