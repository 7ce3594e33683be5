"""gn.lr_find: the range test's curve, its documented suggestion rule, its warnings, and a model left as it was."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import glassnet as gn
from glassnet import MLPClassifier, MLPRegressor, nn, optim
from glassnet.inspect.lr_finder import LRFinderResult, suggest

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning")

_rng = np.random.default_rng(0)
X = _rng.normal(size=(512, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return train_test_split(x / 16, y, test_size=0.25, random_state=0, stratify=y)


def test_the_curve_sweeps_geometrically_and_stops_when_the_loss_runs_away():
    result = gn.lr_find(nn.MLP([4, 16, 2], rng=0), X, Y, start_lr=1e-6, end_lr=100.0, num_steps=80)
    n = len(result.lrs)
    assert 20 < n < 80  # Adam at a rate of 10 or more: the loss runs away before the end
    expected = np.geomspace(1e-6, 100.0, 80)[:n]
    np.testing.assert_allclose(result.lrs, expected, rtol=1e-12)
    assert len(result.losses) == len(result.raw_losses) == n
    assert result.losses[-1] > 4 * min(result.losses)
    assert result.reliable and 1e-4 < result.suggestion < 1.0
    assert result.suggestion < result.lrs[int(np.argmin(result.losses))]  # below the lowest loss, in its valley


def test_a_module_is_left_exactly_as_it_was():
    model = nn.MLP([4, 16, 2], dropout=0.2, rng=0)  # dropout with a generator of its own
    model.eval()
    opt = optim.Adam(model.parameters(), lr=0.01)  # made before: must keep driving the same parameters
    before = {k: v.copy() for k, v in model.state_dict().items()}
    arrays = [p.data for p in model.parameters()]
    dropout_state = model.layers[2].rng.bit_generator.state
    default_state = gn.backend.get_rng(None).bit_generator.state
    gn.lr_find(model, X, Y, num_steps=30)
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.data for p in model.parameters()] == arrays and all(a is b for a, b in zip(
        [p.data for p in model.parameters()], arrays, strict=True))
    assert not model.training
    assert model.layers[2].rng.bit_generator.state == dropout_state
    assert gn.backend.get_rng(None).bit_generator.state == default_state
    model.train()
    loss = gn.functional.cross_entropy(model(X), Y)
    loss.backward()
    opt.step()
    assert not np.array_equal(model.state_dict()["layers.0.weight"], before["layers.0.weight"])


def test_estimators_are_left_as_they_were(digits):
    x_train, _, y_train, _ = digits
    fresh = MLPClassifier(random_state=0)
    params = fresh.get_params()
    result = gn.lr_find(fresh, x_train, y_train, num_steps=40)
    assert fresh.get_params() == params and not hasattr(fresh, "coefs_")
    assert result.suggestion is not None
    fitted = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0).fit(x_train, y_train)
    coefs, proba = [c.copy() for c in fitted.coefs_], fitted.predict_proba(x_train[:20])
    gn.lr_find(fitted, x_train, y_train, num_steps=40)
    assert all(np.array_equal(a, b) for a, b in zip(coefs, fitted.coefs_, strict=True))
    np.testing.assert_array_equal(proba, fitted.predict_proba(x_train[:20]))
    # penalties and clipping ride along; a regressor works the same way
    reg = MLPRegressor(alpha=0.1, l1=1e-3, max_grad_norm=1.0, random_state=0)
    assert gn.lr_find(reg, x_train, y_train / 9.0, num_steps=30).raw_losses


def test_the_suggested_rate_trains_digits_at_least_as_well_as_the_default(digits):
    x_train, x_test, y_train, y_test = digits
    for solver in ("adam", "sgd"):
        settings = {"solver": solver, "max_iter": 20, "tol": 0.0, "n_iter_no_change": 1000, "random_state": 0}
        result = gn.lr_find(MLPClassifier(**settings), x_train, y_train)
        assert result.reliable, result.note
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            default = MLPClassifier(**settings).fit(x_train, y_train).score(x_test, y_test)
            suggested = MLPClassifier(**settings, learning_rate_init=result.suggestion).fit(
                x_train, y_train).score(x_test, y_test)
        assert suggested >= default, (solver, result.suggestion, suggested, default)


# ---- the rule, on curves drawn by hand ---------------------------------------------------------------------
LRS = list(np.geomspace(1e-7, 10, 100))


def test_the_rule_is_halfway_down_the_longest_valley():
    i = np.arange(100)
    # rising a hair until step 40, falling steadily to step 80, then blowing up
    curve = np.where(i < 40, 2.0 + 1e-4 * i, np.where(i <= 80, 2.004 - 0.04 * (i - 40), 0.4 + (i - 80) ** 2))
    lr, reliable, note = suggest(LRS, list(curve), list(curve))
    assert reliable and "halfway down the longest valley" in note
    assert LRS[57] <= lr <= LRS[63]  # the valley runs from step 39 to 80
    assert lr == LRS[39 + int(41 / 3) + int(41 / 3 / 2)]


def test_the_rule_says_when_the_curve_cannot_be_trusted():
    flat = [1.0 + 0.001 * np.sin(i) for i in range(100)]
    lr, reliable, note = suggest(LRS, flat, flat)
    assert lr is None and not reliable and "never fell" in note
    smooth = list(np.linspace(1.0, 0.8, 100))
    noisy_raw = [v + (0.3 if i % 2 else -0.3) for i, v in enumerate(smooth)]
    lr, reliable, note = suggest(LRS, smooth, noisy_raw)
    assert lr is not None and not reliable and "too noisy" in note
    early = [1.0, 0.5, 0.4] + [5.0] * 97  # lowest after three steps
    lr, reliable, note = suggest(LRS, early, early)
    assert not reliable and "too few" in note


def test_noisy_labels_on_tiny_batches_are_flagged():
    y = _rng.integers(0, 2, size=512)  # nothing to learn: the loss only jitters
    result = gn.lr_find(nn.MLP([4, 16, 2], rng=0), X, y, batch_size=2, end_lr=0.1, num_steps=60)
    assert not result.reliable


def test_bad_arguments_are_named(digits):
    x_train, _, y_train, _ = digits
    model = nn.MLP([4, 8, 2], rng=0)
    for kwargs, match in (({"start_lr": 1.0, "end_lr": 0.1}, "start_lr < end_lr"), ({"num_steps": 1}, "num_steps"),
                          ({"smoothing": 1.0}, "smoothing"), ({"diverge": 1.0}, "diverge")):
        with pytest.raises(ValueError, match=match):
            gn.lr_find(model, X, Y, **kwargs)
    with pytest.raises(ValueError, match="stochastic solver"):
        gn.lr_find(MLPClassifier(solver="lbfgs"), x_train, y_train)
    with pytest.raises(TypeError, match=r"estimator or an nn\.Module"):
        gn.lr_find(object(), X, Y)


def test_the_plot(tmp_path):
    pytest.importorskip("matplotlib")
    result = gn.lr_find(nn.MLP([4, 16, 2], rng=0), X, Y, num_steps=50)
    fig = result.plot(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").stat().st_size > 1000 and fig.axes[0].get_xscale() == "log"
    assert isinstance(result, LRFinderResult) and gn.lr_find is gn.inspect.lr_find


def test_docstring_example_runs():
    import doctest
    import sys

    assert doctest.testmod(sys.modules["glassnet.inspect.lr_finder"]).failed == 0
