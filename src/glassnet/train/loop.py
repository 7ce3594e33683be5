"""The fit loop: mini-batch epochs, stopping rules, best-weight keeping, history and callbacks.

:class:`Trainer` runs one epoch: one permutation, batches taken by index, forward, loss,
backward, penalties and clipping added to the gradients in place, one optimizer step per batch.
:class:`FitLoop` repeats epochs the way scikit-learn's MLP does (see :mod:`.stopping`), records
one ``history`` entry per epoch, calls ``on_epoch(record)`` and can stop, save and resume
bit-for-bit through :meth:`FitLoop.state_dict` / :meth:`FitLoop.load_state_dict`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from .. import backend
from ..autograd import Tensor
from ..data import batch_slices, take_rows
from ..optim import Optimizer
from .history import epoch_record
from .penalty import Penalty

# objective(outputs, y_batch, w_batch) -> (loss to backpropagate, loss value to report)
Objective = Callable[[Tensor, Any, Any], tuple[Tensor, Any]]


def clip_grad_norm(params: list[Tensor], max_norm: float) -> None:
    """Scale all gradients together so that their global norm is at most ``max_norm`` (no host sync)."""
    xp = params[0].xp
    total = 0.0
    for p in params:
        flat = xp.reshape(p.grad, (-1,))
        total = total + xp.vecdot(flat, flat)
    scale = xp.minimum(max_norm / (total ** 0.5 + 1e-6), 1.0)
    for p in params:
        p.grad *= xp.astype(scale, p.grad.dtype)


class Trainer:
    """One epoch at a time of mini-batch training of ``module`` by ``optimizer`` on ``objective``.

    ``rng`` (a NumPy Generator) draws each epoch's permutation; dropout layers may share it.
    """

    def __init__(self, module: Any, optimizer: Optimizer, objective: Objective, penalty: Penalty, *,
                 batch_size: int, shuffle: bool, rng: np.random.Generator, max_grad_norm: float | None = None) -> None:
        self.module, self.optimizer, self.objective, self.penalty = module, optimizer, objective, penalty
        self.batch_size, self.shuffle, self.rng, self.max_grad_norm = batch_size, shuffle, rng, max_grad_norm
        self.params = optimizer.params
        self.xp = self.params[0].xp
        self.dtype = self.params[0].data.dtype

    def step(self, xb: Any, yb: Any, wb: Any) -> Any:
        """One update on one batch; returns the batch's loss value (penalty included) as an array."""
        opt = self.optimizer
        opt.zero_grad()
        loss, value = self.objective(self.module(xb), yb, wb)
        loss.backward()
        value = value + self.penalty.add_to_grads(xb.shape[0] if wb is None else self.xp.sum(wb))
        if self.max_grad_norm is not None:
            clip_grad_norm(self.params, self.max_grad_norm)
        self.penalty.decay(opt.lr)
        opt.step()
        return value

    def train_epoch(self, X: Any, Y: Any, W: Any = None) -> float:
        """One pass over (X, Y, sample weights W); returns the mean batch loss weighted by batch size."""
        xp, n = self.xp, X.shape[0]
        order = self.rng.permutation(n) if self.shuffle else None
        on_host = backend.is_numpy(xp)
        order_dev = order if order is None or on_host else xp.asarray(order)
        sparse = sp.issparse(X)
        total = 0.0
        self.module.train()
        try:
            for sl in batch_slices(n, self.batch_size):
                idx = sl if order is None else order_dev[sl]
                xb = take_rows(X, sl if order is None else order[sl], xp, self.dtype) if sparse else take_rows(
                    X, idx, xp, self.dtype)
                yb = take_rows(Y, idx, xp, None)
                wb = None if W is None else take_rows(W, idx, xp, None)
                value = self.step(xb, yb, wb)
                m = sl.stop - sl.start
                total = total + (float(value) * m if on_host else value * m)
        finally:
            self.module.eval()
        return float(total) / n

    def snapshot(self) -> list[Any]:
        """Copies of all parameters (on their device)."""
        return [self.xp.asarray(p.data, copy=True) for p in self.params]

    def load(self, arrays: list[Any]) -> None:
        """Copy ``arrays`` (host or device) into the parameters, in place."""
        for p, a in zip(self.params, arrays, strict=True):
            p.data[...] = backend.asarray(a, like=p.data)


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


class FitLoop:
    """Epochs of ``trainer`` until ``max_epochs``, a plateau (see :mod:`.stopping`) or ``on_epoch`` returns True.

    ``validate()`` -> (score, loss) on held-out data, or None. With ``keep_best`` the weights of the
    best-scoring epoch are restored at the end (the last ones stay in :meth:`state_dict` for resuming).
    ``loss_curve``, ``val_scores`` and ``history`` are lists the loop appends to.
    """

    def __init__(self, trainer: Trainer, plateau: Any, lr_rule: Any, *, max_epochs: int,
                 loss_curve: list, history: list, val_scores: list | None = None,
                 validate: Callable[[], tuple[float, float]] | None = None, keep_best: bool = False,
                 incremental: bool = False, verbose: bool = False) -> None:
        self.trainer, self.plateau, self.lr_rule, self.max_epochs = trainer, plateau, lr_rule, max_epochs
        self.loss_curve, self.history, self.val_scores = loss_curve, history, val_scores
        self.validate, self.keep_best, self.incremental, self.verbose = validate, keep_best, incremental, verbose
        self.weights = trainer.penalty.weights
        self.epoch = 0          # epochs run in this fit
        self.samples_seen = 0   # added to by each epoch
        self.converged = False  # a plateau stopped training
        self.elapsed = history[-1]["wall_time"] if history else 0.0
        self.best_weights: list[Any] | None = None
        self.last_weights: list[Any] | None = None

    def _print(self, message: str) -> None:
        if self.verbose:
            print(message)

    def run(self, X: Any, Y: Any, W: Any = None, on_epoch: Callable[[dict], Any] | None = None) -> None:
        """Train until done; returns early (resumable) when ``on_epoch(record)`` returns True."""
        trainer, n = self.trainer, X.shape[0]
        start = time.perf_counter() - self.elapsed
        reached_max = False
        try:
            while not self.converged and self.epoch < self.max_epochs:
                lr = trainer.optimizer.lr
                loss = trainer.train_epoch(X, Y, W)
                if not math.isfinite(loss):
                    warnings.warn(f"the training loss became {loss} at epoch {len(self.history) + 1}; training "
                                  "stopped. Lower learning_rate_init or scale the input data.", RuntimeWarning,
                                  stacklevel=2)
                    break
                self.epoch += 1
                self.samples_seen += n
                self.loss_curve.append(loss)
                self._print(f"Iteration {self.epoch}, loss = {loss:.8f}")
                score = val_loss = None
                if self.validate is not None:
                    score, val_loss = self.validate()
                    self.val_scores.append(score)
                    self._print(f"Validation score: {score:f}")
                if self.plateau.update(loss, score) and self.keep_best:
                    self.best_weights = trainer.snapshot()
                self.lr_rule.epoch_end(self.samples_seen)
                if self.plateau.plateaued:
                    if self.lr_rule.on_plateau():
                        self.converged = True
                        what = "Validation score" if self.plateau.use_validation else "Training loss"
                        self._print(f"{what} did not improve more than tol={self.plateau.tol:f} for "
                                    f"{self.plateau.n_iter_no_change} consecutive epochs. Stopping.")
                    else:
                        self.plateau.bad_epochs = 0
                        self._print(f"Setting learning rate to {trainer.optimizer.lr:f}")
                self.elapsed = time.perf_counter() - start
                record = epoch_record(len(self.history) + 1, loss, lr, self.elapsed, self.weights, score, val_loss)
                self.history.append(record)
                if on_epoch is not None and on_epoch(record):
                    break
                if self.incremental:
                    break
                reached_max = self.epoch == self.max_epochs and not self.converged
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=2)
        if reached_max:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_epochs}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=2)
        if self.keep_best and self.best_weights is not None:
            self.last_weights = trainer.snapshot()
            trainer.load(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        """Plain data (host arrays, JSON-able values) from which :meth:`load_state_dict` resumes exactly."""
        host = lambda arrays: None if arrays is None else [np.array(backend.to_numpy(a), copy=True) for a in arrays]
        trainer = self.trainer
        return {
            "epoch": self.epoch, "samples_seen": self.samples_seen, "converged": self.converged,
            "elapsed": self.elapsed, "plateau": self.plateau.state_dict(),
            "lr": trainer.optimizer.lr,
            "weights": host(self.last_weights or [p.data for p in trainer.params]),
            "best_weights": host(self.best_weights),
            "optimizer": trainer.optimizer.state_dict(),
            "rng": generator_state(trainer.rng),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`: weights, optimizer, random stream, counters, best weights."""
        trainer = self.trainer
        shapes = [tuple(p.shape) for p in trainer.params]
        saved = [tuple(np.shape(a)) for a in state["weights"]]
        if saved != shapes:
            raise ValueError(f"saved training state has weights of shapes {saved}, the network has {shapes}")
        trainer.load(state["weights"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.optimizer.lr = float(state["lr"])
        set_generator_state(trainer.rng, state["rng"])
        self.plateau.load_state_dict(state["plateau"])
        self.epoch, self.samples_seen = int(state["epoch"]), int(state["samples_seen"])
        self.converged, self.elapsed = bool(state["converged"]), float(state["elapsed"])
        best = state["best_weights"]
        self.best_weights = None if best is None else [backend.asarray(a, like=p.data)
                                                       for a, p in zip(best, trainer.params, strict=True)]
