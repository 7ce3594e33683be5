"""Training-loop cases: the 784-256-256-10 epoch, the 100-64-64-1 regression epoch, the tiny-network
step and the width sweep. Each runs every available library on the same problem."""

from __future__ import annotations

import functools

from .harness import Config, Row, optional_module, rows_from
from .nets import LOOPS, Batches, Problem

NEEDS = {"glassnet": "glassnet", "torch": "torch", "torch-floor": "torch", "sklearn": "sklearn"}
SWEEP_WIDTHS = (16, 64, 256, 1024)


def available(cfg: Config) -> list[str]:
    """The libraries asked for that are installed, in the suite's order."""
    return [lib for lib in cfg.libs if lib not in NEEDS or optional_module(NEEDS[lib]) is not None]


@functools.lru_cache(maxsize=8)
def problem(sizes: tuple[int, ...], loss: str, n: int, batch: int) -> Problem:
    """A Problem, built once and shared by the thread counts and the libraries."""
    return Problem(list(sizes), loss, n, batch)


def mnist_problem(cfg: Config) -> Problem:
    """784-256-256-10 classification on MNIST-shaped data, batch 128 (60,000 samples in full)."""
    return problem((784, 256, 256, 10), "ce", cfg.size(60_000, 5_000, 256), 128)


def regression_problem(cfg: Config) -> Problem:
    """100-64-64-1 regression with MSE, batch 128 (20,000 samples in full)."""
    return problem((100, 64, 64, 1), "mse", cfg.size(20_000, 2_000, 256), 128)


def tiny_problem(cfg: Config) -> tuple[Problem, Batches]:
    """2-16-16-1 regression at batch 4, and the steps of one timed run (1,000 in full)."""
    p = problem((2, 16, 16, 1), "mse", 256, 4)
    return p, p.cycle(cfg.size(1_000, 100, 10))


def train_rows(case: str, variant: str, p: Problem, batches: Batches, cfg: Config, n_threads: int,
               repeats: int) -> list[Row]:
    """Time every available library's loop over ``batches`` of ``p``."""
    prepares, broken = {}, []
    for lib in available(cfg):
        try:
            prepares[lib] = LOOPS[lib](p, batches)
        except Exception as err:  # e.g. a library that fails to import
            broken.append(Row(case, variant, n_threads, lib, error=f"{type(err).__name__}: {err}"))
    samples = sum(e - s for s, e in batches)
    rows, _ = rows_from(case, variant, n_threads, prepares, repeats, samples, len(batches))
    return rows + broken


def mnist(cfg: Config, n_threads: int) -> list[Row]:
    """One epoch of the 784-256-256-10 ReLU MLP, Adam, batch 128, on MNIST-shaped data."""
    p = mnist_problem(cfg)
    return train_rows("mnist", "", p, p.epoch(), cfg, n_threads, cfg.reps(5, 2))


def regression(cfg: Config, n_threads: int) -> list[Row]:
    """One epoch of the 100-64-64-1 regression MLP (MSE, Adam)."""
    p = regression_problem(cfg)
    return train_rows("regression", "", p, p.epoch(), cfg, n_threads, cfg.reps(7, 3))


def tiny(cfg: Config, n_threads: int) -> list[Row]:
    """Steps of a 2-16-16-1 network at batch 4: the per-operation overhead of each library."""
    p, batches = tiny_problem(cfg)
    return train_rows("tiny", "", p, batches, cfg, n_threads, cfg.reps(5, 3))


def sweep(cfg: Config, n_threads: int) -> list[Row]:
    """Epoch time of 784-h-h-10 for each hidden width h: where overhead stops mattering."""
    rows = []
    for h in SWEEP_WIDTHS:
        p = problem((784, h, h, 10), "ce", cfg.size(10_000, 1_000, 256), 128)
        rows += train_rows("sweep", f"h={h}", p, p.epoch(), cfg, n_threads, cfg.reps(3, 1))
    return rows


TITLES = {
    "mnist": lambda cfg: f"{mnist_problem(cfg).describe()} — one epoch",
    "regression": lambda cfg: f"{regression_problem(cfg).describe()} — one epoch",
    "tiny": lambda cfg: f"{tiny_problem(cfg)[0].describe()} — {len(tiny_problem(cfg)[1]):,} steps per run",
    "sweep": lambda cfg: f"784-h-h-10 ReLU MLP, cross-entropy, Adam, batch 128, "
                         f"{cfg.size(10_000, 1_000, 256):,} samples — one epoch per width",
}
