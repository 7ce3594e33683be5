"""The numba-compiled kernels give what the NumPy code beside them gives, and switch off cleanly."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
import glassnet.functional as F
from glassnet import backend
from glassnet.train.penalty import Penalty

pytest.importorskip("numba")


def both_ways(numba_switch, compute):
    """``compute()`` with the kernels on and with them off (GLASSNET_NUMBA=0)."""
    results = []
    for switch in ("1", "0"):
        numba_switch(switch)
        assert (backend.kernels() is not None) == (switch == "1")
        results.append(compute())
    return results


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", [1.0, 1e4])  # 1e4: exp would overflow without the max shift
@pytest.mark.parametrize("target_dtype", [np.int64, np.int32, np.uint8])
def test_cross_entropy_kernel_matches_numpy(numba_switch, dtype, scale, target_dtype) -> None:
    rng = np.random.default_rng(0)
    z = (rng.normal(size=(33, 7)) * scale).astype(dtype)
    y = rng.integers(0, 7, size=33).astype(target_dtype)

    def compute():
        logits = gn.Tensor(z.copy(), requires_grad=True)
        loss = F.cross_entropy(logits, y)
        (loss * 3.0).backward()
        return float(loss.item()), logits.grad

    (fused_loss, fused_grad), (ref_loss, ref_grad) = both_ways(numba_switch, compute)
    tol = 1e-6 if dtype == "float32" else 1e-13
    assert np.isfinite(fused_loss)
    np.testing.assert_allclose(fused_loss, ref_loss, rtol=tol)
    assert fused_grad.dtype == z.dtype
    np.testing.assert_allclose(fused_grad, ref_grad, rtol=tol, atol=tol / 10)


def test_cross_entropy_kernel_passes_the_gradient_check(numba_switch) -> None:
    numba_switch("1")
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=6)
    assert gn.gradcheck(lambda z: F.cross_entropy(z, y), [rng.normal(size=(6, 4))])


def test_cross_entropy_kernel_leaves_errors_and_nan_to_the_general_path(numba_switch) -> None:
    numba_switch("1")
    z = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\]"):
        F.cross_entropy(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\]"):
        F.cross_entropy(z, np.array([0, -1, 1]))
    z[1, 2] = np.nan
    assert np.isnan(F.cross_entropy(z, np.array([0, 1, 2])).item())


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5)])  # 3-D input: the NumPy path, in both runs
def test_fused_linear_relu_backward_matches_numpy(numba_switch, shape) -> None:
    rng = np.random.default_rng(4)
    x, w, b = rng.normal(size=shape), rng.normal(size=(5, 4)), rng.normal(size=4)

    def compute():
        tensors = [gn.Tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b)]
        out = F.linear(*tensors, activation="relu")
        (out * gn.Tensor(np.linspace(-1, 1, out.size, dtype=np.float32).reshape(out.shape))).sum().backward()
        return [t.grad for t in tensors]

    fused, ref = both_ways(numba_switch, compute)
    for a, b_ in zip(fused, ref, strict=True):
        np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("alpha, l1", [(1e-3, 0.0), (0.0, 1e-2), (0.5, 0.25)])
def test_penalty_kernel_matches_numpy(numba_switch, alpha, l1) -> None:
    rng = np.random.default_rng(2)
    weights = [rng.normal(size=shape).astype(np.float32) for shape in ((5, 4), (4, 3))]
    weights[0][0, 0] = 0.0  # sign(0) = 0: no L1 push at an exact zero

    def compute():
        tensors = [gn.Tensor(w.copy(), requires_grad=True) for w in weights]
        for t in tensors:
            t.grad = np.ones_like(t.data)
        value = Penalty(tensors, alpha=alpha, l1=l1).add_to_grads(8)
        return float(value), [t.grad for t in tensors]

    (fused_value, fused_grads), (ref_value, ref_grads) = both_ways(numba_switch, compute)
    np.testing.assert_allclose(fused_value, ref_value, rtol=1e-6)
    for a, b in zip(fused_grads, ref_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


OPTIMIZER_SETTINGS = [
    (gn.optim.SGD, {"lr": 0.1}),
    (gn.optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    (gn.optim.SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (gn.optim.RMSprop, {"lr": 0.01, "weight_decay": 0.1}),
    (gn.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01}),
    (gn.optim.Adam, {"lr": 0.01, "weight_decay": 0.05, "betas": (0.8, 0.99)}),
    (gn.optim.Adam, {"lr": 0.01, "amsgrad": True}),
    (gn.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls, settings", OPTIMIZER_SETTINGS,
                         ids=lambda v: v.__name__ if isinstance(v, type) else "-".join(map(str, v)))
def test_optimizer_kernels_match_the_numpy_rule(cls, settings, dtype) -> None:
    """Each optimizer's compiled kernel against its NumPy ``_update``, step by step from a fresh state."""
    rng = np.random.default_rng(5)
    opt = cls([gn.Tensor(np.zeros(1, dtype=dtype), requires_grad=True)], **settings)  # for its rule and group
    group, kernels = opt.param_groups[0], backend.kernels()
    start = rng.normal(size=257).astype(dtype)
    (p, state), (p_ref, state_ref) = [(start.copy(), {name: np.zeros_like(start) for name in opt.state_names(group)})
                                      for _ in range(2)]
    tol = {"rtol": 1e-5, "atol": 1e-7} if dtype == "float32" else {"rtol": 1e-13, "atol": 1e-15}
    for step in range(1, 8):
        g = rng.normal(size=257).astype(dtype)
        opt._fused_update(kernels, p, g, state, group, step)
        opt._update(p_ref, g, state_ref, group, step)
        assert p.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p, p_ref, **tol)
        for name in state_ref:
            np.testing.assert_allclose(state[name], state_ref[name], **tol)
    assert not np.allclose(p, start)


def test_without_numba_everything_falls_back(monkeypatch) -> None:
    monkeypatch.setattr(backend, "_compiled", False)
    assert backend.kernels() is None
    model = gn.nn.MLP([3, 4, 2])
    opt = gn.optim.Adam(model.parameters())
    assert opt.flat and opt._fused is None
    F.cross_entropy(model(np.ones((2, 3), dtype=np.float32)), np.array([0, 1])).backward()
    opt.step()
