"""gn.diagnose: each classic failure, built on purpose, is named with its numbers; healthy fits raise no alarm."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_iris, make_classification
from sklearn.preprocessing import StandardScaler

import glassnet as gn
import glassnet.functional as F
from glassnet import MLPClassifier, MLPRegressor, nn, optim
from glassnet.inspect.diagnosis import KINDS, Finding, summary
from glassnet.train import Monitor, NaNGuard

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning",
                                        "ignore:training stopped at step:RuntimeWarning")


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return (x / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def only(findings, kind) -> Finding:
    found = [f for f in findings if f.kind == kind]
    assert len(found) == 1, kinds(findings)
    return found[0]


# ---- healthy fits: no false alarm ----------------------------------------------------------------------
@pytest.mark.parametrize("params", [{}, {"early_stopping": True}, {"solver": "sgd", "learning_rate_init": 0.1},
                                    {"activation": "tanh"}, {"activation": "logistic"}], ids=repr)
def test_healthy_digits_fits_raise_no_alarm(digits, params):
    x, y = digits
    assert gn.diagnose(MLPClassifier(random_state=0, **params).fit(x, y)) == []


@pytest.mark.parametrize("scaled", [True, False])
@pytest.mark.parametrize("params", [{"hidden_layer_sizes": (16,), "max_iter": 500}, {"early_stopping": True}], ids=repr)
def test_healthy_iris_fits_raise_no_alarm(iris, scaled, params):
    x, y = iris
    x = StandardScaler().fit_transform(x) if scaled else x
    assert gn.diagnose(MLPClassifier(random_state=0, **params).fit(x, y)) == []


def test_a_healthy_regression_and_a_healthy_custom_loop_raise_no_alarm(digits):
    x, y = load_diabetes(return_X_y=True)
    reg = MLPRegressor(random_state=0, max_iter=300).fit(StandardScaler().fit_transform(x), (y - y.mean()) / y.std())
    assert gn.diagnose(reg) == []
    xd, yd = digits
    m = nn.MLP([64, 32, 10], rng=0)
    history = gn.train.fit(m, F.cross_entropy, optim.Adam(m.parameters(), lr=1e-3), (xd, yd), epochs=20,
                           callbacks=[Monitor(), NaNGuard()], rng=0)
    assert gn.diagnose(history) == []


# ---- each failure, built on purpose ------------------------------------------------------------------------
def test_a_deep_sigmoid_network_has_vanishing_gradients(digits):
    x, y = digits
    clf = MLPClassifier((32,) * 8, activation="logistic", max_iter=20, random_state=0).fit(x, y)
    finding = only(gn.diagnose(clf), "vanishing_gradients")
    assert finding.layer == 0 and finding.evidence["first_to_last_grad"] < 1e-3
    assert "relu" in finding.suggestion


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_learning_rate_of_10_is_too_high(digits, solver):
    x, y = digits
    clf = MLPClassifier(learning_rate_init=10.0, solver=solver, max_iter=15, random_state=0).fit(x, y)
    finding = only(gn.diagnose(clf), "lr_too_high")
    assert finding.evidence["update_ratio"] >= 0.5 and finding.evidence["lr"] == 10.0
    assert "lower the learning rate" in finding.suggestion


def test_a_huge_negative_bias_kills_the_relu_units(digits):
    x, y = digits
    m = nn.MLP([64, 64, 10], rng=0)
    m.layers[0].bias.data[...] = -100.0
    history = gn.train.fit(m, F.cross_entropy, optim.Adam(m.parameters(), lr=1e-3), (x, y), epochs=12,
                           callbacks=[Monitor()], rng=0)
    findings = gn.diagnose(history)
    assert kinds(findings) == ["dead_relu"]  # not lr_too_low: no gradient reaches the weights at all
    assert findings[0].layer == 0 and findings[0].evidence["dead_fraction"][0] == 1.0
    assert "100% of layer 0's ReLU units" in findings[0].message


def test_a_learning_rate_of_1e_7_is_too_low(digits):
    x, y = digits
    clf = MLPClassifier(learning_rate_init=1e-7, max_iter=30, random_state=0).fit(x, y)
    finding = only(gn.diagnose(clf), "lr_too_low")
    assert finding.evidence["median_update_ratio"] < 1e-4
    assert "underfitting" not in kinds(gn.diagnose(clf))  # the rate explains it


def test_a_wide_network_on_tiny_noisy_data_overfits():
    x, y = make_classification(n_samples=80, n_features=30, n_informative=3, flip_y=0.3, random_state=0)
    x = x.astype(np.float32)
    m = nn.MLP([30, 512, 512, 2], rng=0)
    history = gn.train.fit(m, F.cross_entropy, optim.Adam(m.parameters(), lr=1e-3), (x[:56], y[:56]), epochs=100,
                           batch_size=16, validation_data=(x[56:], y[56:]), callbacks=[Monitor()], rng=0)
    finding = only(gn.diagnose(history), "overfitting")
    ev = finding.evidence
    assert ev["final_val_loss"] >= 1.3 * ev["best_val_loss"] and ev["final_train_loss"] < ev["train_loss_at_best"]
    assert finding.epoch == ev["best_epoch"] < 50 and ev["judged_epoch"] == 100


def test_weights_kept_at_the_lowest_validation_loss_are_not_overfit():
    x, y = make_classification(n_samples=80, n_features=30, n_informative=3, flip_y=0.3, random_state=0)
    settings = {"hidden_layer_sizes": (512, 512), "early_stopping": True, "validation_fraction": 0.3,
                "n_iter_no_change": 1000, "max_iter": 100, "random_state": 0}
    watched_loss = MLPClassifier(validation_metric="loss", **settings).fit(x, y)
    losses = [r["val_loss"] for r in watched_loss.history_]
    assert losses[-1] > 1.3 * min(losses)  # the run went on overfitting; the weights kept are from before
    assert "overfitting" not in kinds(gn.diagnose(watched_loss))


def test_a_target_that_overflows_float32_is_a_nan_with_its_cause():
    x, y = load_diabetes(return_X_y=True)
    with pytest.warns(RuntimeWarning, match="training stopped at step 1"):
        reg = MLPRegressor(random_state=0).fit(x, y * 1e18)  # finite in float32, its square is not
    finding = only(gn.diagnose(reg), "nan")
    assert finding.evidence["step"] == 1 and finding.evidence["quantity"] == "loss"
    assert "largest target" in finding.message and "scale the target" in finding.suggestion
    assert all(np.isfinite(c).all() for c in reg.coefs_)


def test_weights_scaled_up_give_exploding_gradients(digits):
    x, y = digits
    m = nn.MLP([64] + [64] * 6 + [10], rng=0)
    for layer in m.layers:
        if isinstance(layer, nn.Linear):
            layer.weight.data *= 3.0
    history = gn.train.fit(m, F.cross_entropy, optim.SGD(m.parameters(), lr=1e-6), (x, y), epochs=4,
                           callbacks=[Monitor()], rng=0)
    finding = only(gn.diagnose(history), "exploding_gradients")
    assert finding.evidence["median_grad_to_weight"] >= 10


def test_large_inputs_saturate_tanh_units(digits):
    x, y = digits
    clf = MLPClassifier(activation="tanh", max_iter=10, random_state=0).fit(x * 1600, y)
    finding = only(gn.diagnose(clf), "saturation")
    assert finding.layer == 0 and finding.evidence["saturated_fraction"][0] > 0.9


def test_a_one_unit_network_underfits(digits):
    x, y = digits
    clf = MLPClassifier(hidden_layer_sizes=(1,), max_iter=300, random_state=0).fit(x, y)
    findings = gn.diagnose(clf)
    assert kinds(findings) == ["underfitting"]
    assert findings[0].evidence["final_loss"] >= 0.5 * findings[0].evidence["reference_loss"]


def test_heavy_regularization_underfits_against_chance(digits):
    x, y = digits
    finding = only(gn.diagnose(MLPClassifier(alpha=30.0, random_state=0).fit(x, y)), "underfitting")
    assert finding.evidence["reference_loss"] == pytest.approx(math.log(10))


# ---- inputs and outputs -----------------------------------------------------------------------------------------
def test_a_custom_loop_without_the_guard_still_gets_its_nan_named(digits):
    x, y = digits
    m = nn.MLP([64, 16, 10], rng=0)
    history = gn.train.fit(m, F.cross_entropy, optim.SGD(m.parameters(), lr=1e30), (x * 1e30, y), epochs=3, rng=0)
    assert "nan" in kinds(gn.diagnose(history))


def test_history_read_back_from_json_lines(digits, tmp_path):
    x, y = digits
    clf = MLPClassifier(learning_rate_init=1e-7, max_iter=15, random_state=0).fit(x, y)
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in clf.history_))
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert kinds(gn.diagnose(records)) == kinds(gn.diagnose(clf)) == ["lr_too_low"]


def test_findings_print_and_serialize(digits):
    x, y = digits
    findings = gn.diagnose(MLPClassifier(learning_rate_init=1e-7, max_iter=15, random_state=0).fit(x, y))
    text = str(findings[0])
    assert text.startswith("lr_too_low: ") and "Try: raise the learning rate" in text
    assert json.loads(json.dumps(findings[0].to_dict()))["kind"] == "lr_too_low"
    assert summary(findings) == f"health: {text}"
    assert summary([]).startswith("health: no problems found")
    assert set(KINDS) == {"nan", "exploding_gradients", "vanishing_gradients", "dead_relu", "saturation",
                          "lr_too_high", "lr_too_low", "overfitting", "underfitting"}


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="fitted estimator"):
        gn.diagnose("runs/x")
    assert gn.diagnose([]) == []
    assert gn.inspect.diagnose is gn.diagnose


def test_docstring_example_runs():
    import doctest
    import sys

    assert doctest.testmod(sys.modules["glassnet.inspect.diagnosis"]).failed == 0
