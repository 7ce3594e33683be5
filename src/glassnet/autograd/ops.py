"""The table of primitives: each operation's forward beside its vector-Jacobian product (VJP).

A primitive takes Tensors (and plain parameters), computes its output with the inputs' Array API
namespace, and records a VJP that maps the output's gradient to one gradient per input (None for an
input that needs none). Elementwise ops of two or three inputs broadcast; :func:`_broadcasting` sums
their gradients back to each input's shape with :func:`unbroadcast`, in that one place.

Fused forms (linear+ReLU, softmax cross-entropy, the losses) are primitives too: one node with its
own VJP is faster and more accurate than the composition. Tensor's methods and glassnet.functional
are thin wrappers over these functions. This module imports neither: each output is made by its
first input's ``_make``, so there is no import circle. Composite forms (mean, std) live with their
wrappers.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import backend

if TYPE_CHECKING:
    from .tensor import Tensor


# ---- broadcasting ----------------------------------------------------------------------------
def unbroadcast(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if grad.shape == shape:
        return grad
    xp = backend.namespace(grad)
    extra = grad.ndim - len(shape)
    if extra:
        grad = xp.sum(grad, axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = xp.sum(grad, axis=stretched, keepdims=True)
    return grad


VJP = Callable[..., Any]  # vjp(g, *input arrays, out) -> the gradient for one input


def _broadcasting(name: str, inputs: tuple[Tensor, ...], forward: Callable, vjps: tuple[VJP, ...]) -> Tensor:
    """An elementwise node over broadcast inputs: ``vjps[i](g, *arrays, out)`` is input i's gradient,
    computed only when input i needs one and summed back to its shape."""
    arrays = [t.data for t in inputs]
    try:
        out = forward(*arrays)
    except ValueError as err:
        shapes = " and ".join(str(tuple(a.shape)) for a in arrays)
        raise ValueError(f"{name}: shapes {shapes} do not broadcast ({err})") from None
    except TypeError as err:
        dtypes = " and ".join(str(a.dtype) for a in arrays)
        raise TypeError(f"{name}: cannot combine dtypes {dtypes} ({err})") from None

    def vjp(g: Any) -> list:
        return [unbroadcast(d(g, *arrays, out), tuple(a.shape)) if t.requires_grad else None
                for t, a, d in zip(inputs, arrays, vjps, strict=True)]

    return inputs[0]._make(out, inputs[0].xp, inputs, vjp)


# ---- arithmetic ------------------------------------------------------------------------------
def add(a: Tensor, b: Tensor) -> Tensor:
    """a + b."""
    return _broadcasting("add", (a, b), operator.add, (lambda g, x, y, out: g, lambda g, x, y, out: g))


def sub(a: Tensor, b: Tensor) -> Tensor:
    """a - b."""
    return _broadcasting("sub", (a, b), operator.sub, (lambda g, x, y, out: g, lambda g, x, y, out: -g))


def mul(a: Tensor, b: Tensor) -> Tensor:
    """a * b."""
    return _broadcasting("mul", (a, b), operator.mul, (lambda g, x, y, out: g * y, lambda g, x, y, out: g * x))


def div(a: Tensor, b: Tensor) -> Tensor:
    """a / b."""
    return _broadcasting("div", (a, b), operator.truediv,
                         (lambda g, x, y, out: g / y, lambda g, x, y, out: -g * out / y))


def pow(a: Tensor, b: Tensor) -> Tensor:
    """a ** b for a tensor exponent. PyTorch's conventions: where b == 0 the base's gradient is 0, and where
    a == 0 with b >= 0 the exponent's is (elsewhere d/db = a**b log a, NaN for a negative base)."""
    xp = a.xp
    # the substitutions make those gradients exact zeros: b * a**1 with b = 0, and a**b * log(1)
    return _broadcasting("pow", (a, b), operator.pow, (
        lambda g, x, y, out: g * (y * x ** xp.where(y == 0, 1.0, y - 1)),
        lambda g, x, y, out: g * (out * xp.log(xp.where((x == 0) & (y >= 0), 1.0, x)))))


def pow_scalar(x: Tensor, exponent: float) -> Tensor:
    """x ** exponent for a Python number; exponent 0 gives gradient 0 everywhere, as in PyTorch."""
    a, xp = x.data, x.xp
    if exponent == 0:
        return x._make(a ** exponent, xp, (x,), lambda g: (xp.zeros_like(g),))
    return x._make(a ** exponent, xp, (x,), lambda g: (g * exponent * a ** (exponent - 1),))


def neg(x: Tensor) -> Tensor:
    """-x."""
    return x._make(-x.data, x.xp, (x,), lambda g: (-g,))


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for an N-D left and a 1-D or 2-D right operand."""
    x, y, xp = a.data, b.data, a.xp
    if x.ndim < 1 or not 1 <= y.ndim <= 2 or x.shape[-1] != y.shape[0]:
        raise ValueError(f"matmul: shapes {tuple(x.shape)} and {tuple(y.shape)} are not aligned "
                         "(the last dimension of the left must equal the first of the right, "
                         "and the right must be 1-D or 2-D)")

    def vjp(g: Any) -> tuple:
        if y.ndim == 1:  # (..., k) @ (k,) -> (...)
            return g[..., None] * y, xp.tensordot(g, x, axes=g.ndim)
        if x.ndim == 1:  # (k,) @ (k, m) -> (m,)
            return y @ g, x[:, None] * g[None, :]
        x2 = xp.reshape(x, (-1, x.shape[-1]))
        g2 = xp.reshape(g, (-1, g.shape[-1]))
        return g @ y.T, x2.T @ g2

    return a._make(x @ y, xp, (a, b), vjp)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise max(a, b); where they tie each gets half the gradient, as in PyTorch."""
    xp = a.xp
    return _broadcasting("maximum", (a, b), xp.maximum, (
        lambda g, x, y, out: xp.where(x > y, g, xp.where(x == y, 0.5 * g, 0.0)),
        lambda g, x, y, out: xp.where(y > x, g, xp.where(x == y, 0.5 * g, 0.0))))


def minimum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise min(a, b); where they tie each gets half the gradient, as in PyTorch."""
    xp = a.xp
    return _broadcasting("minimum", (a, b), xp.minimum, (
        lambda g, x, y, out: xp.where(x < y, g, xp.where(x == y, 0.5 * g, 0.0)),
        lambda g, x, y, out: xp.where(y < x, g, xp.where(x == y, 0.5 * g, 0.0))))


def where(condition: Any, a: Tensor, b: Tensor) -> Tensor:
    """a where the boolean array ``condition`` holds, else b; each side's gradient is g where it was chosen."""
    xp = a.xp
    # the condition travels as a constant third input: _broadcasting then checks all three shapes together
    cond = a._make(condition, xp, (), None)
    return _broadcasting("where", (a, b, cond), lambda x, y, c: xp.where(c, x, y), (
        lambda g, x, y, c, out: xp.where(c, g, 0.0),
        lambda g, x, y, c, out: xp.where(c, 0.0, g),
        None))


# ---- elementwise functions -------------------------------------------------------------------
def exp(x: Tensor) -> Tensor:
    """e ** x."""
    out = x.xp.exp(x.data)
    return x._make(out, x.xp, (x,), lambda g: (g * out,))


def log(x: Tensor) -> Tensor:
    """Natural logarithm."""
    a = x.data
    return x._make(x.xp.log(a), x.xp, (x,), lambda g: (g / a,))


def abs(x: Tensor) -> Tensor:
    """|x|; the gradient at 0 is 0."""
    a, xp = x.data, x.xp
    return x._make(xp.abs(a), xp, (x,), lambda g: (g * xp.sign(a),))


def sqrt(x: Tensor) -> Tensor:
    """Square root; the gradient at 0 is infinite, as in PyTorch."""
    out = x.xp.sqrt(x.data)
    return x._make(out, x.xp, (x,), lambda g: (g / (2.0 * out),))


def square(x: Tensor) -> Tensor:
    """x * x as one node."""
    a = x.data
    return x._make(a * a, x.xp, (x,), lambda g: (2.0 * a * g,))


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """x limited to [min, max]; the gradient passes where min <= x <= max, boundaries included, as in PyTorch."""
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    if not all(bound is None or isinstance(bound, numbers.Real) for bound in (min, max)):
        raise TypeError("clip: min and max must be numbers or None (for tensor bounds use gn.maximum and gn.minimum)")
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min ({min}) is greater than max ({max})")
    a, xp = x.data, x.xp
    inside = (a >= min) if max is None else (a <= max) if min is None else (a >= min) & (a <= max)
    return x._make(xp.clip(a, min, max), xp, (x,), lambda g: (xp.where(inside, g, 0.0),))


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    out = x.xp.tanh(x.data)
    return x._make(out, x.xp, (x,), lambda g: (g * (1.0 - out * out),))


def _sigmoid(a: Any, xp: Any) -> Any:
    # exp(-|a|) never overflows; the two branches give full precision on both tails
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow."""
    out = _sigmoid(x.data, x.xp)
    return x._make(out, x.xp, (x,), lambda g: (g * out * (1.0 - out),))


def relu(x: Tensor) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    xp = x.xp
    out = xp.maximum(x.data, 0)
    if backend.is_numpy(xp):  # NumPy multiplies by a boolean mask directly, skipping a cast
        return x._make(out, xp, (x,), lambda g: (g * (out > 0),))
    return x._make(out, xp, (x,), lambda g: (g * xp.astype(out > 0, g.dtype),))


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise."""
    xp, a = x.xp, x.data
    positive = a > 0
    out = xp.where(positive, a, a * negative_slope)
    return x._make(out, xp, (x,), lambda g: (xp.where(positive, g, g * negative_slope),))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    xp, a = x.xp, x.data
    positive = a > 0
    below = xp.minimum(a, 0.0)  # exp of the clipped value: no overflow on the branch where() discards
    out = xp.where(positive, a, alpha * xp.expm1(below))
    return x._make(out, xp, (x,), lambda g: (xp.where(positive, g, g * (alpha * xp.exp(below))),))


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (swish)."""
    xp, a = x.xp, x.data
    s = _sigmoid(a, xp)
    return x._make(a * s, xp, (x,), lambda g: (g * (s * (1.0 + a * (1.0 - s))),))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) with the exact normal CDF, or its tanh approximation (``approximate="tanh"``)."""
    xp, a = x.xp, x.data
    if approximate == "tanh":
        k = math.sqrt(2.0 / math.pi)
        inner = k * (a + 0.044715 * a ** 3)
        t = xp.tanh(inner)
        out = 0.5 * a * (1.0 + t)

        def vjp(g: Any) -> tuple:
            dinner = k * (1.0 + 3 * 0.044715 * a * a)
            return (g * (0.5 * (1.0 + t) + 0.5 * a * (1.0 - t * t) * dinner),)
    elif approximate == "none":
        cdf = 0.5 * (1.0 + backend.erf(a / math.sqrt(2.0), xp))
        out = a * cdf

        def vjp(g: Any) -> tuple:
            pdf = xp.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
            return (g * (cdf + a * pdf),)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return x._make(out, xp, (x,), vjp)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta without overflow; x itself where beta x > threshold, as in PyTorch."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    xp, a = x.xp, x.data
    z = a * beta
    linear = z > threshold
    out = xp.where(linear, a, (xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta)
    return x._make(out, xp, (x,), lambda g: (xp.where(linear, g, g * _sigmoid(z, xp)),))


def log_sigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)): finite for any finite x."""
    xp, a = x.xp, x.data
    out = xp.minimum(a, 0.0) - xp.log1p(xp.exp(-xp.abs(a)))
    return x._make(out, xp, (x,), lambda g: (g * _sigmoid(-a, xp),))


# ---- reductions ------------------------------------------------------------------------------
def _axes(shape: tuple, axis: int | Sequence[int] | None) -> tuple[int, ...]:
    """``axis`` as a tuple of non-negative axes (None: all of them)."""
    if axis is None:
        return tuple(range(len(shape)))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -len(shape) <= a < len(shape):
            raise ValueError(f"axis {a} is out of range for a tensor of shape {shape}")
    return tuple(a % len(shape) for a in axes)


def _kept_shape(shape: tuple, axis: int | Sequence[int] | None) -> tuple:
    """``shape`` with the reduced axes kept as size 1."""
    axes = _axes(shape, axis)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape: tuple, axis: int | Sequence[int] | None) -> int:
    """How many elements a reduction over ``axis`` combines into each output."""
    return math.prod(shape[a] for a in _axes(shape, axis))


def sum(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    xp, shape = x.xp, tuple(x.data.shape)
    data = xp.sum(x.data, axis=axis, keepdims=keepdims)

    def vjp(g: Any) -> tuple:
        if not keepdims and axis is not None:
            g = xp.reshape(g, _kept_shape(shape, axis))
        return (xp.broadcast_to(g, shape),)

    return x._make(data, xp, (x,), vjp)


def _reduced(x: Tensor, kept: Any, axis: Any, keepdims: bool, vjp_kept: Callable[[Any], Any]) -> Tensor:
    """A node for a reduction computed with keepdims=True (``kept``): its output drops the reduced axes
    unless ``keepdims``, and ``vjp_kept`` receives the gradient in the kept shape."""
    xp = x.xp
    out = kept if keepdims else xp.reshape(kept, tuple(n for i, n in enumerate(x.data.shape)
                                                       if i not in _axes(tuple(x.data.shape), axis)))
    return x._make(out, xp, (x,), lambda g: (vjp_kept(xp.reshape(g, tuple(kept.shape))),))


def _extreme(x: Tensor, axis: Any, keepdims: bool, reduce: Callable) -> Tensor:
    xp, a = x.xp, x.data
    kept = reduce(a, axis=axis, keepdims=True)

    def vjp_kept(g: Any) -> Any:
        hit = xp.astype(a == kept, a.dtype)  # ties share the gradient evenly
        return hit * (g / xp.sum(hit, axis=axis, keepdims=True))

    return _reduced(x, kept, axis, keepdims, vjp_kept)


def max(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Largest element over ``axis``; elements that tie for it share the gradient evenly (as torch.amax)."""
    return _extreme(x, axis, keepdims, x.xp.max)


def min(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Smallest element over ``axis``; elements that tie for it share the gradient evenly (as torch.amin)."""
    return _extreme(x, axis, keepdims, x.xp.min)


def logsumexp(x: Tensor, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``axis``, shifted by the maximum so nothing overflows; the gradient is softmax(x)."""
    xp, a = x.xp, x.data
    top = xp.max(a, axis=axis, keepdims=True)
    top = xp.where(xp.isfinite(top), top, 0.0)  # an all -inf (or +inf) slice: shift by 0, as PyTorch does
    kept = xp.log(xp.sum(xp.exp(a - top), axis=axis, keepdims=True)) + top
    return _reduced(x, kept, axis, keepdims, lambda g: g * xp.exp(a - kept))


def var(x: Tensor, axis: int | Sequence[int] | None = None, correction: float = 0.0,
        keepdims: bool = False) -> Tensor:
    """Variance over ``axis``: sum((x - mean)^2) / (n - correction)."""
    xp, a = x.xp, x.data
    dof = _count(tuple(a.shape), axis) - correction
    if dof <= 0:
        raise ValueError(f"var: correction={correction} leaves {dof} degrees of freedom for "
                         f"{_count(tuple(a.shape), axis)} element(s) per slice")
    kept = xp.var(a, axis=axis, correction=correction, keepdims=True)
    return _reduced(x, kept, axis, keepdims,
                    lambda g: g * ((2.0 / dof) * (a - xp.mean(a, axis=axis, keepdims=True))))


# ---- shape and indexing ----------------------------------------------------------------------
def reshape(x: Tensor, shape: tuple) -> Tensor:
    """The same elements in a new shape."""
    xp, old = x.xp, tuple(x.data.shape)
    try:
        data = xp.reshape(x.data, shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {old} to {shape}") from None
    return x._make(data, xp, (x,), lambda g: (xp.reshape(g, old),))


def permute_dims(x: Tensor, axes: tuple[int, ...]) -> Tensor:
    """The axes reordered; ``x.T`` reverses them all."""
    xp = x.xp
    back = tuple(sorted(range(len(axes)), key=axes.__getitem__))  # the inverse permutation
    return x._make(xp.permute_dims(x.data, axes), xp, (x,), lambda g: (xp.permute_dims(g, back),))


def getitem(x: Tensor, index: Any) -> Tensor:
    """Basic slicing, or row selection with an integer array (a gather along axis 0)."""
    xp, shape, dtype = x.xp, tuple(x.data.shape), x.data.dtype
    if hasattr(index, "dtype") and not index.shape:
        index = operator.index(index)  # a NumPy integer or 0-d integer array: one plain position
    if isinstance(index, list) or hasattr(index, "dtype"):
        rows = xp.asarray(index)  # lists and other namespaces' index arrays into xp
        if not xp.isdtype(rows.dtype, "integral"):
            raise TypeError(f"row index must be integers, got dtype {rows.dtype}")
        data = xp.take(x.data, rows, axis=0)
        return x._make(data, xp, (x,), lambda g: (backend.scatter_add_rows(shape[0], rows, g, xp),))
    # The standard wants every axis indexed: a trailing ``...`` gives NumPy's meaning of a[1]
    index = index if isinstance(index, tuple) else (index,)
    if not any(k is Ellipsis for k in index):
        index = (*index, Ellipsis)
    data = x.data[index]

    def vjp(g: Any) -> tuple:
        full = xp.zeros(shape, dtype=dtype, device=backend.device(g))
        full[index] = g
        return (full,)

    return x._make(data, xp, (x,), vjp)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """The tensors joined along an existing ``axis``; each gets back its own slice of the gradient."""
    first, xp = tensors[0], tensors[0].xp
    arrays = [t.data for t in tensors]
    try:
        out = xp.concat(arrays, axis=axis)
    except (ValueError, IndexError) as err:
        shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
        raise ValueError(f"concatenate: cannot join shapes {shapes} along axis {axis} ({err})") from None
    axis = _axes(tuple(out.shape), axis)[0]
    ends = list(itertools.accumulate(a.shape[axis] for a in arrays))
    lead = (slice(None),) * axis

    def vjp(g: Any) -> tuple:
        return tuple(g[(*lead, slice(end - a.shape[axis], end), ...)] for a, end in zip(arrays, ends, strict=True))

    return first._make(out, xp, tuple(tensors), vjp)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """The tensors joined along a new ``axis``; each gets back its own slice of the gradient."""
    first, xp = tensors[0], tensors[0].xp
    arrays = [t.data for t in tensors]
    try:
        out = xp.stack(arrays, axis=axis)
    except (ValueError, IndexError) as err:
        shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
        raise ValueError(f"stack: cannot stack shapes {shapes} along axis {axis} ({err})") from None
    lead = (slice(None),) * _axes(tuple(out.shape), axis)[0]
    return first._make(out, xp, tuple(tensors), lambda g: tuple(g[(*lead, i, ...)] for i in range(len(arrays))))


# ---- softmax ---------------------------------------------------------------------------------
def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the maximum so nothing overflows."""
    xp = x.xp
    e = xp.exp(x.data - xp.max(x.data, axis=axis, keepdims=True))
    out = e / xp.sum(e, axis=axis, keepdims=True)
    return x._make(out, xp, (x,), lambda g: (out * (g - xp.sum(g * out, axis=axis, keepdims=True)),))


def _log_softmax(a: Any, xp: Any, axis: int) -> Any:
    shifted = a - xp.max(a, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) by log-sum-exp: finite for any finite logits."""
    xp = x.xp
    out = _log_softmax(x.data, xp, axis)
    return x._make(out, xp, (x,), lambda g: (g - xp.exp(out) * xp.sum(g, axis=axis, keepdims=True),))


# ---- linear layers ---------------------------------------------------------------------------
def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight + bias`` as one node; weight has shape (in_features, out_features)."""
    xp = x.xp
    out = _affine(x, weight, bias)
    numpy_path = backend.is_numpy(xp)
    parents = (x, weight) if bias is None else (x, weight, bias)
    return x._make(out, xp, parents, functools.partial(_linear_vjp, x, weight, bias, numpy_path))


def fused_linear_relu(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """relu(x @ weight + bias) as one node: the ReLU runs in place on the product (one array fewer) and
    its backward is a compiled pass where the kernels may run."""
    xp = x.xp
    out = _affine(x, weight, bias)
    numpy_path = backend.is_numpy(xp)
    out = xp.maximum(out, 0, out=out) if numpy_path else xp.maximum(out, 0)

    def vjp(g: Any) -> tuple:
        kernels = backend.kernels_for(g, out) if g.ndim == 2 else None
        if kernels is not None:
            g = kernels.relu_grad(g, out)
        else:
            g = g * (out > 0) if numpy_path else g * xp.astype(out > 0, g.dtype)
        return _linear_vjp(x, weight, bias, numpy_path, g)

    parents = (x, weight) if bias is None else (x, weight, bias)
    return x._make(out, xp, parents, vjp)


def _affine(x: Tensor, weight: Tensor, bias: Tensor | None) -> Any:
    a, w = x.data, weight.data
    if a.shape[-1] != w.shape[0]:
        raise ValueError(f"linear: input of shape {tuple(a.shape)} has {a.shape[-1]} features, "
                         f"weight of shape {tuple(w.shape)} expects {w.shape[0]}")
    out = a @ w
    if bias is not None:
        out += bias.data
    return out


def _linear_vjp(x: Tensor, weight: Tensor, bias: Tensor | None, numpy_path: bool, g: Any) -> tuple:
    """Gradients of x @ weight + bias for output gradient ``g``. A weight or bias whose optimizer keeps a flat
    gradient buffer gets its gradient written straight into it (``grad_sink``): no temporary, no copy; its
    entry is then None."""
    a, w, xp = x.data, weight.data, x.xp
    gx = g @ w.T if x.requires_grad else None
    if a.ndim != 2:  # (..., in_features) inputs: the leading axes are rows
        a2, g2 = xp.reshape(a, (-1, a.shape[-1])), xp.reshape(g, (-1, g.shape[-1]))
        return gx, a2.T @ g2, xp.sum(g2, axis=0) if bias is not None else None
    gw = gb = None
    if weight.requires_grad:
        sink = weight.grad_sink()
        if sink is None:
            gw = a.T @ g
        else:
            weight.grad = xp.matmul(a.T, g, out=sink)
    if bias is not None and bias.requires_grad:
        if numpy_path:  # a BLAS matrix-vector product sums the rows faster than a strided reduction
            sink = bias.grad_sink()
            gb = xp.matmul(_ones(xp, g.shape[0], g.dtype), g, out=sink)
            if sink is not None:
                bias.grad, gb = sink, None
        else:
            gb = xp.sum(g, axis=0)
    return gx, gw, gb


@functools.lru_cache(maxsize=32)
def _ones(xp: Any, n: int, dtype: Any) -> Any:
    """A read-only NumPy vector of n ones, kept: the row-summing operand of bias gradients."""
    ones = xp.ones((n,), dtype=dtype)
    ones.flags.writeable = False
    return ones


# ---- losses (each the mean over elements, as PyTorch's default) -------------------------------
def mse_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean of (pred - target)^2 over all elements."""
    xp = pred.xp
    diff = pred.data - target.data
    n = math.prod(diff.shape)
    out = xp.sum(diff * diff) / n

    def vjp(g: Any) -> tuple:
        gp = (2.0 / n) * g * diff
        return gp, -gp if target.requires_grad else None

    return pred._make(out, xp, (pred, target), vjp)


def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean of |pred - target|; the gradient at 0 is 0."""
    xp = pred.xp
    diff = pred.data - target.data
    n = math.prod(diff.shape)
    out = xp.sum(xp.abs(diff)) / n

    def vjp(g: Any) -> tuple:
        gp = (g / n) * xp.sign(diff)
        return gp, -gp if target.requires_grad else None

    return pred._make(out, xp, (pred, target), vjp)


def huber_loss(pred: Tensor, target: Tensor, delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, delta * (|d| - delta / 2) elsewhere; mean over elements."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    xp = pred.xp
    diff = pred.data - target.data
    ad = xp.abs(diff)
    n = math.prod(diff.shape)
    out = xp.sum(xp.where(ad < delta, 0.5 * diff * diff, delta * (ad - 0.5 * delta))) / n

    def vjp(g: Any) -> tuple:
        gp = (g / n) * xp.clip(diff, -delta, delta)
        return gp, -gp if target.requires_grad else None

    return pred._make(out, xp, (pred, target), vjp)


def class_indices(target: Any, n_classes: int, xp: Any, like: Any = None) -> Any:
    """Integer class indices from ``target`` as an ``xp`` array (on ``like``'s device), checked to lie in
    [0, n_classes)."""
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


def softmax_cross_entropy(logits: Tensor, target: Any) -> Tensor:
    """Mean softmax cross-entropy of (N, C) logits against N class indices, fused: the gradient is
    (softmax(logits) - onehot(target)) / N, computed with the loss (one compiled pass where the kernels run)."""
    xp, z = logits.xp, logits.data
    n, c = z.shape
    kernels = backend.kernels_for(z, target) if getattr(target, "shape", None) == (n,) else None
    if kernels is not None and target.dtype.kind in "iu":
        grad = xp.empty_like(z)  # softmax(z) - onehot(y), in the same compiled pass as the loss
        total = kernels.softmax_cross_entropy(z, target, grad)
        if not math.isnan(total):  # NaN: a class index out of range, or NaN logits; the path below tells
            return logits._make(z.dtype.type(total / n), xp, (logits,), lambda g: (grad * (g / n),))
    y = class_indices(target, c, xp, like=z)
    if y.shape[0] != n:
        raise ValueError(f"cross_entropy: {n} rows of logits but {y.shape[0]} targets")
    logp = _log_softmax(z, xp, axis=1)
    numpy_path = backend.is_numpy(xp)
    if numpy_path:
        picked = logp[xp.arange(n), y]
    else:
        picked = xp.sum(xp.where(xp.arange(c)[None, :] == y[:, None], logp, 0.0), axis=1)
    out = -xp.sum(picked) / n

    def vjp(g: Any) -> tuple:
        grad = xp.exp(logp)
        if numpy_path:
            grad[xp.arange(n), y] -= 1.0
        else:
            grad = grad - xp.astype(xp.arange(c)[None, :] == y[:, None], grad.dtype)
        return (grad * (g / n),)

    return logits._make(out, xp, (logits,), vjp)


def soft_cross_entropy(logits: Tensor, probs: Tensor, total: Any = None) -> Tensor:
    """Softmax cross-entropy of (N, C) logits against (N, C) class probabilities (or any non-negative
    per-class weights), summed and divided by ``total``: N when None, the mean over rows."""
    xp, z, p = logits.xp, logits.data, probs.data
    n = z.shape[0] if total is None else total
    logp = _log_softmax(z, xp, axis=1)
    out = -xp.sum(p * logp) / n

    def vjp(g: Any) -> tuple:
        gz = (xp.exp(logp) * xp.sum(p, axis=1, keepdims=True) - p) * (g / n)
        return gz, (-logp * (g / n)) if probs.requires_grad else None

    return logits._make(out, xp, (logits, probs), vjp)


def _clamped_logs(p: Any, xp: Any) -> tuple[Any, Any]:
    # log(p) and log(1 - p), each clamped at -100 as PyTorch does; at p = 0 or 1 the -100 stands in
    # directly, so no log(0) is ever evaluated
    inside_p, inside_q = p > 0, p < 1
    log_p = xp.where(inside_p, xp.log(xp.where(inside_p, p, 1.0)), -100.0)
    log_q = xp.where(inside_q, xp.log1p(-xp.where(inside_q, p, 0.0)), -100.0)
    return xp.clip(log_p, -100.0, None), xp.clip(log_q, -100.0, None)


def binary_cross_entropy(prob: Tensor, target: Tensor) -> Tensor:
    """-(t log p + (1 - t) log(1 - p)), mean; each log is clamped at -100, so never log(0)."""
    xp, p, t = prob.xp, prob.data, target.data
    if bool(xp.any(p < 0)) or bool(xp.any(p > 1)):
        raise ValueError("binary_cross_entropy: probabilities must lie in [0, 1]; "
                         "use binary_cross_entropy_with_logits for raw scores")
    n = math.prod(p.shape)
    log_p, log_q = _clamped_logs(p, xp)
    out = -xp.sum(t * log_p + (1.0 - t) * log_q) / n

    def vjp(g: Any) -> tuple:
        gp = (g / n) * (p - t) / xp.clip(p * (1.0 - p), 1e-12, None)
        return gp, (g / n) * (log_q - log_p) if target.requires_grad else None

    return prob._make(out, xp, (prob, target), vjp)


def binary_cross_entropy_with_logits(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy of sigmoid(logits) computed from the logits: max(x,0) - x t + log1p(e^-|x|)."""
    xp, x, t = logits.xp, logits.data, target.data
    n = math.prod(x.shape)
    out = xp.sum(xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))) / n

    def vjp(g: Any) -> tuple:
        gx = (g / n) * (_sigmoid(x, xp) - t)
        return gx, (-(g / n) * x) if target.requires_grad else None

    return logits._make(out, xp, (logits, target), vjp)
