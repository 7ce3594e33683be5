"""Gradient checking: analytic gradients from backward() against central finite differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with its finite-difference estimate."""


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, rng: Any = 0) -> bool:
    """Check ``fn``'s gradients with respect to every input by central differences in float64.

    ``inputs`` are arrays or Tensors; each is copied to float64 and differentiated. A non-scalar
    output is reduced to a scalar with fixed random weights, so every output element is checked.
    Returns True, or raises GradcheckError naming the input and the worst element.
    """
    tensors = []
    for x in inputs:
        data = x.data if isinstance(x, Tensor) else backend.asarray(x)
        xp = backend.namespace(data)
        tensors.append(Tensor(xp.asarray(data, dtype=xp.float64, copy=True), requires_grad=True))
    out = fn(*tensors)
    xp = out.xp
    weights = backend.uniform(tuple(out.data.shape), 0.5, 1.5, xp, xp.float64, rng)

    def scalar() -> float:
        return float(xp.sum(fn(*tensors).data * weights))

    loss = (out * Tensor(weights)).sum()
    if loss.requires_grad:  # else no input reaches the output: every analytic gradient is zero
        loss.backward()
    for k, t in enumerate(tensors):
        analytic = backend.to_numpy(t.grad) if t.grad is not None else np.zeros(t.shape)
        numeric = np.zeros(t.shape)
        for idx in np.ndindex(*t.shape):
            index = tuple(int(i) for i in idx)
            original = float(t.data[index])
            t.data[index] = original + eps
            plus = scalar()
            t.data[index] = original - eps
            minus = scalar()
            t.data[index] = original
            numeric[idx] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(int(np.argmax(error)), error.shape)
            raise GradcheckError(
                f"gradient of input {k} (shape {t.shape}) is wrong at {tuple(int(i) for i in worst)}: "
                f"analytic {analytic[worst]:.8g}, numerical {numeric[worst]:.8g}")
    return True
