"""Array backends: which namespace a value lives in, default dtype, random generators, host copies.

Only this module names NumPy or CuPy; everything else works through the Array API namespace
returned by :func:`namespace`. Where the standard lacks a function (erf, scatter-add, random
numbers) the workaround lives here, with a comment saying why.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np

DEFAULT_DTYPE = "float32"
_default_rng: np.random.Generator = np.random.default_rng()


# NumPy 2 implements the Array API standard in its main namespace; using it directly skips
# array-api-compat's Python wrappers (microseconds per call, which small networks feel).
_NUMPY_XP = np if np.lib.NumpyVersion(np.__version__) >= "2.1.0" else array_api_compat.array_namespace(np.empty(0))


def namespace(*arrays: Any) -> Any:
    """The Array API namespace of ``arrays`` (NumPy's compat wrapper for NumPy arrays)."""
    if len(arrays) == 1 and type(arrays[0]) is np.ndarray:  # the hot path: skip the generic lookup
        return _NUMPY_XP
    return array_api_compat.array_namespace(*arrays)


def is_numpy(xp: Any) -> bool:
    """True for NumPy's namespace, where in-place ``out=`` tricks and views are safe."""
    return array_api_compat.is_numpy_namespace(xp)


def float_dtype(xp: Any, name: str | None = None) -> Any:
    """The float dtype called ``name`` (default float32) in namespace ``xp``."""
    return getattr(xp, name or DEFAULT_DTYPE)


def is_float(x: Any, xp: Any) -> bool:
    """True when ``x`` has a real floating dtype."""
    return xp.isdtype(x.dtype, "real floating")


def asarray(value: Any, dtype: Any = None, like: Any = None) -> Any:
    """Convert ``value`` to an array; Python numbers and lists become NumPy float32 arrays.

    Arrays that already belong to an Array API namespace keep their namespace and float dtype;
    integer and boolean arrays are converted to the default float dtype.
    """
    if dtype is None and type(value) is np.ndarray and value.dtype.kind == "f" and (
            like is None or (type(like) is np.ndarray and like.dtype == value.dtype)):
        return value  # the hot path: a float NumPy array stays as it is
    if like is not None:
        xp = namespace(like)
        return xp.asarray(value, dtype=dtype or like.dtype, device=array_api_compat.device(like))
    if isinstance(value, np.generic):  # a NumPy scalar is a 0-d array of its own dtype
        value = np.asarray(value)
    if array_api_compat.is_array_api_obj(value) and not isinstance(value, (int, float)):
        xp = namespace(value)
        if dtype is not None:
            return xp.asarray(value, dtype=getattr(xp, dtype) if isinstance(dtype, str) else dtype)
        if not is_float(value, xp):
            return xp.asarray(value, dtype=float_dtype(xp))
        return value
    arr = np.asarray(value)
    if dtype is None:
        dtype = arr.dtype if arr.dtype.kind == "f" and isinstance(value, np.ndarray) else DEFAULT_DTYPE
    return np.asarray(arr, dtype=dtype)


def to_numpy(x: Any) -> np.ndarray:
    """A host NumPy copy (or view, for NumPy input) of array ``x``; call only at the boundaries."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("glassnet."):  # a Tensor (autograd, a layer above): its data's copy
        return to_numpy(x.data)
    return np.asarray(x)


def device(x: Any) -> Any:
    """The device an array lives on, compared as objects, never as strings."""
    return array_api_compat.device(x)


def manual_seed(seed: int) -> None:
    """Seed the default generator used by initialization, dropout and attacks.

    The generator is reseeded in place, so layers that already hold it follow the new seed too.
    """
    _default_rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state


def get_rng(rng: np.random.Generator | int | None = None) -> np.random.Generator:
    """``rng`` itself, a fresh generator seeded with an int, or the default generator."""
    if rng is None:
        return _default_rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    if isinstance(rng, np.random.Generator):
        return rng
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")


def _from_host(values: np.ndarray, xp: Any, dtype: Any, like: Any = None) -> Any:
    # The standard has no random number API: numbers are drawn on the host by NumPy's
    # Generator and moved to the target namespace (a no-op for NumPy).
    if is_numpy(xp):
        return values.astype(dtype, copy=False)
    dev = array_api_compat.device(like) if like is not None else None
    return xp.asarray(values, dtype=dtype, device=dev)


def uniform(shape: tuple, low: float, high: float, xp: Any, dtype: Any, rng: Any = None, like: Any = None) -> Any:
    """Uniform random numbers in [low, high) drawn from ``rng`` into namespace ``xp``."""
    return _from_host(get_rng(rng).uniform(low, high, size=shape), xp, dtype, like)


def normal(shape: tuple, std: float, xp: Any, dtype: Any, rng: Any = None, like: Any = None) -> Any:
    """Zero-mean normal random numbers drawn from ``rng`` into namespace ``xp``."""
    return _from_host(get_rng(rng).normal(0.0, std, size=shape), xp, dtype, like)


def keep_mask(shape: tuple, p: float, xp: Any, dtype: Any, rng: Any = None, like: Any = None) -> Any:
    """Inverted-dropout multiplier: 0 with probability p, else 1/(1-p)."""
    keep = get_rng(rng).random(size=shape, dtype=np.float32) >= p
    return _from_host(keep * np.float32(1.0 / (1.0 - p)), xp, dtype, like)


def erf(x: Any, xp: Any) -> Any:
    """The error function; the Array API standard has none, so each library's own is used."""
    if is_numpy(xp):
        from scipy.special import erf as scipy_erf

        return scipy_erf(x)
    if array_api_compat.is_cupy_namespace(xp):
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(x)
    if array_api_compat.is_torch_namespace(xp):
        import torch

        return torch.special.erf(x)
    # Generic fallback: Numerical Recipes' erfc Chebyshev fit, fractional error below 1.2e-7.
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    coeffs = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
              0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)
    poly = xp.zeros_like(z)
    for c in reversed(coeffs):
        poly = poly * t + c
    erfc = t * xp.exp(-z * z + poly)
    return xp.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def scatter_add_rows(n_rows: int, index: Any, values: Any, xp: Any) -> Any:
    """Sum ``values`` rows into an (n_rows, ...) zero array at row positions ``index``."""
    if is_numpy(xp):
        out = np.zeros((n_rows, *values.shape[1:]), dtype=values.dtype)
        np.add.at(out, index, values)
        return out
    # The standard has no scatter-add: a one-hot matrix product does the same sum.
    index = xp.where(index < 0, index + n_rows, index)  # negative rows count from the end, as in take
    onehot = xp.astype(xp.arange(n_rows)[:, None] == index[None, :], values.dtype)
    flat = xp.reshape(values, (values.shape[0], -1))
    return xp.reshape(onehot @ flat, (n_rows, *tuple(values.shape[1:])))


_compiled: Any = None  # glassnet.backend.numba_kernels once imported; False where numba is missing
# GLASSNET_NUMBA=0 in the environment turns the compiled kernels off. It is read once, at import: reading it
# costs most of a microsecond, too much for every op. Assign ``kernels_enabled`` to switch in a running process.
kernels_enabled: bool = os.environ.get("GLASSNET_NUMBA") != "0"


def kernels() -> ModuleType | None:
    """The numba-compiled kernels (:mod:`glassnet.backend.numba_kernels`), or None: numba not installed, or
    turned off (``GLASSNET_NUMBA=0`` at start-up, or ``kernels_enabled = False``)."""
    global _compiled
    if not kernels_enabled:
        return None
    if _compiled is None:
        try:
            from . import numba_kernels as compiled
        except ImportError:
            compiled = False
        _compiled = compiled
    return _compiled or None


_KERNEL_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def kernels_for(*arrays: Any) -> ModuleType | None:
    """The compiled kernels when they may run on ``arrays``, else None: the one place that decides.

    They may when numba is on (:func:`kernels`) and every array is a C-contiguous NumPy array whose
    dtype is float32, float64 or an integer (class indices); everything else takes the NumPy path.
    """
    compiled = kernels()
    if compiled is None:
        return None
    for a in arrays:
        if type(a) is not np.ndarray or not a.flags.c_contiguous:
            return None
        if a.dtype not in _KERNEL_FLOATS and a.dtype.kind not in "iu":
            return None
    return compiled
