"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's rule)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..autograd import Tensor
from .optimizer import GroupSetting, Optimizer


class SGD(Optimizer):
    r"""Gradient descent, full-batch or mini-batch.

    g = grad + weight_decay * p;  b = g at the parameter's first step, else momentum * b + (1 - dampening) * g;
    g = g + momentum * b (Nesterov) or b (classic);  p = p - lr * g.
    """

    momentum, dampening, nesterov, weight_decay = GroupSetting(), GroupSetting(), GroupSetting(), GroupSetting()

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0, dampening: float = 0.0,
                 flat: bool | None = None) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening, "nesterov": nesterov,
                                  "weight_decay": weight_decay}, flat)

    def _check_group(self, group: dict[str, Any]) -> None:
        if group["momentum"] < 0:
            raise ValueError(f"Invalid momentum value: {group['momentum']}")
        if group["weight_decay"] < 0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("momentum_buffer",) if group["momentum"] else ()

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        momentum, dampening, weight_decay = group["momentum"], group["dampening"], group["weight_decay"]
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = state["momentum_buffer"]
            if step == 1:
                buf[...] = g
            else:
                buf *= momentum
                buf += (1.0 - dampening) * g if dampening else g
            g = g + momentum * buf if group["nesterov"] else buf
        p -= group["lr"] * g

    def _fused_update(self, kernels: Any, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any],
                      step: int) -> None:
        kernels.sgd(p, g, state.get("momentum_buffer", p), *kernels.scalars(
            p.dtype, group["lr"], group["momentum"], 1.0 - group["dampening"], group["weight_decay"]),
            group["nesterov"], step == 1)
