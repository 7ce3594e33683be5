"""scikit-learn's callback protocol (sklearn.callback, 1.9+) on glassnet's estimators, and fit-loop callbacks in fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV

import glassnet as gn

callback = pytest.importorskip("sklearn.callback", reason="scikit-learn's callback protocol needs scikit-learn 1.9+")
X, y = load_iris(return_X_y=True)


def _fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short fits
        return est.fit(*args, **kwargs)


def _epoch_rows(monitor) -> list[dict]:
    return [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_scoring_monitor_scores_every_epoch(solver):
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = gn.MLPClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=6, learning_rate_init=0.05,
                           random_state=0).set_callbacks(monitor)
    _fit(clf, X, y)
    rows = _epoch_rows(monitor)
    assert len(rows) == clf.n_iter_ == 6
    # the score of the last epoch is the fitted model's; the snapshot did not follow later training
    assert rows[-1]["accuracy"] == clf.score(X, y)
    assert len({row["accuracy"] for row in rows}) > 1


def test_the_same_fit_with_and_without_callbacks():
    plain = _fit(gn.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0), X, y.astype(float))
    watched = gn.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    _fit(watched.set_callbacks(callback.ScoringMonitor(scoring="r2")), X, y.astype(float))
    assert all(np.array_equal(a, b) for a, b in zip(plain.coefs_, watched.coefs_, strict=True))


def test_a_callback_returning_true_stops_training():
    class StopAfterThree:
        def setup(self, estimator, context): ...
        def teardown(self, estimator, context): ...
        def on_fit_task_begin(self, estimator, context): ...

        def on_fit_task_end(self, estimator, context):
            return context.task_name == "epoch" and context.task_id == 2

    clf = gn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0).set_callbacks(StopAfterThree())
    _fit(clf, X, y)
    assert clf.n_iter_ == 3


def test_progress_bar_alone_and_in_grid_search(capsys):
    pytest.importorskip("rich")
    clf = gn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    _fit(clf.set_callbacks(callback.ProgressBar()), X, y)
    assert clf.n_iter_ == 3
    search = GridSearchCV(gn.MLPClassifier(max_iter=3, random_state=0), {"hidden_layer_sizes": [(3,), (5,)]}, cv=2)
    _fit(search.set_callbacks(callback.ProgressBar(max_propagation_depth=None)), X, y)
    assert search.best_estimator_.n_iter_ == 3


def test_scoring_monitor_inside_grid_search():
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = gn.MLPClassifier(max_iter=4, random_state=0).set_callbacks(monitor)
    search = GridSearchCV(clf, {"hidden_layer_sizes": [(3,), (6,)]}, cv=2)
    _fit(search, X, y)
    # 2 settings x 2 folds, then the refit: 4 epochs each
    assert len(_epoch_rows(monitor)) >= 5 * 4


def test_fit_loop_callbacks_in_fit():
    seen = []

    class Epochs(gn.train.Callback):
        def on_epoch_end(self, state):
            seen.append((state.epoch, state.metrics["loss"]))

    clf = _fit(gn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=4, random_state=0), X, y, callbacks=[Epochs()])
    assert [e for e, _ in seen] == [1, 2, 3, 4] and [loss for _, loss in seen] == clf.loss_curve_
    with pytest.raises(TypeError, match="callbacks must be"):
        _fit(gn.MLPClassifier(max_iter=2), X, y, callbacks=[42])


def test_progress_bar_callback_in_fit_prints_one_line_per_epoch(capsys):
    import io

    out = io.StringIO()
    _fit(gn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0), X, y,
         callbacks=[gn.train.ProgressBar(file=out)])
    assert len(out.getvalue().strip().splitlines()) == 3
