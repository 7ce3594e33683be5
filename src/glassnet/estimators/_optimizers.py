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
    eps = epsilon / sqrt(1 - b2^t), which is set before every step.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, betas: tuple[float, float], epsilon: float) -> None:
        super().__init__(params, lr, betas=betas, eps=epsilon)
        self.epsilon = epsilon

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "epsilon": self.epsilon}

    def step(self) -> None:
        self.eps = self.epsilon / math.sqrt(1.0 - self.betas[1] ** (self.t + 1))
        super().step()


class SklearnSGD(optim.SGD):
    """Momentum SGD whose velocity carries over learning-rate changes as scikit-learn's does.

    PyTorch keeps b and steps p -= lr * b; scikit-learn keeps v = momentum * v - lr * g, i.e.
    v = -lr * b only while lr is constant. When lr changes from a to c, b is rescaled by a / c.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float, nesterov: bool) -> None:
        super().__init__(params, lr, momentum=momentum, nesterov=nesterov and momentum > 0)
        self.last_lr = lr

    def hyperparameters(self) -> dict[str, Any]:
        return {**super().hyperparameters(), "last_lr": self.last_lr}

    def step(self) -> None:
        if self.momentum and self.t and self.lr != self.last_lr:
            for state in self.state:
                state["momentum_buffer"] *= self.last_lr / self.lr
        self.last_lr = self.lr
        super().step()
