"""scikit-learn's MLP epoch, as callbacks of glassnet's fit loop.

:class:`StochasticRules` ends each epoch of the stochastic solvers the way scikit-learn's
``_fit_stochastic`` does: loss curve and ``verbose`` lines, the early-stopping score, the plateau
and learning-rate rules of :mod:`._stopping` (keeping the best-scoring weights), then the history
record and the estimator's own callbacks ``cb(est, record)``; at the end the "Maximum iterations"
warning; an epoch the NaN guard cut short is recorded with a warning that says what went wrong, and
ends training. :class:`LBFGSRules` does the same for L-BFGS, whose epochs are its iterations.
Both keep the estimator's fitted attributes (``n_iter_``, ``loss_``...) current after every epoch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import backend
from ..autograd import Tensor
from ..train import History, TrainState, generator_state, set_generator_state
from ._stopping import LearningRate, Plateau

EstimatorCallback = Callable[[Any, dict], Any]  # cb(est, record) -> True to stop


def _call_user(est: Any, callbacks: list[EstimatorCallback], record: dict) -> bool:
    """Run every callback (all of them, even once one asks to stop); True when one asked to stop."""
    if not callbacks:
        return False
    est._sync_weights()  # callbacks may read coefs_ or predict
    return any([bool(cb(est, record)) for cb in callbacks])


def _host(arrays: list[Any] | None) -> list[np.ndarray] | None:
    return None if arrays is None else [np.array(backend.to_numpy(a), copy=True) for a in arrays]


class StochasticRules(History):
    """scikit-learn's epoch end for 'sgd', 'adam', 'rmsprop' and 'adamw' (see the module docstring).

    ``validate()`` -> (score, loss) on the early-stopping split, or None. With ``keep_best`` the
    best-scoring weights are restored at the end; the last ones stay in :meth:`state_dict` for resuming.
    """

    def __init__(self, est: Any, weights: list[Tensor], plateau: Plateau, lr_rule: LearningRate, *,
                 validate: Callable[[], tuple[float, float]] | None, keep_best: bool, incremental: bool,
                 callbacks: Iterable[EstimatorCallback]) -> None:
        super().__init__(weights)
        self.est, self.plateau, self.lr_rule = est, plateau, lr_rule
        self.validate, self.keep_best, self.incremental = validate, keep_best, incremental
        self.callbacks = list(callbacks)
        self.params: list[Tensor] = est._optimizer.params
        self.epoch = 0                    # epochs run in this fit
        self.samples_seen = int(est.t_)   # over all fits
        self.converged = False            # a plateau stopped training
        self.reached_max = False          # max_iter ran out before convergence
        self.best_weights: list[Any] | None = None
        self.last_weights: list[Any] | None = None

    def _print(self, message: str) -> None:
        if self.est.verbose:
            print(message)

    def _snapshot(self) -> list[Any]:
        return [p.xp.asarray(p.data, copy=True) for p in self.params]

    def _load(self, arrays: list[Any]) -> None:
        for p, a in zip(self.params, arrays, strict=True):
            p.data[...] = backend.asarray(a, like=p.data)

    def _sync(self) -> None:
        """Copy the counters and bests into the scikit-learn attributes."""
        est, plateau = self.est, self.plateau
        est.n_iter_, est.t_ = self.epoch, self.samples_seen
        est.loss_ = est.loss_curve_[-1] if est.loss_curve_ else None
        est.best_loss_, est.best_validation_score_ = plateau.best_loss, plateau.best_score
        est._no_improvement_count = plateau.bad_epochs

    def on_train_begin(self, state: TrainState) -> None:
        super().on_train_begin(state)
        state.stop_training = self.converged  # a resumed fit that had converged runs no more epochs

    def on_epoch_end(self, state: TrainState) -> None:
        est, plateau = self.est, self.plateau
        loss = state.metrics["loss"]
        event = state.metrics.get("nonfinite")
        if event is not None:  # the NaN guard cut the epoch short: recorded, but not counted as an epoch
            warnings.warn(event["message"], RuntimeWarning, stacklevel=2)
            record = self.record(state)
            self._sync()
            _call_user(est, self.callbacks, record)
            state.stop_training = True
            return
        if not math.isfinite(loss):
            warnings.warn(f"the training loss became {loss} at epoch {len(state.history) + 1}; training stopped. "
                          "Lower learning_rate_init or scale the input data.", RuntimeWarning, stacklevel=2)
            state.stop_training = True
            return
        self.epoch += 1
        self.samples_seen += state.train_data.n_samples
        est.loss_curve_.append(loss)
        self._print(f"Iteration {self.epoch}, loss = {loss:.8f}")
        score = None
        if self.validate is not None:
            score, state.metrics["val_loss"] = self.validate()
            state.metrics["val_score"] = score
            est.validation_scores_.append(score)
            self._print(f"Validation score: {score:f}")
        if plateau.update(loss, score, state.metrics.get("val_loss")) and self.keep_best:
            self.best_weights = self._snapshot()
        self.lr_rule.epoch_end(self.samples_seen)
        if plateau.plateaued:
            if self.lr_rule.on_plateau():
                self.converged = True
                what = ("Validation loss" if plateau.watch_val_loss else
                        "Validation score" if plateau.use_validation else "Training loss")
                self._print(f"{what} did not improve more than tol={plateau.tol:f} for "
                            f"{plateau.n_iter_no_change} consecutive epochs. Stopping.")
            else:
                plateau.bad_epochs = 0
                self._print(f"Setting learning rate to {state.optimizer.lr:f}")
        record = self.record(state)
        self._sync()
        stopped = _call_user(est, self.callbacks, record) or self.incremental
        self.reached_max = not stopped and self.epoch == est.max_iter and not self.converged
        state.stop_training = stopped or self.converged

    def on_train_end(self, state: TrainState) -> None:
        if self.reached_max:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.est.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=2)
        if self.keep_best and self.best_weights is not None:
            self.last_weights = self._snapshot()
            self._load(self.best_weights)
        self._sync()

    def state_dict(self) -> dict[str, Any]:
        """Plain data (host arrays, JSON-able values) from which :meth:`load_state_dict` resumes exactly."""
        est = self.est
        return {"epoch": self.epoch, "samples_seen": self.samples_seen, "converged": self.converged,
                "plateau": self.plateau.state_dict(), "weights": _host(self.last_weights or [p.data for p in
                                                                                             self.params]),
                "best_weights": _host(self.best_weights), "optimizer": est._optimizer.state_dict(),
                "rng": generator_state(est._rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`: weights, optimizer, random stream, counters, best weights."""
        shapes = [tuple(p.shape) for p in self.params]
        saved = [tuple(np.shape(a)) for a in state["weights"]]
        if saved != shapes:
            raise ValueError(f"saved training state has weights of shapes {saved}, the network has {shapes}")
        self._load(state["weights"])
        self.est._optimizer.load_state_dict(state["optimizer"])
        set_generator_state(self.est._rng, state["rng"])
        self.plateau.load_state_dict(state["plateau"])
        self.epoch, self.samples_seen = int(state["epoch"]), int(state["samples_seen"])
        self.converged = bool(state["converged"])
        best = state["best_weights"]
        self.best_weights = None if best is None else [backend.asarray(a, like=p.data)
                                                       for a, p in zip(best, self.params, strict=True)]


class LBFGSRules(History):
    """scikit-learn's iteration end for 'lbfgs': loss curve, ``verbose`` line, record, the estimator's callbacks;
    at the end ``loss_``, ``best_loss_`` and the warning when scipy did not converge."""

    def __init__(self, est: Any, weights: list[Tensor], *, callbacks: Iterable[EstimatorCallback]) -> None:
        super().__init__(weights)
        self.est, self.callbacks = est, list(callbacks)

    def on_epoch_end(self, state: TrainState) -> None:
        est = self.est
        loss = state.metrics["loss"]
        est.loss_curve_.append(loss)
        record = self.record(state)
        est.n_iter_, est.loss_ = est.n_iter_ + 1, loss
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        state.stop_training = _call_user(est, self.callbacks, record)

    def on_train_end(self, state: TrainState) -> None:
        est, result = self.est, state.optimizer.result
        if result is not None and not result.success and result.status != 99:  # 99: a callback stopped it
            warnings.warn(f"lbfgs failed to converge after {result.nit} iterations (status={result.status}): "
                          f"{result.message}. Increase max_iter or scale the data.", ConvergenceWarning, stacklevel=2)
        if state.loss is not None:
            est.loss_ = float(state.loss)
        est.best_loss_ = min([est.loss_, *est.loss_curve_])
