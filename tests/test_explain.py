"""Feature attributions: saliency and integrated gradients against PyTorch, completeness, baselines, targets,
batching, permutation importance, and models left exactly as they were."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import glassnet as gn
from conftest import torch_copy
from glassnet import nn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split((X / 16).astype(np.float32), y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def digits_clf(digits):
    X_train, _, y_train, _ = digits
    return gn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=0).fit(X_train, y_train)


def test_saliency_equals_torch_on_copied_weights():
    torch = pytest.importorskip("torch")
    model = nn.MLP([6, 16, 16, 4], dtype="float64", rng=0)
    X = np.random.default_rng(0).normal(size=(30, 6))
    result = gn.explain.saliency(model, X)
    tx = torch.from_numpy(X).requires_grad_(True)
    logits = torch_copy(model)(tx)
    target = logits.argmax(dim=1)
    logits.gather(1, target[:, None]).sum().backward()
    np.testing.assert_array_equal(result.target, target.numpy())
    np.testing.assert_allclose(result.values, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert result.completeness_error is None


def test_integrated_gradients_equal_torch_on_copied_weights():
    torch = pytest.importorskip("torch")
    model = nn.MLP([5, 12, 3], activation="tanh", dtype="float64", rng=1)
    X = np.random.default_rng(1).normal(size=(7, 5))
    baseline = np.random.default_rng(2).normal(size=5)
    result = gn.explain.integrated_gradients(model, X, baseline=baseline, steps=16, target=2,
                                             method="riemann_trapezoid")
    net = torch_copy(model, "tanh")
    alphas = torch.linspace(0, 1, 16, dtype=torch.float64)
    weights = torch.full((16,), 1 / 15, dtype=torch.float64)
    weights[[0, -1]] /= 2
    tb, tx = torch.from_numpy(baseline), torch.from_numpy(X)
    path = (tb + alphas[:, None, None] * (tx - tb)).requires_grad_(True)  # (steps, rows, features)
    net(path)[..., 2].sum().backward()
    expected = (tx - tb) * (weights[:, None, None] * path.grad).sum(0)
    np.testing.assert_allclose(result.values, expected.numpy(), rtol=1e-9, atol=1e-12)


def test_integrated_gradients_complete_within_one_percent_at_200_steps(digits, digits_clf):
    _, X_test, _, _ = digits
    for method in ("gausslegendre", "riemann_trapezoid"):
        result = gn.explain.integrated_gradients(digits_clf, X_test, steps=200, method=method)
        assert result.values.shape == X_test.shape
        np.testing.assert_array_equal(result.target, digits_clf.predict(X_test))
        assert result.relative_completeness_error.max() < 0.01, method
        np.testing.assert_allclose(result.values.sum(axis=1), result.output_difference, rtol=0.01, atol=1e-3)


def test_completeness_error_is_reported_and_shrinks_with_steps(digits, digits_clf):
    _, X_test, _, _ = digits
    errors = [np.abs(gn.explain.integrated_gradients(digits_clf, X_test[:100], steps=m,
                                                     method="riemann_right").completeness_error).mean()
              for m in (2, 20, 200)]
    assert errors[0] > errors[1] > errors[2]


def test_output_difference_is_the_target_score_difference(digits, digits_clf):
    _, X_test, _, _ = digits
    x = X_test[:20]
    baseline = np.full(64, 0.25, dtype=np.float32)
    result = gn.explain.integrated_gradients(digits_clf, x, baseline=baseline, steps=10, target=3)
    module = digits_clf.module_
    expected = (module(x).data - module(np.broadcast_to(baseline, x.shape).copy()).data)[:, 3]
    np.testing.assert_allclose(result.output_difference, expected, rtol=1e-5, atol=1e-5)


def test_baselines(digits_clf, digits):
    _, X_test, _, _ = digits
    x = X_test[:10]
    same = gn.explain.integrated_gradients(digits_clf, x, baseline=x, steps=8)
    np.testing.assert_array_equal(same.values, 0)
    mean = gn.explain.integrated_gradients(digits_clf, x, baseline="mean", steps=8)
    given = gn.explain.integrated_gradients(digits_clf, x, baseline=x.mean(axis=0), steps=8)
    np.testing.assert_allclose(mean.values, given.values, rtol=1e-5, atol=1e-6)
    zeros = gn.explain.integrated_gradients(digits_clf, x, steps=8)
    np.testing.assert_array_equal(zeros.values, gn.explain.integrated_gradients(digits_clf, x, "zeros", 8).values)
    with pytest.raises(ValueError, match="baseline"):
        gn.explain.integrated_gradients(digits_clf, x, baseline="median")
    with pytest.raises(ValueError, match="one row per row"):
        gn.explain.integrated_gradients(digits_clf, x, baseline=np.zeros((3, 64)))


def test_chunks_do_not_change_the_result(digits, digits_clf):
    _, X_test, _, _ = digits
    whole = gn.explain.integrated_gradients(digits_clf, X_test[:50], steps=20)
    chunked = gn.explain.integrated_gradients(digits_clf, X_test[:50], steps=20, batch_size=70)  # 3 rows a chunk
    np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-5, atol=1e-6)  # float32 sums, other BLAS splits
    np.testing.assert_allclose(gn.explain.saliency(digits_clf, X_test, batch_size=7).values,
                               gn.explain.saliency(digits_clf, X_test).values, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
                                    "riemann_trapezoid"])
def test_path_weights_integrate(method):
    alphas, weights = gn.explain.path_weights(10, method)
    assert alphas.shape == weights.shape == (10,) and np.all((alphas >= 0) & (alphas <= 1))
    assert weights.sum() == pytest.approx(1.0)
    assert (weights * alphas).sum() == pytest.approx(0.5, abs=0.051)  # the integral of alpha over [0, 1]
    if method == "gausslegendre":  # exact up to degree 19
        assert (weights * alphas**19).sum() == pytest.approx(1 / 20)


def test_gradient_x_input_is_saliency_times_input(digits, digits_clf):
    _, X_test, _, _ = digits
    sal = gn.explain.saliency(digits_clf, X_test[:30], target=4)
    gxi = gn.explain.gradient_x_input(digits_clf, X_test[:30], target=4)
    np.testing.assert_allclose(gxi.values, sal.values * X_test[:30], rtol=1e-6)
    assert np.all(sal.target == 4) and gxi.method == "gradient_x_input"
    np.testing.assert_array_equal(np.asarray(sal), sal.values)


def test_targets_one_per_row_and_errors(digits, digits_clf):
    _, X_test, _, _ = digits
    targets = np.arange(12) % 10
    per_row = gn.explain.saliency(digits_clf, X_test[:12], target=targets)
    for i in (0, 5, 11):
        np.testing.assert_allclose(per_row.values[i],
                                   gn.explain.saliency(digits_clf, X_test[i:i + 1], target=int(targets[i])).values[0],
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"outside 0\.\.9"):
        gn.explain.saliency(digits_clf, X_test[:3], target=10)
    with pytest.raises(ValueError, match="one int per row"):
        gn.explain.saliency(digits_clf, X_test[:3], target=[1, 2])
    with pytest.raises(ValueError, match="64"):
        gn.explain.saliency(digits_clf, X_test[:3, :10])
    with pytest.raises(ValueError, match="NaN"):
        gn.explain.saliency(digits_clf, np.full((2, 64), np.nan))
    with pytest.raises(ValueError, match="not fitted"):
        gn.explain.saliency(gn.MLPClassifier(), X_test[:3])
    with pytest.raises(TypeError, match=r"nn\.Module"):
        gn.explain.saliency("model", X_test[:3])


def test_estimator_and_its_network_give_the_same_attributions(digits, digits_clf):
    _, X_test, _, _ = digits
    a = gn.explain.integrated_gradients(digits_clf, X_test[:20], steps=10)
    b = gn.explain.integrated_gradients(digits_clf.module_, X_test[:20], steps=10)
    np.testing.assert_array_equal(a.values, b.values)


def test_one_logit_binary_classifier_scores_each_class():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = gn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0).fit(X, y)
    assert clf.n_outputs_ == 1
    ones = gn.explain.saliency(clf, X[:10], target=1)
    zeros = gn.explain.saliency(clf, X[:10], target=0)
    np.testing.assert_allclose(zeros.values, -ones.values)
    predicted = gn.explain.saliency(clf, X[:10])
    np.testing.assert_array_equal(predicted.target, clf.predict(X[:10]))
    ig = gn.explain.integrated_gradients(clf, X[:50], steps=200)
    # within 1 % of f(x) - f(baseline) on every row where that is not close to zero, and over all rows
    clear = np.abs(ig.output_difference) > 0.5
    assert clear.sum() > 40 and ig.relative_completeness_error[clear].max() < 0.01
    assert np.abs(ig.completeness_error).sum() < 0.01 * np.abs(ig.output_difference).sum()


def test_regressor_explains_its_output():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = 3 * X[:, 0] - X[:, 2]
    reg = gn.MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, random_state=0).fit(X, y)
    ig = gn.explain.integrated_gradients(reg, X[:50], steps=100)
    assert np.all(ig.target == 0)
    np.testing.assert_allclose(ig.output_difference, reg.predict(X[:50]) - reg.predict(np.zeros((1, 4))),
                               rtol=1e-4, atol=1e-4)
    assert np.abs(ig.values).mean(axis=0).argmax() == 0  # the feature with the largest coefficient
    with pytest.raises(ValueError, match="classifier"):
        gn.robust.fgsm(reg, X[:5], y[:5], 0.1)


def test_models_are_left_as_they_were():
    model = nn.MLP([6, 16, 3], dropout=0.3, rng=0)
    model.train()
    model.layers[0].eval()  # a mixed mode must come back mixed
    model.layers[-1].weight.requires_grad = False
    for p in model.parameters():
        p.grad = np.ones_like(p.data)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    flags = [p.requires_grad for p in model.parameters()]
    X = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
    gn.explain.saliency(model, X)
    gn.explain.gradient_x_input(model, X)
    gn.explain.integrated_gradients(model, X, steps=5)
    gn.explain.permutation_importance(model, X, np.zeros(10, dtype=int), n_repeats=2, random_state=0)
    gn.robust.robust_accuracy(model, X, np.zeros(10, dtype=int), [0.0, 0.1], rng=0)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(np.array_equal(p.grad, np.ones_like(p.data)) for p in model.parameters())


def test_explanations_run_on_any_array_api_namespace(xp):
    model = nn.MLP([4, 8, 3], dtype="float64", xp=xp, rng=0)
    X = np.random.default_rng(0).normal(size=(9, 4))
    ig = gn.explain.integrated_gradients(model, xp.asarray(X), steps=30, batch_size=40)
    assert isinstance(ig.values, np.ndarray) and ig.relative_completeness_error.max() < 1e-3
    reference = gn.explain.integrated_gradients(nn.MLP([4, 8, 3], dtype="float64", rng=0), X, steps=30)
    np.testing.assert_allclose(ig.values, reference.values, rtol=1e-12)


def test_permutation_importance_finds_the_informative_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 1] > 0).astype(int)
    clf = gn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, random_state=0).fit(X[:300], y[:300])
    result = gn.explain.permutation_importance(clf, X[300:], y[300:], n_repeats=5, random_state=0)
    assert result.importances.shape == (3, 5)
    assert result.importances_mean.argmax() == 1 and result.importances_mean[1] > 0.3
    on_module = gn.explain.permutation_importance(clf.module_, X[300:].astype(np.float32), y[300:], n_repeats=5,
                                                  random_state=0)
    assert on_module.importances_mean.argmax() == 1


def test_any_module_returning_logits_works():
    class TwoLayers(nn.Module):  # attributes in another order than the forward pass uses them
        def __init__(self):
            self.out = nn.Linear(8, 3, rng=0)
            self.hidden = nn.Linear(5, 8, rng=1)

        def forward(self, x):
            return self.out(self.hidden(x).tanh())

    model = TwoLayers()
    X = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    ig = gn.explain.integrated_gradients(model, X, steps=64)
    assert ig.values.shape == (6, 5) and ig.relative_completeness_error.max() < 1e-3
    adv = gn.robust.fgsm(model, X, np.array([0, 1, 2, 0, 1, 2]), 0.1)
    assert np.abs(adv - X).max() == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        gn.robust.fgsm(model, X, np.full(6, 3), 0.1)
