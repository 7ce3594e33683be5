"""What MLPClassifier and MLPRegressor share: parameters, the fit, training state, restoring, pickling.

The fitted network is ``module_`` (an :class:`glassnet.nn.MLP`). Everything else a fitted
estimator holds is plain data named in ``_fitted_attributes``: together with ``get_params()``
it describes the model completely, and :meth:`BaseMLP._restore_module` rebuilds ``module_``
from it (model files and unpickling both go this way).
"""

from __future__ import annotations

import copy
import importlib
import itertools
import math
import warnings
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import backend, nn, optim
from ..autograd import Tensor, no_grad
from ..data import ArraySource, densify, take_rows, to_device
from ..inspect.adversarial import ATTACKS, AdversarialTraining
from ..inspect.lr_finder import TrainingSetup
from ..train import LBFGS, Callback, ClipGradNorm, Loop, Monitor, NaNGuard, Penalty
from ._heads import HEADS
from ._optimizers import SklearnAdam, SklearnSGD
from ._rules import LBFGSRules, StochasticRules
from ._sklearn_callbacks import CallbackSupportMixin, FitTasks
from ._stopping import LearningRate, Plateau

STOCHASTIC_SOLVERS = ("sgd", "adam", "rmsprop", "adamw")
_PREDICT_CHUNK = 4096  # rows densified at a time when predicting on sparse input
NAN_ADVICE = ("lower learning_rate_init (now {lr}), clip the gradients with max_grad_norm (1.0, say), or scale X "
              "(StandardScaler) and, for regression, the target")


def has_partial_fit(est: BaseMLP) -> bool:
    """partial_fit exists for the stochastic solvers only, as in scikit-learn."""
    if est.solver not in STOCHASTIC_SOLVERS:
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
                             "stochastic.")
    return True


def _split_callbacks(callbacks: Any) -> tuple[list, list[Callback]]:
    """(``cb(est, record)`` functions, fit-loop Callbacks) from what ``fit(callbacks=...)`` was given."""
    functions, loop_callbacks = [], []
    for cb in callbacks or ():
        if isinstance(cb, Callback):
            loop_callbacks.append(cb)
        elif callable(cb):
            functions.append(cb)
        else:
            raise TypeError(f"callbacks must be glassnet.train.Callback objects or functions cb(estimator, record), "
                            f"got {type(cb).__name__}")
    return functions, loop_callbacks


class BaseMLP(CallbackSupportMixin, BaseEstimator):
    """Base of the glassnet MLP estimators; use MLPClassifier or MLPRegressor."""

    _parameter_constraints: ClassVar[dict] = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"identity", "logistic", "tanh", "relu", "leaky_relu", "gelu", "elu", "silu"})],
        "solver": [StrOptions({"lbfgs", *STOCHASTIC_SOLVERS})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_metric": [StrOptions({"score", "loss"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "device": [StrOptions({"cpu", "cuda", "gpu"})],
        "dtype": [StrOptions({"float32", "float64"})],
        "adversarial": [StrOptions(set(ATTACKS)), None],
        "adversarial_eps": [Interval(Real, 0, None, closed="neither")],
        "adversarial_fraction": [Interval(Real, 0, 1, closed="right")],
        "monitor": ["boolean"],
    }

    # Plain data that, with get_params(), fully describes a fitted estimator (model files rely on it).
    _fitted_attributes: tuple[str, ...] = (
        "coefs_", "intercepts_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_",
        "loss_", "best_loss_", "loss_curve_", "validation_scores_", "best_validation_score_",
        "n_iter_", "t_", "history_")
    # Set only when fit saw column names, as in scikit-learn.
    _optional_fitted_attributes: tuple[str, ...] = ("feature_names_in_",)
    # Live objects rebuilt from the plain data above; never pickled.
    _transient_attributes: tuple[str, ...] = ("module_", "_optimizer", "_rules", "_monitor")

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *, solver: str = "adam",
                 alpha: float = 0.0001, batch_size: Any = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 0.001, power_t: float = 0.5, max_iter: int = 200,
                 shuffle: bool = True, random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9, nesterovs_momentum: bool = True,
                 early_stopping: bool = False, validation_fraction: float = 0.1, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: Any = 10, max_fun: int = 15000,
                 dropout: float = 0.0, l1: float = 0.0, max_grad_norm: float | None = None,
                 device: str = "cpu", dtype: str = "float32", validation_metric: str = "score",
                 adversarial: str | None = None, adversarial_eps: float = 0.1,
                 adversarial_fraction: float = 0.5, monitor: bool = True) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.l1 = l1
        self.max_grad_norm = max_grad_norm
        self.device = device
        self.dtype = dtype
        self.validation_metric = validation_metric
        self.adversarial = adversarial
        self.adversarial_eps = adversarial_eps
        self.adversarial_fraction = adversarial_fraction
        self.monitor = monitor

    # ---- subclass hooks ---------------------------------------------------------------------
    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[Any, np.ndarray, int, str]:
        """(X, training targets, number of outputs, head name) from user data."""
        raise NotImplementedError

    def _validation_score(self, output: np.ndarray, Y: np.ndarray, w: np.ndarray | None) -> float:
        """Accuracy or R^2 of the head outputs ``output`` against training targets ``Y``."""
        raise NotImplementedError

    def _stratify(self, Y: np.ndarray) -> np.ndarray | None:
        """Labels to stratify the early-stopping split by, or None."""
        return None

    def _class_weighted(self, y: Any, sample_weight: np.ndarray | None, incremental: bool) -> np.ndarray | None:
        """The sample weights with the classifier's ``class_weight`` applied (the regressor has none)."""
        return sample_weight

    # ---- devices and the network ------------------------------------------------------------
    def _namespace(self) -> Any:
        """The array namespace for ``device``: NumPy, or CuPy through array-api-compat."""
        if self.device == "cpu":
            return backend.namespace(np.empty(0))
        try:
            return importlib.import_module("array_api_compat.cupy")
        except ImportError as err:
            raise ImportError(f"device={self.device!r} needs CuPy, which is not installed (or does not "
                              "import); install the cupy build matching your CUDA version, or use "
                              "device='cpu'") from err

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        if any(int(s) != s or s < 1 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}")
        return [int(s) for s in sizes]

    def _build_module(self, sizes: list[int], rng: np.random.Generator) -> nn.MLP:
        return nn.MLP(sizes, activation=self.activation, dropout=self.dropout, dtype=self.dtype,
                      xp=self._namespace(), rng=rng)

    def _attach_rng(self, rng: np.random.Generator) -> None:
        """Make every dropout layer draw its masks from ``rng`` (the estimator's one stream)."""
        self._rng = rng
        for m in self.module_.modules():
            if isinstance(m, nn.Dropout):
                m.rng = rng

    def _linear_layers(self) -> list[nn.Linear]:
        return [m for m in self.module_.modules() if isinstance(m, nn.Linear)]

    def _restore_module(self) -> None:
        """Rebuild ``module_`` from ``coefs_``/``intercepts_`` and the parameters (after load or unpickling)."""
        coefs, intercepts = list(self.coefs_), list(self.intercepts_)
        if len(coefs) != len(intercepts) or not coefs:
            raise ValueError(f"{len(coefs)} weight matrices but {len(intercepts)} bias vectors")
        sizes = [int(self.n_features_in_)] + [int(np.shape(c)[1]) for c in coefs]
        expected = list(itertools.pairwise(sizes))
        shapes = [tuple(np.shape(c)) for c in coefs]
        if shapes != expected or [tuple(np.shape(b)) for b in intercepts] != [(b,) for _, b in expected]:
            raise ValueError(f"weight shapes {shapes} do not chain from {self.n_features_in_} input features")
        self.module_ = self._build_module(sizes, np.random.default_rng(0))
        for layer, w, b in zip(self._linear_layers(), coefs, intercepts, strict=True):
            layer.weight.data[...] = backend.asarray(np.asarray(w), like=layer.weight.data)
            layer.bias.data[...] = backend.asarray(np.asarray(b), like=layer.bias.data)
        self.module_.eval()
        self._attach_rng(getattr(self, "_rng", None) or np.random.default_rng(self._seed()))

    def _sync_weights(self) -> None:
        """Host copies of the network's weights into ``coefs_`` and ``intercepts_``."""
        layers = self._linear_layers()
        self.coefs_ = [np.array(backend.to_numpy(layer.weight.data), copy=True) for layer in layers]
        self.intercepts_ = [np.array(backend.to_numpy(layer.bias.data), copy=True) for layer in layers]

    def _seed(self) -> int:
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    # ---- fitting ----------------------------------------------------------------------------
    def _initialize(self, sizes: list[int], head: str) -> None:
        """Fresh network, random stream and training records for a first fit."""
        rng = np.random.default_rng(self._seed())
        self.module_ = self._build_module(sizes, rng)
        self._init_weights(rng)
        self.module_.eval()
        self._attach_rng(rng)
        self.n_layers_ = len(sizes)
        self.n_outputs_ = sizes[-1]
        self.out_activation_ = head
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.history_ = []
        self._reset_best()
        self._optimizer = None
        self._rules = None

    def _init_weights(self, rng: np.random.Generator) -> None:
        """scikit-learn's initialization, so that learning_rate_init means the same: W ~ U(-b, b),
        b = sqrt(6 / (fan_in + fan_out)) (2 instead of 6 for 'logistic'); biases start at zero."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        for layer in self._linear_layers():
            fan_in, fan_out = layer.weight.shape
            bound = math.sqrt(factor / (fan_in + fan_out))
            w = layer.weight.data
            w[...] = backend.uniform(layer.weight.shape, -bound, bound, backend.namespace(w), w.dtype, rng, like=w)

    def _reset_best(self) -> None:
        use_validation = self.early_stopping and self.solver in STOCHASTIC_SOLVERS
        self.best_loss_ = None if use_validation else math.inf
        self.validation_scores_ = [] if use_validation else None
        self.best_validation_score_ = -math.inf if use_validation else None
        self._no_improvement_count = 0

    def _check_continuation(self, sizes: list[int], head: str) -> None:
        if not hasattr(self, "module_"):
            self._restore_module()
        have = [int(self.n_features_in_)] + [c.shape[1] for c in self.coefs_]
        if have != sizes or head != self.out_activation_:
            raise ValueError(f"warm_start/partial_fit continue the fitted network of layer sizes {have}, but the "
                             f"parameters and data now ask for {sizes}; set warm_start=False to fit anew")
        if self.early_stopping and self.validation_scores_ is None:
            self._reset_best()

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, sample_weight: Any = None, *, callbacks: Any = None,
            resume: dict | None = None) -> BaseMLP:
        """Fit to (X, y); ``resume`` (a :meth:`get_training_state` dict) continues a saved fit exactly.

        ``callbacks``: fit-loop callbacks (:class:`glassnet.train.Callback`, e.g. ``ProgressBar``), and functions
        ``cb(estimator, record)`` run after each epoch (True stops). scikit-learn's own callbacks
        (``set_callbacks``, scikit-learn 1.9+) see the fit as a task and each epoch as a subtask.
        """
        tasks = FitTasks(self, X, y, sample_weight)
        self._fit(X, y, sample_weight, callbacks=[*(callbacks or ()), *tasks.epochs()], resume=resume)
        tasks.end()
        return self

    def _fit(self, X: Any, y: Any, sample_weight: Any = None, *, incremental: bool = False,
             callbacks: Any = None, resume: dict | None = None) -> BaseMLP:
        sizes_hidden = self._hidden_sizes()
        stochastic = self.solver in STOCHASTIC_SOLVERS
        if not stochastic and (self.dropout > 0 or self.adversarial is not None):
            what = "dropout" if self.dropout > 0 else "adversarial training"
            raise ValueError(f"{what} needs a stochastic solver ('sgd', 'adam', 'rmsprop' or 'adamw'); "
                             "L-BFGS needs a deterministic loss")
        if resume is not None and not stochastic:
            raise ValueError("resume needs a stochastic solver: L-BFGS keeps its curvature memory inside scipy")
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = resume is not None or not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y, n_outputs, head = self._validate_input(X, y, incremental, reset=first)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        sample_weight = self._class_weighted(y, sample_weight, incremental)
        sizes = [X.shape[1], *sizes_hidden, n_outputs]
        if first:
            self._initialize(sizes, head)
        else:
            self._check_continuation(sizes, head)
        if resume is not None:
            self._load_fitted(resume["fitted"])
        if stochastic:
            self._fit_stochastic(X, Y, sample_weight, incremental, callbacks, resume)
        else:
            self._fit_lbfgs(X, Y, sample_weight, callbacks)
        self._sync_weights()
        if not all(np.isfinite(a).all() for a in self.coefs_ + self.intercepts_):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        return self

    def _make_optimizer(self) -> optim.Optimizer:
        params, lr = self.module_.parameters(), self.learning_rate_init
        if self.solver == "sgd":
            return SklearnSGD(params, lr, momentum=self.momentum, nesterov=self.nesterovs_momentum)
        if self.solver == "rmsprop":
            return optim.RMSprop(params, lr, eps=self.epsilon)
        return SklearnAdam(params, lr, betas=(self.beta_1, self.beta_2), epsilon=self.epsilon)

    def _penalty(self) -> Penalty:
        weights = [layer.weight for layer in self._linear_layers()]
        if self.solver == "adamw":  # alpha is AdamW's decoupled weight decay there
            return Penalty(weights, l1=self.l1, weight_decay=self.alpha)
        return Penalty(weights, alpha=self.alpha, l1=self.l1)

    def _batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                          stacklevel=3)
        return int(np.clip(self.batch_size, 1, n_samples))

    def _split(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Train and validation row indices for early stopping, stratified where the classes allow it."""
        rows = np.arange(Y.shape[0])
        seed = int(self._rng.integers(np.iinfo(np.int32).max))
        stratify = self._stratify(Y)
        try:
            train, val = train_test_split(rows, test_size=self.validation_fraction, random_state=seed,
                                          stratify=stratify)
        except ValueError:
            if stratify is None:
                raise
            train, val = train_test_split(rows, test_size=self.validation_fraction, random_state=seed)
        if val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                             "your dataset.")
        return np.sort(train), np.sort(val)

    def _fit_stochastic(self, X: Any, Y: np.ndarray, sw: np.ndarray | None, incremental: bool, callbacks: Any,
                        resume: dict | None) -> None:
        functions, loop_callbacks = _split_callbacks(callbacks)
        xp, dtype = self._namespace(), backend.float_dtype(self._namespace(), self.dtype)
        head = HEADS[self.out_activation_]
        early = self.early_stopping
        validate = None
        split = None
        if early:
            split = tuple(np.asarray(s) for s in resume["split"]) if resume is not None else self._split(Y)
            train, val = split
            X_val = densify(X[val], xp, dtype) if sp.issparse(X) else to_device(X[val], xp)
            Y_val, w_val = Y[val], None if sw is None else sw[val]
            Y_val_dev = to_device(Y_val, xp)
            w_val_dev = None if w_val is None else to_device(w_val, xp, dtype)

            def validate() -> tuple[float, float]:
                z = self._forward(X_val)
                out = backend.to_numpy(head.output(z, xp))
                score = self._validation_score(out, Y_val, w_val) if np.isfinite(out).all() else math.nan
                with no_grad():
                    val_loss = float(head.loss(Tensor(z), Y_val_dev, w_val_dev)[1])
                return score, val_loss

            X, Y, sw = X[train], Y[train], None if sw is None else sw[train]
        source = ArraySource(X, Y, sw, batch_size=self._batch_size(X.shape[0]), shuffle=self.shuffle, xp=xp,
                             dtype=dtype)

        if getattr(self, "_optimizer", None) is None or not incremental:
            self._optimizer = self._make_optimizer()
            saved = getattr(self, "_optimizer_state", None)
            if incremental and saved is not None:  # partial_fit after unpickling continues the same optimizer
                self._optimizer.load_state_dict(saved)
        self.__dict__.pop("_optimizer_state", None)
        plateau = Plateau(self.tol, self.n_iter_no_change, early, self.validation_metric)
        plateau.load_state_dict({"best_loss": self.best_loss_, "best_score": self.best_validation_score_,
                                 "bad_epochs": getattr(self, "_no_improvement_count", 0)})
        schedule = self.learning_rate if self.solver == "sgd" else None
        lr_rule = LearningRate(self._optimizer, schedule, self.learning_rate_init, self.power_t)
        penalty = self._penalty()
        rules = StochasticRules(self, penalty.weights, plateau, lr_rule, validate=validate, keep_best=early,
                                incremental=incremental, callbacks=functions)
        steps = [penalty] if penalty.active else []
        if self.adversarial is not None:
            steps.insert(0, AdversarialTraining(self.adversarial, self.adversarial_eps, self.adversarial_fraction))
        if self.max_grad_norm is not None:
            steps.append(ClipGradNorm(self.max_grad_norm))
        loop = Loop(self.module_, head.loss, self._optimizer, source,
                    callbacks=[*steps, *self._watchers(X, xp, dtype, resume), rules, *loop_callbacks], rng=self._rng,
                    history=self.history_)
        if resume is not None:
            rules.load_state_dict(resume["loop"])
            loop.state.epoch = rules.epoch
        self._rules, self._split_rows = rules, split
        loop.run(self.max_iter)

    def _watchers(self, X: Any, xp: Any, dtype: Any, resume: dict | None, guard: bool = True) -> list[Callback]:
        """With ``monitor``: the gradient-health monitor (its probe: the first 256 training rows) and, with
        ``guard``, the NaN guard (not for L-BFGS, whose line search may try overflowing points and back off);
        a resumed fit gives the monitor back the losses it had seen last."""
        self._monitor = None
        if not self.monitor:
            return []
        self._monitor = Monitor(probe=take_rows(X, slice(0, min(256, X.shape[0])), xp, dtype))
        if resume is not None and "monitor" in resume:
            self._monitor.load_state_dict(resume["monitor"])
        return [self._monitor, NaNGuard(advice=NAN_ADVICE)] if guard else [self._monitor]

    def _fit_lbfgs(self, X: Any, Y: np.ndarray, sw: np.ndarray | None, callbacks: Any) -> None:
        xp = self._namespace()
        dtype = backend.float_dtype(xp, self.dtype)
        source = ArraySource(densify(X, xp, dtype), Y, sw, batch_size=None, shuffle=False, xp=xp, dtype=dtype)
        functions, loop_callbacks = _split_callbacks(callbacks)
        penalty = self._penalty()
        rules = LBFGSRules(self, penalty.weights, callbacks=functions)
        optimizer = LBFGS(self.module_.parameters(), max_fun=self.max_fun, tol=self.tol)
        loop = Loop(self.module_, HEADS[self.out_activation_].loss, optimizer, source,
                    callbacks=[*([penalty] if penalty.active else []), *self._watchers(X, xp, dtype, None, guard=False),
                               rules, *loop_callbacks], rng=self._rng, history=self.history_)
        self.n_iter_ = 0
        self._rules = None  # L-BFGS keeps no state to resume from
        loop.run(self.max_iter)

    # ---- the learning-rate range test ----------------------------------------------------------
    def _lr_find_setup(self, X: Any, y: Any) -> TrainingSetup:
        """What ``glassnet.lr_find`` trains: a copy of this estimator's network (the fitted one, or the one ``fit``
        would start from) with its loss, solver, batches, penalties, clipping and adversarial training; the
        estimator is left alone."""
        if self.solver not in STOCHASTIC_SOLVERS:
            raise ValueError(f"lr_find needs a stochastic solver ('sgd', 'adam', 'rmsprop' or 'adamw'); "
                             f"solver={self.solver!r} has no learning rate to search")
        fitted = hasattr(self, "coefs_")
        est = copy.deepcopy(self) if fitted else clone(self)
        est._validate_params()
        X, Y, n_outputs, head = est._validate_input(X, y, incremental=False, reset=not fitted)
        sizes = [X.shape[1], *est._hidden_sizes(), n_outputs]
        if fitted:
            est._check_continuation(sizes, head)
        else:
            est._initialize(sizes, head)
        sw = est._class_weighted(y, None, False)
        if est.early_stopping:  # the rows fit trains on, without those it holds out for validation
            rows = est._split(Y)[0]
            X, Y, sw = X[rows], Y[rows], None if sw is None else sw[rows]
        xp = est._namespace()
        source = ArraySource(X, Y, sw, batch_size=est._batch_size(X.shape[0]), shuffle=est.shuffle, xp=xp,
                             dtype=backend.float_dtype(xp, est.dtype))
        penalty = est._penalty()
        steps = [penalty] if penalty.active else []
        if est.adversarial is not None:
            steps.insert(0, AdversarialTraining(est.adversarial, est.adversarial_eps, est.adversarial_fraction))
        if est.max_grad_norm is not None:
            steps.append(ClipGradNorm(est.max_grad_norm))
        return TrainingSetup(est.module_, HEADS[head].loss, est._make_optimizer(), source, steps, est._rng)

    # ---- training state (resume) and the fitted attributes ----------------------------------
    def get_training_state(self) -> dict[str, Any]:
        """Everything needed to continue this fit exactly: weights, optimizer, random stream, counters.

        Plain data only (NumPy arrays and JSON-able values). ``fit(X, y, resume=state)`` on an
        estimator with the same parameters then ends with the same model, bit for bit, as an
        uninterrupted fit. Available during fit (from a callback) and after it, in this process.
        """
        rules = getattr(self, "_rules", None)
        if rules is None:
            raise ValueError("no training state: fit this estimator with a stochastic solver first "
                             "(the state is not pickled and L-BFGS has none)")
        self._sync_weights()
        monitor = getattr(self, "_monitor", None)  # its probe is the first training rows again: only its losses
        fitted = {name: getattr(self, name) for name in self._fitted_attributes + self._optional_fitted_attributes
                  if hasattr(self, name)}
        return copy.deepcopy({"version": 1, "fitted": fitted, "loop": rules.state_dict(),
                              "split": None if self._split_rows is None else list(self._split_rows),
                              **({"monitor": {k: v for k, v in monitor.state_dict().items() if k != "probe"}}
                                 if monitor is not None else {})})

    def _load_fitted(self, fitted: dict[str, Any]) -> None:
        """Take the records of a saved training state, after checking it belongs to this data."""
        for name in ("n_features_in_", "classes_", "out_activation_", "n_outputs_"):
            if name in fitted and hasattr(self, name) and not np.array_equal(
                    np.asarray(fitted[name], dtype=object), np.asarray(getattr(self, name), dtype=object)):
                raise ValueError(f"the training state was saved for {name}={fitted[name]!r}, but this data gives "
                                 f"{getattr(self, name)!r}")
        for name in ("loss_curve_", "history_", "validation_scores_"):
            value = fitted.get(name)
            setattr(self, name, None if value is None else [copy.deepcopy(v) for v in value])
        for name in ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_"):
            if name in fitted:
                setattr(self, name, fitted[name])
        self.t_ = int(self.t_)

    # ---- prediction -------------------------------------------------------------------------
    def _forward(self, X: Any, dtype: str | None = None) -> Any:
        """The network's raw outputs (logits) for validated rows X, computed in ``dtype``, on the device."""
        xp = self._namespace()
        dtype = backend.float_dtype(xp, dtype or self.dtype)
        with no_grad():
            if not sp.issparse(X):
                return self.module_(to_device(X, xp, dtype)).data
            parts = [self.module_(take_rows(X, slice(i, min(i + _PREDICT_CHUNK, X.shape[0])), xp, dtype)).data
                     for i in range(0, X.shape[0], _PREDICT_CHUNK)]
            return xp.concat(parts, axis=0)

    def _logits(self, X: Any) -> Any:
        """Validated X through the network: raw outputs on the estimator's device.

        On the CPU, prediction runs in float64 whatever the weights' dtype (float32 weights
        promote), so that a row's prediction does not depend on which other rows share its matrix
        product; GPUs, slow at float64, predict in ``dtype``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=np.float64, order="C")
        if not hasattr(self, "module_"):
            self._restore_module()
        return self._forward(X, "float64" if self.device == "cpu" else self.dtype)

    def _output(self, X: Any, log: bool = False) -> np.ndarray:
        """Predictions (or their logs) of the output head for X, as a host NumPy array."""
        z, xp = self._logits(X), self._namespace()
        head = HEADS[self.out_activation_]
        out = backend.to_numpy(head.log_output(z, xp) if log else head.output(z, xp))
        return out.astype(np.float64)  # scikit-learn returns float64 predictions whatever the input

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "coefs_")

    # ---- pickling ---------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        optimizer = state.get("_optimizer")
        if optimizer is not None:
            state["_optimizer_state"] = optimizer.state_dict()
        for name in self._transient_attributes:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._optimizer = None
        self._rules = None
        if "coefs_" in state:
            self._restore_module()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags

