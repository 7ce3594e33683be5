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
        random streams (the loop's and those the module's layers hold), counters, history and each
        callback's state."""
        callbacks = {key: cb.state_dict() for key, cb in self._keyed_callbacks()}
        return copy.deepcopy({
            "epoch": self.epoch, "step": self.step, "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(), "rng": generator_state(self.rng),
            "module_rngs": [generator_state(g) for g in self._module_generators()], "history": self.history,
            "callbacks": {key: value for key, value in callbacks.items() if value}})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from what :meth:`state_dict` returned.

        Each callback takes the state saved by the callback of its class at the same place among
        those of that class; one with nothing saved (added since) starts afresh.
        """
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        set_generator_state(self.rng, state["rng"])
        generators = self._module_generators()
        if len(generators) != len(state["module_rngs"]):
            raise ValueError(f"the saved run's module had {len(state['module_rngs'])} random generators of its own, "
                             f"this one has {len(generators)}")
        for g, saved_g in zip(generators, state["module_rngs"], strict=True):
            set_generator_state(g, saved_g)
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history[:] = copy.deepcopy(state["history"])
        saved = state["callbacks"]
        for key, cb in self._keyed_callbacks():
            if key in saved:
                cb.load_state_dict(saved[key])

    def _module_generators(self) -> list[np.random.Generator]:
        """The generators the module's layers hold (dropout's ``rng``), other than the loop's, once each."""
        found: list[np.random.Generator] = []
        for m in self.module.modules():
            g = getattr(m, "rng", None)
            if isinstance(g, np.random.Generator) and g is not self.rng and all(g is not f for f in found):
                found.append(g)
        return found

    def _keyed_callbacks(self) -> list[tuple[str, Any]]:
        """(class name, with ".1", ".2"... for later ones of the same class; callback) for every stateful callback."""
        seen: dict[str, int] = {}
        keyed = []
        for cb in self.callbacks:
            if hasattr(cb, "state_dict"):
                name = type(cb).__name__
                keyed.append((name if name not in seen else f"{name}.{seen[name]}", cb))
                seen[name] = seen.get(name, 0) + 1
        return keyed
