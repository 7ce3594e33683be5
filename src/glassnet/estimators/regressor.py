"""MLPRegressor: scikit-learn's multi-layer perceptron regressor, on glassnet's engine."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import column_or_1d, validate_data

from ._base import BaseMLP, has_partial_fit


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: a drop-in for scikit-learn's, faster, with more to tune.

    Every parameter of ``sklearn.neural_network.MLPRegressor`` keeps its name, default and
    meaning; ``loss`` is 'squared_error' (half squared error, identity output) or 'poisson'
    (half Poisson deviance, exp output). Single and multi-output targets. glassnet's additions
    (``dropout``, ``l1``, ``max_grad_norm``, ``validation_metric``, solvers 'rmsprop' and 'adamw', ``device``,
    ``dtype``, ``adversarial``, ``monitor``) and ``history_`` are described in :class:`glassnet.MLPClassifier`.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from glassnet import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, noise=0.1, random_state=0)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=500, random_state=0).fit(X, y / 100)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints: ClassVar[dict] = {**BaseMLP._parameter_constraints,
                                    "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *, loss: str = "squared_error",
                 solver: str = "adam", alpha: float = 0.0001, batch_size: Any = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: Any = 10,
                 max_fun: int = 15000, dropout: float = 0.0, l1: float = 0.0, max_grad_norm: float | None = None,
                 device: str = "cpu", dtype: str = "float32", validation_metric: str = "score",
                 adversarial: str | None = None, adversarial_eps: float = 0.1,
                 adversarial_fraction: float = 0.5, monitor: bool = True) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, dropout=dropout, l1=l1,
            max_grad_norm=max_grad_norm, device=device, dtype=dtype, validation_metric=validation_metric,
            adversarial=adversarial, adversarial_eps=adversarial_eps, adversarial_fraction=adversarial_fraction,
            monitor=monitor)
        self.loss = loss

    @available_if(has_partial_fit)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over (X, y), continuing from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, np.ndarray, int, str]:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                             dtype=np.dtype(self.dtype), order="C", reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' needs non-negative targets y")
        Y = np.asarray(y.reshape(y.shape[0], -1), dtype=self.dtype)
        return X, Y, Y.shape[1], "exp" if self.loss == "poisson" else "identity"

    def _validation_score(self, output: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> float:
        return float(r2_score(Y, output, sample_weight=w))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, shape (n_samples,) or (n_samples, n_outputs)."""
        out = self._output(X)
        return out.ravel() if out.shape[1] == 1 else out
