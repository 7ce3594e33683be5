"""RMSprop: divide the gradient by a running root-mean-square of recent gradients (PyTorch's rule)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..autograd import Tensor
from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""s = alpha * s + (1 - alpha) * g^2;  d = sqrt(s - m^2 if centered else s) + eps;
    with momentum: b = momentum * b + g / d, p -= lr * b;  without: p -= lr * g / d.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0, centered: bool = False,
                 flat: bool | None = None) -> None:
        for name, value in (("alpha", alpha), ("eps", eps), ("momentum", momentum), ("weight_decay", weight_decay)):
            if value < 0:
                raise ValueError(f"Invalid {name} value: {value}")
        self.alpha, self.eps, self.momentum = alpha, eps, momentum
        self.weight_decay, self.centered = weight_decay, centered
        self.state_names = ("square_avg",) + (("momentum_buffer",) if momentum else ()) + (
            ("grad_avg",) if centered else ())
        super().__init__(params, lr, flat)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps, "momentum": self.momentum,
                "weight_decay": self.weight_decay, "centered": self.centered}

    def _update(self, p: Any, g: Any, state: dict[str, Any], t: int, work: Any) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        sq = state["square_avg"]
        sq *= self.alpha
        if work is None:
            sq += (1.0 - self.alpha) * (g * g)
        else:  # NumPy's out=: no temporaries
            backend.namespace(p).multiply(g, g, out=work)
            work *= 1.0 - self.alpha
            sq += work
        if self.centered:
            mean = state["grad_avg"]
            mean += (1.0 - self.alpha) * (g - mean)
            denom = (sq - mean * mean) ** 0.5
        else:
            denom = sq ** 0.5 if work is None else backend.namespace(p).sqrt(sq, out=work)
        denom += self.eps
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += g / denom
            p -= self.lr * buf
        else:
            denom = g / denom if work is None else backend.namespace(p).divide(g, denom, out=work)
            denom *= self.lr
            p -= denom

    def _fused_update(self, kernels: Any, p: Any, g: Any, state: dict[str, Any], t: int) -> None:
        sq = state["square_avg"]
        kernels.rmsprop(p, g, sq, state.get("momentum_buffer", sq), state.get("grad_avg", sq), *kernels.scalars(
            p.dtype, self.lr, self.alpha, 1.0 - self.alpha, self.eps, self.weight_decay, self.momentum),
            self.centered)
