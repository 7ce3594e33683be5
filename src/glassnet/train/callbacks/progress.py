"""ProgressBar: a tqdm bar over the epochs on a terminal, one plain line per epoch elsewhere (a log file, say)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from .base import Callback

_SHOWN = ("loss", "val_loss", "val_score")


def _summary(metrics: dict[str, Any]) -> dict[str, str]:
    return {k: f"{metrics[k]:.4g}" for k in _SHOWN if isinstance(metrics.get(k), float)}


class ProgressBar(Callback):
    """Shows training progress on ``file`` (standard error by default), once per epoch: no cost per batch.

    On a terminal a tqdm bar counts epochs and shows the last epoch's loss, ``val_loss`` and
    ``val_score``; otherwise each epoch prints one line, ``epoch 3/10: loss 0.1234, val_loss 0.2345``.
    """

    def __init__(self, file: TextIO | None = None) -> None:
        self.file = file
        self.bar: Any = None
        self._out: TextIO | None = None

    def on_train_begin(self, state: Any) -> None:
        self._out = self.file if self.file is not None else sys.stderr
        isatty = getattr(self._out, "isatty", None)
        if isatty is not None and isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=state.epochs, initial=state.epoch, unit="epoch", desc="training",
                            dynamic_ncols=True, file=self._out)

    def on_epoch_end(self, state: Any) -> None:
        shown = _summary(state.metrics)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(shown)
            return
        parts = ", ".join(f"{k} {v}" for k, v in shown.items())
        print(f"epoch {state.epoch}/{state.epochs}: {parts}", file=self._out, flush=True)

    def on_train_end(self, state: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
