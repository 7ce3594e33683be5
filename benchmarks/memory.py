"""Memory case: the peak memory each library's training loop needs on top of the data.

Method. Every (case, library) pair runs in a fresh Python process, so no library's allocator
state or caches affect another's. The child builds the data, warms the library up on two
batches, then resets the kernel's resident-set high-water mark (writing 5 to
/proc/self/clear_refs), builds the model and optimizer and trains one run of the case; the
figure is the high-water mark minus the resident size just before. The child runs with
MALLOC_MMAP_THRESHOLD_=65536, so every buffer of 64 KiB or more is mapped on allocation and
returned on free for NumPy and PyTorch alike, and the high-water mark follows the live set.
For the NumPy-based libraries a second run under tracemalloc gives the peak of traced
allocations (NumPy reports its buffers to tracemalloc; PyTorch does not, so it gets no such
figure). Where clear_refs cannot be written, the ru_maxrss growth is used instead (a lower bound).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

from .harness import Config, Row, threads
from .nets import LOOPS, Problem
from .training import available, mnist_problem, regression_problem, tiny_problem

LIBS = ("glassnet", "torch", "sklearn", "numpy")
METHOD = ("RSS high-water growth in a fresh process per library (clear_refs reset, mmap threshold 64 KiB), "
          "model + optimizer + one run, data excluded; tracemalloc peak for NumPy-based libraries")


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_high_water() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_child(spec: dict) -> dict:
    """In this (fresh) process: peak bytes of one training run of ``spec["lib"]`` on ``spec["problem"]``."""
    lib = spec["lib"]
    if lib == "torch":
        import torch  # noqa: F401  (so that threads() also limits its pool)
    p = Problem(**spec["problem"])
    batches = [tuple(b) for b in spec["batches"]] if spec.get("batches") else p.epoch()
    loop = LOOPS[lib]
    with threads(spec["threads"]):
        loop(p, batches[:2])()()  # warm-up: imports, lazy initialization, BLAS buffers
        gc.collect()
        exact = _reset_high_water()
        base_rss, base_max = _status_kib("VmRSS"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        prepare = loop(p, batches)
        prepare()()
        if exact:
            rss_peak = _status_kib("VmHWM") - base_rss
        else:
            rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_max
        del prepare
        gc.collect()
        traced = None
        if lib != "torch":
            tracemalloc.start()
            loop(p, batches)()()
            traced = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return {"rss_peak_bytes": rss_peak * 1024, "tracemalloc_peak_bytes": traced, "exact_reset": exact}


def _run_child(spec: dict) -> dict:
    import glassnet  # the child measures this process's glassnet, not whichever copy is installed

    source = str(Path(glassnet.__file__).resolve().parents[1])
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536",
               PYTHONPATH=os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])))
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.memory", json.dumps(spec)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def problems(cfg: Config) -> dict[str, tuple[Problem, list]]:
    """The cases whose training loops are measured, with their batch lists (None: one epoch); quick: mnist only."""
    if cfg.quick:
        return {"mnist": (mnist_problem(cfg), None)}
    tiny, tiny_batches = tiny_problem(cfg)
    return {"mnist": (mnist_problem(cfg), None), "regression": (regression_problem(cfg), None),
            "tiny": (tiny, tiny_batches)}


def memory(cfg: Config, n_threads: int) -> list[Row]:
    """Peak memory of each library's training loop on the mnist, regression and tiny cases."""
    rows = []
    libs = [lib for lib in available(cfg) if lib in LIBS]
    for case, (p, batches) in problems(cfg).items():
        param_bytes = sum(w.nbytes + b.nbytes for w, b in p.weights)
        for lib in libs:
            row = Row("memory", case, n_threads, lib, mode="fresh process")
            spec = {"problem": p.spec(), "lib": lib, "threads": n_threads, "batches": batches}
            try:
                row.extra = {**_run_child(spec), "param_bytes": param_bytes}
            except Exception as err:
                row.error = f"{type(err).__name__}: {err}"
            rows.append(row)
    return rows


if __name__ == "__main__":
    print(json.dumps(measure_child(json.loads(sys.argv[1]))))
