"""Learning-rate schedules against PyTorch's: the same lr in every parameter group at every step."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import glassnet as gn
from glassnet import optim

LRS = (0.1, 0.02)  # two parameter groups with their own lr


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def two_groups(cls, lrs=LRS, **kwargs) -> optim.Optimizer:
    """A glassnet optimizer with one parameter in each of two groups."""
    params = [gn.Tensor(np.zeros(2), requires_grad=True), gn.Tensor(np.zeros(3), requires_grad=True)]
    kwargs.setdefault("lr", 0.1)  # SGD needs one; each group's own lr overrides it
    return cls([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)], **kwargs)


def two_torch_groups(torch, name: str, lrs=LRS, **kwargs):
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)),
              torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))]
    kwargs.setdefault("lr", 0.1)
    return getattr(torch.optim, name)([{"params": [p], "lr": lr} for p, lr in zip(params, lrs, strict=True)],
                                      **kwargs)


def lr_history(opt, sched, steps: int, metrics=None, key: str = "lr") -> list[list]:
    """``get_last_lr()`` after construction and after each step, with each group's ``key`` setting beside it."""
    out = [[*sched.get_last_lr(), *(g[key] for g in opt.param_groups)]]
    for k in range(steps):
        opt.step()  # PyTorch warns when the schedule steps before the optimizer; no gradients: nothing moves
        sched.step() if metrics is None else sched.step(metrics[k])
        out.append([*sched.get_last_lr(), *(g[key] for g in opt.param_groups)])
    return out


SCHEDULES = {
    "step": ("StepLR", {"step_size": 3, "gamma": 0.5}),
    "exponential": ("ExponentialLR", {"gamma": 0.9}),
    "cosine": ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}),
    "cosine_no_min": ("CosineAnnealingLR", {"T_max": 7}),
    "linear_warmup": ("LinearLR", {"start_factor": 0.1, "total_iters": 6}),
    "linear_decay": ("LinearLR", {"start_factor": 1.0, "end_factor": 0.25, "total_iters": 9}),
    "one_cycle": ("OneCycleLR", {"max_lr": [0.5, 0.05], "total_steps": 30}),
    "one_cycle_linear_three_phase": ("OneCycleLR", {"max_lr": 0.3, "epochs": 5, "steps_per_epoch": 6,
                                                    "anneal_strategy": "linear", "three_phase": True,
                                                    "pct_start": 0.25, "div_factor": 10.0}),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_torch(torch, name) -> None:
    cls_name, kwargs = SCHEDULES[name]
    opt, topt = two_groups(optim.SGD, momentum=0.9), two_torch_groups(torch, "SGD", momentum=0.9)
    sched = getattr(optim, cls_name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, cls_name)(topt, **kwargs)
    np.testing.assert_allclose(lr_history(opt, sched, 30), lr_history(topt, tsched, 30), rtol=1e-10, atol=1e-12)
    assert sched.last_epoch == tsched.last_epoch == 30
    assert [g["initial_lr"] for g in opt.param_groups] == [g["initial_lr"] for g in topt.param_groups]


@pytest.mark.parametrize("cls, name, key", [(optim.SGD, "SGD", "momentum"), (optim.Adam, "Adam", "betas")])
def test_one_cycle_moves_momentum_as_torch(torch, cls, name, key) -> None:
    kwargs = {"momentum": 0.9} if key == "momentum" else {}
    opt, topt = two_groups(cls, **kwargs), two_torch_groups(torch, name, **kwargs)
    sched = optim.OneCycleLR(opt, max_lr=[0.4, 0.04], total_steps=20, base_momentum=[0.8, 0.7])
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=[0.4, 0.04], total_steps=20, base_momentum=[0.8, 0.7])
    got, want = lr_history(opt, sched, 20, key=key), lr_history(topt, tsched, 20, key=key)
    flat = (lambda rows: [[v for x in row for v in (x if isinstance(x, tuple) else (x,))] for row in rows])
    np.testing.assert_allclose(flat(got), flat(want), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="total_steps=20"):
        sched.step()


PLATEAU_METRICS = [1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7999, 0.79, 0.9, 0.9, 0.9,
                   0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]


@pytest.mark.parametrize("kwargs", [
    {"patience": 2},
    {"patience": 1, "factor": 0.5, "cooldown": 2, "min_lr": 0.02},
    {"patience": 1, "factor": 0.5, "min_lr": [0.03, 0.001]},
    {"mode": "max", "patience": 2, "factor": 0.3, "threshold": 0.01},
    {"patience": 0, "factor": 0.5, "threshold": 0.0},
    {"patience": 1, "factor": 0.5, "threshold": 0.05, "threshold_mode": "abs"},
    {"mode": "max", "patience": 0, "factor": 0.5, "threshold": 0.02, "threshold_mode": "abs"},
])
def test_reduce_on_plateau_matches_torch(torch, kwargs) -> None:
    opt, topt = two_groups(optim.SGD), two_torch_groups(torch, "SGD")
    n = len(PLATEAU_METRICS)
    got = lr_history(opt, optim.ReduceLROnPlateau(opt, **kwargs), n, PLATEAU_METRICS)
    want = lr_history(topt, torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs), n, PLATEAU_METRICS)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[-1][0] < LRS[0]


def test_schedules_resume_from_last_epoch_as_torch(torch) -> None:
    opt, topt = two_groups(optim.SGD), two_torch_groups(torch, "SGD")
    optim.StepLR(opt, step_size=2, gamma=0.5)
    torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.5)
    for g in opt.param_groups:
        g["lr"] = 123.0  # the resumed schedule starts from initial_lr, not from the current lr
    sched = optim.StepLR(opt, step_size=2, gamma=0.5, last_epoch=4)
    assert sched.get_last_lr() == pytest.approx([0.1 * 0.5 ** 2, 0.02 * 0.5 ** 2])
    with pytest.raises(ValueError, match=r"param_groups\[0\] has no 'initial_lr'"):
        optim.StepLR(two_groups(optim.SGD), step_size=2, last_epoch=4)


def test_schedule_sets_every_group_from_its_own_initial_lr() -> None:
    opt = two_groups(optim.Adam, lrs=(0.1, 0.01))
    sched = optim.ExponentialLR(opt, gamma=0.5)
    opt.lr = 7.0  # a change made elsewhere lasts until the next step
    sched.step()
    assert sched.get_last_lr() == [0.05, 0.005] == [g["lr"] for g in opt.param_groups]
    assert opt.lr == 0.05


def test_scheduler_state_round_trip() -> None:
    opt = two_groups(optim.SGD)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    state = copy.deepcopy(sched.state_dict())
    opt2 = two_groups(optim.SGD)
    sched2 = optim.StepLR(opt2, step_size=5, gamma=0.9)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert sched.get_last_lr() == sched2.get_last_lr() == [g["lr"] for g in opt2.param_groups]
    assert opt.lr == opt2.lr == pytest.approx(0.025) and sched2.last_epoch == 4


def _sgd():
    return two_groups(optim.SGD)


@pytest.mark.parametrize("build", [
    lambda: optim.StepLR(_sgd(), step_size=0),
    lambda: optim.CosineAnnealingLR(_sgd(), T_max=0),
    lambda: optim.LinearLR(_sgd(), start_factor=0.0),
    lambda: optim.LinearLR(_sgd(), end_factor=1.5),
    lambda: optim.LinearLR(_sgd(), total_iters=0),
    lambda: optim.OneCycleLR(_sgd(), max_lr=0.1),
    lambda: optim.OneCycleLR(_sgd(), max_lr=0.1, total_steps=0),
    lambda: optim.OneCycleLR(_sgd(), max_lr=0.1, total_steps=10, pct_start=1.5),
    lambda: optim.OneCycleLR(_sgd(), max_lr=0.1, total_steps=10, anneal_strategy="exp"),
    lambda: optim.OneCycleLR(_sgd(), max_lr=[0.1, 0.2, 0.3], total_steps=10),
    lambda: optim.ReduceLROnPlateau(_sgd(), mode="median"),
    lambda: optim.ReduceLROnPlateau(_sgd(), factor=1.0),
    lambda: optim.ReduceLROnPlateau(_sgd(), threshold_mode="both"),
    lambda: optim.ReduceLROnPlateau(_sgd(), min_lr=[0.1]),
])
def test_invalid_schedule_settings_raise(build) -> None:
    with pytest.raises(ValueError):
        build()
