"""RMSprop: divide the gradient by a running root-mean-square of recent gradients (PyTorch's rule)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend
from ..autograd import Tensor
from .optimizer import GroupSetting, Optimizer


class RMSprop(Optimizer):
    r"""g = grad + weight_decay * p;  s = alpha * s + (1 - alpha) * g^2;  d = sqrt(s - m^2 if centered else s) + eps,
    with m = alpha * m + (1 - alpha) * g;  with momentum: b = momentum * b + g / d, p -= lr * b;  else p -= lr * g / d.
    """

    alpha, eps, momentum, weight_decay, centered = (GroupSetting(), GroupSetting(), GroupSetting(), GroupSetting(),
                                                    GroupSetting())

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 0.01, alpha: float = 0.99,
                 eps: float = 1e-8, momentum: float = 0.0, weight_decay: float = 0.0, centered: bool = False,
                 flat: bool | None = None) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum,
                                  "weight_decay": weight_decay, "centered": centered}, flat)

    def _check_group(self, group: dict[str, Any]) -> None:
        for name in ("alpha", "eps", "momentum", "weight_decay"):
            if group[name] < 0:
                raise ValueError(f"Invalid {name} value: {group[name]}")

    def state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("square_avg",) + (("momentum_buffer",) if group["momentum"] else ()) + (
            ("grad_avg",) if group["centered"] else ())

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        alpha, eps, momentum, weight_decay = group["alpha"], group["eps"], group["momentum"], group["weight_decay"]
        if weight_decay:
            g = g + weight_decay * p
        sq = state["square_avg"]
        sq *= alpha
        sq += (1.0 - alpha) * (g * g)
        if group["centered"]:
            mean = state["grad_avg"]
            mean += (1.0 - alpha) * (g - mean)
            denom = backend.namespace(p).sqrt(sq - mean * mean)
        else:
            denom = backend.namespace(p).sqrt(sq)
        denom += eps
        if momentum:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / denom
            p -= group["lr"] * buf
        else:
            p -= group["lr"] * (g / denom)

    def _fused_update(self, kernels: Any, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any],
                      step: int) -> None:
        sq, alpha = state["square_avg"], group["alpha"]
        kernels.rmsprop(p, g, sq, state.get("momentum_buffer", sq), state.get("grad_avg", sq), *kernels.scalars(
            p.dtype, group["lr"], alpha, 1.0 - alpha, group["eps"], group["weight_decay"], group["momentum"]),
            group["centered"])
