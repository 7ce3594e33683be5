"""The L-infinity attack loop that FGSM, PGD and adversarial training share: signed-gradient steps, projected.

The box an adversarial row stays in is ``[x - eps, x + eps]`` intersected with the valid range ``clip``
(scalars or one bound per feature); a row already outside that range is not pulled into it, so that
eps 0 leaves every row as it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend


def _bounds(clip: Any, x: Any) -> tuple[Any, Any]:
    """(low, high) of ``clip`` as arrays broadcasting against rows ``x`` (either may be None)."""
    if clip is None:
        return None, None
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise ValueError(f"clip must be a pair (min, max) of scalars or per-feature arrays, got {clip!r}")
    xp, n_features = backend.namespace(x), x.shape[1]
    out = []
    for name, bound in zip(("min", "max"), clip, strict=True):
        if bound is None:
            out.append(None)
            continue
        b = np.asarray(backend.to_numpy(bound), dtype=np.float64)
        if b.ndim > 1 or (b.ndim == 1 and b.shape[0] != n_features):
            raise ValueError(f"clip {name} must be a scalar or hold one value per feature ({n_features}), "
                             f"got shape {b.shape}")
        if np.isnan(b).any():
            raise ValueError(f"clip {name} contains NaN")
        out.append(b)
    low, high = out
    if low is not None and high is not None and np.any(low > high):
        raise ValueError("clip min exceeds clip max for some features")
    return tuple(None if b is None else xp.asarray(np.broadcast_to(b, (n_features,)), dtype=x.dtype,
                                                    device=backend.device(x)) for b in (low, high))


def check_eps(eps: Any) -> float:
    """``eps`` as a float, refused unless it is a finite number >= 0."""
    if not isinstance(eps, (int, float, np.integer, np.floating)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    return float(eps)


def linf_attack(gradient: Callable[[Any], Any], x: Any, eps: float, *, steps: int = 1, alpha: float | None = None,
                random_start: bool = False, clip: Any = None, rng: Any = None) -> Any:
    """Signed-gradient ascent on rows ``x`` inside the L-infinity ball of radius ``eps`` and the ``clip`` range.

    ``gradient(x_adv)`` returns the gradient of the loss to increase at ``x_adv``. Each of ``steps`` steps
    moves every feature by ``alpha`` (default ``eps``) in the direction of its gradient's sign, then clips
    to the box; ``random_start`` first moves to a uniform random point of the ball (drawn from ``rng``).
    FGSM is one step of size eps from x; PGD is several smaller ones from a random start.
    """
    eps = check_eps(eps)
    alpha = eps if alpha is None else float(alpha)
    xp = backend.namespace(x)
    low, high = _bounds(clip, x)
    if eps == 0:
        return x
    lo, hi = x - eps, x + eps
    if low is not None:  # never pull a row into the range it was already outside of
        lo = xp.maximum(lo, xp.minimum(low, x))
    if high is not None:
        hi = xp.minimum(hi, xp.maximum(high, x))
    adv = x
    if random_start:
        adv = xp.clip(x + backend.uniform(tuple(x.shape), -eps, eps, xp, x.dtype, rng, like=x), lo, hi)
    for _ in range(int(steps)):
        adv = xp.clip(adv + alpha * xp.sign(gradient(adv)), lo, hi)
    return adv
