"""Tensor: an array plus the record of how it was computed, and reverse-mode backpropagation.

Each operation builds its output and, next to the forward computation, a ``backward`` closure
that maps the output's gradient to one gradient per input (its vector-Jacobian product).
``backward()`` walks the recorded graph in reverse topological order, found iteratively so that
graphs of any depth work. Only leaves (tensors created by the user) accumulate ``.grad``.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Iterator
from typing import Any

from .. import backend

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

    # ---- arithmetic -------------------------------------------------------------------------
    def _lift(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float)):
            return Tensor(self.xp.asarray(other, dtype=self.data.dtype, device=backend.device(self.data)))
        return Tensor(backend.asarray(other, like=self.data) if not hasattr(other, "__array_namespace__")
                      else other)

    def _binary(self, other: Any, name: str, forward: Callable, backward: Callable) -> Tensor:
        other = self._lift(other)
        a, b = self.data, other.data
        try:
            data = forward(a, b)
        except ValueError as err:
            raise ValueError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not broadcast ({err})") from None
        except TypeError as err:
            raise TypeError(f"{name}: cannot combine dtypes {a.dtype} and {b.dtype} ({err})") from None
        sa, sb = tuple(a.shape), tuple(b.shape)

        def _bw(g: Any) -> tuple:
            ga, gb = backward(g, a, b, data)
            return (unbroadcast(ga, sa) if ga is not None else None,
                    unbroadcast(gb, sb) if gb is not None else None)

        return Tensor._make(data, self.xp, (self, other), _bw)

    def __add__(self, other: Any) -> Tensor:
        return self._binary(other, "add", lambda a, b: a + b, lambda g, a, b, o: (g, g))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Tensor:
        return self._binary(other, "sub", lambda a, b: a - b, lambda g, a, b, o: (g, -g))

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __mul__(self, other: Any) -> Tensor:
        return self._binary(other, "mul", lambda a, b: a * b, lambda g, a, b, o: (g * b, g * a))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Tensor:
        return self._binary(other, "div", lambda a, b: a / b, lambda g, a, b, o: (g / b, -g * o / b))

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, Tensor):
            raise TypeError("tensor ** tensor is not supported; use (b * a.log()).exp()")
        x = self.data
        data = x ** exponent
        return Tensor._make(data, self.xp, (self,), lambda g: (g * exponent * x ** (exponent - 1),))

    def __neg__(self) -> Tensor:
        return Tensor._make(-self.data, self.xp, (self,), lambda g: (-g,))

    def __matmul__(self, other: Any) -> Tensor:
        other = self._lift(other)
        a, b = self.data, other.data
        if a.ndim < 1 or not 1 <= b.ndim <= 2 or a.shape[-1] != b.shape[0]:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned "
                             "(the last dimension of the left must equal the first of the right, "
                             "and the right must be 1-D or 2-D)")
        xp = self.xp

        def _bw(g: Any) -> tuple:
            if b.ndim == 1:  # (..., k) @ (k,) -> (...)
                return g[..., None] * b, xp.tensordot(g, a, axes=g.ndim)
            if a.ndim == 1:  # (k,) @ (k, m) -> (m,)
                return b @ g, a[:, None] * g[None, :]
            a2 = xp.reshape(a, (-1, a.shape[-1]))
            g2 = xp.reshape(g, (-1, g.shape[-1]))
            return g @ b.T, a2.T @ g2

        return Tensor._make(a @ b, xp, (self, other), _bw)

    def __rmatmul__(self, other: Any) -> Tensor:
        return self._lift(other) @ self

    # ---- reductions and shape ---------------------------------------------------------------
    def sum(self, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
        xp, shape = self.xp, self.shape
        data = xp.sum(self.data, axis=axis, keepdims=keepdims)

        def _bw(g: Any) -> tuple:
            if not keepdims and axis is not None:
                g = xp.reshape(g, _kept_shape(shape, axis))
            return (xp.broadcast_to(g, shape),)

        return Tensor._make(data, xp, (self,), _bw)

    def mean(self, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
        shape = self.shape
        axes = range(len(shape)) if axis is None else (axis,) if isinstance(axis, int) else axis
        count = 1
        for a in axes:
            count *= shape[a]
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        xp, old = self.xp, self.shape
        try:
            data = xp.reshape(self.data, shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {old} to {shape}") from None
        return Tensor._make(data, xp, (self,), lambda g: (xp.reshape(g, old),))

    @property
    def T(self) -> Tensor:  # noqa: N802 (NumPy's name)
        xp = self.xp
        axes = tuple(reversed(range(self.ndim)))
        return Tensor._make(xp.permute_dims(self.data, axes), xp, (self,), lambda g: (xp.permute_dims(g, axes),))

    def __getitem__(self, index: Any) -> Tensor:
        """Basic slicing, or row selection with an integer array (a gather along axis 0)."""
        xp, shape, dtype = self.xp, self.shape, self.data.dtype
        if isinstance(index, Tensor):
            index = index.data
        if hasattr(index, "dtype") and not index.shape:
            index = operator.index(index)  # a NumPy integer or 0-d integer array: one plain position
        if isinstance(index, list) or hasattr(index, "dtype"):
            rows = xp.asarray(index)  # lists and other namespaces' index arrays into xp
            if not xp.isdtype(rows.dtype, "integral"):
                raise TypeError(f"row index must be integers, got dtype {rows.dtype}")
            data = xp.take(self.data, rows, axis=0)
            return Tensor._make(data, xp, (self,), lambda g: (backend.scatter_add_rows(shape[0], rows, g, xp),))
        # The standard wants every axis indexed: a trailing ``...`` gives NumPy's meaning of a[1]
        index = index if isinstance(index, tuple) else (index,)
        if not any(k is Ellipsis for k in index):
            index = (*index, Ellipsis)
        data = self.data[index]

        def _bw(g: Any) -> tuple:
            full = xp.zeros(shape, dtype=dtype, device=backend.device(g))
            full[index] = g
            return (full,)

        return Tensor._make(data, xp, (self,), _bw)

    # ---- elementwise functions --------------------------------------------------------------
    def exp(self) -> Tensor:
        out = self.xp.exp(self.data)
        return Tensor._make(out, self.xp, (self,), lambda g: (g * out,))

    def log(self) -> Tensor:
        x = self.data
        return Tensor._make(self.xp.log(x), self.xp, (self,), lambda g: (g / x,))

    def abs(self) -> Tensor:
        x, xp = self.data, self.xp
        return Tensor._make(xp.abs(x), xp, (self,), lambda g: (g * xp.sign(x),))

    def tanh(self) -> Tensor:
        out = self.xp.tanh(self.data)
        return Tensor._make(out, self.xp, (self,), lambda g: (g * (1.0 - out * out),))

    def sigmoid(self) -> Tensor:
        from ..functional import sigmoid

        return sigmoid(self)

    def relu(self) -> Tensor:
        from ..functional import relu

        return relu(self)


def _kept_shape(shape: tuple, axis: int | tuple) -> tuple:
    axes = (axis,) if isinstance(axis, int) else axis
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def as_tensor(x: Any) -> Tensor:
    """``x`` if it is a Tensor, else a constant Tensor around it."""
    return x if isinstance(x, Tensor) else Tensor(x)
