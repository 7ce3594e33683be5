"""Timing harness: thread limits, interleaved or blocked repeats, medians, and result rows.

A benchmark is a ``Prepare``: a function that builds fresh state (model, optimizer, buffers) off
the clock and returns the ``run`` callable that is timed. Every library gets its own Prepare
built from the same data and initial weights.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from threadpoolctl import threadpool_limits

Run = Callable[[], Any]
Prepare = Callable[[], Run]

LIBS = ("glassnet", "torch", "sklearn", "numpy", "floor", "torch-floor")
LIB_LABELS = {
    "glassnet": "glassnet",
    "torch": "torch (eager)",
    "sklearn": "scikit-learn",
    "numpy": "numpy (hand-written)",
    "floor": "GEMM floor (numpy)",
    "torch-floor": "GEMM floor (torch)",
}


@dataclass
class Config:
    """Suite options: quick mode, a size scale, repeat override and the libraries to run."""

    quick: bool = False
    scale: float = 1.0
    repeats: int | None = None
    libs: tuple[str, ...] = LIBS

    def size(self, full: int, quick: int, minimum: int = 1) -> int:
        """A sample or step count: ``full``, or ``quick`` in quick mode, times the scale."""
        return max(minimum, int((quick if self.quick else full) * self.scale))

    def reps(self, full: int, quick: int) -> int:
        """Timed repeats per library: the override, or ``full``/``quick``."""
        return self.repeats or (quick if self.quick else full)


def optional_module(name: str) -> Any:
    """The module ``name``, or None where it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Limit BLAS and OpenMP pools (threadpoolctl) and PyTorch's intra-op pool to ``n`` threads."""
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(previous)


@dataclass
class Row:
    """One library's measurements on one case, variant and thread count."""

    case: str
    variant: str
    threads: int
    lib: str
    times: list[float] = field(default_factory=list)
    samples: int = 0  # samples processed by one timed run
    steps: int = 0  # optimizer steps (or GEMM rounds) in one timed run
    mode: str = ""  # "interleaved" or "blocks"
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON file, with the derived figures spelled out."""
        med = self.median
        out = {k: getattr(self, k) for k in ("case", "variant", "threads", "lib", "times", "samples", "steps",
                                             "mode", "score", "extra", "error")}
        out["median_s"] = med
        out["min_s"] = min(self.times) if self.times else None
        out["samples_per_s"] = self.samples / med if med and self.samples else None
        out["step_us"] = 1e6 * med / self.steps if med and self.steps else None
        return out


def _timed(prepare: Prepare) -> tuple[float, Any]:
    run = prepare()
    gc.collect()
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def measure(prepares: dict[str, Prepare], repeats: int, interleave: bool,
            warmup: bool = True) -> tuple[dict[str, list[float]], dict[str, str], dict[str, Any]]:
    """Time each Prepare ``repeats`` times: round-robin across libraries, or one block per library.

    Blocks are for more than one thread, where PyTorch's and OpenBLAS's pools would fight over
    the cores if interleaved. A warm-up run (not recorded) precedes each library's first timed
    run. Returns times per library, errors per library, and each library's last run result.
    """
    # Objects alive now (imported modules, data) leave the collector's scans: otherwise every full
    # collection in one library's run would pay for another library's import (PyTorch's is large).
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {lib: [] for lib in prepares}
    errors: dict[str, str] = {}
    results: dict[str, Any] = {}
    rounds = list(range(-1 if warmup else 0, repeats))
    order = ([(r, lib) for r in rounds for lib in prepares] if interleave
             else [(r, lib) for lib in prepares for r in rounds])
    for r, lib in order:
        if lib in errors:
            continue
        try:
            elapsed, results[lib] = _timed(prepares[lib])
        except Exception as err:  # a broken library must not stop the others
            errors[lib] = f"{type(err).__name__}: {err}"
            continue
        if r >= 0:
            times[lib].append(elapsed)
    return times, errors, results


def rows_from(case: str, variant: str, n_threads: int, prepares: dict[str, Prepare], repeats: int,
              samples: int, steps: int, warmup: bool = True) -> tuple[list[Row], dict[str, Any]]:
    """Measure ``prepares`` at ``n_threads`` (interleaved at 1 thread, blocks above) into Rows."""
    interleave = n_threads == 1
    times, errors, results = measure(prepares, repeats, interleave, warmup)
    mode = "interleaved" if interleave else "blocks"
    rows = [Row(case, variant, n_threads, lib, times[lib], samples, steps, mode, error=errors.get(lib))
            for lib in prepares]
    return rows, results

