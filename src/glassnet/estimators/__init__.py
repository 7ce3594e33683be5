"""scikit-learn compatible estimators: MLPClassifier and MLPRegressor."""

from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
