"""Profile glassnet's own training loop on a case with cProfile: where the time goes, by function."""

from __future__ import annotations

import cProfile
import io
import pstats

from .harness import Config, threads
from .nets import glassnet_loop
from .training import mnist_problem, regression_problem, tiny_problem

PROFILED = ("mnist", "regression", "tiny")


def profile(case: str, cfg: Config, n_threads: int, top: int = 25) -> str:
    """cProfile's table (sorted by own time, then by cumulative time) of one glassnet run of ``case``."""
    if case == "tiny":
        p, batches = tiny_problem(cfg)
    else:
        p = mnist_problem(cfg) if case == "mnist" else regression_problem(cfg)
        batches = p.epoch()
    with threads(n_threads):
        prepare = glassnet_loop(p, batches)
        prepare()()  # warm-up
        run = prepare()
        profiler = cProfile.Profile()
        profiler.runcall(run)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write(f"== profile: glassnet, {case}, {len(batches):,} steps, {n_threads} thread(s) ==\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()
