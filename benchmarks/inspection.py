"""Inspection case: integrated gradients (50 Gauss-Legendre steps) and a 10-step PGD attack on 1,000 digits rows.

glassnet's ``gn.explain.integrated_gradients`` and ``gn.robust.pgd`` against the same computation written in
PyTorch (eager, CPU) on copied weights: every step of every row in one forward and one backward pass for
integrated gradients; for PGD a random start and ten signed steps of 2.5 * eps / 10, projected onto the eps-ball
(eps 0.1) and [0, 1]. Parameters take no gradient on either side. The network is a 64-100-10 ReLU MLP
(scikit-learn's default width) with the suite's initial weights.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np

from .harness import Config, Prepare, Row, optional_module, rows_from
from .nets import glassnet_mlp, init_weights

SIZES = [64, 100, 10]
STEPS_IG, STEPS_PGD, EPS = 50, 10, 0.1


@functools.lru_cache(maxsize=2)
def _digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rows = np.resize(np.arange(len(x)), n)  # the first n rows (repeated if n is above the 1,797 there are)
    return (x[rows] / 16.0).astype(np.float32), y[rows].astype(np.int64)


def _glassnet(task: str, x: np.ndarray, y: np.ndarray) -> Prepare:
    import glassnet as gn

    def prepare():
        model = glassnet_mlp(SIZES, init_weights(SIZES, 1))
        if task == "integrated-gradients":
            return lambda: gn.explain.integrated_gradients(model, x, steps=STEPS_IG).values
        return lambda: gn.robust.pgd(model, x, y, EPS, steps=STEPS_PGD, clip=(0.0, 1.0), rng=0)

    return prepare


def _torch(task: str, x: np.ndarray, y: np.ndarray) -> Prepare:
    import torch

    from .nets import torch_model

    problem = SimpleNamespace(weights=init_weights(SIZES, 1))  # torch_model reads only the weights
    nodes, weights = np.polynomial.legendre.leggauss(STEPS_IG)
    alphas = torch.from_numpy(((nodes + 1) / 2).astype(np.float32))
    quad = torch.from_numpy((weights / 2).astype(np.float32))
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def integrated_gradients(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        baseline = torch.zeros_like(tx)
        with torch.no_grad():  # the targets, and f(x) - f(baseline) for the completeness glassnet reports
            z_x, z_b = model(tx), model(baseline)
            target = z_x.argmax(dim=1)
            difference = (z_x - z_b).gather(1, target[:, None])[:, 0]
        path = (baseline + alphas[:, None, None] * (tx - baseline)).reshape(-1, tx.shape[1]).requires_grad_(True)
        out = model(path)
        out.gather(1, target.repeat(STEPS_IG)[:, None]).sum().backward()
        grads = path.grad.reshape(STEPS_IG, *tx.shape)
        attributions = (tx - baseline) * torch.tensordot(quad, grads, dims=1)
        return attributions, attributions.sum(dim=1) - difference

    def pgd(model: torch.nn.Module) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        lo, hi = (tx - EPS).clamp(min=0.0), (tx + EPS).clamp(max=1.0)
        adv = torch.max(torch.min(tx + (torch.rand(tx.shape, generator=generator) * 2 - 1) * EPS, hi), lo)
        alpha = 2.5 * EPS / STEPS_PGD
        for _ in range(STEPS_PGD):
            adv.requires_grad_(True)
            loss = torch.nn.functional.cross_entropy(model(adv), ty, reduction="sum")
            grad, = torch.autograd.grad(loss, adv)
            adv = torch.max(torch.min(adv.detach() + alpha * grad.sign(), hi), lo)
        return adv

    def prepare():
        model = torch_model(problem).eval().requires_grad_(False)
        run = integrated_gradients if task == "integrated-gradients" else pgd
        return lambda: run(model)

    return prepare


def inspection(cfg: Config, n_threads: int) -> list[Row]:
    """Integrated gradients and PGD on digits rows: glassnet against the same computation in PyTorch."""
    n = cfg.size(1_000, 200, 20)
    x, y = _digits(n)
    builders = {"glassnet": _glassnet}
    if "torch" in cfg.libs and optional_module("torch") is not None:
        builders["torch"] = _torch
    rows = []
    for task, steps in (("integrated-gradients", STEPS_IG), ("pgd", STEPS_PGD)):
        prepares = {lib: build(task, x, y) for lib, build in builders.items() if lib in cfg.libs}
        task_rows, _ = rows_from("inspect", task, n_threads, prepares, cfg.reps(7, 3), n, steps)
        rows += task_rows
    return rows


def describe(cfg: Config) -> str:
    """The title line of this case."""
    return (f"{'-'.join(map(str, SIZES))} ReLU MLP on {cfg.size(1_000, 200, 20):,} digits rows: integrated "
            f"gradients ({STEPS_IG} Gauss-Legendre steps) and PGD ({STEPS_PGD} steps, eps {EPS}, clip [0, 1])")
