"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's rule)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..autograd import Tensor
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""Gradient descent, full-batch or mini-batch.

    g = grad + weight_decay * p;  b = g at the first step, else momentum * b + (1 - dampening) * g;
    g = g + momentum * b (Nesterov) or b (classic);  p = p - lr * g.
    """

    state_names = ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, dampening: float = 0.0, flat: bool | None = None) -> None:
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.momentum, self.nesterov, self.weight_decay, self.dampening = momentum, nesterov, weight_decay, dampening
        if momentum == 0:
            self.state_names = ()
        super().__init__(params, lr, flat)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay, "dampening": self.dampening}

    def _update(self, p: Any, g: Any, state: dict[str, Any], t: int, work: Any) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            buf = state["momentum_buffer"]
            if t == 1:
                buf[...] = g
            else:
                buf *= self.momentum
                buf += (1.0 - self.dampening) * g if self.dampening else g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g

    def _fused_update(self, kernels: Any, p: Any, g: Any, state: dict[str, Any], t: int) -> None:
        kernels.sgd(p, g, state.get("momentum_buffer", p), *kernels.scalars(
            p.dtype, self.lr, self.momentum, 1.0 - self.dampening, self.weight_decay), self.nesterov, t == 1)
