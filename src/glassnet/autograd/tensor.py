"""Tensor: an array plus the record of how it was computed, and reverse-mode backpropagation.

Each operation is a primitive of :mod:`glassnet.autograd.ops`, which records the output's parents and,
beside the forward computation, a ``backward`` closure that maps the output's gradient to one gradient
per input (its vector-Jacobian product); Tensor's operators and methods are thin wrappers over them, as
are the functions of several tensors at the end of this module (``gn.where``, ``gn.maximum``, ...).
``backward()`` walks the recorded graph in reverse topological order, found iteratively so that
graphs of any depth work. Only leaves (tensors created by the user) accumulate ``.grad``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .. import backend
from . import ops

_grad_enabled = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Run a block without recording operations (inference, optimizer updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``."""
    return _grad_enabled


# ---- PyTorch's spellings: dim for axis, keepdim for keepdims -----------------------------------
def axis_alias(name: str, axis: Any, dim: Any, default: Any = None) -> Any:
    """``axis``, or ``dim`` (PyTorch's name for it) when that is given; both at once is an error.

    A spelling counts as given when it differs from its default (``default`` for axis, None for dim).
    """
    if dim is None:
        return axis
    if axis != default:
        raise TypeError(f"{name}: got both axis={axis!r} and dim={dim!r}; give one (dim is PyTorch's name for axis)")
    return dim


def keepdims_alias(name: str, keepdims: bool, keepdim: bool | None) -> bool:
    """``keepdims``, or ``keepdim`` (PyTorch's name for it) when that is given; both at once is an error."""
    if keepdim is None:
        return keepdims
    if keepdims:
        raise TypeError(f"{name}: got both keepdims and keepdim; give one (keepdim is PyTorch's name for keepdims)")
    return keepdim


class Tensor:
    """An array that remembers the operations that produced it, so gradients can flow back.

    ``data`` and ``grad`` are arrays of the input's own namespace (NumPy in, NumPy out). Float
    arrays keep their dtype; Python numbers, lists and integer arrays become float32.
    """

    __slots__ = ("__weakref__", "_backward", "_grad_buffer", "_parents", "data", "grad", "requires_grad", "xp")
    __array_priority__ = 1000  # so that ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = backend.asarray(data, dtype=dtype)
        self.xp = backend.namespace(self.data)
        if requires_grad and not backend.is_float(self.data, self.xp):
            raise TypeError(f"only floating point tensors can require gradients, got {self.data.dtype}")
        self.grad: Any = None
        self.requires_grad = requires_grad
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Callable[[Any], tuple] | None = None
        # where a flat-buffer optimizer wants this leaf's next gradient written (see grad_sink)
        self._grad_buffer: Any = None

    @classmethod
    def _make(cls, data: Any, xp: Any, parents: tuple[Tensor, ...], backward: Callable[[Any], tuple]) -> Tensor:
        """Wrap an op's output, recording its parents only when a gradient is needed."""
        out = cls.__new__(cls)
        out.data = data
        out.xp = xp
        out.grad = None
        out._grad_buffer = None
        if _grad_enabled and any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = parents
            out._backward = backward
        else:
            out.requires_grad = False
            out._parents = ()
            out._backward = None
        return out

    # ---- basic properties -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        n = 1
        for s in self.data.shape:
            n *= s
        return n

    def __len__(self) -> int:
        return self.data.shape[0]

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({backend.to_numpy(self.data)!r}{grad})"

    def numpy(self) -> Any:
        """A host NumPy array of the data."""
        return backend.to_numpy(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return float(self.xp.reshape(self.data, (-1,))[0])

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        """Drop the accumulated gradient."""
        self.grad = None

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles are leaves: the graph's closures and the namespace module stay behind
        return {"data": self.data, "grad": self.grad, "requires_grad": self.requires_grad}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.data, self.grad, self.requires_grad = state["data"], state["grad"], state["requires_grad"]
        self.xp = backend.namespace(self.data)
        self._parents, self._backward, self._grad_buffer = (), None, None

    # ---- backpropagation --------------------------------------------------------------------
    def backward(self, grad: Any = None) -> None:
        """Backpropagate from this tensor, accumulating into the ``.grad`` of every leaf.

        ``grad`` is required unless the tensor has one element (a loss).
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (no input has requires_grad=True)")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() on a non-scalar tensor of shape {self.shape} needs a gradient "
                    "argument of the same shape")
            grad = self.xp.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else backend.asarray(grad, like=self.data)
            if tuple(grad.shape) != self.shape:
                raise ValueError(f"gradient of shape {tuple(grad.shape)} does not match tensor of shape {self.shape}")
        if self._backward is None:
            self._accumulate(grad)
            return
        grads = {self: grad}  # keyed by node identity (Tensor keeps object hashing)
        for node in reversed(self._toposort()):
            g = grads.pop(node, None)
            if g is None:
                continue
            # strict=False: a backward may return a trailing None for an absent input (linear's bias)
            for parent, pg in zip(node._parents, node._backward(g), strict=False):
                if pg is None or not parent.requires_grad:
                    continue
                if parent._backward is None:  # a leaf: accumulate at once, it has nothing to pass on
                    parent._accumulate(pg)
                elif parent in grads:
                    grads[parent] = grads[parent] + pg
                else:
                    grads[parent] = pg

    def _accumulate(self, g: Any) -> None:
        if g.shape != self.data.shape:
            g = self.xp.broadcast_to(g, self.data.shape)
        if self.grad is None:
            if self._grad_buffer is not None:
                self._grad_buffer[...] = g
                self.grad = self._grad_buffer
            else:  # a copy: g may be shared with another leaf's gradient or with the caller
                self.grad = self.xp.asarray(g, dtype=self.data.dtype, copy=True)
        else:
            self.grad += g

    def grad_sink(self) -> Any:
        """An array a backward rule may write this leaf's fresh gradient into (``out=``), or None.

        Only a leaf whose ``.grad`` is empty and that has a buffer (given by a flat-buffer optimizer)
        has one; the caller must then set ``.grad`` to it and return no gradient for this input.
        """
        if self.grad is None and self._backward is None:
            return self._grad_buffer
        return None

    def _toposort(self) -> list[Tensor]:
        """Interior nodes that need a gradient, each after all of its parents (iterative, no recursion).

        Leaves are left out: backward() accumulates into them as their gradients arrive.
        """
        order: list[Tensor] = []
        visited: set[Tensor] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in visited:
                continue
            visited.add(node)
            stack.append((node, True))
            for parent in node._parents:
                if parent.requires_grad and parent._backward is not None and parent not in visited:
                    stack.append((parent, False))
        return order

    # ---- operators: thin wrappers over the primitives in ops ---------------------------------
    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, lift(other, self))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        return ops.sub(self, lift(other, self))

    def __rsub__(self, other: Any) -> Tensor:
        return ops.sub(lift(other, self), self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.mul(self, lift(other, self))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        return ops.div(self, lift(other, self))

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.div(lift(other, self), self)

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, (int, float)):
            return ops.pow_scalar(self, exponent)
        return ops.pow(self, lift(exponent, self))

    def __rpow__(self, base: Any) -> Tensor:
        return ops.pow(lift(base, self), self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, lift(other, self))

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(lift(other, self), self)

    def __abs__(self) -> Tensor:
        return ops.abs(self)

    # ---- reductions: each also takes PyTorch's spellings, dim= for axis= and keepdim= for keepdims= ----
    def sum(self, axis: int | tuple | None = None, keepdims: bool = False, *,
            dim: int | tuple | None = None, keepdim: bool | None = None) -> Tensor:
        """Sum over ``axis`` (all axes when None)."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("sum", axis, dim), keepdims_alias("sum", keepdims, keepdim)
        return ops.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple | None = None, keepdims: bool = False, *,
             dim: int | tuple | None = None, keepdim: bool | None = None) -> Tensor:
        """Mean over ``axis`` (all axes when None)."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("mean", axis, dim), keepdims_alias("mean", keepdims, keepdim)
        count = 1
        for a in (range(self.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis):
            count *= self.data.shape[a]
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def max(self, axis: int | tuple | None = None, keepdims: bool = False, *,
            dim: int | tuple | None = None, keepdim: bool | None = None) -> Tensor:
        """Largest element over ``axis``; elements that tie share the gradient evenly. The values only, as
        torch.amax (not the (values, indices) pair of PyTorch's max with a dim: see :meth:`argmax`)."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("max", axis, dim), keepdims_alias("max", keepdims, keepdim)
        return ops.max(self, axis, keepdims)

    def min(self, axis: int | tuple | None = None, keepdims: bool = False, *,
            dim: int | tuple | None = None, keepdim: bool | None = None) -> Tensor:
        """Smallest element over ``axis``; elements that tie share the gradient evenly. The values only, as
        torch.amin (see :meth:`argmin` for the indices)."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("min", axis, dim), keepdims_alias("min", keepdims, keepdim)
        return ops.min(self, axis, keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False, *,
               dim: int | None = None, keepdim: bool | None = None) -> Any:
        """Index of the largest element (over the flattened tensor when ``axis`` is None): an integer array of
        the data's namespace, outside the graph; ties go to the first."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("argmax", axis, dim), keepdims_alias("argmax", keepdims, keepdim)
        return self.xp.argmax(self.data, axis=axis, keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *,
               dim: int | None = None, keepdim: bool | None = None) -> Any:
        """Index of the smallest element, as :meth:`argmax`."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("argmin", axis, dim), keepdims_alias("argmin", keepdims, keepdim)
        return self.xp.argmin(self.data, axis=axis, keepdims=keepdims)

    def logsumexp(self, axis: int | tuple | None = None, keepdims: bool = False, *,
                  dim: int | tuple | None = None, keepdim: bool | None = None) -> Tensor:
        """log(sum(exp(x))) over ``axis``, stable for any magnitude."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("logsumexp", axis, dim), keepdims_alias("logsumexp", keepdims, keepdim)
        return ops.logsumexp(self, axis, keepdims)

    def var(self, axis: int | tuple | None = None, correction: float = 0.0, keepdims: bool = False, *,
            dim: int | tuple | None = None, keepdim: bool | None = None) -> Tensor:
        """Variance over ``axis``, dividing by n - correction (the Array API's default 0; PyTorch's is 1)."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("var", axis, dim), keepdims_alias("var", keepdims, keepdim)
        return ops.var(self, axis, correction, keepdims)

    def std(self, axis: int | tuple | None = None, correction: float = 0.0, keepdims: bool = False, *,
            dim: int | tuple | None = None, keepdim: bool | None = None) -> Tensor:
        """Standard deviation: the square root of :meth:`var`."""
        if dim is not None or keepdim is not None:
            axis, keepdims = axis_alias("std", axis, dim), keepdims_alias("std", keepdims, keepdim)
        return ops.sqrt(ops.var(self, axis, correction, keepdims))

    # ---- shape and indexing -------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in a new shape, given as a tuple or as separate sizes."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    @property
    def T(self) -> Tensor:  # noqa: N802 (NumPy's name)
        """The axes in reverse order."""
        return ops.permute_dims(self, tuple(reversed(range(self.ndim))))

    def __getitem__(self, index: Any) -> Tensor:
        """Basic slicing, or row selection with an integer array (a gather along axis 0)."""
        return ops.getitem(self, index.data if isinstance(index, Tensor) else index)

    # ---- elementwise functions ----------------------------------------------------------------
    def exp(self) -> Tensor:
        """e ** x."""
        return ops.exp(self)

    def log(self) -> Tensor:
        """Natural logarithm."""
        return ops.log(self)

    def abs(self) -> Tensor:
        """|x|; the gradient at 0 is 0."""
        return ops.abs(self)

    def sqrt(self) -> Tensor:
        """Square root."""
        return ops.sqrt(self)

    def square(self) -> Tensor:
        """x * x."""
        return ops.square(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """x limited to [min, max]; the gradient passes where min <= x <= max, boundaries included."""
        return ops.clip(self, min, max)

    clamp = clip  # PyTorch's name

    def tanh(self) -> Tensor:
        """Hyperbolic tangent."""
        return ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """1 / (1 + exp(-x)), computed without overflow."""
        return ops.sigmoid(self)

    def relu(self) -> Tensor:
        """max(x, 0)."""
        return ops.relu(self)


def as_tensor(x: Any) -> Tensor:
    """``x`` if it is a Tensor, else a constant Tensor around it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def lift(value: Any, like: Tensor) -> Tensor:
    """``value`` as a Tensor: itself if it is one, else a constant in ``like``'s namespace (and dtype, for
    Python numbers and lists)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float)):
        return Tensor(like.xp.asarray(value, dtype=like.data.dtype, device=backend.device(like.data)))
    return Tensor(value if hasattr(value, "__array_namespace__") else backend.asarray(value, like=like.data))


# ---- functions of several tensors (glassnet's top level: gn.where, gn.maximum, ...) ----------------
def _lift_all(values: Sequence[Any]) -> list[Tensor]:
    """Tensors for ``values``: constants take the namespace and dtype of the first Tensor among them."""
    like = next((v for v in values if isinstance(v, Tensor)), None)
    if like is None:
        like = Tensor(values[0])
    return [lift(v, like) for v in values]


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum of two tensors (or a tensor and a number); ties split the gradient evenly."""
    return ops.maximum(*_lift_all((a, b)))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum of two tensors (or a tensor and a number); ties split the gradient evenly."""
    return ops.minimum(*_lift_all((a, b)))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where the boolean ``condition`` holds, else ``b`` (all three broadcast); each side gets the
    gradient where it was chosen."""
    a, b = _lift_all((a, b))
    cond = condition.data if isinstance(condition, Tensor) else condition
    if type(cond) is not type(a.data):  # lists and other namespaces' arrays into the tensors' namespace
        cond = a.xp.asarray(cond, device=backend.device(a.data))
    if not a.xp.isdtype(cond.dtype, "bool"):
        raise TypeError(f"where: condition must be a boolean array (e.g. x.data > 0), got dtype {cond.dtype}")
    return ops.where(cond, a, b)


def concatenate(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``dim`` is PyTorch's name for it); the gradient is split back
    into each one's slice."""
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    return ops.concatenate(_lift_all(tensors), axis_alias("concatenate", axis, dim, default=0))


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new axis (``dim`` is PyTorch's name for it); the gradient is split
    back into each one's slice."""
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    return ops.stack(_lift_all(tensors), axis_alias("stack", axis, dim, default=0))
