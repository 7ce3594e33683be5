"""Every differentiable primitive and loss against central finite differences (gn.gradcheck, float64).

One table: each row is a function of input Tensors (and the namespace ``xp``, for index and target
arrays) and the NumPy arrays it is checked at. Inputs stay away from kinks (0 for relu/abs/l1,
|d| = delta for huber) so the finite differences are meaningful.
"""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
import glassnet.functional as F
from conftest import to_xp

_rng = np.random.default_rng(1234)


def U(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:  # noqa: N802 (short table helper)
    """Uniform float64 inputs."""
    return _rng.uniform(low, high, size=shape)


def A(*shape: int) -> np.ndarray:  # noqa: N802 (short table helper)
    """Inputs of magnitude 0.2 to 2 with random sign: away from the kink at 0."""
    return _rng.uniform(0.2, 2.0, size=shape) * _rng.choice([-1.0, 1.0], size=shape)


def P(*shape: int) -> np.ndarray:  # noqa: N802 (short table helper)
    """Inputs in (0.1, 0.9), for probabilities and positive denominators."""
    return _rng.uniform(0.1, 0.9, size=shape)


def _rows(xp):
    return xp.asarray(np.array([2, 0, 2, 1]))  # repeated row: the gradient must add up


def _classes(xp):
    return xp.asarray(np.array([1, 0, 3, 3, 2]))


def _absent(xp):
    return xp.asarray(np.array([1, 0, 1, 3, 0]))  # class 2 is absent from the batch


def _weights(xp):
    return xp.asarray(np.array([0.5, 2.0, 1.5, 0.3]))


CASES = [
    # arithmetic, with broadcasting
    ("add", lambda xp, a, b: a + b, [U(3, 4), U(3, 4)]),
    ("add_row", lambda xp, a, b: a + b, [U(3, 4), U(4)]),
    ("add_outer", lambda xp, a, b: a + b, [U(3, 1), U(1, 4)]),
    ("add_scalar", lambda xp, a: 2.5 + a + 1.0, [U(3)]),
    ("sub", lambda xp, a, b: a - b, [U(2, 3, 4), U(3, 1)]),
    ("rsub", lambda xp, a: 1.0 - a, [U(3, 2)]),
    ("mul", lambda xp, a, b: a * b, [U(3, 4), U(3, 4)]),
    ("mul_broadcast", lambda xp, a, b: a * b, [U(2, 3, 4), U(4)]),
    ("mul_0d", lambda xp, a, b: a * b, [U(3, 4), np.array(0.7)]),
    ("div", lambda xp, a, b: a / b, [U(3, 4), P(3, 4) + 0.5]),
    ("div_broadcast", lambda xp, a, b: a / b, [U(3, 4), P(3, 1) + 0.5]),
    ("rdiv", lambda xp, a: 2.0 / a, [P(5) + 0.5]),
    ("pow_int", lambda xp, a: a ** 3, [U(3, 4)]),
    ("pow_half", lambda xp, a: a ** 0.5, [P(3, 4)]),
    ("pow_neg", lambda xp, a: a ** -1.5, [P(4) + 0.5]),
    ("neg", lambda xp, a: -a, [U(3, 4)]),
    # matrix products
    ("matmul_2d_2d", lambda xp, a, b: a @ b, [U(3, 4), U(4, 5)]),
    ("matmul_nd_2d", lambda xp, a, b: a @ b, [U(2, 3, 4), U(4, 5)]),
    ("matmul_2d_1d", lambda xp, a, b: a @ b, [U(3, 4), U(4)]),
    ("matmul_nd_1d", lambda xp, a, b: a @ b, [U(2, 3, 4), U(4)]),
    ("matmul_1d_2d", lambda xp, a, b: a @ b, [U(4), U(4, 5)]),
    ("matmul_1d_1d", lambda xp, a, b: a @ b, [U(4), U(4)]),
    # reductions and shapes
    ("sum_all", lambda xp, a: a.sum(), [U(3, 4)]),
    ("sum_axis0", lambda xp, a: a.sum(axis=0), [U(3, 4)]),
    ("sum_axis_neg_keepdims", lambda xp, a: a.sum(axis=-1, keepdims=True), [U(2, 3, 4)]),
    ("sum_axes_tuple", lambda xp, a: a.sum(axis=(0, 2)), [U(2, 3, 4)]),
    ("sum_all_keepdims", lambda xp, a: a.sum(keepdims=True), [U(2, 3)]),
    ("mean_all", lambda xp, a: a.mean(), [U(3, 4)]),
    ("mean_axis1", lambda xp, a: a.mean(axis=1), [U(3, 4)]),
    ("mean_axes_keepdims", lambda xp, a: a.mean(axis=(1, 2), keepdims=True), [U(2, 3, 4)]),
    ("reshape", lambda xp, a: a.reshape(4, 3) * xp.asarray(np.arange(12.0).reshape(4, 3)), [U(3, 4)]),
    ("reshape_tuple", lambda xp, a: a.reshape((2, -1)), [U(3, 4)]),
    ("transpose_2d", lambda xp, a: a.T, [U(3, 4)]),
    ("transpose_3d", lambda xp, a: a.T, [U(2, 3, 4)]),
    # indexing
    ("slice", lambda xp, a: a[1:, ::2], [U(3, 5)]),
    ("slice_int", lambda xp, a: a[1], [U(3, 4)]),
    ("slice_ellipsis", lambda xp, a: a[..., 1:3], [U(2, 3, 4)]),
    ("rows_array", lambda xp, a: a[_rows(xp)], [U(3, 4)]),
    ("rows_list", lambda xp, a: a[[2, 0, 2]], [U(3, 2)]),
    ("rows_array_3d", lambda xp, a: a[_rows(xp)], [U(3, 2, 2)]),
    # elementwise functions
    ("exp", lambda xp, a: a.exp(), [U(3, 4)]),
    ("log", lambda xp, a: a.log(), [P(3, 4)]),
    ("abs", lambda xp, a: a.abs(), [A(3, 4)]),
    ("tanh_method", lambda xp, a: a.tanh(), [U(3, 4)]),
    ("tanh", lambda xp, a: F.tanh(a), [U(3, 4)]),
    ("sigmoid_method", lambda xp, a: a.sigmoid(), [U(3, 4)]),
    ("sigmoid", lambda xp, a: F.sigmoid(a * 5.0), [U(3, 4)]),
    ("relu_method", lambda xp, a: a.relu(), [A(3, 4)]),
    ("relu", lambda xp, a: F.relu(a), [A(3, 4)]),
    ("leaky_relu", lambda xp, a: F.leaky_relu(a), [A(3, 4)]),
    ("leaky_relu_slope", lambda xp, a: F.leaky_relu(a, negative_slope=0.3), [A(3, 4)]),
    ("gelu", lambda xp, a: F.gelu(a * 2.0), [U(3, 4)]),
    ("gelu_tanh", lambda xp, a: F.gelu(a * 2.0, approximate="tanh"), [U(3, 4)]),
    ("softmax", lambda xp, a: F.softmax(a), [U(3, 4)]),
    ("softmax_axis0", lambda xp, a: F.softmax(a, axis=0), [U(3, 4)]),
    ("log_softmax", lambda xp, a: F.log_softmax(a), [U(3, 4)]),
    ("log_softmax_axis0", lambda xp, a: F.log_softmax(a, axis=0), [U(2, 3, 4)]),
    ("dropout", lambda xp, a: F.dropout(a, 0.4, rng=7), [U(4, 5)]),
    ("dropout_eval", lambda xp, a: F.dropout(a, 0.4, training=False), [U(4, 5)]),
    # layers
    ("linear", lambda xp, x, w, b: F.linear(x, w, b), [U(5, 3), U(3, 4), U(4)]),
    ("linear_no_bias", lambda xp, x, w: F.linear(x, w), [U(5, 3), U(3, 4)]),
    ("linear_relu", lambda xp, x, w, b: F.linear(x, w, b, activation="relu"), [U(5, 3), U(3, 4), U(4)]),
    ("linear_3d", lambda xp, x, w, b: F.linear(x, w, b), [U(2, 3, 3), U(3, 4), U(4)]),
    ("linear_1d", lambda xp, x, w, b: F.linear(x, w, b), [U(3), U(3, 4), U(4)]),
    # losses (gradients with respect to prediction and target)
    ("mse_loss", lambda xp, p, t: F.mse_loss(p, t), [U(4, 3), U(4, 3)]),
    ("l1_loss", lambda xp, p, t: F.l1_loss(p, t), [A(4, 3), np.zeros((4, 3))]),
    ("huber_loss", lambda xp, p, t: F.huber_loss(p, t), [A(4, 3) * 1.6, np.zeros((4, 3))]),
    ("huber_loss_delta", lambda xp, p, t: F.huber_loss(p, t, delta=0.5), [A(4, 3) * 0.8, np.zeros((4, 3))]),
    ("cross_entropy_int", lambda xp, z: F.cross_entropy(z, _classes(xp)), [U(5, 4)]),
    ("cross_entropy_list", lambda xp, z: F.cross_entropy(z, [1, 0, 3, 3, 2]), [U(5, 4)]),
    ("cross_entropy_probs", lambda xp, z, p: F.cross_entropy(z, p), [U(5, 4), P(5, 4)]),
    ("cross_entropy_weight", lambda xp, z: F.cross_entropy(z, _classes(xp), weight=_weights(xp)), [U(5, 4)]),
    ("cross_entropy_weight_absent_class", lambda xp, z: F.cross_entropy(z, _absent(xp), weight=_weights(xp)),
     [U(5, 4)]),
    ("cross_entropy_probs_weight", lambda xp, z, p: F.cross_entropy(z, p, weight=_weights(xp)), [U(5, 4), P(5, 4)]),
    ("cross_entropy_smoothing", lambda xp, z: F.cross_entropy(z, _classes(xp), label_smoothing=0.2), [U(5, 4)]),
    ("cross_entropy_smoothing_weight",
     lambda xp, z: F.cross_entropy(z, _absent(xp), weight=_weights(xp), label_smoothing=0.3), [U(5, 4)]),
    ("cross_entropy_probs_smoothing_weight",
     lambda xp, z, p: F.cross_entropy(z, p, weight=_weights(xp), label_smoothing=0.25), [U(5, 4), P(5, 4)]),
    ("binary_cross_entropy", lambda xp, p, t: F.binary_cross_entropy(p, t), [P(4, 3), P(4, 3)]),
    ("bce_with_logits", lambda xp, z, t: F.binary_cross_entropy_with_logits(z, t), [U(4, 3) * 3.0, P(4, 3)]),
    # powers with a tensor exponent (positive base; a negative base with whole exponents: the base's gradient)
    ("pow_tensor", lambda xp, a, b: a ** b, [P(3, 4) + 0.5, U(3, 4)]),
    ("pow_tensor_broadcast", lambda xp, a, b: a ** b, [P(3, 1) + 0.5, U(4)]),
    ("pow_negative_base", lambda xp, a: a ** gn.Tensor(to_xp(xp, [2.0, 3.0, -1.0, 0.0])), [-P(4) - 0.5]),
    ("rpow", lambda xp, b: 2.0 ** b, [U(3, 2)]),
    ("pow_constant_base", lambda xp, b: gn.Tensor(to_xp(xp, [1.5, 0.6, 2.2])) ** b, [U(2, 3)]),
    # more elementwise functions
    ("sqrt", lambda xp, a: a.sqrt(), [P(3, 4)]),
    ("square", lambda xp, a: a.square(), [U(3, 4)]),
    ("abs_builtin", lambda xp, a: abs(a), [A(3, 4)]),
    ("clip", lambda xp, a: a.clip(-1.0, 1.0), [np.array([[-1.7, -0.5, 0.3], [1.4, 0.9, -2.0]])]),
    ("clip_min", lambda xp, a: a.clip(min=0.5), [np.array([0.2, 0.7, 1.9, -3.0])]),
    ("clamp_max", lambda xp, a: a.clamp(max=0.5), [np.array([0.2, 0.7, 1.9, -3.0])]),
    ("maximum", lambda xp, a, b: gn.maximum(a, b), [U(3, 4), U(4)]),
    ("maximum_scalar", lambda xp, a: gn.maximum(a, 0.5), [np.array([0.2, 0.7, 1.9, -3.0])]),
    ("minimum", lambda xp, a, b: gn.minimum(a, b), [U(3, 1), U(3, 4)]),
    ("where", lambda xp, a, b: gn.where(xp.asarray(np.array([[True], [False], [True]])), a, b), [U(3, 4), U(4)]),
    ("where_scalar", lambda xp, a: gn.where(xp.asarray(np.array([True, False, True])), a, -1.0), [U(2, 3)]),
    ("elu", lambda xp, a: F.elu(a), [A(3, 4)]),
    ("elu_alpha", lambda xp, a: F.elu(a, alpha=0.4), [A(3, 4)]),
    ("silu", lambda xp, a: F.silu(a * 2.0), [U(3, 4)]),
    ("softplus", lambda xp, a: F.softplus(a * 5.0), [U(3, 4)]),
    ("softplus_beta", lambda xp, a: F.softplus(a * 5.0, beta=2.0, threshold=8.0), [U(3, 4)]),
    ("log_sigmoid", lambda xp, a: F.log_sigmoid(a * 5.0), [U(3, 4)]),
    # more reductions
    ("max_all", lambda xp, a: a.max(), [U(3, 4)]),
    ("max_axis", lambda xp, a: a.max(axis=1), [U(3, 4)]),
    ("max_axes_keepdims", lambda xp, a: a.max(axis=(0, 2), keepdims=True), [U(2, 3, 4)]),
    ("min_axis_neg", lambda xp, a: a.min(axis=-1), [U(2, 3, 4)]),
    ("logsumexp_all", lambda xp, a: a.logsumexp(), [U(3, 4)]),
    ("logsumexp_axis", lambda xp, a: a.logsumexp(axis=1), [U(3, 4) * 5.0]),
    ("logsumexp_keepdims", lambda xp, a: a.logsumexp(axis=(0, 1), keepdims=True), [U(2, 3, 4)]),
    ("var", lambda xp, a: a.var(), [U(3, 4)]),
    ("var_axis_correction", lambda xp, a: a.var(axis=0, correction=1), [U(3, 4)]),
    ("var_axes_keepdims", lambda xp, a: a.var(axis=(0, 2), keepdims=True), [U(2, 3, 4)]),
    ("std", lambda xp, a: a.std(axis=1), [U(3, 4)]),
    ("std_correction", lambda xp, a: a.std(correction=1), [U(3, 4)]),
    # joining tensors
    ("concatenate", lambda xp, a, b: gn.concatenate([a, b]), [U(2, 3), U(4, 3)]),
    ("concatenate_last_axis", lambda xp, a, b: gn.concatenate([a, b, a], axis=-1), [U(2, 3), U(2, 1)]),
    ("stack", lambda xp, a, b: gn.stack([a, b]), [U(2, 3), U(2, 3)]),
    ("stack_axis1", lambda xp, a, b: gn.stack([a, b, a], axis=1), [U(2, 3), U(2, 3)]),
    # an input the output does not depend on, and a composite through a small network
    ("unused_input", lambda xp, a, b: a * 2.0, [U(3), U(2)]),
    ("mlp", lambda xp, x, w1, w2: F.cross_entropy(F.linear(F.tanh(F.linear(x, w1)), w2), _classes(xp)),
     [U(5, 3), U(3, 6), U(6, 4)]),
]


@pytest.mark.parametrize(("fn", "inputs"), [pytest.param(fn, inputs, id=name) for name, fn, inputs in CASES])
def test_gradcheck(xp, fn, inputs) -> None:
    arrays = [to_xp(xp, a) for a in inputs]
    assert gn.gradcheck(lambda *ts: fn(xp, *ts), arrays)


def test_gradcheck_catches_a_wrong_gradient(xp) -> None:
    def wrong_square(x: gn.Tensor) -> gn.Tensor:
        # the right value, x^2, but a backward that forgets the factor 2
        return gn.Tensor._make(x.data * x.data, x.xp, (x,), lambda g: (g * x.data,))

    with pytest.raises(gn.GradcheckError, match="input 0"):
        gn.gradcheck(wrong_square, [to_xp(xp, U(3, 2))])


def test_gradcheck_of_a_constant_output(xp) -> None:
    assert gn.gradcheck(lambda a: gn.Tensor(to_xp(xp, [1.0, 2.0])), [to_xp(xp, U(3))])


def test_gradcheck_catches_a_wrong_second_input(xp) -> None:
    def wrong_mul(a: gn.Tensor, b: gn.Tensor) -> gn.Tensor:
        return gn.Tensor._make(a.data * b.data, a.xp, (a, b), lambda g: (g * b.data, g * b.data))

    with pytest.raises(gn.GradcheckError, match="input 1"):
        gn.gradcheck(wrong_mul, [to_xp(xp, U(3)), to_xp(xp, U(3))])


def test_gradcheck_accepts_float32_inputs_and_checks_in_float64(xp) -> None:
    seen = []

    def square(x: gn.Tensor) -> gn.Tensor:
        seen.append(x.dtype)
        return x * x

    assert gn.gradcheck(square, [to_xp(xp, U(4), dtype="float32")])
    assert all(d == xp.float64 for d in seen)


def test_gradcheck_reports_the_worst_element(xp) -> None:
    def off_at_one_element(x: gn.Tensor) -> gn.Tensor:
        # x^2 with a backward that is right except at element (1, 0), where it is off by 0.5
        def backward(g):
            wrong = np.zeros((3, 2))
            wrong[1, 0] = 0.5
            return (g * 2.0 * x.data + to_xp(xp, wrong),)

        return gn.Tensor._make(x.data * x.data, x.xp, (x,), backward)

    with pytest.raises(gn.GradcheckError) as caught:
        gn.gradcheck(off_at_one_element, [to_xp(xp, U(3, 2))])
    e = caught.value
    assert (e.input, e.index, e.mismatches, e.size) == (0, (1, 0), 1, 6)
    assert e.error > e.allowed and abs(e.analytic - e.numerical) == pytest.approx(e.error)
    assert "1 of 6 elements are beyond tolerance" in str(e)
    assert gn.gradcheck(off_at_one_element, [to_xp(xp, U(3, 2))], raise_exception=False) is False


def test_gradcheck_docstring_example_runs() -> None:
    import doctest
    import sys

    module = sys.modules["glassnet.inspect.gradcheck"]
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0
