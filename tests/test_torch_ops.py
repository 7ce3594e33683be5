"""Values and gradients of every public op and loss against PyTorch (CPU), in float64 and float32.

Each row: a glassnet function of (xp, *tensors), the PyTorch function of (torch, *tensors), and the
inputs. Gradients are compared for a fixed random weighting of the output, for every float input.
Also: numerical stability at logits of magnitude 1e4, and clear errors for bad class targets.
"""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
import glassnet.functional as F
from conftest import npy, to_xp


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


_rng = np.random.default_rng(7)
Y = np.array([1, 0, 3, 3, 2])
Y_ABSENT = np.array([1, 0, 1, 3, 0])  # class 2 is absent from the batch
W = np.array([0.5, 2.0, 1.5, 0.3])  # class weights
ROWS = np.array([2, 0, 2, 1])
COND = np.array([[True], [False], [True]])


def U(*shape: int, scale: float = 2.0) -> np.ndarray:  # noqa: N802 (short table helper)
    return _rng.uniform(-scale, scale, size=shape)


def P(*shape: int) -> np.ndarray:  # noqa: N802 (short table helper)
    return _rng.uniform(0.05, 0.95, size=shape)


TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.5, -1.0, 0.25]])


def tf(torch):
    return torch.nn.functional


CASES = [
    ("add", lambda xp, a, b: a + b, lambda th, a, b: a + b, [U(3, 4), U(4)]),
    ("sub", lambda xp, a, b: a - b, lambda th, a, b: a - b, [U(2, 3, 4), U(3, 1)]),
    ("rsub", lambda xp, a: 3.0 - a, lambda th, a: 3.0 - a, [U(3)]),
    ("mul", lambda xp, a, b: a * b, lambda th, a, b: a * b, [U(3, 1), U(1, 4)]),
    ("div", lambda xp, a, b: a / b, lambda th, a, b: a / b, [U(3, 4), P(4) + 0.5]),
    ("rdiv", lambda xp, a: 2.0 / a, lambda th, a: 2.0 / a, [P(4) + 0.5]),
    ("pow", lambda xp, a: a ** 3, lambda th, a: a ** 3, [U(3, 4)]),
    ("pow_frac", lambda xp, a: a ** 1.5, lambda th, a: a ** 1.5, [P(3, 4)]),
    ("neg", lambda xp, a: -a, lambda th, a: -a, [U(3)]),
    ("matmul_2d", lambda xp, a, b: a @ b, lambda th, a, b: a @ b, [U(3, 4), U(4, 5)]),
    ("matmul_nd", lambda xp, a, b: a @ b, lambda th, a, b: a @ b, [U(2, 3, 4), U(4, 5)]),
    ("matmul_vec", lambda xp, a, b: a @ b, lambda th, a, b: a @ b, [U(3, 4), U(4)]),
    ("matmul_vec_left", lambda xp, a, b: a @ b, lambda th, a, b: a @ b, [U(4), U(4, 5)]),
    ("sum", lambda xp, a: a.sum(), lambda th, a: a.sum(), [U(3, 4)]),
    ("sum_axis", lambda xp, a: a.sum(axis=1, keepdims=True), lambda th, a: a.sum(dim=1, keepdim=True), [U(3, 4)]),
    ("sum_axes", lambda xp, a: a.sum(axis=(0, 2)), lambda th, a: a.sum(dim=(0, 2)), [U(2, 3, 4)]),
    ("sum_dim", lambda xp, a: a.sum(dim=1, keepdim=True), lambda th, a: a.sum(dim=1, keepdim=True), [U(3, 4)]),
    ("mean", lambda xp, a: a.mean(), lambda th, a: a.mean(), [U(3, 4)]),
    ("mean_dim", lambda xp, a: a.mean(dim=(0, 2)), lambda th, a: a.mean(dim=(0, 2)), [U(2, 3, 4)]),
    ("amax_dim", lambda xp, a: a.max(dim=1, keepdim=True), lambda th, a: a.amax(dim=1, keepdim=True), [U(3, 4)]),
    ("logsumexp_dim", lambda xp, a: a.logsumexp(dim=0), lambda th, a: a.logsumexp(dim=0), [U(3, 4)]),
    ("std_dim", lambda xp, a: a.std(dim=1, correction=1, keepdim=True),
     lambda th, a: a.std(dim=1, correction=1, keepdim=True), [U(3, 4)]),
    ("cat_dim", lambda xp, a, b: gn.concatenate([a, b], dim=1), lambda th, a, b: th.cat([a, b], dim=1),
     [U(3, 2), U(3, 4)]),
    ("stack_dim", lambda xp, a, b: gn.stack([a, b], dim=-1), lambda th, a, b: th.stack([a, b], dim=-1),
     [U(3, 2), U(3, 2)]),
    ("mean_axis", lambda xp, a: a.mean(axis=0), lambda th, a: a.mean(dim=0), [U(3, 4)]),
    ("reshape", lambda xp, a: a.reshape(6, 2), lambda th, a: a.reshape(6, 2), [U(3, 4)]),
    ("T", lambda xp, a: a.T, lambda th, a: a.permute(2, 1, 0), [U(2, 3, 4)]),
    ("slice", lambda xp, a: a[1:, ::2], lambda th, a: a[1:, ::2], [U(3, 5)]),
    ("rows", lambda xp, a: a[xp.asarray(ROWS)], lambda th, a: a[th.as_tensor(ROWS)], [U(3, 4)]),
    ("exp", lambda xp, a: a.exp(), lambda th, a: a.exp(), [U(3, 4)]),
    ("log", lambda xp, a: a.log(), lambda th, a: a.log(), [P(3, 4)]),
    ("abs", lambda xp, a: a.abs(), lambda th, a: a.abs(), [U(3, 4)]),
    ("tanh", lambda xp, a: F.tanh(a), lambda th, a: th.tanh(a), [U(3, 4)]),
    ("sigmoid", lambda xp, a: F.sigmoid(a), lambda th, a: th.sigmoid(a), [U(3, 4, scale=30.0)]),
    ("relu", lambda xp, a: F.relu(a), lambda th, a: tf(th).relu(a), [U(3, 4)]),
    ("leaky_relu", lambda xp, a: F.leaky_relu(a), lambda th, a: tf(th).leaky_relu(a), [U(3, 4)]),
    ("leaky_relu_slope", lambda xp, a: F.leaky_relu(a, 0.2), lambda th, a: tf(th).leaky_relu(a, 0.2), [U(3, 4)]),
    ("gelu", lambda xp, a: F.gelu(a), lambda th, a: tf(th).gelu(a), [U(3, 4, scale=4.0)]),
    ("gelu_tanh", lambda xp, a: F.gelu(a, approximate="tanh"), lambda th, a: tf(th).gelu(a, approximate="tanh"),
     [U(3, 4, scale=4.0)]),
    ("softmax", lambda xp, a: F.softmax(a), lambda th, a: th.softmax(a, dim=-1), [U(3, 4, scale=10.0)]),
    ("softmax_axis0", lambda xp, a: F.softmax(a, axis=0), lambda th, a: th.softmax(a, dim=0), [U(3, 4)]),
    ("softmax_dim", lambda xp, a: F.softmax(a, dim=0), lambda th, a: tf(th).softmax(a, dim=0), [U(3, 4)]),
    ("log_softmax_dim", lambda xp, a: F.log_softmax(a, dim=1), lambda th, a: tf(th).log_softmax(a, dim=1),
     [U(3, 4)]),
    ("log_softmax", lambda xp, a: F.log_softmax(a), lambda th, a: th.log_softmax(a, dim=-1), [U(3, 4, scale=10.0)]),
    ("log_softmax_axis1", lambda xp, a: F.log_softmax(a, axis=1), lambda th, a: th.log_softmax(a, dim=1),
     [U(2, 3, 4)]),
    ("linear", lambda xp, x, w, b: F.linear(x, w, b), lambda th, x, w, b: tf(th).linear(x, w.T, b),
     [U(5, 3), U(3, 4), U(4)]),
    ("linear_no_bias", lambda xp, x, w: F.linear(x, w), lambda th, x, w: tf(th).linear(x, w.T), [U(5, 3), U(3, 4)]),
    ("linear_relu", lambda xp, x, w, b: F.linear(x, w, b, activation="relu"),
     lambda th, x, w, b: th.relu(tf(th).linear(x, w.T, b)), [U(5, 3), U(3, 4), U(4)]),
    ("linear_3d", lambda xp, x, w, b: F.linear(x, w, b), lambda th, x, w, b: tf(th).linear(x, w.T, b),
     [U(2, 5, 3), U(3, 4), U(4)]),
    ("mse_loss", lambda xp, p, t: F.mse_loss(p, t), lambda th, p, t: tf(th).mse_loss(p, t), [U(4, 3), U(4, 3)]),
    ("l1_loss", lambda xp, p, t: F.l1_loss(p, t), lambda th, p, t: tf(th).l1_loss(p, t), [U(4, 3), U(4, 3)]),
    ("huber_loss", lambda xp, p, t: F.huber_loss(p, t), lambda th, p, t: tf(th).huber_loss(p, t), [U(4, 3), U(4, 3)]),
    ("huber_loss_delta", lambda xp, p, t: F.huber_loss(p, t, delta=0.3),
     lambda th, p, t: tf(th).huber_loss(p, t, delta=0.3), [U(4, 3), U(4, 3)]),
    ("cross_entropy", lambda xp, z: F.cross_entropy(z, xp.asarray(Y)),
     lambda th, z: tf(th).cross_entropy(z, th.as_tensor(Y)), [U(5, 4, scale=5.0)]),
    ("cross_entropy_probs", lambda xp, z, p: F.cross_entropy(z, p), lambda th, z, p: tf(th).cross_entropy(z, p),
     [U(5, 4, scale=5.0), P(5, 4)]),
    ("binary_cross_entropy", lambda xp, p, t: F.binary_cross_entropy(p, t),
     lambda th, p, t: tf(th).binary_cross_entropy(p, t), [P(4, 3), P(4, 3)]),
    ("bce_with_logits", lambda xp, z, t: F.binary_cross_entropy_with_logits(z, t),
     lambda th, z, t: tf(th).binary_cross_entropy_with_logits(z, t), [U(4, 3, scale=20.0), P(4, 3)]),
    # powers with a tensor exponent, elementwise functions, joins and reductions
    ("pow_tensor", lambda xp, a, b: a ** b, lambda th, a, b: a ** b, [P(3, 4) + 0.5, U(3, 4)]),
    ("pow_tensor_broadcast", lambda xp, a, b: a ** b, lambda th, a, b: a ** b, [P(3, 1) + 0.5, U(4)]),
    ("rpow", lambda xp, b: 2.5 ** b, lambda th, b: 2.5 ** b, [U(3, 4)]),
    ("sqrt", lambda xp, a: a.sqrt(), lambda th, a: a.sqrt(), [P(3, 4)]),
    ("square", lambda xp, a: a.square(), lambda th, a: a.square(), [U(3, 4)]),
    ("clip", lambda xp, a: a.clip(-1.0, 0.5), lambda th, a: a.clamp(-1.0, 0.5), [U(3, 4)]),
    ("clamp_min", lambda xp, a: a.clamp(min=0.2), lambda th, a: a.clamp(min=0.2), [U(3, 4)]),
    ("maximum", lambda xp, a, b: gn.maximum(a, b), lambda th, a, b: th.maximum(a, b), [U(3, 4), U(4)]),
    ("minimum", lambda xp, a, b: gn.minimum(a, b), lambda th, a, b: th.minimum(a, b), [U(3, 1), U(1, 4)]),
    ("where", lambda xp, a, b: gn.where(xp.asarray(COND), a, b), lambda th, a, b: th.where(th.as_tensor(COND), a, b),
     [U(3, 4), U(4)]),
    ("concatenate", lambda xp, a, b: gn.concatenate([a, b], axis=1), lambda th, a, b: th.cat([a, b], dim=1),
     [U(3, 2), U(3, 4)]),
    ("stack", lambda xp, a, b: gn.stack([a, b, a], axis=-1), lambda th, a, b: th.stack([a, b, a], dim=-1),
     [U(3, 2), U(3, 2)]),
    ("max_all", lambda xp, a: a.max(), lambda th, a: a.amax(), [U(3, 4)]),
    ("max_axis", lambda xp, a: a.max(axis=1), lambda th, a: a.amax(dim=1), [U(3, 4)]),
    ("min_axes_keepdims", lambda xp, a: a.min(axis=(0, 2), keepdims=True),
     lambda th, a: a.amin(dim=(0, 2), keepdim=True), [U(2, 3, 4)]),
    ("logsumexp_all", lambda xp, a: a.logsumexp(), lambda th, a: th.logsumexp(a, dim=(0, 1)), [U(3, 4)]),
    ("logsumexp_axis", lambda xp, a: a.logsumexp(axis=-1, keepdims=True),
     lambda th, a: th.logsumexp(a, dim=-1, keepdim=True), [U(2, 3, 4, scale=10.0)]),
    ("var_correction_0", lambda xp, a: a.var(axis=1), lambda th, a: a.var(dim=1, correction=0), [U(3, 4)]),
    ("var_correction_1", lambda xp, a: a.var(axis=(0, 2), correction=1, keepdims=True),
     lambda th, a: a.var(dim=(0, 2), correction=1, keepdim=True), [U(2, 3, 4)]),
    ("var_all", lambda xp, a: a.var(correction=1), lambda th, a: a.var(), [U(3, 4)]),
    ("std_correction_0", lambda xp, a: a.std(), lambda th, a: a.std(correction=0), [U(3, 4)]),
    ("std_correction_1", lambda xp, a: a.std(axis=0, correction=1), lambda th, a: a.std(dim=0), [U(3, 4)]),
    ("elu", lambda xp, a: F.elu(a), lambda th, a: tf(th).elu(a), [U(3, 4, scale=4.0)]),
    ("elu_alpha", lambda xp, a: F.elu(a, 0.3), lambda th, a: tf(th).elu(a, 0.3), [U(3, 4, scale=4.0)]),
    ("silu", lambda xp, a: F.silu(a), lambda th, a: tf(th).silu(a), [U(3, 4, scale=6.0)]),
    ("softplus", lambda xp, a: F.softplus(a), lambda th, a: tf(th).softplus(a), [U(3, 4, scale=30.0)]),
    ("softplus_beta", lambda xp, a: F.softplus(a, beta=2.0, threshold=5.0),
     lambda th, a: tf(th).softplus(a, beta=2.0, threshold=5.0), [U(3, 4, scale=6.0)]),
    ("log_sigmoid", lambda xp, a: F.log_sigmoid(a), lambda th, a: tf(th).logsigmoid(a), [U(3, 4, scale=30.0)]),
    # kinks: PyTorch's choice of (sub)gradient at 0 and at |d| = delta
    ("relu_at_0", lambda xp, a: F.relu(a), lambda th, a: tf(th).relu(a), [np.array([-1.0, 0.0, 1.0])]),
    ("leaky_relu_at_0", lambda xp, a: F.leaky_relu(a), lambda th, a: tf(th).leaky_relu(a),
     [np.array([-1.0, 0.0, 1.0])]),
    ("abs_at_0", lambda xp, a: a.abs(), lambda th, a: a.abs(), [np.array([-1.0, 0.0, 1.0])]),
    ("l1_at_0", lambda xp, p, t: F.l1_loss(p, t), lambda th, p, t: tf(th).l1_loss(p, t),
     [np.array([1.0, 2.0]), np.array([1.0, 0.0])]),
    ("huber_at_delta", lambda xp, p, t: F.huber_loss(p, t), lambda th, p, t: tf(th).huber_loss(p, t),
     [np.array([1.0, -1.0, 0.0]), np.zeros(3)]),
    ("clip_at_bounds", lambda xp, a: a.clip(0.0, 1.0), lambda th, a: a.clamp(0.0, 1.0),
     [np.array([-1.0, 0.0, 0.5, 1.0, 2.0])]),  # the gradient passes at both bounds
    ("elu_at_0", lambda xp, a: F.elu(a, 0.5), lambda th, a: tf(th).elu(a, 0.5), [np.array([-1.0, 0.0, 1.0])]),
    # ties: max/min reductions split the gradient evenly among the tied elements (torch.amax/amin)
    ("max_ties_axis", lambda xp, a: a.max(axis=1), lambda th, a: a.amax(dim=1), [TIES]),
    ("max_ties_all", lambda xp, a: a.max(), lambda th, a: a.amax(), [TIES]),
    ("min_ties_axis0", lambda xp, a: a.min(axis=0, keepdims=True), lambda th, a: a.amin(dim=0, keepdim=True),
     [TIES]),
    ("maximum_ties", lambda xp, a, b: gn.maximum(a, b), lambda th, a, b: th.maximum(a, b),
     [np.array([1.0, 2.0, 2.0]), np.array([2.0, 2.0, 1.0])]),
    # class weights and label smoothing; glassnet casts float64 weights to the logits' dtype, torch needs them cast
    ("cross_entropy_weight", lambda xp, z: F.cross_entropy(z, xp.asarray(Y), weight=xp.asarray(W)),
     lambda th, z: tf(th).cross_entropy(z, th.as_tensor(Y), weight=th.as_tensor(W, dtype=z.dtype)),
     [U(5, 4, scale=5.0)]),
    ("cross_entropy_weight_absent_class", lambda xp, z: F.cross_entropy(z, Y_ABSENT.tolist(), weight=W.tolist()),
     lambda th, z: tf(th).cross_entropy(z, th.as_tensor(Y_ABSENT), weight=th.as_tensor(W, dtype=z.dtype)),
     [U(5, 4, scale=5.0)]),
    ("cross_entropy_probs_weight", lambda xp, z, p: F.cross_entropy(z, p, weight=xp.asarray(W)),
     lambda th, z, p: tf(th).cross_entropy(z, p, weight=th.as_tensor(W, dtype=z.dtype)),
     [U(5, 4, scale=5.0), P(5, 4)]),
    ("cross_entropy_smoothing", lambda xp, z: F.cross_entropy(z, xp.asarray(Y), label_smoothing=0.2),
     lambda th, z: tf(th).cross_entropy(z, th.as_tensor(Y), label_smoothing=0.2), [U(5, 4, scale=5.0)]),
    ("cross_entropy_smoothing_weight",
     lambda xp, z: F.cross_entropy(z, xp.asarray(Y), weight=xp.asarray(W), label_smoothing=0.3),
     lambda th, z: tf(th).cross_entropy(z, th.as_tensor(Y), weight=th.as_tensor(W, dtype=z.dtype),
                                        label_smoothing=0.3), [U(5, 4, scale=5.0)]),
    ("cross_entropy_smoothing_weight_absent_class",
     lambda xp, z: F.cross_entropy(z, xp.asarray(Y_ABSENT), weight=xp.asarray(W), label_smoothing=0.3),
     lambda th, z: tf(th).cross_entropy(z, th.as_tensor(Y_ABSENT), weight=th.as_tensor(W, dtype=z.dtype),
                                        label_smoothing=0.3), [U(5, 4, scale=5.0)]),
    ("cross_entropy_full_smoothing", lambda xp, z: F.cross_entropy(z, xp.asarray(Y), label_smoothing=1.0),
     lambda th, z: tf(th).cross_entropy(z, th.as_tensor(Y), label_smoothing=1.0), [U(5, 4, scale=5.0)]),
    ("cross_entropy_probs_smoothing", lambda xp, z, p: F.cross_entropy(z, p, label_smoothing=0.2),
     lambda th, z, p: tf(th).cross_entropy(z, p, label_smoothing=0.2), [U(5, 4, scale=5.0), P(5, 4)]),
    ("cross_entropy_probs_smoothing_weight",
     lambda xp, z, p: F.cross_entropy(z, p, weight=xp.asarray(W), label_smoothing=0.25),
     lambda th, z, p: tf(th).cross_entropy(z, p, weight=th.as_tensor(W, dtype=z.dtype), label_smoothing=0.25),
     [U(5, 4, scale=5.0), P(5, 4)]),
    ("minimum_ties", lambda xp, a, b: gn.minimum(a, b), lambda th, a, b: th.minimum(a, b),
     [np.array([1.0, 2.0, 2.0]), np.array([2.0, 2.0, 1.0])]),
    # powers where the exponent's gradient needs a convention: 0 ** b with b >= 0, and a ** 0
    ("rpow_zero_base", lambda xp, b: 0.0 ** b, lambda th, b: 0.0 ** b, [np.array([0.0, 1.0, 2.5])]),
    ("pow_zero_exponent", lambda xp, a: a ** 0, lambda th, a: a ** 0, [np.array([0.0, -1.5, 2.0])]),
    ("pow_tensor_zero_base", lambda xp, a, b: a ** b, lambda th, a, b: a ** b,
     [np.zeros(3), np.array([0.0, 1.0, 2.5])]),
]

TOL = {"float64": {"rtol": 1e-10, "atol": 1e-12}, "float32": {"rtol": 2e-5, "atol": 2e-6}}


def _run_glassnet(fn, xp, inputs: list[np.ndarray], dtype: str, weights: np.ndarray | None):
    ts = [gn.Tensor(to_xp(xp, a, dtype), requires_grad=True) for a in inputs]
    out = fn(xp, *ts)
    w = to_xp(xp, weights if weights is not None else np.ones(out.shape), dtype)
    (out * gn.Tensor(w)).sum().backward()
    return npy(out), [npy(t.grad) if t.grad is not None else None for t in ts]


def _run_torch(torch, fn, inputs: list[np.ndarray], dtype: str, weights: np.ndarray):
    ts = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in inputs]
    out = fn(torch, *ts)
    (out * torch.as_tensor(weights, dtype=out.dtype)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() if t.grad is not None else None for t in ts]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "fn", "torch_fn", "inputs"), [pytest.param(*case, id=case[0]) for case in CASES])
def test_matches_torch(torch, xp, dtype, name, fn, torch_fn, inputs) -> None:
    ref_out = torch_fn(torch, *[torch.tensor(a, dtype=getattr(torch, dtype)) for a in inputs])
    weights = np.random.default_rng(0).uniform(0.5, 1.5, size=tuple(ref_out.shape))
    want, want_grads = _run_torch(torch, torch_fn, inputs, dtype, weights)
    got, got_grads = _run_glassnet(fn, xp, inputs, dtype, weights)
    tol = dict(TOL[dtype])
    if name == "gelu" and not gn.backend.is_numpy(xp):
        tol = {"rtol": 1e-6, "atol": 1e-6}  # the standard has no erf: a 1.2e-7-accurate fit stands in
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, **tol)
    for k, (g, w) in enumerate(zip(got_grads, want_grads, strict=True)):
        assert (g is None) == (w is None), f"input {k}: gradient presence differs"
        if g is not None:
            np.testing.assert_allclose(g, w, **tol, err_msg=f"gradient of input {k}")


# Gradients that are infinite or undefined (NaN) in real arithmetic: the same non-finite values as PyTorch
NON_FINITE = [
    ("sqrt_at_0", lambda xp, a: a.sqrt(), lambda th, a: a.sqrt(), [np.array([0.0, 4.0])]),
    ("pow_negative_base", lambda xp, a, b: a ** b, lambda th, a, b: a ** b,  # d/db: NaN (log of a negative base)
     [np.array([-2.0, -2.0, -0.5, -3.0]), np.array([2.0, 3.0, -1.0, 0.0])]),
    ("pow_zero_base_negative_exponent", lambda xp, a, b: a ** b, lambda th, a, b: a ** b,
     [np.zeros(3), np.array([-1.0, 0.5, -2.0])]),
    ("logsumexp_all_minus_inf", lambda xp, a: a.logsumexp(axis=1), lambda th, a: th.logsumexp(a, dim=1),
     [np.array([[-np.inf, -np.inf], [0.0, -np.inf]])]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("fn", "torch_fn", "inputs"),
                         [pytest.param(fn, tfn, inputs, id=name) for name, fn, tfn, inputs in NON_FINITE])
def test_non_finite_gradients_match_torch(torch, xp, dtype, fn, torch_fn, inputs) -> None:
    weights = np.ones(tuple(torch_fn(torch, *[torch.tensor(a) for a in inputs]).shape))
    want, want_grads = _run_torch(torch, torch_fn, inputs, dtype, weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        got, got_grads = _run_glassnet(fn, xp, inputs, dtype, weights)
    assert not all(np.all(np.isfinite(w)) for w in want_grads)  # the case does test a non-finite gradient
    np.testing.assert_allclose(got, want, **TOL[dtype])
    for k, (g, w) in enumerate(zip(got_grads, want_grads, strict=True)):
        np.testing.assert_allclose(g, w, **TOL[dtype], err_msg=f"gradient of input {k}")


# ---- numerical stability ---------------------------------------------------------------------
HUGE = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [3.0, 1e4, -2.0]])
HUGE_Y = np.array([1, 0, 2])


def _finite_value_and_grad(xp, dtype: str, fn, *inputs):
    ts = [gn.Tensor(to_xp(xp, a, dtype), requires_grad=True) for a in inputs]
    out = fn(*ts)
    out.sum().backward()
    assert np.all(np.isfinite(npy(out)))
    for t in ts:
        assert np.all(np.isfinite(npy(t.grad)))
    return npy(out), [npy(t.grad) for t in ts]


STABLE = [
    ("cross_entropy", lambda z: F.cross_entropy(z, HUGE_Y), lambda th, z: tf(th).cross_entropy(z, th.as_tensor(HUGE_Y)),
     [HUGE]),
    ("cross_entropy_probs", lambda z, p: F.cross_entropy(z, p), lambda th, z, p: tf(th).cross_entropy(z, p),
     [HUGE, np.full((3, 3), 1.0 / 3)]),
    ("log_softmax", lambda z: F.log_softmax(z), lambda th, z: th.log_softmax(z, dim=-1), [HUGE]),
    ("softmax", lambda z: F.softmax(z), lambda th, z: th.softmax(z, dim=-1), [HUGE]),
    ("sigmoid", lambda z: F.sigmoid(z), lambda th, z: th.sigmoid(z), [HUGE]),
    ("bce_with_logits", lambda z, t: F.binary_cross_entropy_with_logits(z, t),
     lambda th, z, t: tf(th).binary_cross_entropy_with_logits(z, t), [HUGE, np.eye(3)]),
    ("logsumexp", lambda z: z.logsumexp(axis=1), lambda th, z: th.logsumexp(z, dim=1), [HUGE]),
    ("logsumexp_all", lambda z: z.logsumexp(), lambda th, z: th.logsumexp(z, dim=(0, 1)), [HUGE]),
    ("softplus", lambda z: F.softplus(z), lambda th, z: tf(th).softplus(z), [HUGE]),
    ("softplus_beta", lambda z: F.softplus(z, beta=3.0), lambda th, z: tf(th).softplus(z, beta=3.0), [HUGE]),
    ("log_sigmoid", lambda z: F.log_sigmoid(z), lambda th, z: tf(th).logsigmoid(z), [HUGE]),
    ("elu", lambda z: F.elu(z), lambda th, z: tf(th).elu(z), [HUGE]),
    ("silu", lambda z: F.silu(z), lambda th, z: tf(th).silu(z), [HUGE]),
    ("bce_near_0_and_1", lambda p, t: F.binary_cross_entropy(p, t), lambda th, p, t: tf(th).binary_cross_entropy(p, t),
     [np.array([1e-7, 1.0 - 1e-7, 1e-30, 0.3]), np.array([0.0, 1.0, 0.5, 0.2])]),
    ("bce_at_0_and_1", lambda p, t: F.binary_cross_entropy(p, t), lambda th, p, t: tf(th).binary_cross_entropy(p, t),
     [np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0, 0.0, 1.0])]),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("fn", "torch_fn", "inputs"),
                         [pytest.param(fn, tfn, inputs, id=name) for name, fn, tfn, inputs in STABLE])
def test_stable_at_extreme_inputs(torch, xp, dtype, fn, torch_fn, inputs) -> None:
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow, log(0) or 0/0
        got, grads = _finite_value_and_grad(xp, dtype, fn, *inputs)
    ts = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in inputs]
    out = torch_fn(torch, *ts)
    out.sum().backward()
    # PyTorch clamps BCE's denominator p(1-p) at the float32 constant 1e-12 even in float64
    tol = {"rtol": 1e-8, "atol": 1e-12} if dtype == "float64" else TOL[dtype]
    np.testing.assert_allclose(got, out.detach().numpy(), **tol)
    np.testing.assert_allclose(grads[0], ts[0].grad.numpy(), **tol)  # PyTorch's target gradient of BCE at
    # p in {0, 1} is infinite; glassnet's differentiates its clamped logs and stays finite


def test_bce_values_at_0_and_1_are_clamped_at_100(xp) -> None:
    p = gn.Tensor(to_xp(xp, [0.0, 1.0]), requires_grad=True)
    t = gn.Tensor(to_xp(xp, [1.0, 0.0]), requires_grad=True)
    loss = F.binary_cross_entropy(p, t)
    assert loss.item() == pytest.approx(100.0)
    loss.backward()
    assert np.all(np.isfinite(npy(p.grad))) and np.all(np.isfinite(npy(t.grad)))


# ---- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("target", [[0, 1, 3], [-1, 0, 1], [0, 1, 2.5]])
def test_cross_entropy_bad_class_targets(xp, target) -> None:
    z = gn.Tensor(to_xp(xp, np.zeros((3, 3))))
    with pytest.raises(ValueError, match="cross_entropy"):
        F.cross_entropy(z, target)
    if target != [0, 1, 2.5]:
        with pytest.raises(ValueError, match=r"\[0, 2\].*3 classes"):
            F.cross_entropy(z, xp.asarray(np.array(target)))


def test_cross_entropy_shape_errors(xp) -> None:
    z = gn.Tensor(to_xp(xp, np.zeros((3, 4))))
    with pytest.raises(ValueError, match=r"3 rows.*2 targets"):
        F.cross_entropy(z, xp.asarray(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 2\)"):
        F.cross_entropy(z, to_xp(xp, np.ones((3, 2))))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        F.cross_entropy(gn.Tensor(to_xp(xp, np.zeros(4))), xp.asarray(np.array([0])))


def test_cross_entropy_bad_weight(xp) -> None:
    z = gn.Tensor(to_xp(xp, np.zeros((3, 4))))
    for target in ([0, 1, 2], to_xp(xp, np.full((3, 4), 0.25))):
        with pytest.raises(ValueError, match=r"weight.*one entry per class.*\(4,\).*\(3,\)"):
            F.cross_entropy(z, target, weight=to_xp(xp, [1.0, 1.0, 1.0]))
        with pytest.raises(ValueError, match=r"weight.*\(4,\).*\(1, 4\)"):
            F.cross_entropy(z, target, weight=to_xp(xp, np.ones((1, 4))))
        with pytest.raises(ValueError, match="class weights must be non-negative"):
            F.cross_entropy(z, target, weight=to_xp(xp, [1.0, -0.5, 1.0, 1.0]))
        with pytest.raises(ValueError, match="class weights must be non-negative"):
            F.cross_entropy(z, target, weight=[1.0, float("nan"), 1.0, 1.0])


@pytest.mark.parametrize("smoothing", [-0.1, 1.5, float("nan"), None])
def test_cross_entropy_bad_label_smoothing(xp, smoothing) -> None:
    z = gn.Tensor(to_xp(xp, np.zeros((3, 4))))
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\]"):
        F.cross_entropy(z, [0, 1, 2], label_smoothing=smoothing)


def test_cross_entropy_options_keep_target_checks(xp) -> None:
    z = gn.Tensor(to_xp(xp, np.zeros((3, 4))))
    with pytest.raises(ValueError, match=r"3 rows.*2 targets"):
        F.cross_entropy(z, xp.asarray(np.array([0, 1])), label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"\[0, 3\].*4 classes"):
        F.cross_entropy(z, xp.asarray(np.array([0, 1, 4])), weight=to_xp(xp, np.ones(4)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(3, 2\)"):
        F.cross_entropy(z, to_xp(xp, np.ones((3, 2))), label_smoothing=0.1)


@pytest.mark.parametrize("target", [np.array([1, 0, 3, 3, 2]), np.full((5, 4), 0.25)])
def test_cross_entropy_unit_weights_equal_the_plain_loss(xp, target) -> None:
    z = to_xp(xp, _rng.normal(size=(5, 4)))
    plain = gn.Tensor(z, requires_grad=True)
    weighted = gn.Tensor(z, requires_grad=True)
    F.cross_entropy(plain, to_xp(xp, target)).backward()
    loss = F.cross_entropy(weighted, to_xp(xp, target), weight=to_xp(xp, np.full(4, 1.0)), label_smoothing=0.0)
    loss.backward()
    np.testing.assert_allclose(npy(loss), npy(F.cross_entropy(z, to_xp(xp, target))), rtol=1e-14)
    np.testing.assert_allclose(npy(weighted.grad), npy(plain.grad), rtol=1e-12, atol=1e-15)


def test_cross_entropy_weight_is_a_constant(xp) -> None:
    z = gn.Tensor(to_xp(xp, _rng.normal(size=(3, 4))), requires_grad=True)
    w = gn.Tensor(to_xp(xp, [1.0, 2.0, 0.5, 1.0]), requires_grad=True)
    F.cross_entropy(z, to_xp(xp, np.full((3, 4), 0.25)), weight=w, label_smoothing=0.1).backward()
    assert z.grad is not None and w.grad is None


def test_cross_entropy_accepts_nested_list_probabilities() -> None:
    z = gn.Tensor(np.zeros((2, 2)))
    assert F.cross_entropy(z, [[0.5, 0.5], [1.0, 0.0]]).item() == pytest.approx(np.log(2))


def test_loss_shape_mismatch_names_both_shapes(xp) -> None:
    p, t = gn.Tensor(to_xp(xp, np.zeros((4, 1)))), to_xp(xp, np.zeros(4))
    for loss in (F.mse_loss, F.l1_loss, F.huber_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
            loss(p, t)


def test_bce_rejects_probabilities_outside_0_1(xp) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.binary_cross_entropy(gn.Tensor(to_xp(xp, [0.5, 1.5])), to_xp(xp, [1.0, 0.0]))


def test_bad_options(xp) -> None:
    x = gn.Tensor(to_xp(xp, np.ones((2, 2))))
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match=r"linear.*\(2, 2\).*\(3, 1\)"):
        F.linear(x, gn.Tensor(to_xp(xp, np.ones((3, 1)))))
