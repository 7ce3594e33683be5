"""Optimizer updates fused into one pass over the flat buffers, compiled by Numba.

NumPy needs a dozen whole-buffer passes for one Adam step (sqrt, divide and the moving averages each
read and write memory); one compiled loop does it in a single pass, about five times faster. The
arithmetic follows PyTorch's order, in the buffers' own dtype. Used for flat NumPy buffers when numba
is installed (the ``fast`` extra) and ``GLASSNET_NUMBA`` is not ``0``; the NumPy rules in each
optimizer are the reference these kernels are tested against.
"""

from __future__ import annotations

import os
from typing import Any

import numba
import numpy as np

# error_model="numpy": division follows IEEE (no zero check), which lets the loops vectorize
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


def enabled() -> bool:
    """Whether optimizers built from now on use these kernels (``GLASSNET_NUMBA=0`` turns them off)."""
    return os.environ.get("GLASSNET_NUMBA", "1") != "0"


def scalars(dtype: Any, *values: float) -> list[Any]:
    """``values`` as scalars of ``dtype``, so a float32 buffer is updated in float32 arithmetic."""
    return [dtype.type(v) for v in values]


@_jit
def sgd(p, g, buf, lr, momentum, undamped, weight_decay, nesterov, first):
    """SGD with optional weight decay, momentum (``buf``; ``undamped`` = 1 - dampening) and Nesterov;
    ``first``: the first step, which starts the momentum buffer at the gradient."""
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
def adam(p, g, m, v, vmax, step_size, b2, c1, c2, bc2_sqrt, eps, weight_decay, shrink, amsgrad):
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
def rmsprop(p, g, sq, buf, mean, lr, alpha, c, eps, weight_decay, momentum, centered):
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

