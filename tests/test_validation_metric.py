"""Early stopping on the validation loss (``validation_metric='loss'``): which epoch is kept, when training
stops, and that a fit stopped part-way resumes to the same model."""

import copy

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression

from glassnet import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(cls):
    if cls is MLPClassifier:
        x, y = load_iris(return_X_y=True)
        return (x - x.mean(0)) / x.std(0), y
    x, y = make_regression(n_samples=150, n_features=4, noise=20.0, random_state=0)
    return x, y / y.std()


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_the_lowest_validation_loss_is_kept_and_patience_counts_from_it(cls):
    x, y = _data(cls)
    snapshots = []
    est = cls(hidden_layer_sizes=(32,), learning_rate_init=0.05, early_stopping=True, validation_metric="loss",
              n_iter_no_change=5, max_iter=300, random_state=0, tol=0.0)
    est.fit(x, y, callbacks=[lambda e, rec: snapshots.append([c.copy() for c in e.coefs_])])
    val_loss = [r["val_loss"] for r in est.history_]
    best = int(np.argmin(val_loss))  # with tol=0 the first lowest
    assert est.best_loss_ == val_loss[best] and est.best_validation_score_ == est.history_[best]["val_score"]
    assert est.n_iter_ < 300 and est.n_iter_ - 1 - best == 6  # stopped after more than 5 epochs without improvement
    assert all(np.array_equal(a, b) for a, b in zip(est.coefs_, snapshots[best], strict=True))


def test_a_loss_still_falling_by_less_than_tol_an_epoch_is_no_plateau():
    from glassnet.estimators._stopping import Plateau

    plateau = Plateau(tol=0.1, n_iter_no_change=2, use_validation=True, validation_metric="loss")
    improved = [plateau.update(0.0, 0.5, v) for v in (1.0, 0.95, 0.9, 0.85, 0.8, 0.75)]
    assert improved == [True, False, False, True, False, False] and not plateau.plateaued  # 1.0 -> 0.85 -> ...
    assert plateau.best_loss == 0.85 and [plateau.update(0.0, 0.5, v) for v in (0.8, 0.8)] == [False, False]
    assert plateau.plateaued


def test_the_default_still_watches_the_validation_score():
    x, y = _data(MLPClassifier)
    params = dict(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3, max_iter=200, random_state=0)
    default = MLPClassifier(**params).fit(x, y)
    assert default.validation_metric == "score" and default.best_loss_ is None
    assert default.best_validation_score_ == max(default.validation_scores_)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_a_fit_on_the_validation_loss_resumes_bit_for_bit(cls):
    x, y = _data(cls)
    params = dict(hidden_layer_sizes=(10,), learning_rate_init=0.05, early_stopping=True, validation_metric="loss",
                  n_iter_no_change=4, max_iter=60, random_state=3)
    full = cls(**params).fit(x, y)
    stopped = cls(**params).fit(x, y, callbacks=[lambda est, rec: rec["epoch"] == 5])
    resumed = cls(**params).fit(x, y, resume=copy.deepcopy(stopped.get_training_state()))
    assert resumed.n_iter_ == full.n_iter_ and resumed.best_loss_ == full.best_loss_
    assert all(np.array_equal(a, b) for a, b in zip(resumed.coefs_, full.coefs_, strict=True))


def test_an_unknown_validation_metric_is_named():
    x, y = _data(MLPClassifier)
    with pytest.raises(ValueError, match="validation_metric"):
        MLPClassifier(validation_metric="accuracy").fit(x, y)
