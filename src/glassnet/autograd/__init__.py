"""Reverse-mode automatic differentiation: Tensor, the graph, backward() and no_grad()."""

from .tensor import Tensor, as_tensor, is_grad_enabled, no_grad, unbroadcast

__all__ = ["Tensor", "as_tensor", "is_grad_enabled", "no_grad", "unbroadcast"]
