"""Per-epoch records: losses, scores, learning rate, wall time and per-layer gradient health."""

from __future__ import annotations

import math
from typing import Any

from ..autograd import Tensor


def _norm(a: Any, xp: Any) -> float:
    flat = xp.astype(xp.reshape(a, (-1,)), xp.float64)  # float64: no overflow for large float32 weights
    return math.sqrt(float(xp.vecdot(flat, flat)))


def layer_norms(weights: list[Tensor]) -> tuple[list[float], list[float]]:
    """(gradient norm, weight norm) of each layer's weight matrix; a gradient not yet computed counts as 0."""
    grads = [_norm(w.grad, w.xp) if w.grad is not None else 0.0 for w in weights]
    return grads, [_norm(w.data, w.xp) for w in weights]


def epoch_record(epoch: int, loss: float, lr: float | None, wall_time: float, weights: list[Tensor],
                 val_score: float | None = None, val_loss: float | None = None) -> dict[str, Any]:
    """One ``history_`` entry, plain JSON-able values only.

    ``grad_norm`` is the Frobenius norm of each layer's weight gradient on the epoch's last
    mini-batch (penalties included), ``weight_norm`` that of the weights at the epoch's end.
    ``wall_time`` counts seconds since training started; ``lr`` is None for L-BFGS (line searches).
    """
    grad_norm, weight_norm = layer_norms(weights)
    return {"epoch": int(epoch), "loss": float(loss),
            "val_score": None if val_score is None else float(val_score),
            "val_loss": None if val_loss is None else float(val_loss),
            "lr": None if lr is None else float(lr), "wall_time": float(wall_time),
            "grad_norm": grad_norm, "weight_norm": weight_norm}
