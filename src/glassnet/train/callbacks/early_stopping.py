"""EarlyStopping: stop when a monitored metric has not improved for ``patience`` epochs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import backend
from .base import Callback


class EarlyStopping(Callback):
    """Stops training once ``monitor`` has gone ``patience`` epochs without improving by more than ``min_delta``.

    ``monitor`` is a key of ``state.metrics``: "val_loss" (needs validation data), "val_score" (needs
    validation data and a score function) or "loss" (the training loss). ``mode`` "min" or "max";
    "auto" takes "max" for names containing "score" or "acc", else "min". With
    ``restore_best_weights`` the module ends with the weights of the best epoch. A value that is not
    finite never counts as an improvement.
    """

    def __init__(self, monitor: str = "val_loss", *, mode: str = "auto", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = False) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        if int(patience) != patience or patience < 0:
            raise ValueError(f"patience must be a non-negative integer, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be non-negative, got {min_delta}")
        if mode == "auto":
            mode = "max" if "score" in monitor or "acc" in monitor else "min"
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, int(patience), float(min_delta)
        self.restore_best_weights = restore_best_weights
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_weights: list[Any] | None = None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, state: Any) -> None:
        value = state.metrics.get(self.monitor)
        if value is None:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, but the epoch's metrics are "
                             f"{sorted(state.metrics)}; 'val_loss' needs validation data, 'val_score' a score too")
        value = float(value)
        if math.isfinite(value) and self._improved(value):
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best_weights:
                self.best_weights = [p.xp.asarray(p.data, copy=True) for p in state.module.parameters()]
            return
        self.wait += 1
        if self.wait >= self.patience:
            state.stop_training = True

    def on_train_end(self, state: Any) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            for p, best in zip(state.module.parameters(), self.best_weights, strict=True):
                p.data[...] = backend.asarray(best, like=p.data)

    def state_dict(self) -> dict[str, Any]:
        weights = None if self.best_weights is None else [np.array(backend.to_numpy(a)) for a in self.best_weights]
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "best_weights": weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = float(state["best"]), state["best_epoch"], int(state["wait"])
        self.best_weights = state["best_weights"]
