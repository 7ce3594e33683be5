"""Reverse-mode automatic differentiation: Tensor, the graph, backward() and no_grad().

``ops`` is the table of primitives (each forward beside its vector-Jacobian product); Tensor's methods and
the functions of several tensors (where, maximum, minimum, concatenate, stack) are thin wrappers over it.
"""

from . import ops
from .ops import unbroadcast
from .tensor import (
    Tensor,
    as_tensor,
    concatenate,
    is_grad_enabled,
    maximum,
    minimum,
    no_grad,
    stack,
    where,
)

__all__ = ["Tensor", "as_tensor", "concatenate", "is_grad_enabled", "maximum", "minimum", "no_grad", "ops", "stack",
           "unbroadcast", "where"]
