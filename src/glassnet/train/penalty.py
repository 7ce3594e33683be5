"""Weight penalties added straight to the gradients after backward, never as graph nodes.

L2 and L1 use scikit-learn's scaling: over a batch of n samples (or total sample weight n), L2
adds 0.5 * alpha * sum(W^2) / n to the loss and alpha * W / n to the gradient; L1 adds
l1 * sum|W| / n and l1 * sign(W) / n. Decoupled weight decay (AdamW) shrinks W directly.
Only weight matrices are penalized, never biases.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Tensor
from .callbacks.base import Callback


class Penalty(Callback):
    """L2 (``alpha``), L1 (``l1``) and decoupled decay (``weight_decay``) on the tensors ``weights``.

    As a callback it acts after backward: the penalty's gradient goes into ``.grad``, its value into
    the batch's ``state.loss`` and ``state.objective``, and the decay into the weights.
    """

    def __init__(self, weights: list[Tensor], alpha: float = 0.0, l1: float = 0.0, weight_decay: float = 0.0) -> None:
        self.weights, self.alpha, self.l1, self.weight_decay = weights, float(alpha), float(l1), float(weight_decay)

    @property
    def active(self) -> bool:
        """True when the penalty changes anything."""
        return bool(self.alpha or self.l1 or self.weight_decay)

    def value(self, n: Any) -> Any:
        """The penalty's contribution to the loss of a batch of (weighted) size ``n``."""
        total = 0.0
        for w in self.weights:
            flat = w.xp.reshape(w.data, (-1,))
            if self.alpha:
                total = total + (0.5 * self.alpha) * (flat @ flat)  # a BLAS dot product
            if self.l1:
                total = total + self.l1 * w.xp.sum(w.xp.abs(flat))
        return total / n

    def add_to_grads(self, n: Any) -> Any:
        """Add the penalty's gradient to every weight's ``.grad`` in place; returns its loss value."""
        if not (self.alpha or self.l1):
            return 0.0
        weights = [w for w in self.weights if w.grad is not None]  # a frozen weight gets no penalty gradient
        kernels = backend.kernels_for(*(a for w in weights for a in (w.data, w.grad)))
        if kernels is not None:
            total = 0.0  # one compiled pass per weight: its gradient and its share of the value
            for w in weights:
                squares, absolutes = kernels.add_penalty(w.grad, w.data, *kernels.scalars(
                    w.data.dtype, self.alpha / n, self.l1 / n))
                total += 0.5 * self.alpha * float(squares) + self.l1 * float(absolutes)
            return total / n
        for w in weights:
            if self.alpha:
                w.grad += (self.alpha / n) * w.data
            if self.l1:
                w.grad += (self.l1 / n) * w.xp.sign(w.data)
        return self.value(n)

    def decay(self, lr: float) -> None:
        """Decoupled weight decay, W *= 1 - lr * weight_decay (AdamW), before the optimizer step."""
        if self.weight_decay:
            for w in self.weights:
                w.data *= 1.0 - lr * self.weight_decay

    def on_after_backward(self, state: Any) -> None:
        x, _, sample_weight = state.batch
        value = self.add_to_grads(x.shape[0] if sample_weight is None else self.weights[0].xp.sum(sample_weight))
        same = state.objective is state.loss
        state.loss = state.loss + value
        state.objective = state.loss if same else state.objective + value
        if self.weight_decay:
            self.decay(state.optimizer.lr)
