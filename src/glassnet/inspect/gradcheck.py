"""Gradient checking: analytic gradients from backward() against central finite differences."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with its finite-difference estimate.

    Its attributes describe the worst element: ``input`` (which input), ``index`` (where in it),
    ``analytic`` and ``numerical`` (the two values), ``error`` (their absolute difference) and
    ``allowed`` (atol + rtol * |numerical| there); ``mismatches`` counts the elements beyond their
    tolerance, of ``size``.
    """

    def __init__(self, message: str, **worst: Any) -> None:
        super().__init__(message)
        self.input: int = worst.get("input", 0)
        self.index: tuple[int, ...] = worst.get("index", ())
        self.analytic: float = worst.get("analytic", math.nan)
        self.numerical: float = worst.get("numerical", math.nan)
        self.error: float = worst.get("error", math.nan)
        self.allowed: float = worst.get("allowed", math.nan)
        self.mismatches: int = worst.get("mismatches", 0)
        self.size: int = worst.get("size", 0)


def gradcheck(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, rng: Any = 0, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients with respect to every input by central differences in float64.

    For anyone who writes an op with its own backward, or a loss of their own: ``fn`` takes Tensors
    and returns a Tensor. ``inputs`` are arrays or Tensors; each is copied to float64 and
    differentiated. A non-scalar output is reduced to a scalar with fixed random weights, so every
    output element is checked. An element passes when |analytic - numerical| <= atol + rtol *
    |numerical| (PyTorch's tolerances). Returns True; on a mismatch raises :class:`GradcheckError`,
    which names the input, the worst element, both values, the error against its allowance and how
    many elements are wrong (or returns False with ``raise_exception=False``).

    Examples
    --------
    A loss of one's own, built from glassnet operations, and an op with a hand-written backward
    that forgets the factor 2 of d(x^2)/dx:

    >>> import numpy as np
    >>> import glassnet as gn
    >>> x = np.random.default_rng(0).normal(size=(4, 3))
    >>> def smooth_l1(a):
    ...     return ((a * a + 1.0) ** 0.5 - 1.0).mean()
    >>> gn.gradcheck(smooth_l1, [x])
    True
    >>> def my_square(a):
    ...     return gn.Tensor._make(a.data * a.data, a.xp, (a,), lambda g: (g * a.data,))
    >>> try:
    ...     gn.gradcheck(my_square, [x])
    ... except gn.GradcheckError as e:
    ...     print(e.input, e.index, e.mismatches, e.size)
    0 (3, 0) 12 12
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
        allowed = atol + rtol * np.abs(numeric)
        error = np.abs(analytic - numeric)
        excess = np.where(np.isnan(error), np.inf, error - allowed)
        if excess.size and excess.max() > 0:
            worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
            count = int(np.count_nonzero(excess > 0))
            if not raise_exception:
                return False
            raise GradcheckError(
                f"gradient of input {k} (shape {t.shape}) is wrong at {worst}: analytic {analytic[worst]:.8g}, "
                f"numerical {numeric[worst]:.8g} (error {error[worst]:.3g}, allowed {allowed[worst]:.3g}); "
                f"{count} of {excess.size} elements are beyond tolerance",
                input=k, index=worst, analytic=float(analytic[worst]), numerical=float(numeric[worst]),
                error=float(error[worst]), allowed=float(allowed[worst]), mismatches=count, size=int(excess.size))
    return True
