"""Optimizers against PyTorch: same start, same data, same trajectory (also when parameters miss gradients
or sit in groups with their own settings); exact resumes."""

from __future__ import annotations

import copy
import importlib.util
import itertools

import array_api_compat
import numpy as np
import pytest

import glassnet as gn
import glassnet.functional as F
from conftest import npy, to_xp
from glassnet import nn, optim

SIZES = [4, 8, 8, 3]
_data_rng = np.random.default_rng(3)
X = _data_rng.normal(size=(16, 4))
Y = _data_rng.integers(0, 3, size=16)
STEPS = 25


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def make_model(xp, seed: int = 0, dtype: str = "float64") -> nn.MLP:
    return nn.MLP(SIZES, activation="tanh", dtype=dtype, xp=xp, rng=seed)


def torch_copy(torch, model: nn.MLP):
    """A PyTorch MLP with the same weights; glassnet's weight is (in, out), PyTorch's (out, in)."""
    layers = []
    for n_in, n_out in itertools.pairwise(SIZES):
        layers += [torch.nn.Linear(n_in, n_out, dtype=torch.float64), torch.nn.Tanh()]
    tmodel = torch.nn.Sequential(*layers[:-1])
    linears = [m for m in model.layers if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for tl, gl in zip(tmodel[::2], linears, strict=True):
            tl.weight.copy_(torch.as_tensor(npy(gl.weight).T))
            tl.bias.copy_(torch.as_tensor(npy(gl.bias)))
    return tmodel


def params_of(model: nn.MLP) -> list[np.ndarray]:
    return [np.array(npy(p)) for p in model.parameters()]


def torch_params_as_glassnet(tmodel) -> list[np.ndarray]:
    out = []
    for tl in tmodel[::2]:
        out += [tl.weight.detach().numpy().T, tl.bias.detach().numpy()]
    return out


def train(model: nn.MLP, opt: optim.Optimizer, xp, steps: int, pattern=None, start: int = 1) -> list[float]:
    """``steps`` steps; with ``pattern``, parameter i (model order) keeps its gradient only at the steps
    (counted from 1, the first being ``start``) in ``pattern[i]``, the others are set to None."""
    x, y = to_xp(xp, X), xp.asarray(Y)
    losses = []
    for step in range(start, start + steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        for i, p in enumerate(model.parameters() if pattern else ()):
            if step not in pattern[i]:
                p.grad = None
        opt.step()
        losses.append(loss.item())
    return losses


def train_torch(torch, tmodel, opt, steps: int, pattern=None) -> list[float]:
    x, y = torch.as_tensor(X), torch.as_tensor(Y)
    losses = []
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tmodel(x), y)
        loss.backward()
        for i, p in enumerate(tmodel.parameters() if pattern else ()):
            if step not in pattern[i]:
                p.grad = None
        opt.step()
        losses.append(loss.item())
    return losses


# name -> (glassnet optimizer class, PyTorch optimizer name, keyword arguments shared by both)
CONFIGS = {
    "sgd": (optim.SGD, "SGD", {"lr": 0.1}),
    "sgd_momentum": (optim.SGD, "SGD", {"lr": 0.1, "momentum": 0.9}),
    "sgd_nesterov": (optim.SGD, "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "sgd_weight_decay": (optim.SGD, "SGD", {"lr": 0.1, "weight_decay": 0.05}),
    "sgd_momentum_weight_decay": (optim.SGD, "SGD", {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.05}),
    "sgd_dampening": (optim.SGD, "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    "sgd_dampening_weight_decay": (optim.SGD, "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5,
                                                      "weight_decay": 0.05}),
    "sgd_nesterov_weight_decay": (optim.SGD, "SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True,
                                                     "weight_decay": 0.1}),
    "rmsprop": (optim.RMSprop, "RMSprop", {"lr": 0.01}),
    "rmsprop_momentum": (optim.RMSprop, "RMSprop", {"lr": 0.005, "momentum": 0.9}),
    "rmsprop_centered": (optim.RMSprop, "RMSprop", {"lr": 0.01, "centered": True}),
    "rmsprop_weight_decay": (optim.RMSprop, "RMSprop", {"lr": 0.01, "alpha": 0.95, "eps": 1e-6,
                                                        "weight_decay": 0.1}),
    "rmsprop_centered_momentum_wd": (optim.RMSprop, "RMSprop",
                                     {"lr": 0.005, "alpha": 0.9, "momentum": 0.5, "centered": True,
                                      "weight_decay": 0.01}),
    "adam": (optim.Adam, "Adam", {"lr": 0.01}),
    "adam_weight_decay": (optim.Adam, "Adam", {"lr": 0.01, "weight_decay": 0.05, "betas": (0.8, 0.99)}),
    "adam_amsgrad": (optim.Adam, "Adam", {"lr": 0.01, "amsgrad": True}),
    "adamw": (optim.AdamW, "AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    "adamw_default_decay": (optim.AdamW, "AdamW", {"lr": 0.01, "eps": 1e-6}),
    "adamw_amsgrad": (optim.AdamW, "AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True,
                                              "betas": (0.85, 0.98)}),
}


MODES = ["fused", "flat", "per_param"]


@pytest.fixture(params=MODES)
def mode(request, numba_switch) -> str:
    """How a NumPy step runs: one compiled pass (numba), NumPy over flat buffers, or per parameter."""
    if request.param == "fused":
        pytest.importorskip("numba")
    numba_switch("1" if request.param == "fused" else "0")
    return request.param


def build(cls, params, mode: str, **kwargs) -> optim.Optimizer:
    """An optimizer in ``mode``, checked to be running that way where the backend allows it."""
    opt = cls(params, flat=mode != "per_param", **kwargs)
    if opt.flat:
        assert (opt._fused is not None) == (mode == "fused")
    return opt


@pytest.mark.parametrize("name", list(CONFIGS))
def test_trajectory_matches_torch(torch, xp, name, mode) -> None:
    cls, torch_name, kwargs = CONFIGS[name]
    model = make_model(xp)
    tmodel = torch_copy(torch, model)
    opt = build(cls, model.parameters(), mode, **kwargs)
    assert opt.flat == (mode != "per_param" and gn.backend.is_numpy(xp))  # flat buffers are NumPy-only
    topt = getattr(torch.optim, torch_name)(tmodel.parameters(), **kwargs)
    losses = train(model, opt, xp, STEPS)
    want = train_torch(torch, tmodel, topt, STEPS)
    np.testing.assert_allclose(losses, want, rtol=1e-10)
    assert losses[-1] < losses[0]
    for got, ref in zip(params_of(model), torch_params_as_glassnet(tmodel), strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_float32_adam_follows_torch_closely(torch, mode) -> None:
    model = make_model(None, dtype="float32")
    tmodel = torch_copy(torch, model).float()
    opt, topt = build(optim.Adam, model.parameters(), mode, lr=0.01), torch.optim.Adam(tmodel.parameters(), lr=0.01)
    x, y = np.asarray(X, dtype=np.float32), Y
    for _ in range(STEPS):
        for o, m, t in ((opt, model, gn.Tensor(x)), (topt, tmodel, torch.as_tensor(x))):
            o.zero_grad()
            out = m(t)
            if isinstance(out, gn.Tensor):
                F.cross_entropy(out, y).backward()
            else:
                torch.nn.functional.cross_entropy(out, torch.as_tensor(y)).backward()
            o.step()
    for got, ref in zip(params_of(model), torch_params_as_glassnet(tmodel), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


EXECUTIONS = ["fused", "flat", "per_param", "array_api_strict"]


@pytest.fixture(params=EXECUTIONS)
def execution(request, numba_switch):
    """(xp, mode): the compiled flat step, NumPy over flat buffers, NumPy parameter by parameter, or
    the Array API reference (array-api-strict, parameter by parameter)."""
    if request.param == "array_api_strict":
        return pytest.importorskip("array_api_strict"), "per_param"
    if request.param == "fused":
        pytest.importorskip("numba")
    numba_switch("1" if request.param == "fused" else "0")
    return array_api_compat.array_namespace(np.empty(0)), request.param


PATTERN_STEPS = 12
# parameter (model order: w0, b0, w1, b1, w2, b2) -> the steps (from 1) at which it has a gradient:
# first at step 2, first at step 5, never, lost on some steps, always, always
GRADIENT_PATTERN = [range(2, 13), range(5, 13), (), (1, 2, 4, 8, 9, 10, 12), range(1, 13), range(1, 13)]
PATTERN_STEP_COUNTS = [11, 8, 0, 7, 12, 12]


# ---- execution paths agree -------------------------------------------------------------------
@pytest.mark.parametrize("pattern", [None, "pattern"])
@pytest.mark.parametrize("name", ["sgd_nesterov", "sgd_dampening_weight_decay", "rmsprop_centered_momentum_wd",
                                  "adam_amsgrad", "adamw"])
def test_flat_and_per_parameter_updates_agree(name, pattern, numba_switch) -> None:
    cls, _, kwargs = CONFIGS[name]
    pattern = GRADIENT_PATTERN if pattern else None
    results = {}
    for mode in ("flat", "per_param", "fused"):
        if mode == "fused" and importlib.util.find_spec("numba") is None:
            continue
        numba_switch("1" if mode == "fused" else "0")
        model = make_model(None)
        train(model, build(cls, model.parameters(), mode, **kwargs), np, PATTERN_STEPS, pattern)
        results[mode] = params_of(model)
    # the same NumPy rule over flat stretches or parameter by parameter: the same bits
    for a, b in zip(results["flat"], results["per_param"], strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(results["flat"], results.get("fused", results["flat"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_updates_happen_in_place(xp, mode) -> None:
    model = make_model(xp)
    opt = build(optim.Adam, model.parameters(), mode)
    train(model, opt, xp, 1)
    before = [(p.data, p.grad) for p in model.parameters()]
    state_before = [dict(st) for st in opt.state]
    train(model, opt, xp, 3)
    for (data, grad), p in zip(before, model.parameters(), strict=True):
        assert p.data is data
        if opt.flat:
            assert p.grad is grad  # backward writes each new gradient into the flat gradient buffer
    for st, st_before in zip(opt.state, state_before, strict=True):
        assert all(st[k] is st_before[k] for k in st)


# ---- parameters without a gradient: skipped, each with its own step count (PyTorch's semantics) --
def assert_same_as_torch(model, tmodel, rtol: float = 1e-9) -> None:
    for got, ref in zip(params_of(model), torch_params_as_glassnet(tmodel), strict=True):
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_missing_gradients_match_torch(torch, name, execution) -> None:
    xp, mode = execution
    cls, torch_name, kwargs = CONFIGS[name]
    model = make_model(xp)
    tmodel = torch_copy(torch, model)
    opt = build(cls, model.parameters(), mode, **kwargs)
    topt = getattr(torch.optim, torch_name)(tmodel.parameters(), **kwargs)
    never = params_of(model)[2]
    losses = train(model, opt, xp, PATTERN_STEPS, GRADIENT_PATTERN)
    want = train_torch(torch, tmodel, topt, PATTERN_STEPS, GRADIENT_PATTERN)
    np.testing.assert_allclose(losses, want, rtol=1e-10)
    assert_same_as_torch(model, tmodel)
    np.testing.assert_array_equal(params_of(model)[2], never)  # no decay, no momentum drift
    assert opt.steps == PATTERN_STEP_COUNTS and opt.t == PATTERN_STEPS
    for count, tp in zip(opt.steps, tmodel.parameters(), strict=True):
        if "step" in topt.state.get(tp, {}):
            assert int(topt.state[tp]["step"]) == count


def test_sgd_momentum_buffer_starts_at_the_first_gradient(execution) -> None:
    xp, mode = execution
    early = gn.Tensor(to_xp(xp, [1.0, 2.0]), requires_grad=True)
    late = gn.Tensor(to_xp(xp, [1.0]), requires_grad=True)
    opt = build(optim.SGD, [early, late], mode, lr=0.1, momentum=0.9, dampening=0.5)
    for step in range(1, 5):
        opt.zero_grad()
        early.grad = to_xp(xp, [1.0, 1.0])
        if step >= 2:
            late.grad = to_xp(xp, [1.0])
        opt.step()
    # late's buffer over steps 2, 3, 4: 1 (its first gradient, undamped), 0.9 + 0.5, 1.26 + 0.5
    assert float(npy(late)[0]) == pytest.approx(1.0 - 0.1 * (1.0 + 1.4 + 1.76), rel=1e-12)
    assert float(npy(early)[0]) == pytest.approx(1.0 - 0.1 * (1.0 + 1.4 + 1.76 + 2.084), rel=1e-12)


def test_adamw_leaves_a_parameter_without_gradient_alone(execution) -> None:
    xp, mode = execution
    idle = gn.Tensor(to_xp(xp, [1.0, -2.0]), requires_grad=True)
    busy = gn.Tensor(to_xp(xp, [1.0, 2.0, 3.0]), requires_grad=True)
    opt = build(optim.AdamW, [idle, busy], mode, lr=0.1, weight_decay=0.1)
    for _ in range(10):
        opt.zero_grad()
        busy.grad = to_xp(xp, [0.5, -0.5, 1.0])
        opt.step()
    np.testing.assert_array_equal(npy(idle), [1.0, -2.0])
    assert opt.steps == [0, 10] and not np.any(npy(busy) == [1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", ["adamw", "sgd_dampening_weight_decay", "rmsprop_centered_momentum_wd"])
def test_a_layer_left_out_of_the_loss_is_skipped(torch, name, execution) -> None:
    """Two heads on one body; each step's loss uses one head, so the other's gradients stay None."""
    xp, mode = execution
    cls, torch_name, kwargs = CONFIGS[name]
    layers = [nn.Linear(4, 6, dtype="float64", xp=xp, rng=1), nn.Linear(6, 3, dtype="float64", xp=xp, rng=2),
              nn.Linear(6, 3, dtype="float64", xp=xp, rng=3)]
    tlayers = [torch.nn.Linear(a.weight.shape[0], a.weight.shape[1], dtype=torch.float64) for a in layers]
    with torch.no_grad():
        for tl, gl in zip(tlayers, layers, strict=True):
            tl.weight.copy_(torch.as_tensor(npy(gl.weight).T))
            tl.bias.copy_(torch.as_tensor(npy(gl.bias)))
    params = [p for layer in layers for p in layer.parameters()]
    opt = build(cls, params, mode, **kwargs)
    topt = getattr(torch.optim, torch_name)([p for tl in tlayers for p in tl.parameters()], **kwargs)
    x, y, tx, ty = to_xp(xp, X), xp.asarray(Y), torch.as_tensor(X), torch.as_tensor(Y)
    for step in range(9):
        head = 2 if step in (3, 4, 7) else 1  # the second head's first gradient comes at step 4
        opt.zero_grad()
        F.cross_entropy(layers[head](layers[0](x).tanh()), y).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tlayers[head](torch.tanh(tlayers[0](tx))), ty).backward()
        topt.step()
    assert opt.steps == [9, 9, 6, 6, 3, 3]
    for gl, tl in zip(layers, tlayers, strict=True):
        np.testing.assert_allclose(npy(gl.weight), tl.weight.detach().numpy().T, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(npy(gl.bias), tl.bias.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_gradients_zeroed_in_place_still_step(torch, execution) -> None:
    xp, mode = execution
    model = make_model(xp)
    tmodel = torch_copy(torch, model)
    opt = build(optim.AdamW, model.parameters(), mode, lr=0.01, weight_decay=0.1)
    topt = torch.optim.AdamW(tmodel.parameters(), lr=0.01, weight_decay=0.1)
    train(model, opt, xp, 2)
    train_torch(torch, tmodel, topt, 2)
    for _ in range(3):  # zero gradients are gradients: decay and momentum go on
        opt.zero_grad(set_to_none=False)
        opt.step()
        topt.zero_grad(set_to_none=False)
        topt.step()
    assert opt.steps == [5] * 6
    assert_same_as_torch(model, tmodel)


def test_compiled_step_is_one_pass_while_all_parameters_step_together(numba_switch) -> None:
    """One kernel call over the whole buffer; one per run of same-step parameters once they differ."""
    pytest.importorskip("numba")
    numba_switch("1")
    model = make_model(None)
    opt = optim.Adam(model.parameters())
    sizes = [p.size for p in model.parameters()]
    calls = []

    class Counting:
        scalars = staticmethod(gn.backend.kernels().scalars)

        @staticmethod
        def adam(p, *args):
            calls.append(p.size)
            gn.backend.kernels().adam(p, *args)

    opt._fused = Counting
    train(model, opt, np, 2)
    assert calls == [sum(sizes)] * 2
    calls.clear()
    train(model, opt, np, 2, [(2,), (1, 2), *[(1, 2)] * 4])  # w0 misses step 1: its count falls behind
    assert calls == [sum(sizes[1:]), sizes[0], sum(sizes[1:])]


# ---- parameter groups ------------------------------------------------------------------------
# name -> (glassnet class, PyTorch name, shared settings, weights' group settings, biases' group settings)
GROUP_CONFIGS = {
    "adam_no_decay_on_biases": (optim.Adam, "Adam", {"lr": 0.01, "weight_decay": 0.05}, {},
                                {"weight_decay": 0.0, "lr": 0.02}),
    "adamw_amsgrad_weights": (optim.AdamW, "AdamW", {"lr": 0.01, "weight_decay": 0.1},
                              {"betas": (0.8, 0.99), "amsgrad": True}, {"weight_decay": 0.0}),
    "sgd_momentum_weights": (optim.SGD, "SGD", {"lr": 0.1, "momentum": 0.9},
                             {"nesterov": True, "weight_decay": 0.01}, {"momentum": 0.0, "lr": 0.05}),
    "rmsprop_centered_weights": (optim.RMSprop, "RMSprop", {"lr": 0.01}, {"centered": True, "momentum": 0.5},
                                 {"alpha": 0.9, "weight_decay": 0.1}),
}


def grouped(params, weights: dict, biases: dict) -> list[dict]:
    """Weights (even positions) in one group, biases in another."""
    return [{"params": list(params[0::2]), **weights}, {"params": list(params[1::2]), **biases}]


@pytest.mark.parametrize("pattern", [None, "pattern"])
@pytest.mark.parametrize("name", list(GROUP_CONFIGS))
def test_parameter_groups_match_torch(torch, name, pattern, execution) -> None:
    xp, mode = execution
    cls, torch_name, shared, weights, biases = GROUP_CONFIGS[name]
    pattern = GRADIENT_PATTERN if pattern else None
    model = make_model(xp)
    tmodel = torch_copy(torch, model)
    opt = build(cls, grouped(model.parameters(), weights, biases), mode, **shared)
    topt = getattr(torch.optim, torch_name)(grouped(list(tmodel.parameters()), weights, biases), **shared)
    losses = train(model, opt, xp, PATTERN_STEPS, pattern)
    want = train_torch(torch, tmodel, topt, PATTERN_STEPS, pattern)
    np.testing.assert_allclose(losses, want, rtol=1e-10)
    assert_same_as_torch(model, tmodel)
    for group, tgroup in zip(opt.param_groups, topt.param_groups, strict=True):
        assert {k: group[k] for k in opt.defaults} == {k: tgroup[k] for k in opt.defaults}


def test_param_groups_and_the_lr_attribute() -> None:
    params = make_model(None).parameters()
    opt = optim.Adam([{"params": params[0::2]}, {"params": params[1::2], "lr": 0.5, "weight_decay": 0.0}],
                     lr=0.01, weight_decay=0.1)
    first, second = opt.param_groups
    assert [p is q for p, q in zip(first["params"], params[0::2], strict=True)] == [True] * 3
    assert {k: v for k, v in first.items() if k != "params"} == {
        "lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1, "amsgrad": False}
    assert second["lr"] == 0.5 and second["weight_decay"] == 0.0 and second["betas"] == (0.9, 0.999)
    assert [id(p) for p in opt.params] == [id(p) for p in params[0::2] + params[1::2]]
    assert opt.lr == 0.01 and opt.weight_decay == 0.1  # the first group's
    opt.lr = 0.003  # every group's
    assert [g["lr"] for g in opt.param_groups] == [0.003, 0.003] and opt.defaults["lr"] == 0.01
    second["lr"] = 0.2
    assert opt.lr == 0.003
    assert list(opt.positions(second)) == [3, 4, 5]


def test_add_param_group_matches_torch(torch, execution) -> None:
    xp, mode = execution
    model = make_model(xp)
    tmodel = torch_copy(torch, model)
    params, tparams = model.parameters(), list(tmodel.parameters())
    opt = build(optim.Adam, params[0::2], mode, lr=0.01)
    topt = torch.optim.Adam(tparams[0::2], lr=0.01)
    train(model, opt, xp, 3)
    train_torch(torch, tmodel, topt, 3)
    opt.add_param_group({"params": params[1::2], "lr": 0.05, "amsgrad": True})
    topt.add_param_group({"params": tparams[1::2], "lr": 0.05, "amsgrad": True})
    assert opt.flat == (mode != "per_param" and gn.backend.is_numpy(xp))
    train(model, opt, xp, 5)
    train_torch(torch, tmodel, topt, 5)
    assert opt.steps == [8, 8, 8, 5, 5, 5]
    assert_same_as_torch(model, tmodel)


# ---- state dicts -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sgd_dampening", "rmsprop_centered_momentum_wd", "adam_amsgrad", "adamw"])
def test_state_dict_resumes_exactly(xp, name, mode) -> None:
    cls, _, kwargs = CONFIGS[name]
    straight = make_model(xp, seed=1)
    train(straight, build(cls, straight.parameters(), mode, **kwargs), xp, 20)

    first = make_model(xp, seed=1)
    opt = build(cls, first.parameters(), mode, **kwargs)
    train(first, opt, xp, 10)
    saved_model = first.state_dict()
    saved_opt = copy.deepcopy(opt.state_dict())
    train(first, opt, xp, 3)  # training on must not change what was saved

    # a fresh optimizer over another model of the same shapes, loaded from the saved state
    resumed = make_model(xp, seed=99)
    opt2 = build(cls, resumed.parameters(), mode, **{**kwargs, "lr": 123.0})
    resumed.load_state_dict(saved_model)
    opt2.load_state_dict(saved_opt)
    assert opt2.lr == kwargs["lr"] and opt2.t == 10
    train(resumed, opt2, xp, 10)
    for a, b in zip(params_of(straight), params_of(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(GROUP_CONFIGS))
def test_state_dict_resumes_groups_and_step_counts_exactly(name, execution) -> None:
    xp, mode = execution
    cls, _, shared, weights, biases = GROUP_CONFIGS[name]

    def optimizer(model, lr=None):
        overrides = {} if lr is None else {"lr": lr}
        return build(cls, grouped(model.parameters(), {**weights, **overrides}, {**biases, **overrides}), mode,
                     **shared)

    straight = make_model(xp, seed=1)
    train(straight, optimizer(straight), xp, PATTERN_STEPS, GRADIENT_PATTERN)
    first = make_model(xp, seed=1)
    opt = optimizer(first)
    train(first, opt, xp, 6, GRADIENT_PATTERN)
    saved_model, saved_opt = first.state_dict(), copy.deepcopy(opt.state_dict())
    train(first, opt, xp, 2, GRADIENT_PATTERN, start=7)

    resumed = make_model(xp, seed=99)
    opt2 = optimizer(resumed, lr=123.0)
    resumed.load_state_dict(saved_model)
    opt2.load_state_dict(saved_opt)
    assert [g["lr"] for g in opt2.param_groups] == [g.get("lr", shared["lr"]) for g in (weights, biases)]
    train(resumed, opt2, xp, PATTERN_STEPS - 6, GRADIENT_PATTERN, start=7)
    for a, b in zip(params_of(straight), params_of(resumed), strict=True):
        np.testing.assert_array_equal(a, b)


def test_state_dict_is_plain_data() -> None:
    model = make_model(None)
    params = model.parameters()
    opt = optim.Adam([{"params": params[0::2]}, {"params": params[1::2], "weight_decay": 0.0}], weight_decay=0.1,
                     amsgrad=True)
    train(model, opt, np, 2, GRADIENT_PATTERN)
    sd = opt.state_dict()
    assert set(sd) == {"param_groups", "state", "t"} and sd["t"] == 2
    assert sd["param_groups"] == [
        {"params": [0, 1, 2], "lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1, "amsgrad": True},
        {"params": [3, 4, 5], "lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": True}]
    assert sorted(sd["state"]) == list(range(6))
    # positions follow the groups: w0, w1, w2, b0, b1, b2
    assert [sd["state"][i]["step"] for i in range(6)] == [1, 0, 2, 0, 2, 2]
    for i, p in enumerate(params[0::2] + params[1::2]):
        entry = sd["state"][i]
        assert set(entry) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"} and type(entry["step"]) is int
        arrays = [v for k, v in entry.items() if k != "step"]
        assert all(type(v) is np.ndarray and v.shape == p.shape for v in arrays)
        assert not any(np.shares_memory(v, p.data) or np.shares_memory(v, opt.state[i]["exp_avg"]) for v in arrays)
    assert not np.any(sd["state"][1]["exp_avg"])  # w1 has had no gradient yet: its state has not started
    copy.deepcopy(sd)


def test_load_state_dict_rejects_other_shapes() -> None:
    opt = optim.SGD(make_model(None).parameters(), lr=0.1, momentum=0.9)
    other = optim.SGD(nn.MLP([4, 8, 5, 3], rng=0).parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="6 parameters"):
        optim.SGD(nn.MLP([4, 3], rng=0).parameters(), lr=0.1, momentum=0.9).load_state_dict(opt.state_dict())


def test_load_state_dict_rejects_other_groups_and_formats() -> None:
    params = make_model(None).parameters()
    two = optim.Adam(grouped(params, {}, {"lr": 0.1})).state_dict()
    with pytest.raises(ValueError, match="2 parameter groups, this optimizer has 1"):
        optim.Adam(params).load_state_dict(two)
    with pytest.raises(ValueError, match="group 0 of the optimizer state has 3 parameters, this optimizer's has 2"):
        optim.Adam([{"params": params[:2]}, {"params": params[2:]}]).load_state_dict(two)
    with pytest.raises(ValueError, match=r"lacks the settings \['amsgrad', 'betas', 'eps'\]"):
        optim.Adam(params).load_state_dict(optim.SGD(params, lr=0.1, momentum=0.9).state_dict())
    with pytest.raises(ValueError, match="older format"):
        optim.Adam(params).load_state_dict({"hyperparameters": {"lr": 0.1}, "t": 0, "state": {}})


# ---- validation ------------------------------------------------------------------------------
def _params():
    return make_model(None).parameters()


@pytest.mark.parametrize("build", [
    lambda: optim.SGD(_params(), lr=-0.1),
    lambda: optim.SGD(_params(), lr=0.1, momentum=-0.5),
    lambda: optim.SGD(_params(), lr=0.1, weight_decay=-1.0),
    lambda: optim.SGD(_params(), lr=0.1, nesterov=True),
    lambda: optim.SGD(_params(), lr=0.1, momentum=0.9, nesterov=True, dampening=0.1),
    lambda: optim.SGD([], lr=0.1),
    lambda: optim.RMSprop(_params(), lr=-1.0),
    lambda: optim.RMSprop(_params(), alpha=-0.1),
    lambda: optim.RMSprop(_params(), eps=-1e-8),
    lambda: optim.RMSprop(_params(), momentum=-0.1),
    lambda: optim.Adam(_params(), lr=-1e-3),
    lambda: optim.Adam(_params(), betas=(1.0, 0.999)),
    lambda: optim.Adam(_params(), betas=(0.9, -0.1)),
    lambda: optim.Adam(_params(), eps=-1.0),
    lambda: optim.Adam(_params(), weight_decay=-0.1),
    lambda: optim.AdamW(_params(), weight_decay=-0.1),
    lambda: optim.Adam(grouped(_params(), {}, {"betas": (0.9, 1.0)})),
    lambda: optim.Adam(grouped(_params(), {"lr": -0.1}, {})),
    lambda: optim.SGD(grouped(_params(), {}, {"nesterov": True}), lr=0.1, momentum=0.9, dampening=0.5),
    lambda: optim.RMSprop(grouped(_params(), {"alpha": -0.5}, {})),
    lambda: optim.Adam([{"params": []}]),
])
def test_invalid_hyperparameters_raise(build) -> None:
    with pytest.raises(ValueError):
        build()


def test_load_state_dict_refuses_other_settings_and_changes_nothing() -> None:
    model = make_model(None)
    saved = optim.Adam(model.parameters(), amsgrad=True).state_dict()
    opt = optim.Adam(model.parameters(), lr=0.5)
    train(model, opt, np, 2)
    before = opt.state_dict()
    with pytest.raises(ValueError, match="other settings"):
        opt.load_state_dict(saved)
    with pytest.raises(ValueError, match="other settings"):
        optim.SGD(model.parameters(), lr=0.1).load_state_dict(
            optim.SGD(model.parameters(), lr=0.1, momentum=0.9).state_dict())
    after = opt.state_dict()
    assert after["t"] == 2 and after["param_groups"] == before["param_groups"]
    for i in before["state"]:
        for k in before["state"][i]:
            np.testing.assert_array_equal(before["state"][i][k], after["state"][i][k])


def test_duplicate_parameters_are_refused() -> None:
    params = make_model(None).parameters()
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam(params + params[:1])
    with pytest.raises(ValueError, match=r"more than once \(parameter 6\)"):
        optim.Adam([{"params": params}, {"params": params[:1]}])
    opt = optim.Adam(params[:2])
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": params[1:]})


def test_non_parameters_are_refused() -> None:
    with pytest.raises(TypeError, match="parameter 0"):
        optim.SGD([gn.Tensor(np.ones(2), requires_grad=True) * 2.0], lr=0.1)
    params = make_model(None).parameters()
    with pytest.raises(TypeError, match="single Tensor"):
        optim.Adam(params[0])
    with pytest.raises(TypeError, match="'params' key"):
        optim.Adam([{"lr": 0.1}])
    with pytest.raises(TypeError, match="parameter 1 is not a floating-point leaf Tensor"):
        optim.Adam([{"params": params[:1]}, {"params": [params[1].data]}])


@pytest.mark.parametrize("numba", ["1", "0"])
def test_frozen_parameters_are_accepted_and_left_alone(numba, numba_switch):
    numba_switch(numba)
    model = nn.MLP([3, 4, 2])
    model.layers[0].requires_grad_(False)
    frozen = {k: v.copy() for k, v in model.state_dict().items() if k.startswith("layers.0.")}
    opt = optim.AdamW(model.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        model(np.ones((5, 3), dtype=np.float32)).sum().backward()
        opt.step()
    after = model.state_dict()
    assert all(np.array_equal(after[k], v) for k, v in frozen.items())
    assert not np.array_equal(after["layers.2.weight"], model.state_dict()["layers.2.weight"] * 0)
    assert opt.steps == [0, 0, 3, 3]

