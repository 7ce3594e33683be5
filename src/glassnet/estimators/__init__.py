"""scikit-learn compatible estimators: MLPClassifier and MLPRegressor, and TableColumns, a pipeline's first step
on a table."""

from .classifier import MLPClassifier
from .regressor import MLPRegressor
from .table import TableColumns

__all__ = ["MLPClassifier", "MLPRegressor", "TableColumns"]
