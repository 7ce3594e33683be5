"""TrainState: what the fit loop's callbacks see and may change, and how a run is saved to continue exactly."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """A NumPy Generator's state as plain data (its 128-bit integers as decimal strings)."""
    state = rng.bit_generator.state
    return {**state, "state": {k: str(v) for k, v in state["state"].items()}}


def set_generator_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore what :func:`generator_state` returned."""
    if state["bit_generator"] != type(rng.bit_generator).__name__:
        raise ValueError(f"saved random state is for {state['bit_generator']}, "
                         f"the generator is {type(rng.bit_generator).__name__}")
    rng.bit_generator.state = {**state, "state": {k: int(v) for k, v in state["state"].items()}}


class TrainState:
    """One training run as the callbacks see it.

    Set at the start: ``module``, ``optimizer``, ``loss_fn``, ``train_data`` and ``validation_data``
    (batch sources), ``callbacks``, ``rng`` (the NumPy Generator that shuffles), ``epochs`` (the
    epoch to train up to). Kept up to date: ``epoch`` (the current epoch, from 1), ``step`` (batches
    trained on, over all epochs), ``batch`` (the current :class:`~glassnet.data.Batch`), ``loss``
    (its loss as reported: an array, so reading it with ``float()`` waits for the device) and
    ``objective`` (the value whose gradient the parameters hold; the same as ``loss`` unless the loss
    function reports something else than it differentiates), ``metrics`` (the last epoch's
    ``loss``, ``val_loss``, ``val_score``...) and ``history`` (one record per epoch). Any callback may
    set ``stop_training`` to end training after the current epoch.
    """

    def __init__(self, module: Any, optimizer: Any, loss_fn: Any, train_data: Any, *, validation_data: Any = None,
                 callbacks: list[Any], rng: np.random.Generator, history: list[dict[str, Any]]) -> None:
        self.module, self.optimizer, self.loss_fn = module, optimizer, loss_fn
        self.train_data, self.validation_data = train_data, validation_data
        self.callbacks, self.rng, self.history = callbacks, rng, history
        self.epochs = 0
        self.epoch = 0
        self.step = 0
        self.batch: Any = None
        self.loss: Any = None
        self.objective: Any = None
        self.metrics: dict[str, Any] = {}
        self.stop_training = False

    def state_dict(self) -> dict[str, Any]:
        """Plain data (host arrays, JSON-able values) from which a run continues exactly: weights, optimizer,
        random stream, counters, history and each callback's state."""
        return copy.deepcopy({
            "epoch": self.epoch, "step": self.step, "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(), "rng": generator_state(self.rng), "history": self.history,
            "callbacks": [cb.state_dict() if hasattr(cb, "state_dict") else {} for cb in self.callbacks]})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from what :meth:`state_dict` returned, with the same kinds of callbacks in the same order."""
        saved = state["callbacks"]
        if len(saved) != len(self.callbacks):
            raise ValueError(f"the saved run had {len(saved)} callbacks, this one has {len(self.callbacks)}")
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_generator_state(self.rng, state["rng"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history[:] = copy.deepcopy(state["history"])
        for cb, cb_state in zip(self.callbacks, saved, strict=True):
            if hasattr(cb, "load_state_dict"):
                cb.load_state_dict(cb_state)
