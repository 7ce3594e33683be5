"""MLPClassifier's class_weight, with scikit-learn's meaning: per-row weights from each row's class."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.utils.class_weight import compute_sample_weight

import glassnet as gn

X, y = load_iris(return_X_y=True)
labels = np.array(["setosa", "versicolor", "virginica"])[y]


def _fit(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args, **kwargs)


def _same(a, b) -> bool:
    return all(np.array_equal(p, q) for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True))


@pytest.mark.parametrize("class_weight", ["balanced", {"setosa": 3.0, "virginica": 0.5}])
def test_class_weight_is_sample_weight_per_class(class_weight):
    rows = slice(0, 120)  # unequal class counts, so 'balanced' is not all ones
    params = {"hidden_layer_sizes": (6,), "max_iter": 5, "random_state": 0}
    weighted = _fit(gn.MLPClassifier(class_weight=class_weight, **params), X[rows], labels[rows])
    expected = compute_sample_weight(class_weight, labels[rows])
    assert len(set(expected)) > 1
    by_hand = _fit(gn.MLPClassifier(**params), X[rows], labels[rows], sample_weight=expected)
    assert _same(weighted, by_hand)
    plain = _fit(gn.MLPClassifier(**params), X[rows], labels[rows])
    assert not _same(weighted, plain)


def test_class_weight_multiplies_sample_weight():
    w = np.linspace(0.5, 2.0, len(y))
    params = {"hidden_layer_sizes": (6,), "max_iter": 5, "random_state": 0}
    both = _fit(gn.MLPClassifier(class_weight={0: 2.0}, **params), X, y, sample_weight=w)
    by_hand = _fit(gn.MLPClassifier(**params), X, y, sample_weight=w * np.where(y == 0, 2.0, 1.0))
    assert _same(both, by_hand)


def test_binary_class_weight_and_partial_fit_with_a_dict():
    yb = (y == 2).astype(int)
    clf = gn.MLPClassifier(hidden_layer_sizes=(4,), random_state=0, class_weight={1: 4.0})
    clf.partial_fit(X, yb, classes=[0, 1])
    by_hand = gn.MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    by_hand.partial_fit(X, yb, classes=[0, 1], sample_weight=np.where(yb == 1, 4.0, 1.0))
    assert _same(clf, by_hand)


@pytest.mark.parametrize(("class_weight", "message"), [
    ({"daisy": 2.0}, "not among the data's classes"),
    ({"setosa": -1.0}, "non-negative"),
    ("even", "class_weight"),
])
def test_bad_class_weight_is_refused(class_weight, message):
    with pytest.raises(ValueError, match=message):
        _fit(gn.MLPClassifier(max_iter=2, class_weight=class_weight), X, labels)


def test_balanced_is_refused_by_partial_fit():
    with pytest.raises(ValueError, match="partial_fit"):
        gn.MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_class_weight_survives_a_model_file(tmp_path):
    clf = _fit(gn.MLPClassifier(max_iter=3, class_weight={0: 2.0, 2: 0.5}, random_state=0), X, y)
    loaded = gn.load(gn.save(clf, tmp_path / "m.safetensors"))
    assert loaded.get_params()["class_weight"] == {0: 2.0, 2: 0.5}
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
