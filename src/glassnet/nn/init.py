"""Weight initializers: Glorot (Xavier) for tanh/sigmoid layers, He (Kaiming) for ReLU-like ones."""

from __future__ import annotations

import math
from typing import Any

from .. import backend


def glorot_uniform(fan_in: int, fan_out: int, xp: Any, dtype: Any, rng: Any = None, gain: float = 1.0) -> Any:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)): keeps activation variance for tanh."""
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return backend.uniform((fan_in, fan_out), -bound, bound, xp, dtype, rng)


def he_uniform(fan_in: int, fan_out: int, xp: Any, dtype: Any, rng: Any = None) -> Any:
    """U(-a, a) with a = sqrt(6 / fan_in): keeps activation variance through ReLU layers."""
    bound = math.sqrt(6.0 / fan_in)
    return backend.uniform((fan_in, fan_out), -bound, bound, xp, dtype, rng)


INITIALIZERS = {"glorot": glorot_uniform, "he": he_uniform}
