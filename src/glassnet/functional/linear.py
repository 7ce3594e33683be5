"""The linear map of a layer, plain or fused with the ReLU that follows it."""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor, as_tensor, ops


def linear(x: Any, weight: Tensor, bias: Tensor | None = None, activation: str | None = None) -> Tensor:
    """``x @ weight + bias`` as one node; weight has shape (in_features, out_features).

    ``activation="relu"`` runs :func:`glassnet.autograd.ops.fused_linear_relu` instead: the ReLU in
    place in the same node (one graph node and one array fewer per layer), as
    :class:`glassnet.nn.MLP` does for its hidden layers.
    """
    if activation is None:
        return ops.linear(as_tensor(x), weight, bias)
    if activation == "relu":
        return ops.fused_linear_relu(as_tensor(x), weight, bias)
    raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
