"""MLPClassifier: scikit-learn's multi-layer perceptron classifier, on glassnet's engine."""

from __future__ import annotations

from numbers import Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .. import backend
from ._base import BaseMLP, has_partial_fit
from ._heads import HEADS


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: a drop-in for scikit-learn's, faster, with more to tune.

    Every parameter of ``sklearn.neural_network.MLPClassifier`` keeps its name, default and
    meaning. Binary and multi-label targets use per-output sigmoid cross-entropy, multiclass
    softmax cross-entropy. glassnet adds:

    - ``solver`` 'rmsprop' (smoothing 0.99, ``epsilon``) and 'adamw' (Adam whose ``alpha`` is a
      decoupled weight decay, W *= 1 - lr * alpha per step, instead of an L2 gradient term);
    - ``activation`` also 'leaky_relu', 'gelu', 'elu' and 'silu';
    - ``dropout``: probability of zeroing each hidden unit while training;
    - ``l1``: adds l1 * sum|W| / batch_size to the loss (biases are never penalized);
    - ``max_grad_norm``: clip the global gradient norm of every step;
    - ``class_weight``: None, 'balanced' or {class: weight}, with scikit-learn's meaning (each sample's
      weight is multiplied by its class's weight; 'balanced' weighs classes by n_samples / (n_classes *
      count), from the y given to ``fit``);
    - ``validation_metric``: what ``early_stopping`` watches on the validation rows, 'score' (accuracy,
      scikit-learn's rule) or 'loss' (the validation loss, as Keras does: it keeps falling while accuracy on a
      small split has long stalled); with 'loss' the weights of the lowest validation loss are kept,
      ``best_loss_`` is that loss and ``best_validation_score_`` that epoch's score;
    - ``device``: 'cpu' (NumPy) or 'cuda'/'gpu' (CuPy); ``dtype``: 'float32' or 'float64';
    - ``adversarial``: None, 'fgsm' or 'pgd' (10 steps): adversarial training, replacing
      ``adversarial_fraction`` of each batch's rows by their attacked versions within ``adversarial_eps``
      (L-infinity, on the training loss; :class:`glassnet.robust.AdversarialTraining`);
    - ``monitor`` (default True): watch the health of training (stochastic solvers). Each epoch's
      record gains the update-to-weight ratio per layer, the fractions of dead ReLU and saturated
      sigmoid/tanh units (on the first 256 training rows) and the loss spikes, which
      ``glassnet.diagnose(est)`` reads; and a NaN guard stops training at the first non-finite loss
      or gradient, before it reaches the weights: a RuntimeWarning names the step and the layer and
      what to try, and the estimator keeps the last good weights. ``monitor=False`` leaves both out
      (a little faster; a diverging fit then ends as scikit-learn's does, with a ValueError).

    Fitted attributes are scikit-learn's (``coefs_``, ``loss_curve_``, ``classes_``...) plus
    ``module_``, the trained :class:`glassnet.nn.MLP`, and ``history_``, one record per epoch:
    epoch, loss, val_score, val_loss, lr, wall_time, grad_norm and weight_norm per layer, and with
    ``monitor`` update_ratio, dead_fraction, saturated_fraction, loss_spikes and loss_spike_max (an
    epoch cut short by the NaN guard is recorded too, with the event under ``nonfinite``; it does
    not count in ``n_iter_`` or ``loss_curve_``).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from glassnet import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _fitted_attributes = (*BaseMLP._fitted_attributes, "classes_")
    _parameter_constraints: ClassVar[dict] = {**BaseMLP._parameter_constraints,
                                              "class_weight": [StrOptions({"balanced"}), dict, None]}

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: Any = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: Any = 10, max_fun: int = 15000,
                 dropout: float = 0.0, l1: float = 0.0, max_grad_norm: float | None = None,
                 device: str = "cpu", dtype: str = "float32", validation_metric: str = "score",
                 class_weight: Any = None, adversarial: str | None = None, adversarial_eps: float = 0.1,
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
        self.class_weight = class_weight

    @available_if(has_partial_fit)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over (X, y); ``classes`` (all labels that will ever occur) is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def _class_weighted(self, y: Any, sample_weight: Any, incremental: bool) -> Any:
        """``sample_weight`` times each row's class weight (scikit-learn's meaning); unchanged without class_weight."""
        weights = self.class_weight
        if weights is None:
            return sample_weight
        if incremental and weights == "balanced":
            raise ValueError("class_weight='balanced' is not available with partial_fit: a batch's class counts "
                             "are not the data's; pass a dict of class weights instead")
        if isinstance(weights, dict):
            unknown = [c for c in weights if c not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"class_weight names classes {unknown} that are not among the data's classes "
                                 f"{self.classes_.tolist()}")
            if not all(isinstance(w, Real) and w >= 0 for w in weights.values()):
                raise ValueError(f"class_weight values must be non-negative numbers, got {weights}")
        per_row = compute_sample_weight(weights, y)
        return per_row if sample_weight is None else per_row * sample_weight

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, np.ndarray, int, str]:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=np.dtype(self.dtype), order="C", reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        kind = self._label_binarizer.y_type_
        if kind != "multilabel-indicator" and len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes, but y has only one "
                             f"class: {self.classes_[0]!r}")
        if kind == "multiclass":
            return X, np.searchsorted(self.classes_, y), len(self.classes_), "softmax"
        if kind == "binary":
            return X, (y == self.classes_[1]).astype(self.dtype)[:, None], 1, "logistic"
        Y = np.asarray(self._label_binarizer.transform(y), dtype=self.dtype)
        return X, Y, Y.shape[1], "logistic"

    def _stratify(self, Y: np.ndarray) -> np.ndarray | None:
        return Y.ravel() if Y.ndim == 1 or Y.shape[1] == 1 else None

    def _validation_score(self, output: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> float:
        if Y.ndim == 1:  # multiclass: class indices
            return float(accuracy_score(Y, output.argmax(axis=1), sample_weight=w))
        predicted = (output > 0.5).astype(Y.dtype)  # binary (one column) or multi-label
        if Y.shape[1] == 1:
            Y, predicted = Y.ravel(), predicted.ravel()
        return float(accuracy_score(Y, predicted, sample_weight=w))

    def _restore_module(self) -> None:
        super()._restore_module()
        self._label_binarizer = LabelBinarizer()
        if self.out_activation_ == "logistic" and self.n_outputs_ > 1:  # multi-label
            self._label_binarizer.fit(np.eye(self.n_outputs_, dtype=int))
        else:
            self._label_binarizer.fit(self.classes_)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels (for multi-label data, a 0/1 indicator matrix)."""
        proba = self._output(X)
        return self._label_binarizer.inverse_transform(proba.ravel() if self.n_outputs_ == 1 else proba)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of the class probabilities, computed from the logits (finite even where a probability underflows)."""
        check_is_fitted(self)
        if self.n_outputs_ != 1:
            return self._output(X, log=True)
        z, xp = self._logits(X), self._namespace()  # binary: [log sigmoid(-z), log sigmoid(z)]
        return backend.to_numpy(HEADS["logistic"].log_output(xp.concat([-z, z], axis=1), xp)).astype(np.float64)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
