"""scikit-learn's optimizer conventions on top of glassnet's optimizers (which follow PyTorch's rules).

The two differ in two details that change trajectories, so ``epsilon`` and ``momentum`` mean
here exactly what they mean in scikit-learn's MLP; with these, both libraries follow the same
trajectory from the same weights and batches (to float rounding).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .. import optim
from ..autograd import Tensor


class SklearnAdam(optim.Adam):
    """Adam whose ``epsilon`` is added to sqrt(v) before the bias correction, as in scikit-learn.

    PyTorch: lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). scikit-learn:
    lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + epsilon). They agree when
    eps = epsilon / sqrt(1 - b2^t), which is set in each group before every step (t counts the steps
    taken: the estimators give every parameter a gradient at every step).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, betas: tuple[float, float],
                 epsilon: float) -> None:
        super().__init__(params, lr, betas=betas, eps=epsilon)
        self.defaults["epsilon"] = epsilon
        for group in self.param_groups:
            group["epsilon"] = epsilon

    def step(self) -> None:
        for group in self.param_groups:
            group["eps"] = group["epsilon"] / math.sqrt(1.0 - group["betas"][1] ** (self.t + 1))
        super().step()


class SklearnSGD(optim.SGD):
    """Momentum SGD whose velocity carries over learning-rate changes as scikit-learn's does.

    PyTorch keeps b and steps p -= lr * b; scikit-learn keeps v = momentum * v - lr * g, i.e.
    v = -lr * b only while lr is constant. When a group's lr changes from a to c (``last_lr`` to
    ``lr``), the momentum buffers of its parameters are rescaled by a / c.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, momentum: float,
                 nesterov: bool) -> None:
        super().__init__(params, lr, momentum=momentum, nesterov=nesterov and momentum > 0)
        self.defaults["last_lr"] = lr
        for group in self.param_groups:
            group["last_lr"] = group["lr"]

    def step(self) -> None:
        for group in self.param_groups:
            if group["momentum"] and group["lr"] != group["last_lr"]:
                for i in self.positions(group):
                    if self.steps[i]:  # a buffer starts at the parameter's first gradient
                        self.state[i]["momentum_buffer"] *= group["last_lr"] / group["lr"]
            group["last_lr"] = group["lr"]
        super().step()
