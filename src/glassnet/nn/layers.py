"""Layers: Linear, activation modules, Dropout and Sequential."""

from __future__ import annotations

from typing import Any

from .. import backend
from .. import functional as F
from ..autograd import Tensor
from .init import INITIALIZERS
from .module import Module


class Linear(Module):
    """y = x @ weight + bias, with weight of shape (in_features, out_features).

    ``init`` is "glorot" (default; tanh, sigmoid, linear outputs) or "he" (ReLU-like layers).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, init: str = "glorot",
                 dtype: str | None = None, xp: Any = None, rng: Any = None) -> None:
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, out_features={out_features}")
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; choose from {sorted(INITIALIZERS)}")
        self.in_features, self.out_features, self.init = in_features, out_features, init
        xp = xp if xp is not None else backend.namespace(backend.asarray(0.0))
        dtype = backend.float_dtype(xp, dtype)
        self.weight = Tensor(xp.zeros((in_features, out_features), dtype=dtype), requires_grad=True)
        self.bias = Tensor(xp.zeros((out_features,), dtype=dtype), requires_grad=True) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: Any = None) -> None:
        """Draw fresh weights (in place) and zero the bias."""
        w = INITIALIZERS[self.init](self.in_features, self.out_features, self.weight.xp, self.weight.dtype, rng)
        self.weight.data[...] = w
        if self.bias is not None:
            self.bias.data[...] = 0.0

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x: Any) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = negative_slope

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)


class Identity(Module):
    def forward(self, x: Any) -> Tensor:
        return F.identity(x)


class Dropout(Module):
    """Inverted dropout while training; the identity in eval mode. ``rng`` feeds the masks."""

    def __init__(self, p: float = 0.5, rng: Any = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = p
        # an int seed becomes one generator here, so each step draws a new mask
        self.rng = backend.get_rng(rng) if rng is not None else None

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Modules applied one after another."""

    def __init__(self, *layers: Module) -> None:
        for layer in layers:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes Modules, got {type(layer).__name__}")
        self.layers = list(layers)

    def forward(self, x: Any) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)


ACTIVATIONS: dict[str, type[Module]] = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "logistic": Sigmoid,
    "tanh": Tanh, "gelu": GELU, "identity": Identity,
}
