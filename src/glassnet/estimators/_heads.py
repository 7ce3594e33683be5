"""Output heads: each output activation with its loss, scaled exactly as scikit-learn's MLP scales it.

scikit-learn averages every loss over samples (weighted by sample_weight when given) and sums it
over outputs, so the gradient of the last layer's pre-activation is (output - y) / n. The one
exception is the reported squared error, 0.5 * mean over samples *and* outputs; the gradient
still follows the sum over outputs. Keeping both makes ``loss_`` and ``learning_rate_init``
mean what they mean in scikit-learn. (scikit-learn also clips probabilities at machine epsilon
before taking logs; glassnet reports the exact value from the logits, which differs only where a
probability underflows.)

``loss(z, y, w)`` returns (loss to backpropagate, loss value to report); ``w`` is None or the
batch's sample weights. ``log_output``/``output`` map logits to predictions.
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..autograd import Tensor


def _row_weights(w: Any, z: Tensor) -> Any:
    """Sample weights normalised to sum to 1, as a column that broadcasts over outputs."""
    xp = z.xp
    return xp.reshape(xp.astype(w, z.dtype) / xp.sum(w), (-1, 1))


def _softplus(z: Tensor) -> Tensor:
    """log(1 + e^z) for any z, with an exact gradient everywhere: -log_softmax([0, z])[0]."""
    xp = z.xp
    pair = z.reshape((*z.shape, 1)) * xp.asarray([0.0, 1.0], dtype=z.dtype)
    return -F.log_softmax(pair, axis=-1)[..., 0]


class Softmax:
    """Multiclass: softmax cross-entropy; ``y`` holds class indices."""

    name = "softmax"

    def loss(self, z: Tensor, y: Any, w: Any = None) -> tuple[Tensor, Any]:
        if w is None:
            loss = F.cross_entropy(z, y)
        else:
            xp, (n, c) = z.xp, z.shape
            onehot = xp.astype(xp.arange(c)[None, :] == y[:, None], z.dtype)
            loss = F.cross_entropy(z, onehot * (_row_weights(w, z) * n))
        return loss, loss.data

    def log_output(self, z: Any, xp: Any) -> Any:
        return F.log_softmax(Tensor(z), axis=1).data

    def output(self, z: Any, xp: Any) -> Any:
        return xp.exp(self.log_output(z, xp))


class Logistic:
    """Binary and multi-label: per-output sigmoid cross-entropy; ``y`` is a 0/1 matrix."""

    name = "logistic"

    def loss(self, z: Tensor, y: Any, w: Any = None) -> tuple[Tensor, Any]:
        k = z.shape[1]
        if w is None:
            loss = F.binary_cross_entropy_with_logits(z, y)
            if k > 1:
                loss = loss * float(k)
        else:
            loss = ((_softplus(z) - z * y) * _row_weights(w, z)).sum()
        return loss, loss.data

    def log_output(self, z: Any, xp: Any) -> Any:
        """log sigmoid(z) = -softplus(-z), finite for any z."""
        return -(xp.maximum(-z, 0.0) + xp.log1p(xp.exp(-xp.abs(z))))

    def output(self, z: Any, xp: Any) -> Any:
        return xp.exp(self.log_output(z, xp))


class Identity:
    """Regression: half squared error."""

    name = "identity"

    def loss(self, z: Tensor, y: Any, w: Any = None) -> tuple[Tensor, Any]:
        k = z.shape[1]
        if w is None:
            mse = F.mse_loss(z, y)
            return mse * (0.5 * k), mse.data * 0.5
        diff = z - y
        loss = (diff * diff * _row_weights(w, z)).sum() * 0.5
        return loss, loss.data / k

    def output(self, z: Any, xp: Any) -> Any:
        return z


class Exp:
    """Poisson regression: exp output and half Poisson deviance, sum(y log(y / e^z) - y + e^z)."""

    name = "exp"

    def loss(self, z: Tensor, y: Any, w: Any = None) -> tuple[Tensor, Any]:
        xp = z.xp
        scale = _row_weights(w, z) if w is not None else 1.0 / z.shape[0]
        loss = ((z.exp() - z * y) * scale).sum()
        ylogy = y * xp.log(xp.where(y > 0, y, 1.0))  # the deviance's constant part, y log y - y
        return loss, loss.data + xp.sum((ylogy - y) * scale)

    def output(self, z: Any, xp: Any) -> Any:
        return xp.exp(z)


HEADS: dict[str, Any] = {head.name: head for head in (Softmax(), Logistic(), Identity(), Exp())}
