"""Optimizers and schedules against PyTorch: same start, same data, same trajectory; exact resumes."""

from __future__ import annotations

import copy
import importlib.util
import itertools

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


def train(model: nn.MLP, opt: optim.Optimizer, xp, steps: int) -> list[float]:
    x, y = to_xp(xp, X), xp.asarray(Y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def train_torch(torch, tmodel, opt, steps: int) -> list[float]:
    x, y = torch.as_tensor(X), torch.as_tensor(Y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tmodel(x), y)
        loss.backward()
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
    "rmsprop": (optim.RMSprop, "RMSprop", {"lr": 0.01}),
    "rmsprop_momentum": (optim.RMSprop, "RMSprop", {"lr": 0.005, "momentum": 0.9}),
    "rmsprop_centered": (optim.RMSprop, "RMSprop", {"lr": 0.01, "centered": True}),
    "rmsprop_centered_momentum_wd": (optim.RMSprop, "RMSprop",
                                     {"lr": 0.005, "alpha": 0.9, "momentum": 0.5, "centered": True,
                                      "weight_decay": 0.01}),
    "adam": (optim.Adam, "Adam", {"lr": 0.01}),
    "adam_weight_decay": (optim.Adam, "Adam", {"lr": 0.01, "weight_decay": 0.05, "betas": (0.8, 0.99)}),
    "adam_amsgrad": (optim.Adam, "Adam", {"lr": 0.01, "amsgrad": True}),
    "adamw": (optim.AdamW, "AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    "adamw_default_decay": (optim.AdamW, "AdamW", {"lr": 0.01, "eps": 1e-6}),
}


MODES = ["fused", "flat", "per_param"]


@pytest.fixture(params=MODES)
def mode(request, monkeypatch) -> str:
    """How a NumPy step runs: one compiled pass (numba), NumPy over flat buffers, or per parameter."""
    if request.param == "fused":
        pytest.importorskip("numba")
    monkeypatch.setenv("GLASSNET_NUMBA", "1" if request.param == "fused" else "0")
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


@pytest.mark.parametrize("name", ["sgd_nesterov", "rmsprop_centered_momentum_wd", "adam_amsgrad", "adamw"])
def test_flat_and_per_parameter_updates_agree(name, monkeypatch) -> None:
    cls, _, kwargs = CONFIGS[name]
    results = []
    # chunks of 7 cut through every parameter
    for mode, chunk in (("flat", None), ("flat", 7), ("per_param", None), ("fused", None)):
        if mode == "fused" and importlib.util.find_spec("numba") is None:
            continue
        monkeypatch.setenv("GLASSNET_NUMBA", "1" if mode == "fused" else "0")
        if chunk:
            monkeypatch.setattr(optim.Optimizer, "chunk_elements", chunk)
        model = make_model(None)
        opt = build(cls, model.parameters(), mode, **kwargs)
        train(model, opt, np, 12)
        results.append(params_of(model))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
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
            assert p.grad is grad  # zero_grad zeroes the flat gradient buffer in place
    for st, st_before in zip(opt.state, state_before, strict=True):
        assert all(st[k] is st_before[k] for k in st)


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


def test_state_dict_is_plain_data() -> None:
    model = make_model(None)
    opt = optim.Adam(model.parameters(), amsgrad=True)
    train(model, opt, np, 2)
    sd = opt.state_dict()
    assert set(sd) == {"hyperparameters", "t", "state"} and sd["t"] == 2
    assert sorted(sd["state"]) == list(range(len(model.parameters())))
    for entry, p in zip(sd["state"].values(), model.parameters(), strict=True):
        assert set(entry) == {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
        assert all(type(v) is np.ndarray and v.shape == p.shape for v in entry.values())
        assert not any(np.shares_memory(v, p.data) or np.shares_memory(v, opt.state[0]["exp_avg"])
                       for v in entry.values())


def test_load_state_dict_rejects_other_shapes() -> None:
    opt = optim.SGD(make_model(None).parameters(), lr=0.1, momentum=0.9)
    other = optim.SGD(nn.MLP([4, 8, 5, 3], rng=0).parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="6 parameters"):
        optim.SGD(nn.MLP([4, 3], rng=0).parameters(), lr=0.1, momentum=0.9).load_state_dict(opt.state_dict())


# ---- learning-rate schedules -----------------------------------------------------------------
def _lr_sequence(opt, sched, epochs: int, metrics=None) -> list[float]:
    lrs = []
    torch_opt = hasattr(opt, "param_groups")
    for epoch in range(epochs):
        if torch_opt:
            opt.step()  # PyTorch warns when the schedule steps before the optimizer
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[epoch])
        lrs.append(opt.param_groups[0]["lr"] if torch_opt else opt.lr)
    return lrs


SCHEDULES = {
    "step": ("StepLR", {"step_size": 3, "gamma": 0.5}),
    "exponential": ("ExponentialLR", {"gamma": 0.9}),
    "cosine": ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}),
    "cosine_no_min": ("CosineAnnealingLR", {"T_max": 7}),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(torch, name) -> None:
    cls_name, kwargs = SCHEDULES[name]
    opt = optim.SGD(make_model(None).parameters(), lr=0.1)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    got = _lr_sequence(opt, getattr(optim, cls_name)(opt, **kwargs), 30)
    want = _lr_sequence(topt, getattr(torch.optim.lr_scheduler, cls_name)(topt, **kwargs), 30)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7999, 0.79, 0.9, 0.9, 0.9,
                   0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]


@pytest.mark.parametrize("kwargs", [
    {"patience": 2},
    {"patience": 1, "factor": 0.5, "cooldown": 2, "min_lr": 0.02},
    {"mode": "max", "patience": 2, "factor": 0.3, "threshold": 0.01},
    {"patience": 0, "factor": 0.5, "threshold": 0.0},
])
def test_reduce_on_plateau_matches_torch(torch, kwargs) -> None:
    opt = optim.SGD(make_model(None).parameters(), lr=0.1)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    n = len(PLATEAU_METRICS)
    got = _lr_sequence(opt, optim.ReduceLROnPlateau(opt, **kwargs), n, PLATEAU_METRICS)
    want = _lr_sequence(topt, torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs), n, PLATEAU_METRICS)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[-1] < 0.1


def test_scheduler_state_round_trip() -> None:
    opt = optim.SGD(make_model(None).parameters(), lr=0.1)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    state = copy.deepcopy(sched.state_dict())
    opt2 = optim.SGD(make_model(None).parameters(), lr=0.1)
    sched2 = optim.StepLR(opt2, step_size=5, gamma=0.9)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert opt.lr == opt2.lr == pytest.approx(0.025)


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
    lambda: optim.StepLR(optim.SGD(_params(), lr=0.1), step_size=0),
    lambda: optim.CosineAnnealingLR(optim.SGD(_params(), lr=0.1), T_max=0),
    lambda: optim.ReduceLROnPlateau(optim.SGD(_params(), lr=0.1), mode="median"),
    lambda: optim.ReduceLROnPlateau(optim.SGD(_params(), lr=0.1), factor=1.0),
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
    assert after["t"] == 2 and after["hyperparameters"] == before["hyperparameters"]
    for i in before["state"]:
        for k in before["state"][i]:
            np.testing.assert_array_equal(before["state"][i][k], after["state"][i][k])


def test_duplicate_parameters_are_refused() -> None:
    params = make_model(None).parameters()
    with pytest.raises(ValueError, match="more than once"):
        optim.Adam(params + params[:1])


def test_non_parameters_are_refused() -> None:
    with pytest.raises(TypeError, match="parameter 0"):
        optim.SGD([gn.Tensor(np.ones(2))], lr=0.1)
