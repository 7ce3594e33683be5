"""History: one record per epoch with the losses, scores, learning rate, wall time and per-layer gradient health."""

from __future__ import annotations

import math
import time
from typing import Any

from ...autograd import Tensor
from .base import Callback


def _norm(a: Any, xp: Any) -> float:
    flat = xp.astype(xp.reshape(a, (-1,)), xp.float64)  # float64: no overflow for large float32 weights
    return math.sqrt(float(xp.vecdot(flat, flat)))


def layer_norms(weights: list[Tensor]) -> tuple[list[float], list[float]]:
    """(gradient norm, weight norm) of each layer's weight matrix; a gradient not yet computed counts as 0."""
    grads = [_norm(w.grad, w.xp) if w.grad is not None else 0.0 for w in weights]
    return grads, [_norm(w.data, w.xp) for w in weights]


def epoch_record(epoch: int, loss: float, lr: float | None, wall_time: float, weights: list[Tensor],
                 val_score: float | None = None, val_loss: float | None = None) -> dict[str, Any]:
    """One history entry, plain JSON-able values only.

    ``grad_norm`` is the Frobenius norm of each layer's weight gradient on the epoch's last
    mini-batch (penalties included), ``weight_norm`` that of the weights at the epoch's end.
    ``wall_time`` counts seconds since training started; ``lr`` is None where the optimizer has
    none (L-BFGS: line searches).
    """
    grad_norm, weight_norm = layer_norms(weights)
    return {"epoch": int(epoch), "loss": float(loss),
            "val_score": None if val_score is None else float(val_score),
            "val_loss": None if val_loss is None else float(val_loss),
            "lr": None if lr is None else float(lr), "wall_time": float(wall_time),
            "grad_norm": grad_norm, "weight_norm": weight_norm}


class History(Callback):
    """Appends one :func:`epoch_record` to ``state.history`` at the end of every epoch.

    ``weights`` are the tensors whose norms are recorded, by default every parameter with two or
    more dimensions (each layer's weight matrix). ``lr`` is the rate the epoch started with. Wall
    time continues from the last record, so a resumed or warm-started run keeps counting. Metrics
    beyond the loss, ``val_score`` and ``val_loss`` go into the record too.
    """

    def __init__(self, weights: list[Tensor] | None = None) -> None:
        self.weights = weights
        self.start = 0.0
        self.lr: float | None = None

    def on_train_begin(self, state: Any) -> None:
        if self.weights is None:
            self.weights = [p for p in state.module.parameters() if p.ndim >= 2]
        self.start = time.perf_counter() - (state.history[-1]["wall_time"] if state.history else 0.0)

    def on_epoch_begin(self, state: Any) -> None:
        self.lr = getattr(state.optimizer, "lr", None)

    def on_epoch_end(self, state: Any) -> None:
        self.record(state)

    def record(self, state: Any) -> dict[str, Any]:
        """Append the record of the epoch just ended to ``state.history`` and return it."""
        m = state.metrics
        record = epoch_record(len(state.history) + 1, m["loss"], self.lr, time.perf_counter() - self.start,
                              self.weights, m.get("val_score"), m.get("val_loss"))
        record.update((k, v) for k, v in m.items() if k not in record)
        state.history.append(record)
        return record
