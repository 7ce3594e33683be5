"""Adam and AdamW (decoupled weight decay), with PyTorch's update rule and bias correction."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .. import backend
from ..autograd import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015).

    g = grad + weight_decay * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False,
                 flat: bool | None = None) -> None:
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Invalid beta parameters: {betas}")
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        self.betas, self.eps, self.weight_decay, self.amsgrad = tuple(betas), eps, weight_decay, amsgrad
        self.state_names = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
        super().__init__(params, lr, flat)

    def hyperparameters(self) -> dict[str, Any]:
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay,
                "amsgrad": self.amsgrad}

    def _update(self, p: Any, g: Any, state: dict[str, Any], t: int, work: Any) -> None:
        b1, b2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                p *= 1.0 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        step_size = self.lr / (1.0 - b1 ** t)
        inv_bc2_sqrt = 1.0 / math.sqrt(1.0 - b2 ** t)
        if work is None:
            m += (1.0 - b1) * (g - m)
            v *= b2
            v += (1.0 - b2) * (g * g)
            if self.amsgrad:
                vmax = state["max_exp_avg_sq"]
                vmax[...] = backend.namespace(v).maximum(vmax, v)
                v = vmax
            denom = v ** 0.5
            denom *= inv_bc2_sqrt
            denom += self.eps
            step = m / denom
            step *= step_size
            p -= step
            return
        # the same rule with NumPy's out=: every temporary lives in the work buffer, and the bias
        # correction is folded into scalars (sqrt(v) * c + eps = c * (sqrt(v) + eps / c)). No SciPy
        # BLAS (axpy) here: its OpenBLAS is a second thread pool that fights NumPy's at 2+ threads.
        xp = backend.namespace(p)
        xp.subtract(g, m, out=work)
        work *= 1.0 - b1
        m += work
        v *= b2
        xp.multiply(g, g, out=work)
        work *= 1.0 - b2
        v += work
        if self.amsgrad:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        xp.sqrt(v, out=work)
        work += self.eps / inv_bc2_sqrt
        xp.divide(m, work, out=work)
        work *= step_size / inv_bc2_sqrt
        p -= work

    def _fused_update(self, kernels: Any, p: Any, g: Any, state: dict[str, Any], t: int) -> None:
        b1, b2 = self.betas
        decay = self.weight_decay
        shrink = 1.0 - self.lr * decay if self.decoupled else 1.0
        m, v = state["exp_avg"], state["exp_avg_sq"]
        kernels.adam(p, g, m, v, state.get("max_exp_avg_sq", v), *kernels.scalars(
            p.dtype, self.lr / (1.0 - b1 ** t), b2, 1.0 - b1, 1.0 - b2, math.sqrt(1.0 - b2 ** t), self.eps,
            0.0 if self.decoupled else decay, shrink), self.amsgrad)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * weight_decay before the step."""

    decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01, amsgrad: bool = False,
                 flat: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, flat)
