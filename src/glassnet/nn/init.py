"""Weight initializers: Glorot (Xavier) for tanh/sigmoid layers, He (Kaiming) for ReLU-like ones.

``skip_init()`` builds modules without drawing or allocating weights (model files use it: a file's
layer descriptions are checked against its tensors before any memory is spent on them).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from typing import Any

from .. import backend

FLOAT_DTYPES = ("float16", "float32", "float64")
_skipping = contextvars.ContextVar("glassnet_skip_init", default=False)


def glorot_uniform(fan_in: int, fan_out: int, xp: Any, dtype: Any, rng: Any = None, gain: float = 1.0) -> Any:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)): keeps activation variance for tanh."""
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return backend.uniform((fan_in, fan_out), -bound, bound, xp, dtype, rng)


def he_uniform(fan_in: int, fan_out: int, xp: Any, dtype: Any, rng: Any = None) -> Any:
    """U(-a, a) with a = sqrt(6 / fan_in): keeps activation variance through ReLU layers."""
    bound = math.sqrt(6.0 / fan_in)
    return backend.uniform((fan_in, fan_out), -bound, bound, xp, dtype, rng)


INITIALIZERS = {"glorot": glorot_uniform, "he": he_uniform}


@contextlib.contextmanager
def skip_init() -> Iterator[None]:
    """Build modules with placeholder weights: no random draws, no memory; fill them with
    ``load_state_dict(state, assign=True)``. Layers allocate through :func:`zeros` and skip
    their ``reset_parameters`` while :func:`skipping` is true."""
    token = _skipping.set(True)
    try:
        yield
    finally:
        _skipping.reset(token)


def skipping() -> bool:
    """True inside :func:`skip_init`: a layer's constructor should draw no initial values."""
    return _skipping.get()


def zeros(shape: tuple[int, ...], xp: Any = None, dtype: str | None = None) -> Any:
    """Storage for a new parameter: zeros of ``shape`` (float32 NumPy unless ``xp``/``dtype`` say otherwise).

    Inside :func:`skip_init` it is a read-only, zero-memory placeholder of that shape and dtype.
    """
    xp = xp if xp is not None else backend.namespace(backend.asarray(0.0))
    dtype = float_dtype(xp, dtype)
    if _skipping.get():
        return xp.broadcast_to(xp.zeros((), dtype=dtype), shape)
    return xp.zeros(shape, dtype=dtype)


def float_dtype(xp: Any, name: str | None) -> Any:
    """The float dtype ``name`` ("float16", "float32" or "float64"; None: float32) of namespace ``xp``."""
    if name is not None and name not in FLOAT_DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose from {list(FLOAT_DTYPES)}")
    return backend.float_dtype(xp, name)


def dtype_name(dtype: Any) -> str:
    """The plain name of a float dtype of any namespace ("float32" for np.float32 or torch.float32)."""
    return str(dtype).rsplit(".", 1)[-1]
