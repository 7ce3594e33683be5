"""Where a search's trials run: joblib's worker processes on this machine (loky), or a Dask or Ray cluster,
through joblib's backends for them, so that scikit-learn's searches run unchanged on each.

On this machine each worker gets ``cores ÷ workers`` BLAS threads (threadpoolctl's names for them, set by
joblib when it starts the workers), so that workers × threads never oversubscribe the cores. On a cluster
each worker process already starts with one BLAS thread per task slot (Dask's nanny and Ray both set
``OMP_NUM_THREADS`` and the like).

The data goes to the workers once: loky memory-maps large arrays for all of its workers, Dask broadcasts
the data to every worker before the first trial (joblib's ``scatter``), and on Ray the table is put in the
object store once and each trial receives row numbers (:class:`~glassnet.distributed.stored.StoredRows`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from joblib import cpu_count, effective_n_jobs, parallel_config
from threadpoolctl import threadpool_limits

from .stored import StoredRows

BACKENDS = ("loky", "dask", "ray")
_EXTRAS = {"distributed": "dask", "ray": "ray"}


@dataclass
class Session:
    """A search backend in use: the data to hand the search, the steps to put first in its pipeline, and
    how many workers with how many BLAS threads each run the trials."""

    backend: str
    n_workers: int
    blas_threads: int | None  # None: the cluster's own setting
    X: Any
    y: Any
    steps: list[tuple[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """``loky, 2 workers × 1 BLAS thread`` and the like, for messages."""
        threads = "" if self.blas_threads is None else \
            f" × {self.blas_threads} BLAS thread{'s' if self.blas_threads > 1 else ''}"
        return f"{self.backend}, {self.n_workers} worker{'s' if self.n_workers > 1 else ''}{threads}"


def require(module: str) -> Any:
    """Import an optional engine (``distributed``, ``ray``), or raise an ImportError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra = _EXTRAS[module]
        raise ImportError(f"--backend {extra} needs {extra}: pip install 'glassnet[{extra}]'") from e


def blas_threads_per_worker(n_workers: int, blas_threads: int | None = None) -> int:
    """BLAS threads for each of ``n_workers`` workers on this machine: ``blas_threads`` if given, else the cores
    shared out evenly (at least one)."""
    return blas_threads if blas_threads is not None else max(1, cpu_count() // max(n_workers, 1))


@contextlib.contextmanager
def search_backend(backend: str = "loky", *, X: Any, y: Any, n_jobs: int | None = None, address: str | None = None,
                   blas_threads: int | None = None) -> Iterator[Session]:
    """Inside this context joblib (and so scikit-learn's searches) runs on ``backend``: ``loky`` (``n_jobs``
    processes on this machine, -1 for one per core), or ``dask`` / ``ray`` (the cluster at ``address``, or a
    local one of ``n_jobs`` workers when no address is given). Yields the :class:`Session`, whose ``X``, ``y``
    and ``steps`` the search must use for the data to travel once."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend != "loky" and blas_threads is not None:
        raise ValueError(f"BLAS threads are set per worker on this machine only; a {backend} cluster's workers "
                         "start with one per task slot")
    if backend == "loky" and address is not None:
        raise ValueError("a scheduler address applies to the dask and ray backends, not loky")
    with {"loky": _loky, "dask": _dask, "ray": _ray}[backend](X, y, n_jobs, address, blas_threads) as session:
        yield session


@contextlib.contextmanager
def _loky(X: Any, y: Any, n_jobs: int | None, address: None, blas_threads: int | None) -> Iterator[Session]:
    n_workers = effective_n_jobs(n_jobs or 1)
    threads = blas_threads_per_worker(n_workers, blas_threads)
    with parallel_config(backend="loky", n_jobs=n_workers, inner_max_num_threads=threads), \
            threadpool_limits(limits=threads, user_api="blas"):  # the workers' limit, and this process's when alone
        yield Session("loky", n_workers, threads, X, y)


@contextlib.contextmanager
def _dask(X: Any, y: Any, n_jobs: int | None, address: str | None, blas_threads: None) -> Iterator[Session]:
    distributed = require("distributed")
    with contextlib.ExitStack() as stack:
        if address is None:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=effective_n_jobs(n_jobs or -1), threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR))
            address = cluster.scheduler_address
        try:
            client = stack.enter_context(distributed.Client(address, timeout="10s", set_as_default=False))
        except OSError as e:
            raise ConnectionError(f"cannot reach the Dask scheduler at {address}: {e}") from e
        n_workers = sum(client.ncores().values())
        if n_workers == 0:
            raise ConnectionError(f"the Dask scheduler at {address} has no workers")
        with parallel_config(backend="dask", n_jobs=n_workers, client=client, scatter=[X, y]):
            yield Session("dask", n_workers, None, X, y)


@contextlib.contextmanager
def _ray(X: Any, y: Any, n_jobs: int | None, address: str | None, blas_threads: None) -> Iterator[Session]:
    ray = require("ray")
    from ray.util.joblib import register_ray

    started = not ray.is_initialized()
    if started:
        # a local Ray's workers import what this process imports (as loky's and Dask's spawned workers do)
        path = os.pathsep.join(filter(None, sys.path))
        local = {} if address else {"num_cpus": effective_n_jobs(n_jobs or -1),
                                    "runtime_env": {"env_vars": {"PYTHONPATH": path}}}
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **local)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConnectionError(f"cannot reach the Ray cluster at {address}: {e}") from e
    try:
        register_ray()
        n_workers = int(ray.cluster_resources().get("CPU", 1))
        rows = np.arange(len(y)).reshape(-1, 1)
        with parallel_config(backend="ray", n_jobs=n_workers):
            yield Session("ray", n_workers, None, rows, y, [("rows", StoredRows.put(X))])
    finally:
        if started:
            ray.shutdown()
