"""scikit-learn's callback protocol (``sklearn.callback``, scikit-learn 1.9+) on glassnet's estimators.

A fit is scikit-learn's root task and each epoch (each L-BFGS iteration) one of its subtasks, so
``ProgressBar`` draws one bar of epochs and ``ScoringMonitor`` scores the network as it stands after
every epoch, alone or inside ``GridSearchCV``. With an older scikit-learn the estimators simply have
no ``set_callbacks``; everything else works the same.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np

from ..train import Callback, TrainState

try:  # scikit-learn's _fit_context tears the callbacks down after fit
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn before 1.9: no callback protocol

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Stands in for scikit-learn's mixin where it does not exist: adds nothing."""


def fitted_snapshot(est: Any) -> dict[str, Any]:
    """The attributes that make a copy of ``est`` predict as ``est`` does now, independent of further training."""
    return {"coefs_": [np.array(c, copy=True) for c in est.coefs_],
            "intercepts_": [np.array(b, copy=True) for b in est.intercepts_],
            "module_": copy.deepcopy(est.module_), "n_iter_": est.n_iter_,
            "loss_curve_": list(est.loss_curve_)}


class FitTasks:
    """The root fit task of one ``fit`` call; :meth:`epochs` gives the loop callback that reports its subtasks."""

    def __init__(self, est: Any, X: Any, y: Any, sample_weight: Any) -> None:
        self.est, self.X, self.y = est, X, y
        self.metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.root = est._init_callback_context(max_subtasks=est.max_iter) if hasattr(
            est, "_init_callback_context") else None
        if self.root is not None:
            self.root.call_on_fit_task_begin(estimator=est, X=X, y=y, metadata=self.metadata)

    def epochs(self) -> list[Callback]:
        """[a loop callback reporting each epoch as a subtask], or [] when no scikit-learn callback is set."""
        return [] if self.root is None or not getattr(self.est, "_skl_callbacks", None) else [_EpochTasks(self)]

    def end(self) -> None:
        """End the root task with the fitted estimator."""
        if self.root is not None:
            self.est._sync_weights()
            self.root.call_on_fit_task_end(estimator=self.est, X=self.X, y=self.y, metadata=self.metadata,
                                           reconstruction_attributes=functools.partial(fitted_snapshot, self.est))


class _EpochTasks(Callback):
    """Each epoch a subtask: begun at ``on_epoch_begin``, ended after scikit-learn's epoch rules (which
    must come before this callback); a callback that returns True stops training."""

    def __init__(self, tasks: FitTasks) -> None:
        self.tasks = tasks
        self.context: Any = None

    def on_epoch_begin(self, state: TrainState) -> None:
        tasks = self.tasks
        self.context = tasks.root.subcontext(task_name="epoch")
        self.context.call_on_fit_task_begin(estimator=tasks.est, X=tasks.X, y=tasks.y, metadata=tasks.metadata)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.context is None:
            return
        tasks, context, self.context = self.tasks, self.context, None
        tasks.est._sync_weights()
        if context.call_on_fit_task_end(estimator=tasks.est, X=tasks.X, y=tasks.y, metadata=tasks.metadata,
                                        reconstruction_attributes=functools.partial(fitted_snapshot, tasks.est)):
            state.stop_training = True

    def on_train_end(self, state: TrainState) -> None:
        if self.context is not None:  # an epoch cut short (an interrupt): end its task without a model
            self.context.call_on_fit_task_end(estimator=self.tasks.est)
            self.context = None
