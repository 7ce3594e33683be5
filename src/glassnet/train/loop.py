"""The fit loop: epochs of batches from a batch source, every phase open to callbacks.

Per batch: ``on_batch_begin`` (may swap the batch), zero the gradients, forward, loss, backward,
``on_after_backward`` (penalties, clipping, monitoring), optimizer step, ``on_batch_end``. Per epoch:
``on_epoch_begin`` first, ``on_epoch_end`` last, after the mean training loss and the validation
results are in ``state.metrics``. A callback that raises :class:`~glassnet.train.StopTraining` ends
training at once (the NaN guard does, before a bad step reaches the weights). The loop dispatches
only to callbacks that override a phase, and keeps each batch's loss as an array (no wait for the
device per batch). An optimizer with a ``drive(loop, epochs)`` method (:class:`~glassnet.train.LBFGS`)
runs the epochs itself through :meth:`Loop.begin_epoch`, :meth:`Loop.forward_backward`,
:meth:`Loop.end_batch` and :meth:`Loop.end_epoch`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..data import Batch, BatchSource, as_source
from .callbacks.base import PHASES, StopTraining, overrides
from .callbacks.history import History
from .state import TrainState

# loss_fn(output, y) or loss_fn(output, y, sample_weight) -> loss Tensor, or (loss Tensor, value to report)
LossFn = Callable[..., Any]


def _loss_and_value(result: Any) -> tuple[Any, Any]:
    """(loss Tensor, value to report) from what a loss function returned."""
    if type(result) is tuple:
        return result
    return result, result.data


class Loop:
    """Trains ``module`` on ``train_data`` (a batch source) by ``optimizer`` on ``loss_fn``, calling ``callbacks``.

    ``loss_fn(output, y)`` (``loss_fn(output, y, sample_weight)`` for weighted batches) returns the
    loss Tensor, or a pair (loss Tensor, value to report). ``validation_data`` (a batch source) is
    evaluated after every epoch into ``state.metrics["val_loss"]`` and, with ``score(output, y)``,
    ``state.metrics["val_score"]`` (means over its batches, weighted by rows). ``rng`` shuffles;
    ``history`` is the list per-epoch records go to (a :class:`History` is put first unless one is given).
    """

    def __init__(self, module: Any, loss_fn: LossFn, optimizer: Any, train_data: BatchSource, *,
                 callbacks: Iterable[Any] = (), validation_data: BatchSource | None = None,
                 score: Callable[[Any, Any], float] | None = None, rng: np.random.Generator | None = None,
                 history: list[dict[str, Any]] | None = None) -> None:
        callbacks = list(callbacks)
        if not any(isinstance(cb, History) for cb in callbacks):
            callbacks.insert(0, History())  # first, so that the others see the epoch's record
        self.state = TrainState(module, optimizer, loss_fn, train_data, validation_data=validation_data,
                                callbacks=callbacks, rng=backend.get_rng(rng),
                                history=[] if history is None else history)
        self.score = score
        self._phases: dict[str, list[Any]] = {}
        self._batch_begin: list[Any] = []
        self._after_backward: list[Any] = []
        self._on_numpy = True

    # ---- the run ------------------------------------------------------------------------------
    def run(self, epochs: int) -> list[dict[str, Any]]:
        """Train until epoch ``epochs`` (counting epochs run before a resume) or a callback stops; returns the history.

        Ctrl-C ends training early with a warning; ``on_train_end`` still runs. The module is left in
        evaluation mode.
        """
        state = self.state
        state.epochs, state.stop_training = int(epochs), False
        self._phases = {phase: [cb for cb in state.callbacks if overrides(cb, phase)] for phase in PHASES}
        self._batch_begin, self._after_backward = self._phases["on_batch_begin"], self._phases["on_after_backward"]
        self._on_numpy = backend.is_numpy(state.module.parameters()[0].xp)
        try:
            self._call("on_train_begin")
            drive = getattr(state.optimizer, "drive", None)
            if drive is not None:
                drive(self, state.epochs)
            while drive is None and state.epoch < state.epochs and not state.stop_training:
                self._run_epoch()
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=2)
        except StopTraining:  # raised outside the batches (or inside a driver): end where it stands
            state.stop_training = True
        state.module.eval()
        self._call("on_train_end")
        return state.history

    def _run_epoch(self) -> None:
        state = self.state
        optimizer, batch_end, on_numpy = state.optimizer, self._phases["on_batch_end"], self._on_numpy
        self.begin_epoch()
        total, rows = 0.0, 0
        stopped: dict[str, Any] | None = None
        try:
            for batch in state.train_data.batches(state.rng):
                batch = self.forward_backward(batch)
                optimizer.step()
                state.step += 1
                m = batch.x.shape[0]
                total = total + (float(state.loss) * m if on_numpy else state.loss * m)
                rows += m
                for cb in batch_end:
                    cb.on_batch_end(state)
        except StopTraining as stop:  # the epoch closes with the batches stepped on so far
            state.stop_training, stopped = True, stop.metrics
        if not rows and stopped is None:
            raise ValueError(f"the training data gave no batches in epoch {state.epoch}")
        self.end_epoch(float(total) / rows if rows else math.nan, stopped)

    # ---- the phases, for optimizers that drive their own iterations ----------------------------
    def begin_epoch(self) -> None:
        """Start the next epoch: count it, switch the module to training mode, call ``on_epoch_begin``."""
        state = self.state
        state.epoch += 1
        state.module.train()
        self._call("on_epoch_begin")

    def forward_backward(self, batch: Batch) -> Batch:
        """``on_batch_begin``, then the gradients of the loss on the batch, then ``on_after_backward``.

        Returns the batch used (a callback may have replaced it).
        """
        state = self.state
        for cb in self._batch_begin:
            replaced = cb.on_batch_begin(state, batch)
            if replaced is not None:
                batch = replaced
        state.batch = batch
        state.optimizer.zero_grad()
        x, y, w = batch
        output = state.module(x)
        loss, value = _loss_and_value(state.loss_fn(output, y) if w is None else state.loss_fn(output, y, w))
        loss.backward()
        state.loss, state.objective = value, loss.data
        for cb in self._after_backward:
            cb.on_after_backward(state)
        return batch

    def end_batch(self) -> None:
        """Count the batch and call ``on_batch_end`` (for drivers; the mini-batch loop does this itself)."""
        self.state.step += 1
        self._call("on_batch_end")

    def end_epoch(self, loss: float, metrics: dict[str, Any] | None = None) -> bool:
        """Close the epoch whose training loss was ``loss``: evaluation mode, validation, ``on_epoch_end``.

        ``metrics`` (from a :class:`StopTraining`, say) join the epoch's. Returns True when a callback
        asked to stop.
        """
        state = self.state
        state.module.eval()
        state.metrics = {"loss": loss}
        if state.validation_data is not None:
            state.metrics.update(self._validate())
        if metrics:
            state.metrics.update(metrics)
        self._call("on_epoch_end")
        return state.stop_training

    def _validate(self) -> dict[str, float]:
        state = self.state
        total = score_total = 0.0
        rows = 0
        with no_grad():
            for x, y, w in state.validation_data.batches(state.rng):
                output = state.module(x)
                _, value = _loss_and_value(state.loss_fn(output, y) if w is None else state.loss_fn(output, y, w))
                m = x.shape[0]
                total += float(value) * m
                if self.score is not None:
                    score_total += float(self.score(output, y)) * m
                rows += m
        if not rows:
            raise ValueError("the validation data gave no batches")
        metrics = {"val_loss": total / rows}
        if self.score is not None:
            metrics["val_score"] = score_total / rows
        return metrics

    def _call(self, phase: str) -> None:
        state = self.state
        for cb in self._phases[phase]:
            getattr(cb, phase)(state)


def fit(module: Any, loss_fn: LossFn, optimizer: Any, data: Any, *, epochs: int = 1, batch_size: int | None = 32,
        shuffle: bool = True, validation_data: Any = None, score: Callable[[Any, Any], float] | None = None,
        callbacks: Iterable[Any] = (), rng: np.random.Generator | int | None = None,
        resume: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Train ``module`` for ``epochs`` epochs and return the history (one record per epoch).

    ``data`` and ``validation_data`` are ``(x, y)`` or ``(x, y, sample_weight)`` arrays (NumPy, any
    Array API library, scipy sparse, memmaps), a batch source, or an iterable of such batch tuples
    (see :func:`glassnet.data.as_source`); arrays are cut into batches of ``batch_size``, reshuffled
    every epoch from ``rng`` (a Generator, a seed, or None for glassnet's default generator, which
    ``gn.manual_seed`` seeds), and their floating data takes the parameters' dtype. ``resume`` is a
    :meth:`TrainState.state_dict` (saved by :class:`Checkpoint`, say): training continues from it
    exactly, up to epoch ``epochs`` in all.

    Examples
    --------
    >>> import numpy as np
    >>> import glassnet as gn
    >>> from glassnet import nn, optim
    >>> import glassnet.functional as F
    >>> X = np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32)
    >>> y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    >>> model = nn.MLP([2, 16, 2], rng=0)
    >>> stop = gn.train.EarlyStopping("val_loss", patience=3, restore_best_weights=True)
    >>> history = gn.train.fit(model, F.cross_entropy, optim.Adam(model.parameters(), lr=0.01), (X[:200], y[:200]),
    ...                        epochs=20, validation_data=(X[200:], y[200:]), callbacks=[stop], rng=0)
    >>> sorted(history[-1])
    ['epoch', 'grad_norm', 'loss', 'lr', 'val_loss', 'val_score', 'wall_time', 'weight_norm']
    """
    params = module.parameters()
    xp, dtype = backend.namespace(params[0].data), params[0].data.dtype
    source = as_source(data, batch_size=batch_size, shuffle=shuffle, xp=xp, dtype=dtype)
    val = None if validation_data is None else as_source(validation_data, batch_size=batch_size, shuffle=False,
                                                         xp=xp, dtype=dtype)
    loop = Loop(module, loss_fn, optimizer, source, callbacks=callbacks, validation_data=val, score=score, rng=rng)
    if resume is not None:
        loop.state.load_state_dict(resume)
    return loop.run(epochs)
