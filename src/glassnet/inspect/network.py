"""The network inside a model, as explanations and attacks see it: inputs, class logits, and a frozen model.

``model`` is an :class:`glassnet.nn.Module` returning logits or a fitted estimator, recognized by its
``module_`` (the fitted network); inspect never imports the estimators. Rows go to the network's own
namespace and dtype. A network with one output is a binary classifier whose logit z speaks for class 1:
class 1 scores z, class 0 scores -z, and its cross-entropy is that of the logits [0, z].
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import array_api_compat
import numpy as np
import scipy.sparse as sp

from .. import backend, nn
from ..autograd import Tensor, no_grad
from ..data import to_device

CHUNK_ROWS = 8192  # rows per forward pass where the caller does not say


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Evaluation mode and parameters that take no gradient for the block; both restored after, as they were."""
    modes = [(m, m.training) for m in module.modules()]
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.eval()
    for p, _ in flags:
        p.requires_grad = False
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in flags:
            p.requires_grad = flag


def input_gradient(module: nn.Module, x: Any, output_gradient: Callable[[Any], Any]) -> tuple[Any, Any]:
    """(d(sum of output_gradient(z) * z)/dx, z) for inputs ``x``: one forward and one backward of ``module``.

    ``output_gradient(z)`` maps the logits array to the gradient sent back from them. Call it inside
    :func:`frozen`, so that only the input collects a gradient.
    """
    t = Tensor(x, requires_grad=True)
    z = module(t)
    z.backward(output_gradient(z.data))
    return t.grad, z.data


class Network:
    """``model``'s network: its module, input namespace and dtype, classes, and the kind of its outputs.

    ``kind`` is "multiclass" (one logit per class), "binary" (one logit), "multilabel" or "regression"
    (a fitted estimator's sigmoid outputs or regression head: explanations only, attacks refuse them).
    """

    def __init__(self, model: Any) -> None:
        if isinstance(model, nn.Module):
            module, classes, head = model, None, None
        elif hasattr(model, "module_"):
            module, classes, head = model.module_, getattr(model, "classes_", None), getattr(model, "out_activation_",
                                                                                              None)
        elif hasattr(model, "fit") and hasattr(model, "get_params"):
            raise ValueError(f"this {type(model).__name__} is not fitted yet; call fit before explaining or attacking "
                             "it")
        else:
            raise TypeError(f"model must be a glassnet nn.Module returning logits or a fitted glassnet estimator, got "
                            f"{type(model).__name__}")
        params = module.parameters()
        if not params:
            raise ValueError("the model has no parameters, so no input namespace or dtype to work in")
        self.module, self.classes = module, None if classes is None else np.asarray(classes)
        self.xp, self.dtype = params[0].xp, params[0].data.dtype
        # a Sequential (MLP) shows its input and output widths; any other module shows them on the first rows seen
        weighted = [m for m in module.layers if m.parameters()] if isinstance(module, nn.Sequential) else [None]
        first, last = weighted[0], weighted[-1]
        self.head = head
        self.n_features = first.in_features if isinstance(first, nn.Linear) else None
        self.n_outputs = last.out_features if isinstance(last, nn.Linear) else None

    @property
    def kind(self) -> str:
        """What the outputs are: "multiclass", "binary", "multilabel" or "regression" (see the class docstring)."""
        if self.head in ("identity", "exp"):
            return "regression"
        if self.n_outputs == 1:
            return "binary"
        return "multilabel" if self.head == "logistic" else "multiclass"

    @property
    def n_classes(self) -> int:
        """Classes the logits score: 2 for a one-logit binary network, else one per output."""
        return 2 if self.kind == "binary" else self.n_outputs

    # ---- data in -------------------------------------------------------------------------------
    def inputs(self, X: Any) -> Any:
        """Rows ``X`` (any array, a DataFrame, a sparse matrix) as a 2-D array of the network's namespace and dtype."""
        if sp.issparse(X):
            X = X.toarray()
        elif not array_api_compat.is_array_api_obj(X):
            X = np.asarray(X)  # lists, DataFrames
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array of rows, got shape {tuple(X.shape)}")
        if self.n_features is not None and X.shape[1] != self.n_features:
            raise ValueError(f"X has {X.shape[1]} features, but the model takes {self.n_features}")
        if isinstance(X, np.ndarray) and X.dtype.kind not in "biuf":
            raise ValueError(f"X must be numeric, got dtype {X.dtype}")
        x = to_device(X, self.xp, self.dtype)
        if not bool(self.xp.all(self.xp.isfinite(x))):
            raise ValueError("X contains NaN or infinity")
        if self.n_outputs is None and x.shape[0]:
            self.n_outputs = int(self._forward(x[:1, ...]).shape[1])
        return x

    def labels(self, y: Any, n_rows: int) -> Any:
        """Class indices (int64, the network's namespace) for labels ``y``: an estimator's labels, or indices."""
        self.require_classifier("attacks")
        y = np.asarray(backend.to_numpy(y) if array_api_compat.is_array_api_obj(y) else y)
        if y.ndim != 1 or y.shape[0] != n_rows:
            raise ValueError(f"y must hold one label per row of X ({n_rows}), got shape {y.shape}")
        if self.classes is not None:
            index = np.searchsorted(self.classes, y)
            bad = (index >= len(self.classes)) | (self.classes[np.minimum(index, len(self.classes) - 1)] != y)
            if bad.any():
                raise ValueError(f"labels {sorted(set(y[bad].tolist()))[:5]} are not among the model's classes "
                                 f"{self.classes.tolist()[:10]}")
        else:
            index = self.indices(y, "y")
        return to_device(index.astype(np.int64), self.xp)

    def indices(self, values: Any, name: str) -> np.ndarray:
        """``values`` checked to be class indices of this network (host int64)."""
        a = np.asarray(values)
        if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(np.mod(a, 1) == 0)):
            raise ValueError(f"{name} must be integer class indices, got dtype {a.dtype}")
        a = a.astype(np.int64)
        if a.size and (a.min() < 0 or a.max() >= self.n_classes):
            raise ValueError(f"{name} holds class indices outside 0..{self.n_classes - 1}: "
                             f"{sorted(set(a.ravel().tolist()))[:5]}")
        return a

    def require_classifier(self, what: str) -> None:
        """Refuse networks whose outputs are not one class's logits (multi-label, regression) for ``what``."""
        if self.kind in ("multilabel", "regression"):
            raise ValueError(f"{what} need a classifier of one label per row; this model is {self.kind}")

    # ---- logits out ----------------------------------------------------------------------------
    def _forward(self, x: Any) -> Any:
        with no_grad():
            return self.module(x).data

    def logits(self, x: Any, batch_size: int | None = None) -> Any:
        """The network's outputs for input rows ``x``, in evaluation mode, a chunk of rows at a time."""
        with frozen(self.module):
            return chunked(self._forward, x, batch_size=batch_size)

    def predict(self, z: Any) -> Any:
        """Predicted class indices from the outputs ``z``."""
        if self.kind == "binary":
            return self.xp.astype(z[:, 0] > 0, self.xp.int64)
        return self.xp.argmax(z, axis=1)

    def scores(self, z: Any, target: Any) -> Any:
        """Each row's score for its ``target`` class (the logit; -z for class 0 of a one-logit network)."""
        return self.xp.sum(z * self.score_gradient(z, target), axis=1)

    def score_gradient(self, z: Any, target: Any) -> Any:
        """d(score of each row's ``target``)/dz: a one-hot row (a signed one for a one-logit network)."""
        xp = self.xp
        if self.kind == "binary":
            return xp.reshape(xp.astype(target, z.dtype) * 2 - 1, (-1, 1))
        return xp.astype(xp.arange(z.shape[1])[None, :] == target[:, None], z.dtype)

    def loss_gradient(self, z: Any, y: Any) -> Any:
        """d(sum over rows of the cross-entropy of logits ``z`` against classes ``y``)/dz: softmax(z) - onehot(y)."""
        xp = self.xp
        if self.kind == "binary":  # the cross-entropy of [0, z]: sigmoid(z) - y
            return 1.0 / (1.0 + xp.exp(-z)) - xp.reshape(xp.astype(y, z.dtype), (-1, 1))
        shifted = z - xp.max(z, axis=1, keepdims=True)
        p = xp.exp(shifted)
        p = p / xp.sum(p, axis=1, keepdims=True)
        return p - xp.astype(xp.arange(z.shape[1])[None, :] == y[:, None], z.dtype)


def chunked(fn: Callable[..., Any], *arrays: Any, batch_size: int | None = None) -> Any:
    """``fn`` over consecutive row chunks of ``arrays`` (``batch_size`` rows each), results concatenated by rows.

    ``fn`` returns an array or a tuple of arrays; each is concatenated along its first axis.
    """
    size = CHUNK_ROWS if batch_size is None else int(batch_size)
    if size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    n = arrays[0].shape[0]
    if n <= size:
        return fn(*arrays)
    parts = [fn(*(a[i:i + size, ...] for a in arrays)) for i in range(0, n, size)]
    xp = backend.namespace(parts[0][0] if isinstance(parts[0], tuple) else parts[0])
    if isinstance(parts[0], tuple):
        return tuple(xp.concat(list(column), axis=0) for column in zip(*parts, strict=True))
    return xp.concat(parts, axis=0)
