"""Attacks and robust accuracy: FGSM against PyTorch, PGD inside its box and stronger than FGSM, robust accuracy
falling with eps, the gradient-masking check, and adversarial training (callback and estimators)."""

import itertools
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import glassnet as gn
import glassnet.functional as F
from conftest import torch_copy
from glassnet import nn, optim

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split((X / 16).astype(np.float32), y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def digits_clf(digits):
    X_train, _, y_train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=0).fit(X_train, y_train)


def test_fgsm_equals_torch_on_copied_weights():
    torch = pytest.importorskip("torch")
    model = nn.MLP([6, 16, 16, 4], dtype="float64", rng=0)
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(40, 6)), rng.integers(0, 4, size=40)
    adv = gn.robust.fgsm(model, X, y, eps=0.1, clip=(0.0, 1.0))
    tx = torch.from_numpy(X).requires_grad_(True)
    torch.nn.functional.cross_entropy(torch_copy(model)(tx), torch.from_numpy(y)).backward()
    expected = (tx + 0.1 * tx.grad.sign()).clamp(0.0, 1.0).detach().numpy()
    np.testing.assert_array_equal(adv, expected)


def test_fgsm_on_a_one_logit_classifier_follows_its_binary_cross_entropy():
    torch = pytest.importorskip("torch")
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = gn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0, dtype="float64").fit(X, y)
    adv = gn.robust.fgsm(clf, X[:50], y[:50], eps=0.05)
    tx = torch.from_numpy(X[:50]).requires_grad_(True)
    z = torch_copy(clf.module_)(tx)[:, 0]
    torch.nn.functional.binary_cross_entropy_with_logits(z, torch.from_numpy(y[:50]).double()).backward()
    np.testing.assert_array_equal(adv, (tx + 0.05 * tx.grad.sign()).detach().numpy())


def test_pgd_stays_in_the_ball_and_the_clip_range(digits, digits_clf):
    _, X_test, _, y_test = digits
    low = np.full(64, 0.1, dtype=np.float32)
    for eps, clip in ((0.1, (0.0, 1.0)), (0.3, (low, 0.9)), (0.05, None)):
        adv = gn.robust.pgd(digits_clf, X_test, y_test, eps, clip=clip, rng=0)
        assert adv.shape == X_test.shape and adv.dtype == np.float32
        assert np.abs(adv - X_test).max() <= eps * (1 + 1e-6)
        if clip is not None:  # rows inside the range stay inside; rows outside are not pulled further out
            lo, hi = np.minimum(clip[0], X_test), np.maximum(clip[1], X_test)
            assert np.all(adv >= lo) and np.all(adv <= hi)
    assert not np.array_equal(adv, X_test)


def test_pgd_is_at_least_as_strong_as_fgsm(digits, digits_clf):
    _, X_test, _, y_test = digits
    for eps in (0.05, 0.1, 0.2):
        fgsm = digits_clf.score(gn.robust.fgsm(digits_clf, X_test, y_test, eps, clip=(0, 1)), y_test)
        pgd = digits_clf.score(gn.robust.pgd(digits_clf, X_test, y_test, eps, clip=(0, 1), rng=0), y_test)
        assert pgd <= fgsm


def test_pgd_loss_rises_with_each_run_of_steps(digits, digits_clf):
    _, X_test, _, y_test = digits
    module = digits_clf.module_

    def loss(rows):
        return float(F.cross_entropy(module(rows), y_test).data)

    clean = loss(X_test)
    one = loss(gn.robust.pgd(digits_clf, X_test, y_test, 0.1, steps=1, random_start=False))
    ten = loss(gn.robust.pgd(digits_clf, X_test, y_test, 0.1, steps=10, random_start=False))
    assert clean < one < ten


def test_robust_accuracy_starts_at_clean_accuracy_and_falls(digits, digits_clf):
    _, X_test, _, y_test = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", gn.robust.GradientMaskingWarning)
        result = gn.robust.robust_accuracy(digits_clf, X_test, y_test, [0.2, 0.0, 0.02, 0.05, 0.1], clip=(0, 1),
                                           rng=0)
    assert list(result) == [0.0, 0.02, 0.05, 0.1, 0.2]
    assert result[0.0] == result.clean == pytest.approx(digits_clf.score(X_test, y_test))
    values = list(result.values())
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert values[-1] < 0.5 * values[0]
    assert result.trustworthy and result.problems == [] and result.attack == "pgd"
    assert all(result[e] <= result.fgsm[e] for e in result)
    fgsm_only = gn.robust.robust_accuracy(digits_clf, X_test, y_test, [0.0, 0.1], attack="fgsm", clip=(0, 1))
    assert fgsm_only.fgsm is None and fgsm_only[0.1] == result.fgsm[0.1]


def test_gradient_masking_is_reported_instead_of_robustness(digits, digits_clf):
    _, X_test, _, y_test = digits

    def weakening(model, X, y, eps):  # an attack that gives up at large eps, as masked gradients make PGD do
        return X if eps > 0.05 else gn.robust.fgsm(model, X, y, eps, clip=(0, 1))

    with pytest.warns(gn.robust.GradientMaskingWarning, match="accuracy rises"):
        result = gn.robust.robust_accuracy(digits_clf, X_test, y_test, [0.0, 0.05, 0.1], attack=weakening)
    assert not result.trustworthy and "eps 0.05" in result.problems[0]
    problems = gn.robust.masking_problems({0.0: 0.9, 0.1: 0.6}, {0.0: 0.9, 0.1: 0.4}, tolerance=0.005)
    assert problems == ["PGD is weaker than FGSM at eps 0.1 (accuracy 0.6000 against 0.4000)"]
    assert gn.robust.masking_problems({0.0: 0.9, 0.1: 0.903}, {0.1: 0.9}, tolerance=0.005) == []


def test_attacks_take_labels_and_seeds(digits):
    X_train, X_test, y_train, y_test = digits
    names = np.array(list("abcdefghij"))
    clf = gn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(X_train, names[y_train])
    a = gn.robust.pgd(clf, X_test[:40], names[y_test[:40]], 0.1, rng=3)
    b = gn.robust.pgd(clf, X_test[:40], names[y_test[:40]], 0.1, rng=3)
    np.testing.assert_array_equal(a, b)
    gn.manual_seed(5)
    c = gn.robust.pgd(clf, X_test[:40], names[y_test[:40]], 0.1)
    gn.manual_seed(5)
    np.testing.assert_array_equal(c, gn.robust.pgd(clf, X_test[:40], names[y_test[:40]], 0.1))
    chunked = gn.robust.fgsm(clf, X_test, names[y_test], 0.1, batch_size=50)
    np.testing.assert_array_equal(chunked, gn.robust.fgsm(clf, X_test, names[y_test], 0.1))
    with pytest.raises(ValueError, match="not among the model's classes"):
        gn.robust.fgsm(clf, X_test[:2], ["a", "z"], 0.1)


def test_eps_zero_leaves_every_row_even_outside_the_range(digits, digits_clf):
    _, X_test, _, y_test = digits
    shifted = X_test + 0.5  # outside clip (0, 1) in places
    np.testing.assert_array_equal(gn.robust.pgd(digits_clf, shifted, y_test, 0.0, clip=(0, 1)), shifted)
    np.testing.assert_array_equal(gn.robust.fgsm(digits_clf, shifted, y_test, 0.0, clip=(0, 1)), shifted)


def test_bad_arguments_are_named(digits, digits_clf):
    _, X_test, _, y_test = digits
    x, y = X_test[:5], y_test[:5]
    with pytest.raises(ValueError, match="eps"):
        gn.robust.fgsm(digits_clf, x, y, -0.1)
    with pytest.raises(ValueError, match="one value per feature"):
        gn.robust.fgsm(digits_clf, x, y, 0.1, clip=(np.zeros(3), 1.0))
    with pytest.raises(ValueError, match="min exceeds"):
        gn.robust.fgsm(digits_clf, x, y, 0.1, clip=(1.0, 0.0))
    with pytest.raises(ValueError, match="pair"):
        gn.robust.fgsm(digits_clf, x, y, 0.1, clip=1.0)
    with pytest.raises(ValueError, match="steps"):
        gn.robust.pgd(digits_clf, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="one label per row"):
        gn.robust.fgsm(digits_clf, x, y[:3], 0.1)
    with pytest.raises(ValueError, match="attack must be"):
        gn.robust.robust_accuracy(digits_clf, x, y, [0.1], attack="cw")
    with pytest.raises(ValueError, match="empty"):
        gn.robust.robust_accuracy(digits_clf, x, y, [])
    with pytest.raises(ValueError, match=r"outside 0\.\.3"):
        gn.robust.fgsm(nn.MLP([64, 4], rng=0), x, np.array([0, 1, 2, 3, 4]), 0.1)


def test_attacks_run_on_any_array_api_namespace(xp):
    model = nn.MLP([4, 8, 3], dtype="float64", xp=xp, rng=0)
    X = np.random.default_rng(0).uniform(size=(20, 4))
    y = np.random.default_rng(1).integers(0, 3, size=20)
    adv = gn.robust.pgd(model, xp.asarray(X), y, 0.1, clip=(np.zeros(4), 1.0), rng=0)
    reference = gn.robust.pgd(nn.MLP([4, 8, 3], dtype="float64", rng=0), X, y, 0.1, clip=(np.zeros(4), 1.0), rng=0)
    np.testing.assert_array_equal(gn.to_numpy(adv), reference)


# ---- adversarial training ----------------------------------------------------------------------
def test_adversarial_training_callback_replaces_part_of_each_batch():
    seen = []

    class Spy(gn.train.Callback):
        def on_batch_begin(self, state, batch):
            seen.append(batch)

    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(64, 5)).astype(np.float32), rng.integers(0, 3, size=64)
    model = nn.MLP([5, 8, 3], dropout=0.2, rng=0)
    attack = gn.robust.AdversarialTraining("pgd", eps=0.1, fraction=0.25, steps=3, clip=(0.0, 1.0))
    gn.train.fit(model, F.cross_entropy, optim.Adam(model.parameters()), (X, y), epochs=1, batch_size=16,
                 shuffle=False, callbacks=[attack, Spy()], rng=0)
    assert len(seen) == 4 and all(len(b.x) == 16 for b in seen)
    for i, batch in enumerate(seen):
        rows = X[16 * i:16 * (i + 1)]
        moved = np.abs(batch.x - rows).max(axis=1)
        assert np.all(moved[:4] > 0) and np.all(moved[:4] <= 0.1 + 1e-6) and np.all(moved[4:] == 0)
        assert batch.x.min() >= 0 and batch.x.max() <= 1
        np.testing.assert_array_equal(batch.y, y[16 * i:16 * (i + 1)])
    assert repr(attack) == "AdversarialTraining('pgd', eps=0.1, fraction=0.25, steps=3, alpha=0.0833333)"
    with pytest.raises(ValueError, match="attack"):
        gn.robust.AdversarialTraining("cw")
    with pytest.raises(ValueError, match="fraction"):
        gn.robust.AdversarialTraining(fraction=0.0)
    with pytest.raises(ValueError, match="positive"):
        gn.robust.AdversarialTraining(eps=0.0)


def test_estimator_parameters_are_validated_and_saved(tmp_path, digits):
    X_train, _, y_train, _ = digits
    from sklearn.utils._param_validation import InvalidParameterError

    for bad in (dict(adversarial="cw"), dict(adversarial="fgsm", adversarial_eps=0.0),
                dict(adversarial="fgsm", adversarial_fraction=1.5)):
        with pytest.raises(InvalidParameterError, match=next(iter(bad.keys() - {"adversarial"}), "adversarial")):
            gn.MLPClassifier(**bad).fit(X_train[:20], y_train[:20])
    with pytest.raises(ValueError, match="adversarial training needs a stochastic solver"):
        gn.MLPClassifier(solver="lbfgs", adversarial="fgsm").fit(X_train[:20], y_train[:20])
    clf = gn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, adversarial="pgd",
                           adversarial_eps=0.05).fit(X_train, y_train)
    gn.save(clf, tmp_path / "adv.safetensors")
    loaded = gn.load(tmp_path / "adv.safetensors")
    assert loaded.get_params()["adversarial"] == "pgd" and loaded.adversarial_eps == 0.05


def test_adversarial_fits_are_reproducible_and_resume_exactly(digits):
    X_train, _, y_train, _ = digits
    params = dict(hidden_layer_sizes=(16,), max_iter=6, random_state=0, adversarial="pgd", adversarial_eps=0.1,
                  dropout=0.1)
    a = gn.MLPClassifier(**params).fit(X_train, y_train)
    b = gn.MLPClassifier(**params).fit(X_train, y_train)
    plain = gn.MLPClassifier(**{**params, "adversarial": None}).fit(X_train, y_train)
    assert all(np.array_equal(u, v) for u, v in zip(a.coefs_, b.coefs_, strict=True))
    assert not np.array_equal(a.coefs_[0], plain.coefs_[0])
    saved = {}

    def stop_at_three(est, record):
        if record["epoch"] == 3:
            saved["state"] = est.get_training_state()
            return True
        return False

    gn.MLPClassifier(**params).fit(X_train, y_train, callbacks=[stop_at_three])
    resumed = gn.MLPClassifier(**params).fit(X_train, y_train, resume=saved["state"])
    assert all(np.array_equal(u, v) for u, v in zip(a.coefs_ + a.intercepts_, resumed.coefs_ + resumed.intercepts_,
                                                    strict=True))


def test_adversarial_regression_trains():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0])
    for attack in ("fgsm", "pgd"):
        reg = gn.MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, learning_rate_init=0.01, random_state=0,
                              adversarial=attack, adversarial_eps=0.05).fit(X, y)
        assert reg.score(X, y) > 0.99


def test_adversarial_training_raises_robust_accuracy_on_digits(digits):
    # the closing figures come from this setting: hidden (64,), 100 epochs, PGD-10 at eps 0.1 in [0, 1]
    X_train, X_test, y_train, y_test = digits
    eps = [0.0, 0.1]
    params = dict(hidden_layer_sizes=(64,), max_iter=100, random_state=0)
    standard = gn.MLPClassifier(**params).fit(X_train, y_train)
    robust = gn.MLPClassifier(**params, adversarial="pgd", adversarial_eps=0.1).fit(X_train, y_train)
    before = gn.robust.robust_accuracy(standard, X_test, y_test, eps, clip=(0, 1), rng=0)
    after = gn.robust.robust_accuracy(robust, X_test, y_test, eps, clip=(0, 1), rng=0)
    assert before.trustworthy and after.trustworthy
    assert after[0.1] > before[0.1] + 0.2
    assert after[0.0] > before[0.0] - 0.03  # the clean-accuracy cost stays small
