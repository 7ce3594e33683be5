"""Layers: Linear, activation modules, Dropout and Sequential, each registered under its class name.

Every layer gives ``config()`` (its constructor arguments as plain data) and ``to_onnx(graph, x)``
(its ONNX nodes); model files and ONNX export use those, never a switch on types.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from .. import backend
from .. import functional as F
from ..autograd import Tensor
from .init import INITIALIZERS, dtype_name, skipping, zeros
from .module import Module
from .registry import from_spec, register, to_spec


@register("Linear")
class Linear(Module):
    """y = x @ weight + bias, with weight of shape (in_features, out_features).

    ``init`` is "glorot" (default; tanh, sigmoid, linear outputs) or "he" (ReLU-like layers).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, init: str = "glorot",
                 dtype: str | None = None, xp: Any = None, rng: Any = None) -> None:
        in_features, out_features = operator.index(in_features), operator.index(out_features)
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, out_features={out_features}")
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; choose from {sorted(INITIALIZERS)}")
        self.in_features, self.out_features, self.init = in_features, out_features, init
        self.weight = Tensor(zeros((in_features, out_features), xp, dtype), requires_grad=True)
        self.bias = Tensor(zeros((out_features,), xp, dtype), requires_grad=True) if bias else None
        if not skipping():
            self.reset_parameters(rng)

    def reset_parameters(self, rng: Any = None) -> None:
        """Draw fresh weights (in place) and zero the bias."""
        w = INITIALIZERS[self.init](self.in_features, self.out_features, self.weight.xp, self.weight.dtype, rng)
        self.weight.data[...] = w
        if self.bias is not None:
            self.bias.data[...] = 0.0

    def forward(self, x: Any) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.bias is not None,
                "init": self.init, "dtype": dtype_name(self.weight.dtype)}

    def to_onnx(self, graph: Any, x: str) -> str:
        x = graph.op("MatMul", [x, graph.const(self.weight.numpy(), "weight")])
        return x if self.bias is None else graph.op("Add", [x, graph.const(self.bias.numpy(), "bias")])

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"



@register("ReLU")
class ReLU(Module):
    def forward(self, x: Any) -> Tensor:
        return F.relu(x)

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op("Relu", [x])


@register("LeakyReLU")
class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op("LeakyRelu", [x], alpha=self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


@register("Sigmoid")
class Sigmoid(Module):
    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op("Sigmoid", [x])


@register("Tanh")
class Tanh(Module):
    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op("Tanh", [x])


@register("GELU")
class GELU(Module):
    """x Φ(x) (``approximate="none"``, with erf) or its tanh approximation (``approximate="tanh"``)."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)

    def config(self) -> dict[str, Any]:
        return {"approximate": self.approximate}

    def to_onnx(self, graph: Any, x: str) -> str:
        g = graph
        if self.approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            cube = g.op("Mul", [g.op("Mul", [x, x]), x])
            inner = g.op("Mul", [g.op("Add", [x, g.op("Mul", [cube, g.const(0.044715)])]),
                                 g.const(math.sqrt(2.0 / math.pi))])
            gate = g.op("Add", [g.op("Tanh", [inner]), g.const(1.0)])
        else:  # 0.5 x (1 + erf(x / sqrt 2))
            gate = g.op("Add", [g.op("Erf", [g.op("Mul", [x, g.const(1.0 / math.sqrt(2.0))])]), g.const(1.0)])
        return g.op("Mul", [g.op("Mul", [x, gate]), g.const(0.5)])

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


@register("ELU")
class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = float(alpha)

    def forward(self, x: Any) -> Tensor:
        return F.elu(x, self.alpha)

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op("Elu", [x], alpha=self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


@register("SiLU")
class SiLU(Module):
    """x * sigmoid(x) (also called swish)."""

    def forward(self, x: Any) -> Tensor:
        return F.silu(x)

    def to_onnx(self, graph: Any, x: str) -> str:
        return graph.op("Mul", [x, graph.op("Sigmoid", [x])])


@register("Identity")
class Identity(Module):
    def forward(self, x: Any) -> Tensor:
        return F.identity(x)

    def to_onnx(self, graph: Any, x: str) -> str:
        return x


@register("Dropout")
class Dropout(Module):
    """Inverted dropout while training; the identity in eval mode. ``rng`` feeds the masks."""

    def __init__(self, p: float = 0.5, rng: Any = None) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        # an int seed becomes one generator here, so each step draws a new mask
        self.rng = backend.get_rng(rng) if rng is not None else None

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def config(self) -> dict[str, Any]:
        return {"p": self.p}  # the generator is not stored: a loaded model draws from the default one

    def to_onnx(self, graph: Any, x: str) -> str:
        return x  # the identity at inference

    def extra_repr(self) -> str:
        return f"p={self.p}"


@register("Sequential")
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

    def config(self) -> dict[str, Any]:
        return {"layers": [to_spec(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        if set(config) != {"layers"} or not isinstance(config["layers"], list):
            raise TypeError(f"Sequential is described by a list under 'layers' alone, got keys {sorted(config)}")
        return cls(*[from_spec(spec) for spec in config["layers"]])

    def to_onnx(self, graph: Any, x: str) -> str:
        for layer in self.layers:
            x = layer.to_onnx(graph, x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)


ACTIVATIONS: dict[str, type[Module]] = {
    "relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "logistic": Sigmoid,
    "tanh": Tanh, "gelu": GELU, "elu": ELU, "silu": SiLU, "identity": Identity,
}
