"""MLP: the multilayer perceptron as a Sequential of Linear, activation and Dropout layers."""

from __future__ import annotations

import itertools
from typing import Any

from .. import backend
from .. import functional as F
from ..autograd import Tensor
from .init import dtype_name
from .layers import ACTIVATIONS, Dropout, Linear, ReLU, Sequential
from .registry import register


@register("MLP")
class MLP(Sequential):
    """``sizes = [in, hidden..., out]``; activation and dropout after every layer but the last.

    ReLU-like activations get He initialization, the others Glorot.
    """

    def __init__(self, sizes: list[int], activation: str = "relu", dropout: float = 0.0, *,
                 dtype: str | None = None, xp: Any = None, rng: Any = None) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least [in, out] sizes, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
        rng = backend.get_rng(rng)
        init = "he" if activation in ("relu", "leaky_relu", "gelu") else "glorot"
        layers = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            last = i == len(sizes) - 2
            layers.append(Linear(n_in, n_out, init="glorot" if last else init, dtype=dtype, xp=xp, rng=rng))
            if not last:
                layers.append(ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(Dropout(dropout, rng=rng))
        super().__init__(*layers)
        self.sizes, self.activation, self.dropout = sizes, activation, float(dropout)

    def config(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "activation": self.activation, "dropout": self.dropout,
                "dtype": dtype_name(self.layers[0].weight.dtype)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MLP:
        return cls(**config)  # built from its sizes, not from a list of layers

    def forward(self, x: Any) -> Tensor:
        """The layers in order, with each Linear followed by a ReLU run as one fused node."""
        layers, i = self.layers, 0
        while i < len(layers):
            layer = layers[i]
            if type(layer) is Linear and i + 1 < len(layers) and type(layers[i + 1]) is ReLU:
                x = F.linear(x, layer.weight, layer.bias, activation="relu")
                i += 2
            else:
                x = layer(x)
                i += 1
        return x
