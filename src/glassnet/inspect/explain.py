"""Feature attributions: saliency, gradient × input, integrated gradients, and permutation importance.

The gradient methods explain one output score per row: ``target`` None (the predicted class; the
only output of a one-output regressor), an int, or one int per row (class indices, positions in an
estimator's ``classes_``). A one-logit binary classifier scores class 1 with its logit z and class 0
with -z. Rows are worked on ``batch_size`` at a time (integrated gradients: all its steps of a chunk
of rows in one forward and one backward pass); the model's mode, weights and gradients are left as
they were. Attributions come back as host NumPy arrays in an :class:`Attributions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..data import to_device
from .network import Network, chunked, frozen, input_gradient

IG_BATCH_VALUES = 1 << 24  # input values of interpolated rows per pass of integrated gradients, by default (64 MiB)


@dataclass(frozen=True)
class Attributions:
    """One attribution per feature of every row (``values``, n × features), for the output score ``target``.

    ``method`` names how they were made. Integrated gradients also carry their completeness check,
    per row: ``output_difference`` = f(x) - f(baseline) for the target's score, and
    ``completeness_error`` = sum of the row's attributions - that difference (zero for the exact integral).
    ``np.asarray(result)`` gives ``values``.
    """

    values: np.ndarray
    target: np.ndarray
    method: str
    completeness_error: np.ndarray | None = None
    output_difference: np.ndarray | None = None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.values if dtype is None else self.values.astype(dtype)

    @property
    def relative_completeness_error(self) -> np.ndarray | None:
        """|completeness error| / |f(x) - f(baseline)| per row (None for methods without the check)."""
        if self.completeness_error is None:
            return None
        scale = np.maximum(np.abs(self.output_difference), np.finfo(np.float32).tiny)
        return np.abs(self.completeness_error) / scale


def _fixed_targets(net: Network, target: Any, n_rows: int) -> Any:
    """``target`` given as an int or one int per row: checked, as an int64 array of the network's namespace."""
    index = net.indices(target, "target")
    if index.ndim == 0:
        index = np.full(n_rows, int(index))
    if index.shape != (n_rows,):
        raise ValueError(f"target must be None, an int, or one int per row ({n_rows}), got shape {index.shape}")
    return to_device(index, net.xp)


def _default_targets(net: Network, z: Any) -> Any:
    """The target of ``target=None``: the predicted class, or the output of a one-output regressor."""
    if net.kind == "regression":
        if net.n_outputs != 1:
            raise ValueError(f"this regressor has {net.n_outputs} outputs; say which to explain with target=")
        return net.xp.zeros((z.shape[0],), dtype=net.xp.int64)
    if net.kind == "multilabel":
        return net.xp.argmax(z, axis=1)
    return net.predict(z)


def _gradients(net: Network, x: Any, target: Any, batch_size: int | None) -> tuple[Any, Any]:
    """(d score / d x, the target explained) for every row of ``x``."""

    def part(xs: Any, *ts: Any) -> tuple[Any, Any]:
        chosen = []

        def output_gradient(z: Any) -> Any:
            chosen.append(ts[0] if ts else _default_targets(net, z))
            return net.score_gradient(z, chosen[0])

        grad, _ = input_gradient(net.module, xs, output_gradient)
        return grad, chosen[0]

    fixed = () if target is None else (_fixed_targets(net, target, x.shape[0]),)
    with frozen(net.module):
        return chunked(part, x, *fixed, batch_size=batch_size)


def saliency(model: Any, X: Any, target: Any = None, *, batch_size: int | None = None) -> Attributions:
    """The gradient of the target score with respect to each input feature (Simonyan et al., 2014), signed.

    ``model`` is an ``nn.Module`` returning logits or a fitted estimator. Take ``np.abs`` of the values
    for the usual saliency map.

    Examples
    --------
    >>> import numpy as np
    >>> import glassnet as gn
    >>> model = gn.nn.MLP([4, 8, 3], rng=0)
    >>> X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    >>> gn.explain.saliency(model, X, target=2).values.shape
    (5, 4)
    """
    net = Network(model)
    grad, target = _gradients(net, net.inputs(X), target, batch_size)
    return Attributions(backend.to_numpy(grad), backend.to_numpy(target), "saliency")


def gradient_x_input(model: Any, X: Any, target: Any = None, *, batch_size: int | None = None) -> Attributions:
    """The saliency times the input, feature by feature: each feature's first-order share of the score."""
    net = Network(model)
    x = net.inputs(X)
    grad, target = _gradients(net, x, target, batch_size)
    return Attributions(backend.to_numpy(grad * x), backend.to_numpy(target), "gradient_x_input")


def path_weights(steps: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(points alpha in [0, 1], weights) of the quadrature that integrates over the straight path.

    "gausslegendre" (exact for polynomials of degree 2 * steps - 1), or the Riemann sums
    "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid" (Captum's names).
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    m = int(steps)
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(m)
        return (nodes + 1) / 2, weights / 2
    if method == "riemann_trapezoid":
        if m < 2:
            raise ValueError("the trapezoid rule needs steps >= 2")
        weights = np.full(m, 1.0 / (m - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, m), weights
    starts = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    if method not in starts:
        raise ValueError(f"method must be 'gausslegendre', 'riemann_left', 'riemann_right', 'riemann_middle' or "
                         f"'riemann_trapezoid', got {method!r}")
    return (np.arange(m) + starts[method]) / m, np.full(m, 1.0 / m)


def _baseline(net: Network, baseline: Any, x: Any) -> Any:
    """The baseline rows, one per row of ``x``: zeros, the mean of ``x``, or given (one row, or one per row)."""
    xp = net.xp
    if baseline is None or (isinstance(baseline, str) and baseline == "zeros"):
        return xp.zeros_like(x)
    if isinstance(baseline, str):
        if baseline != "mean":
            raise ValueError(f"baseline must be None, 'zeros', 'mean' or an array, got {baseline!r}")
        return xp.broadcast_to(xp.mean(x, axis=0, keepdims=True), x.shape)
    b = np.asarray(backend.to_numpy(baseline))
    if b.ndim == 1:
        b = b[None, :]
    b = net.inputs(b)
    if b.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"baseline must be one row or one row per row of X ({x.shape[0]}), got {b.shape[0]} rows")
    return xp.broadcast_to(b, x.shape)


def integrated_gradients(model: Any, X: Any, baseline: Any = None, steps: int = 50, target: Any = None, *,
                         method: str = "gausslegendre", batch_size: int | None = None) -> Attributions:
    """Integrated gradients (Sundararajan et al., 2017): (x - baseline) times the mean gradient along the path.

    The attributions of a row sum to f(x) - f(baseline) for its target score, up to the quadrature's
    error, which the result reports per row (``completeness_error``). ``baseline`` is None or "zeros",
    "mean" (the mean of ``X``), or an array: one row (``X_train.mean(axis=0)`` for the training mean) or
    one per row. ``steps`` points of ``method`` (:func:`path_weights`) along the path; ``batch_size``
    caps the interpolated rows per forward pass (by default, 2**24 input values: for 64 features,
    5,242 rows of 50 steps at a time).

    Examples
    --------
    >>> import numpy as np
    >>> import glassnet as gn
    >>> model = gn.nn.MLP([4, 8, 3], activation="tanh", rng=0)
    >>> X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    >>> result = gn.explain.integrated_gradients(model, X, steps=100)
    >>> bool(np.all(result.relative_completeness_error < 1e-3))
    True
    """
    alphas, weights = path_weights(steps, method)
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    net = Network(model)
    x = net.inputs(X)
    xp = net.xp
    b = _baseline(net, baseline, x)
    alphas_dev = to_device(alphas.astype(np.float64), xp, net.dtype)
    weights_dev = to_device(weights.astype(np.float64), xp, net.dtype)
    m = alphas.shape[0]

    def part(xs: Any, bs: Any, ts: Any) -> Any:
        r, d = xs.shape
        delta = xs - bs
        path = xp.reshape(bs[None, :, :] + alphas_dev[:, None, None] * delta[None, :, :], (m * r, d))
        select = None

        def output_gradient(z: Any) -> Any:
            nonlocal select
            if select is None:
                select = net.score_gradient(z[:r, ...], ts)  # the same for every point of the path
            return xp.reshape(xp.broadcast_to(select[None, ...], (m, *select.shape)), (m * r, select.shape[1]))

        grad, _ = input_gradient(net.module, path, output_gradient)
        mean_grad = xp.reshape(weights_dev[None, :] @ xp.reshape(grad, (m, r * d)), (r, d))
        return mean_grad * delta

    with frozen(net.module):
        z_x, z_b = net.logits(x, batch_size), net.logits(b, batch_size)
        t = _default_targets(net, z_x) if target is None else _fixed_targets(net, target, x.shape[0])
        budget = IG_BATCH_VALUES // max(1, x.shape[1]) if batch_size is None else int(batch_size)
        rows = max(1, budget // m)
        attributions = chunked(part, x, b, t, batch_size=rows)
    difference = net.scores(z_x, t) - net.scores(z_b, t)
    error = xp.sum(attributions, axis=1) - difference
    return Attributions(backend.to_numpy(attributions), backend.to_numpy(t), f"integrated_gradients/{method}",
                        backend.to_numpy(error), backend.to_numpy(difference))


class _NetworkClassifier:
    """A trained ``nn.Module`` as scikit-learn's scoring sees a classifier: ``predict`` and accuracy ``score``.

    ``fit`` leaves the network as it is (it is trained already), as scikit-learn's ``FrozenEstimator`` does.
    """

    def __init__(self, net: Network) -> None:
        self.net = net

    def fit(self, X: Any, y: Any = None) -> _NetworkClassifier:
        return self

    def predict(self, X: Any) -> np.ndarray:
        net = self.net
        return backend.to_numpy(net.predict(net.logits(net.inputs(X))))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        return float(np.average(self.predict(X) == np.asarray(y), weights=sample_weight))


def permutation_importance(model: Any, X: Any, y: Any, *, n_repeats: int = 5, scoring: Any = None,
                           random_state: Any = None, n_jobs: int | None = None, sample_weight: Any = None) -> Any:
    """How much the score drops when one feature's values are shuffled: scikit-learn's ``permutation_importance``.

    Use held-out rows. ``model`` is a fitted estimator (``scoring`` None: its own ``score``), anything
    with scikit-learn's ``fit``/``predict``/``score``, or an ``nn.Module`` returning logits (scored by
    accuracy against class indices ``y``). Returns scikit-learn's Bunch: ``importances_mean``,
    ``importances_std`` and ``importances`` (features × ``n_repeats``).
    """
    from sklearn.inspection import permutation_importance as sklearn_permutation_importance

    if not (hasattr(model, "fit") and hasattr(model, "predict")):
        model = _NetworkClassifier(Network(model))
    return sklearn_permutation_importance(model, X, y, scoring=scoring, n_repeats=n_repeats, n_jobs=n_jobs,
                                          random_state=random_state, sample_weight=sample_weight)
