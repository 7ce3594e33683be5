"""Loss modules: thin wrappers over the functional losses, for code written in PyTorch's style."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..autograd import Tensor
from .module import Module


class MSELoss(Module):
    """Mean squared error over all elements: ``MSELoss()(pred, target)`` is ``F.mse_loss(pred, target)``."""

    def forward(self, pred: Any, target: Any) -> Tensor:
        return F.mse_loss(pred, target)


class CrossEntropyLoss(Module):
    """Softmax cross-entropy of logits, mean over rows; targets are class indices or probabilities.

    ``weight`` (one per class) and ``label_smoothing`` mean what they mean in :func:`F.cross_entropy`.
    """

    def __init__(self, weight: Any = None, label_smoothing: float = 0.0) -> None:
        self.weight, self.label_smoothing = weight, label_smoothing

    def forward(self, logits: Any, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, weight=self.weight, label_smoothing=self.label_smoothing)
