"""When to stop and how the learning rate changes between epochs: scikit-learn's MLP rules.

An epoch "does not improve" when the training loss is not below the best loss minus ``tol``
(or, with a validation set, when the validation score is not above the best score plus ``tol``).
glassnet's ``validation_metric='loss'`` watches the validation loss as Keras does: an epoch improves
when its validation loss is below the best one by more than ``tol``, and only then does the best move,
so that a loss still falling slowly (by less than ``tol`` an epoch) is not taken for a plateau.
After more than ``n_iter_no_change`` such epochs in a row training stops, except under the
'adaptive' learning rate, which divides the rate by 5 instead, until it falls below 1e-6.
One departure: when a validation score ties the best, scikit-learn keeps the earlier epoch's
weights and glassnet the later one's; accuracy on a small validation set ties often, and the
earlier weights are then the less trained.
"""

from __future__ import annotations

import math
from typing import Any


class Plateau:
    """Counts epochs without improvement of the training loss, the validation score or the validation loss.

    ``validation_metric`` 'loss' (with ``use_validation``) watches the validation loss: ``best_loss`` is then
    the validation loss of the last improving epoch and ``best_score`` that epoch's validation score.
    """

    def __init__(self, tol: float, n_iter_no_change: float, use_validation: bool,
                 validation_metric: str = "score") -> None:
        self.tol, self.n_iter_no_change, self.use_validation = tol, n_iter_no_change, use_validation
        self.watch_val_loss = use_validation and validation_metric == "loss"
        self.best_loss: float | None = None if use_validation and not self.watch_val_loss else math.inf
        self.best_score: float | None = -math.inf if use_validation else None
        self.bad_epochs = 0

    def update(self, loss: float, score: float | None, val_loss: float | None = None) -> bool:
        """Record one epoch; True when it is the best so far (time to keep a copy of the weights)."""
        if self.watch_val_loss:  # a non-finite validation loss never counts as an improvement
            best = math.inf if self.best_loss is None else self.best_loss
            if val_loss < best - self.tol:
                self.best_loss, self.best_score, self.bad_epochs = val_loss, score, 0
                return True
            self.bad_epochs += 1
            return False
        if self.use_validation:
            self.bad_epochs = self.bad_epochs + 1 if score < self.best_score + self.tol else 0
            if score >= self.best_score:  # a tie keeps the later, longer-trained weights
                self.best_score = score
                return True
            return False
        self.bad_epochs = self.bad_epochs + 1 if loss > self.best_loss - self.tol else 0
        if loss < self.best_loss:
            self.best_loss = loss
            return True
        return False

    @property
    def plateaued(self) -> bool:
        """More than ``n_iter_no_change`` epochs in a row without improvement."""
        return self.bad_epochs > self.n_iter_no_change

    def state_dict(self) -> dict[str, Any]:
        return {"best_loss": self.best_loss, "best_score": self.best_score, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_loss, self.best_score = state["best_loss"], state["best_score"]
        self.bad_epochs = int(state["bad_epochs"])


class LearningRate:
    """scikit-learn's 'constant', 'invscaling' and 'adaptive' rules, applied to ``optimizer.lr``.

    'invscaling': lr = lr_init / (t + 1) ** power_t after each epoch, t counting samples seen.
    'adaptive': lr /= 5 on a plateau. ``schedule=None`` leaves the rate alone (Adam and friends).
    """

    min_adaptive_lr = 1e-6

    def __init__(self, optimizer: Any, schedule: str | None, lr_init: float, power_t: float = 0.5) -> None:
        self.optimizer, self.schedule, self.lr_init, self.power_t = optimizer, schedule, lr_init, power_t

    def epoch_end(self, samples_seen: int) -> None:
        """Update the rate after an epoch."""
        if self.schedule == "invscaling":
            self.optimizer.lr = self.lr_init / (samples_seen + 1) ** self.power_t

    def on_plateau(self) -> bool:
        """React to a plateau; True means stop training."""
        if self.schedule != "adaptive" or self.optimizer.lr <= self.min_adaptive_lr:
            return True
        self.optimizer.lr /= 5.0
        return False
