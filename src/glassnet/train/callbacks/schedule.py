"""ScheduleLR: step a learning-rate schedule after every batch or every epoch, or on a monitored metric."""

from __future__ import annotations

import inspect
from typing import Any

from .base import Callback


class ScheduleLR(Callback):
    """Calls ``scheduler.step()`` (any object with one, such as :mod:`glassnet.optim`'s schedules) at the end of
    each epoch (``interval="epoch"``) or each batch (``interval="batch"``).

    A schedule that steps on a metric (``ReduceLROnPlateau``) needs ``monitor``, a key of
    ``state.metrics`` ("val_loss", "loss"...); it then steps once per epoch with that value.
    """

    def __init__(self, scheduler: Any, interval: str = "epoch", monitor: str | None = None) -> None:
        if interval not in ("epoch", "batch"):
            raise ValueError(f"interval must be 'epoch' or 'batch', got {interval!r}")
        step = getattr(scheduler, "step", None)
        if step is None:
            raise TypeError(f"{type(scheduler).__name__} has no step() method to schedule")
        needs_metric = any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                           for p in inspect.signature(step).parameters.values())
        if needs_metric and monitor is None:
            raise ValueError(f"{type(scheduler).__name__}.step takes a metric: give monitor='val_loss' (or another "
                             "key of the epoch's metrics)")
        if monitor is not None and interval == "batch":
            raise ValueError("a monitored metric is known once per epoch: use interval='epoch' with monitor")
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor
        if interval == "batch":
            self.on_batch_end = self._step  # only a per-batch schedule costs anything per batch
        else:
            self.on_epoch_end = self._step

    def _step(self, state: Any) -> None:
        if self.monitor is None:
            self.scheduler.step()
            return
        value = state.metrics.get(self.monitor)
        if value is None:
            raise ValueError(f"ScheduleLR monitors {self.monitor!r}, but the epoch's metrics are "
                             f"{sorted(state.metrics)}")
        self.scheduler.step(value)

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict() if hasattr(self.scheduler, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if hasattr(self.scheduler, "load_state_dict"):
            self.scheduler.load_state_dict(state)
