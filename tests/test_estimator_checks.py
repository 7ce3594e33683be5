"""scikit-learn's own estimator checks, run on both glassnet estimators."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from glassnet import MLPClassifier, MLPRegressor

# max_iter=100 is what scikit-learn's own test suite uses for its MLPs.
ESTIMATORS = [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
