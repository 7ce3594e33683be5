"""MLPClassifier and MLPRegressor: scikit-learn behaviour, glassnet's additions, state and resuming."""

from __future__ import annotations

import copy
import io
import itertools
import json
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import glassnet as gn
from glassnet import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = {"hidden_layer_sizes": (12,), "max_iter": 30, "random_state": 0}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=120, n_features=5, n_targets=2, noise=0.1, random_state=0)
    return StandardScaler().fit_transform(X), y / np.abs(y).max()


def _same_weights(a, b) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True))


# ---- drop-in parameters ------------------------------------------------------------------------
@pytest.mark.parametrize(("ours", "theirs"), [(MLPClassifier, SkMLPClassifier), (MLPRegressor, SkMLPRegressor)])
def test_every_sklearn_parameter_keeps_name_and_default(ours, theirs):
    mine, sk = ours().get_params(), theirs().get_params()
    assert set(sk) <= set(mine)
    assert {k: mine[k] for k in sk} == sk
    own = {"dropout", "l1", "max_grad_norm", "device", "dtype", "adversarial", "adversarial_eps",
           "adversarial_fraction", "validation_metric", "monitor"} | (
        {"class_weight"} if ours is MLPClassifier else set())
    assert set(mine) - set(sk) == own


def test_invalid_parameters_are_named():
    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(InvalidParameterError, match="dropout"):
        MLPClassifier(dropout=1.5).fit(X, y)
    with pytest.raises(InvalidParameterError, match="solver"):
        MLPClassifier(solver="newton").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(3, 0)).fit(X, y)
    with pytest.raises(ValueError, match="dropout needs a stochastic solver"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(X, y)


# ---- classification ----------------------------------------------------------------------------
def test_multiclass_string_labels_and_probabilities(iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=200, random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, labels) > 0.9


def test_binary_uses_one_sigmoid_output(iris):
    X, y = iris
    keep = y < 2
    clf = MLPClassifier(**SMALL).fit(X[keep], np.where(y[keep] == 1, "yes", "no"))
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (12, 1)
    proba = clf.predict_proba(X[keep])
    assert proba.shape == (keep.sum(), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    log_proba = clf.predict_log_proba(X[keep])
    assert np.isfinite(log_proba).all()
    np.testing.assert_allclose(log_proba, np.log(proba), rtol=1e-5, atol=1e-6)


def test_binary_log_proba_stays_finite_where_probability_underflows():
    X = np.r_[np.full((20, 1), -1.0), np.full((20, 1), 1.0)]
    y = np.r_[np.zeros(20), np.ones(20)]
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    clf.module_.layers[-1].weight.data[...] *= 1e3  # make the logits huge
    assert np.isfinite(clf.predict_log_proba(np.array([[50.0], [-50.0]]))).all()


def test_multilabel_indicator_targets():
    X, Y = make_multilabel_classification(n_samples=150, n_features=8, n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300, random_state=0).fit(X, Y)
    assert clf.n_outputs_ == 4 and clf.out_activation_ == "logistic"
    assert clf.predict(X).shape == Y.shape and set(np.unique(clf.predict(X))) <= {0, 1}
    assert clf.predict_proba(X).shape == Y.shape
    assert clf.score(X, Y) > 0.8  # subset accuracy


def test_partial_fit_needs_classes_and_accepts_batches_missing_some(iris):
    X, y = iris
    clf = MLPClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    clf.partial_fit(X, y)
    assert clf.n_outputs_ == 3 and list(clf.classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, y + 5)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_warm_start_continues_and_checks_classes(iris):
    X, y = iris
    clf = MLPClassifier(warm_start=True, **SMALL).fit(X, y)
    first = [c.copy() for c in clf.coefs_]
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 60 and not np.array_equal(first[0], clf.coefs_[0])
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X[y < 2], y[y < 2])


# ---- regression --------------------------------------------------------------------------------
def test_single_and_multi_output_regression(regression):
    X, Y = regression
    multi = MLPRegressor(hidden_layer_sizes=(32,), max_iter=400, learning_rate_init=0.01, random_state=0).fit(X, Y)
    assert multi.predict(X).shape == Y.shape and multi.predict(X).dtype == np.float64
    assert multi.score(X, Y) > 0.9
    single = MLPRegressor(**SMALL).fit(X, Y[:, 0])
    assert single.predict(X).shape == (X.shape[0],)


def test_poisson_loss_predicts_positive_rates():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0]))
    reg = MLPRegressor(loss="poisson", hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=200,
                       random_state=0).fit(X, y)
    assert reg.out_activation_ == "exp" and (reg.predict(X) > 0).all()
    assert np.corrcoef(reg.predict(X), np.exp(0.5 * X[:, 0]))[0, 1] > 0.8
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson").fit(X, -y - 1.0)


# ---- losses and gradients on scikit-learn's scale ----------------------------------------------
def _sklearn_loss_and_grads(est, sk_cls, X, Y, sample_weight):
    """scikit-learn's own loss and gradients at ``est``'s weights (through its private backprop)."""
    sk = sk_cls(hidden_layer_sizes=est.hidden_layer_sizes, alpha=est.alpha, activation=est.activation)
    if sk_cls is SkMLPRegressor:
        sk.loss = "poisson" if est.out_activation_ == "exp" else "squared_error"
    sk.coefs_ = [c.astype(np.float64) for c in est.coefs_]
    sk.intercepts_ = [b.astype(np.float64) for b in est.intercepts_]
    sk.n_layers_, sk.out_activation_ = est.n_layers_, est.out_activation_
    n = len(sk.coefs_)
    grads = ([np.empty_like(c) for c in sk.coefs_], [np.empty_like(b) for b in sk.intercepts_])
    loss, coef_grads, intercept_grads = sk._backprop(X, Y, sample_weight, [X] + [None] * n, [None] * n, *grads)
    return loss, coef_grads + intercept_grads


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel", "regression", "poisson"])
def test_loss_and_gradients_match_sklearn(task, weighted):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5))
    if task in ("regression", "poisson"):
        Y = rng.poisson(2.0, size=(40, 2)).astype(float)
        est = MLPRegressor(hidden_layer_sizes=(7,), alpha=0.3, max_iter=2, random_state=0, dtype="float64",
                           loss="poisson" if task == "poisson" else "squared_error")
        y_fit, Y_sk, sk_cls = Y, Y, SkMLPRegressor
    else:
        n_labels = {"multiclass": 3, "binary": 2, "multilabel": 3}[task]
        y_fit = rng.integers(0, 2, size=(40, 3)) if task == "multilabel" else rng.integers(0, n_labels, size=40)
        Y_sk = y_fit if task == "multilabel" else np.eye(n_labels)[y_fit][:, -1:] if task == "binary" \
            else np.eye(n_labels)[y_fit]
        est = MLPClassifier(hidden_layer_sizes=(7,), alpha=0.3, max_iter=2, random_state=0, dtype="float64")
        sk_cls = SkMLPClassifier
    w = rng.uniform(0.1, 2.0, size=40) if weighted else None
    est.fit(X, y_fit, sample_weight=w)
    expected_loss, expected_grads = _sklearn_loss_and_grads(est, sk_cls, X, Y_sk, w)

    from glassnet.data import ArraySource
    from glassnet.estimators._heads import HEADS
    from glassnet.train import LBFGS, Callback, Loop

    X_train, Y_train, _, _ = est._validate_input(X, y_fit, incremental=True, reset=False)
    layers = [m for m in est.module_.modules() if isinstance(m, gn.nn.Linear)]
    first = {}

    class FirstEvaluation(Callback):  # L-BFGS evaluates first at the fitted weights
        def on_after_backward(self, state):
            if not first:
                tensors = [la.weight for la in layers] + [la.bias for la in layers]
                first.update(loss=float(state.loss), grad=state.optimizer.gradient(),
                             grads=[np.array(t.grad) for t in tensors])

    source = ArraySource(X_train, Y_train, w, batch_size=None, shuffle=False)
    Loop(est.module_, HEADS[est.out_activation_].loss, LBFGS(est.module_.parameters()), source,
         callbacks=[est._penalty(), FirstEvaluation()]).run(1)
    np.testing.assert_allclose(first["loss"], expected_loss, rtol=1e-10)
    for mine, theirs in zip(first["grads"], expected_grads, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-8, atol=1e-12)
    assert first["grad"].shape == (sum(p.size for p in est.module_.parameters()),)


def _start_from(est, X, y, coefs, intercepts):
    """Make ``est`` (glassnet or scikit-learn) continue, as a warm start, from the given weights."""
    est.set_params(warm_start=True)
    if isinstance(est, (MLPClassifier, MLPRegressor)):
        max_iter = est.max_iter
        est.set_params(max_iter=1).fit(X, y)
        est.set_params(max_iter=max_iter)
    else:
        est.n_layers_, est.n_outputs_ = len(coefs) + 1, coefs[-1].shape[1]
        est.out_activation_ = "softmax" if isinstance(est, SkMLPClassifier) else "identity"
    est.coefs_, est.intercepts_ = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    if hasattr(est, "_restore_module"):
        est._restore_module()
        est.history_ = []
    est.n_iter_, est.t_, est.loss_curve_, est._no_improvement_count = 0, 0, [], 0
    est.best_loss_, est.validation_scores_, est.best_validation_score_ = np.inf, None, None
    return est


@pytest.mark.parametrize("solver", [dict(solver="adam"), dict(solver="sgd", learning_rate_init=0.05),
                                    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2),
                                    dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.05, tol=0.1,
                                         n_iter_no_change=2)])
@pytest.mark.parametrize(("ours", "theirs"), [(MLPClassifier, SkMLPClassifier), (MLPRegressor, SkMLPRegressor)])
def test_same_trajectory_as_sklearn_from_the_same_weights(iris, ours, theirs, solver):
    """A drop-in: same weights and batches in, the same loss curve and weights out (float64, no shuffling)."""
    X, y = iris
    y = y if ours is MLPClassifier else y.astype(float)
    rng = np.random.default_rng(0)
    n_out = 3 if ours is MLPClassifier else 1
    coefs = [rng.uniform(-0.5, 0.5, (4, 8)), rng.uniform(-0.5, 0.5, (8, n_out))]
    intercepts = [rng.uniform(-0.1, 0.1, 8), rng.uniform(-0.1, 0.1, n_out)]
    params = dict(hidden_layer_sizes=(8,), batch_size=32, shuffle=False, max_iter=40, **solver)
    mine = _start_from(ours(dtype="float64", **params), X, y, coefs, intercepts).fit(X, y)
    sk = _start_from(theirs(**params), X, y, coefs, intercepts).fit(X, y)
    assert mine.n_iter_ == sk.n_iter_
    np.testing.assert_allclose(mine.loss_curve_, sk.loss_curve_, rtol=1e-9)
    for a, b in zip(mine.coefs_ + mine.intercepts_, sk.coefs_ + sk.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


def test_loss_curve_reports_sklearn_scaled_loss(iris):
    X, y = iris
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(5,), alpha=0.1, max_iter=50, random_state=0,
                        dtype="float64").fit(X, y)
    proba = clf.predict_proba(X)
    penalty = 0.5 * 0.1 * sum((c ** 2).sum() for c in clf.coefs_) / len(X)
    expected = -np.log(proba[np.arange(len(y)), y]).mean() + penalty
    np.testing.assert_allclose(clf.loss_, expected, rtol=1e-8)


# ---- solvers, schedules, glassnet's additions --------------------------------------------------
@pytest.mark.parametrize("solver", ["sgd", "adam", "rmsprop", "adamw", "lbfgs"])
def test_every_solver_learns(iris, solver):
    X, y = iris
    lr = {"sgd": 0.1, "rmsprop": 0.01, "adamw": 0.01}.get(solver, 0.01)
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver=solver, learning_rate_init=lr, max_iter=100,
                        random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.n_iter_ >= 1 and len(clf.history_) == len(clf.loss_curve_) >= 1


def test_sgd_learning_rate_schedules(iris):
    X, y = iris
    inv = MLPClassifier(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5, power_t=0.5,
                        **SMALL).fit(X, y)
    lrs = [r["lr"] for r in inv.history_]
    assert lrs[0] == 0.5 and lrs[2] == pytest.approx(0.5 / (2 * len(X) + 1) ** 0.5)
    ada = MLPClassifier(solver="sgd", learning_rate="adaptive", learning_rate_init=0.1, tol=10.0, n_iter_no_change=1,
                        hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(X, y)
    lrs = [r["lr"] for r in ada.history_]
    assert lrs[0] == 0.1 and lrs[-1] < 0.1 and all(b in (a, a / 5) for a, b in itertools.pairwise(lrs))


def test_adamw_decays_weights_not_biases():
    X = np.zeros((10, 3))  # zero input: the data gradient of the first layer's weights is zero
    y = np.arange(10) % 2
    clf = MLPClassifier(solver="adamw", alpha=0.5, learning_rate_init=0.1, hidden_layer_sizes=(4,), max_iter=3,
                        shuffle=False, random_state=0, n_iter_no_change=100)
    w0 = clf.fit(X, y).coefs_[0]  # 3 epochs of 1 step each
    init = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0, learning_rate_init=1e-12,
                         alpha=0.0).fit(X, y).coefs_[0]
    np.testing.assert_allclose(w0, init * (1 - 0.1 * 0.5) ** 3, rtol=1e-5)


def test_max_grad_norm_bounds_every_step(iris):
    X, y = iris
    clf = MLPClassifier(max_grad_norm=0.05, learning_rate_init=0.05, **SMALL).fit(X, y)
    assert all(np.hypot(*r["grad_norm"]) <= 0.05 * (1 + 1e-5) for r in clf.history_)


def test_history_records(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8, 6), early_stopping=True, max_iter=15, n_iter_no_change=100,
                        random_state=0).fit(X, y)
    assert len(clf.history_) == clf.n_iter_ == 15
    first, last = clf.history_[0], clf.history_[-1]
    kept = {"epoch", "loss", "val_score", "val_loss", "lr", "wall_time", "grad_norm", "weight_norm"}
    monitored = {"update_ratio", "dead_fraction", "saturated_fraction", "loss_spikes", "loss_spike_max"}
    assert set(first) == kept | monitored
    assert set(MLPClassifier(max_iter=2, monitor=False).fit(X, y).history_[0]) == kept
    assert [r["epoch"] for r in clf.history_] == list(range(1, 16))
    assert [r["loss"] for r in clf.history_] == clf.loss_curve_
    assert [r["val_score"] for r in clf.history_] == clf.validation_scores_
    assert len(first["grad_norm"]) == len(first["weight_norm"]) == 3
    assert last["wall_time"] >= first["wall_time"] > 0 and last["val_loss"] > 0
    json.dumps(clf.history_)


def test_callbacks_see_each_epoch_and_can_stop(iris):
    X, y = iris
    seen = []

    def record(est, rec):
        seen.append((est.n_iter_, rec["epoch"], rec is est.history_[-1]))

    clf = MLPClassifier(**SMALL).fit(X, y, callbacks=[record, lambda est, rec: rec["epoch"] == 4])
    assert clf.n_iter_ == 4 and seen == [(i, i, True) for i in range(1, 5)]
    lbfgs = MLPClassifier(solver="lbfgs", **SMALL).fit(X, y, callbacks=[lambda est, rec: rec["epoch"] == 3])
    assert lbfgs.n_iter_ == 3 and len(lbfgs.history_) == 3


def test_verbose_prints_sklearn_lines(iris, capsys):
    X, y = iris
    MLPClassifier(verbose=True, hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


def test_max_iter_warns_convergence(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)


def test_float64_dtype(iris):
    X, y = iris
    clf = MLPClassifier(dtype="float64", **SMALL).fit(X, y)
    assert clf.coefs_[0].dtype == np.float64 and clf.module_.layers[0].weight.data.dtype == np.float64


def test_gpu_device_without_cupy_fails_clearly(iris):
    pytest.importorskip("numpy")
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed")
    X, y = iris
    with pytest.raises(ImportError, match="device='cuda' needs CuPy"):
        MLPClassifier(device="cuda").fit(X, y)


@pytest.mark.parametrize("extra", [dict(), dict(dropout=0.2, early_stopping=True, l1=1e-3, max_grad_norm=1.0),
                                   dict(solver="sgd", learning_rate="invscaling"), dict(solver="lbfgs")])
def test_device_code_path_matches_numpy(iris, monkeypatch, extra):
    """The non-NumPy path (what CuPy runs on a GPU), driven here by array-api-strict, gives NumPy's weights."""
    strict = pytest.importorskip("array_api_strict")
    from glassnet.estimators._base import BaseMLP

    numpy_namespace = BaseMLP._namespace
    monkeypatch.setattr(BaseMLP, "_namespace", lambda est: strict if est.device != "cpu" else numpy_namespace(est))
    X, y = iris
    params = dict(hidden_layer_sizes=(8,), max_iter=20, random_state=0, **extra)
    host, device = MLPClassifier(**params).fit(X, y), MLPClassifier(device="cuda", **params).fit(X, y)
    # the same float32 arithmetic in another order (NumPy's path fuses updates through BLAS; L-BFGS
    # line searches magnify such rounding differences a little)
    for u, v in zip(host.coefs_ + host.intercepts_, device.coefs_ + device.intercepts_, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(device.predict_proba(X), host.predict_proba(X), rtol=1e-3, atol=1e-4)  # float32
    weights = np.linspace(0.5, 2.0, len(y))
    reg = MLPRegressor(device="cuda", loss="poisson", **params).fit(sp.csr_matrix(X), y, sample_weight=weights)
    assert reg.predict(X).shape == (len(y),)
    assert isinstance(pickle.loads(pickle.dumps(device)).coefs_[0], np.ndarray)


# ---- input validation --------------------------------------------------------------------------
def test_bad_input_is_rejected_with_clear_messages(iris):
    X, y = iris
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier().fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(ValueError, match="infinity"):
        MLPClassifier().fit(np.where(X > 2, np.inf, X), y)
    with pytest.raises(ValueError, match="0 sample"):
        MLPClassifier().fit(X[:0], y[:0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        MLPClassifier().fit(X, np.zeros(len(X)))
    clf = MLPClassifier(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(X)


def test_sparse_input_matches_dense(iris):
    X, y = iris
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    dense = MLPClassifier(**SMALL).fit(X, y)
    for fmt in (sp.csr_matrix, sp.csc_matrix):
        sparse = MLPClassifier(**SMALL).fit(fmt(X), y)
        assert _same_weights(dense, sparse)
        np.testing.assert_array_equal(sparse.predict_proba(fmt(X)), dense.predict_proba(X))
    reg = MLPRegressor(solver="lbfgs", **SMALL).fit(sp.csr_matrix(X), y.astype(float))
    assert reg.predict(sp.csr_matrix(X)).shape == (len(X),)


# ---- reproducibility, state, resuming ----------------------------------------------------------
def test_random_state_is_bit_for_bit_reproducible(iris):
    X, y = iris
    params = dict(SMALL, dropout=0.3, early_stopping=True)
    a, b = MLPClassifier(**params).fit(X, y), MLPClassifier(**params).fit(X, y)
    assert _same_weights(a, b) and a.loss_curve_ == b.loss_curve_
    c = MLPClassifier(**dict(params, random_state=1)).fit(X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def _plain(value) -> bool:
    """True when ``value`` is made of NumPy arrays and JSON-serializable values only."""
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    json.dumps(value)
    return True


RESUME_CASES = [
    (MLPClassifier, dict(dropout=0.2, early_stopping=True, n_iter_no_change=5)),
    (MLPClassifier, dict(solver="sgd", learning_rate="adaptive", learning_rate_init=0.2, tol=0.05,
                         n_iter_no_change=1)),
    (MLPRegressor, dict(solver="rmsprop", learning_rate_init=0.01, l1=1e-3, max_grad_norm=1.0)),
    (MLPRegressor, dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1, dropout=0.1)),
]


@pytest.mark.parametrize(("cls", "extra"), RESUME_CASES)
def test_resume_from_a_stopped_fit_is_bit_for_bit(iris, cls, extra):
    X, y = iris
    y = y if cls is MLPClassifier else y.astype(float)
    params = dict(hidden_layer_sizes=(10,), max_iter=25, random_state=7, **extra)
    full = cls(**params).fit(X, y)
    stopped = cls(**params).fit(X, y, callbacks=[lambda est, rec: rec["epoch"] == 6])
    assert stopped.n_iter_ == 6
    state = stopped.get_training_state()
    assert _plain(state)
    resumed = cls(**params).fit(X, y, resume=copy.deepcopy(state))
    assert _same_weights(full, resumed)
    assert resumed.loss_curve_ == full.loss_curve_ and resumed.n_iter_ == full.n_iter_
    assert resumed.validation_scores_ == full.validation_scores_
    assert [r["grad_norm"] for r in resumed.history_] == [r["grad_norm"] for r in full.history_]


def test_state_taken_inside_a_callback_resumes_exactly(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(10,), max_iter=20, random_state=3, dropout=0.3)
    states = {}

    def grab(est, rec):
        if rec["epoch"] == 9:
            states["s"] = est.get_training_state()

    full = MLPClassifier(**params).fit(X, y, callbacks=[grab])
    resumed = MLPClassifier(**params).fit(X, y, resume=states["s"])
    assert _same_weights(full, resumed)


def test_resume_rejects_a_state_from_another_model(iris):
    X, y = iris
    state = MLPClassifier(**SMALL).fit(X, y).get_training_state()
    with pytest.raises(ValueError, match="shapes"):
        MLPClassifier(**dict(SMALL, hidden_layer_sizes=(5,))).fit(X, y, resume=state)
    with pytest.raises(ValueError, match="classes_"):
        MLPClassifier(**SMALL).fit(X, np.where(y == 2, 3, y), resume=state)
    with pytest.raises(ValueError, match="resume needs a stochastic solver"):
        MLPClassifier(solver="lbfgs").fit(X, y, resume=state)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_fitted_attributes_describe_the_model(iris, cls):
    X, y = iris
    est = cls(early_stopping=True, **SMALL).fit(X, y if cls is MLPClassifier else y.astype(float))
    fitted = {name: getattr(est, name) for name in cls._fitted_attributes}
    assert _plain(fitted)
    fresh = cls(**est.get_params())
    for name, value in copy.deepcopy(fitted).items():
        setattr(fresh, name, value)
    fresh._restore_module()
    np.testing.assert_array_equal(fresh.predict(X), est.predict(X))
    if cls is MLPClassifier:
        np.testing.assert_array_equal(fresh.predict_proba(X), est.predict_proba(X))


def test_feature_names_are_kept(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = MLPClassifier(**SMALL).fit(frame, y)
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"]
    assert "feature_names_in_" in MLPClassifier._optional_fitted_attributes


# ---- pickling, cloning -------------------------------------------------------------------------
def test_pickle_and_joblib_round_trips(iris):
    X, y = iris
    clf = MLPClassifier(dropout=0.2, **SMALL).fit(X, y)
    for restored in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    buffer = io.BytesIO()
    joblib.dump(clf, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).predict(X), clf.predict(X))
    assert clone(clf).get_params() == clf.get_params() and not hasattr(clone(clf), "coefs_")


def test_partial_fit_after_unpickling_continues_the_same_optimizer(iris):
    X, y = iris
    a = MLPClassifier(dropout=0.1, **SMALL).partial_fit(X, y, classes=[0, 1, 2])
    b = pickle.loads(pickle.dumps(a))
    for _ in range(3):
        a.partial_fit(X, y)
        b.partial_fit(X, y)
    assert _same_weights(a, b) and a.t_ == b.t_ == 4 * len(X)


def test_no_warnings_on_a_clean_fit(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, tol=1e-2, random_state=0).fit(X, y)


def test_make_classification_converges_before_max_iter():
    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, tol=1e-3, random_state=0).fit(X, y)
    assert clf.n_iter_ < 500 and clf.best_loss_ == min(clf.loss_curve_)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_without_the_monitor_stops_with_a_clear_error():
    X, y = make_regression(n_samples=100, n_features=4, random_state=0)
    with pytest.warns(RuntimeWarning, match="training loss became"), pytest.raises(ValueError, match="non-finite"):
        MLPRegressor(solver="sgd", learning_rate_init=10.0, momentum=0.99, max_iter=50, random_state=0,
                     monitor=False).fit(X, y * 1e6)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_divergence_stops_at_the_bad_step_and_keeps_the_last_good_weights():
    X, y = make_regression(n_samples=100, n_features=4, random_state=0)
    seen = []
    est = MLPRegressor(solver="sgd", learning_rate_init=10.0, momentum=0.99, max_iter=50, random_state=0)
    with pytest.warns(RuntimeWarning, match=r"training stopped at step \d+ \(epoch \d+\).*learning_rate_init"):
        est.fit(X, y * 1e6, callbacks=[lambda e, record: seen.append(record)])
    event = est.history_[-1]["nonfinite"]
    assert est.n_iter_ == len(est.loss_curve_) == len(est.history_) - 1  # the cut epoch is recorded, not counted
    assert seen[-1] is est.history_[-1]  # the estimator's callbacks see it (the command line logs it)
    assert event["quantity"] in ("loss", "gradient") and event["step"] >= 1
    assert all(np.isfinite(a).all() for a in est.coefs_ + est.intercepts_)
    assert np.isfinite(est.predict(X)).all()


@pytest.mark.parametrize("activation", ["leaky_relu", "gelu", "elu", "silu"])
def test_more_activations_train_save_and_load(activation, tmp_path):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = gn.MLPClassifier(hidden_layer_sizes=(8,), activation=activation, max_iter=200,
                               learning_rate_init=0.01, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    loaded = gn.load(gn.save(clf, tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
