"""Adam and AdamW (decoupled weight decay), with PyTorch's update rule and bias correction."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .. import backend
from ..autograd import Tensor
from .optimizer import GroupSetting, Optimizer


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015); t is the parameter's own step count.

    g = grad + weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    decoupled = False
    betas, eps, weight_decay, amsgrad = GroupSetting(), GroupSetting(), GroupSetting(), GroupSetting()

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, flat: bool | None = None) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad}, flat)

    def _check_group(self, group: dict[str, Any]) -> None:
        betas = group["betas"]
        if len(betas) != 2 or not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Invalid beta parameters: {betas}")
        if group["eps"] < 0:
            raise ValueError(f"Invalid epsilon value: {group['eps']}")
        if group["weight_decay"] < 0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if group["amsgrad"] else ())

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        lr, (b1, b2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        if weight_decay:
            if self.decoupled:
                p *= 1.0 - lr * weight_decay
            else:
                g = g + weight_decay * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1.0 - b1) * (g - m)
        v *= b2
        v += (1.0 - b2) * (g * g)
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            vmax[...] = backend.namespace(v).maximum(vmax, v)
            v = vmax
        # the bias corrections folded into two scalars: sqrt(v) / c + eps = (sqrt(v) + eps * c) / c, c = sqrt(1 - b2^t);
        # the compiled kernel rounds the unfolded form (each form's trajectories are pinned by the fingerprints)
        inv_c = 1.0 / math.sqrt(1.0 - b2 ** step)
        denom = backend.namespace(v).sqrt(v)
        denom += group["eps"] / inv_c
        update = m / denom
        update *= lr / (1.0 - b1 ** step) / inv_c
        p -= update

    def _fused_update(self, kernels: Any, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any],
                      step: int) -> None:
        lr, (b1, b2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        kernels.adam(p, g, m, v, state.get("max_exp_avg_sq", v), *kernels.scalars(
            p.dtype, lr / (1.0 - b1 ** step), b2, 1.0 - b1, 1.0 - b2, math.sqrt(1.0 - b2 ** step), group["eps"],
            0.0 if self.decoupled else weight_decay, 1.0 - lr * weight_decay if self.decoupled else 1.0),
            group["amsgrad"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * weight_decay before the step."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01,
                 amsgrad: bool = False, flat: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, flat)
