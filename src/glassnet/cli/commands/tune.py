"""glassnet tune [DATA]: choose hyperparameters by cross-validated random search (or successive halving), on this
machine's cores or an existing Dask or Ray cluster, then train the best configuration as a run of its own."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ... import io
from .. import runs, settings, tuning
from ..errors import UsageError
from ..jobs import Job, make_estimator
from ..tuning import DEFAULT_SPACE, TuneSettings
from .train import add_data_options, add_estimator_options


def _space_help() -> str:
    return "; ".join(f"{name} {tuning.describe(spec)}" for name, spec in DEFAULT_SPACE.items())


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet tune``: the data options of glassnet train, the search's own, then the fixed settings."""
    p = subparsers.add_parser(
        "tune", parents=[common], help="choose hyperparameters by cross-validated random search",
        description="Choose hyperparameters by cross-validated random search over a default space (a [search.space] "
                    "table in --config replaces or adds entries; a setting given as an option is fixed, not "
                    f"searched). The default space: {_space_help()}. The best configuration is then trained on all "
                    "the rows not held out, as glassnet train would, and its run directory also holds search.csv "
                    "(every trial), search.json and the plots of score against each hyperparameter in the report.")
    add_data_options(p)
    tune = TuneSettings()
    search = p.add_argument_group("search (also settable in a [search] table of --config)")
    search.add_argument("--trials", type=int, default=None, metavar="N",
                        help=f"configurations to try (default: {tune.trials})")
    search.add_argument("--cv", type=int, default=None, metavar="K",
                        help=f"cross-validation folds (default: {tune.cv})")
    search.add_argument("--halving", action="store_true", default=None,
                        help="successive halving: every trial gets a few epochs, the best third three times as "
                             "many, and so on up to --epochs (default: off, every trial trains in full)")
    search.add_argument("--time-budget", type=tuning.parse_duration, default=None, metavar="SECONDS",
                        help="start no new trial after this long: seconds, or with s, m or h (10m) (default: none)")
    search.add_argument("--n-jobs", type=int, default=None, metavar="J",
                        help=f"worker processes on this machine, -1 for one per core; with --backend dask or ray, "
                             f"the workers of a local cluster started when no address is given (default: {tune.n_jobs}"
                             ", or every worker of the cluster)")
    search.add_argument("--backend", choices=("loky", "dask", "ray"), default=None,
                        help="loky: processes on this machine; dask or ray: an existing cluster (--scheduler), "
                             f"needs glassnet[dask] or glassnet[ray] (default: {tune.backend})")
    search.add_argument("--scheduler", "--address", dest="scheduler", default=None, metavar="ADDRESS",
                        help="the Dask scheduler (tcp://host:8786) or Ray head (host:6379) to run the trials on "
                             "(default: start a local cluster)")
    search.add_argument("--blas-threads", type=int, default=None, metavar="T",
                        help="BLAS threads per worker on this machine (default: the cores shared out evenly, so that "
                             "workers × threads never exceed them)")
    add_estimator_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Check every setting, then search, write the results into the run directory and train the best configuration."""
    config = settings.load_toml(args.config) if args.config else {}
    where = Path(args.config).name if args.config else ""
    table = config.get("search", {})
    tune = TuneSettings.resolve(args, {k: v for k, v in table.items() if k != "space"}, where)
    tune.space = table.get("space", {})
    run_settings = settings.resolve_settings(args, extra_tables=("search",))
    space = tuning.search_space(run_settings, tune.space, where or "--config",
                                settings.ESTIMATOR_CLASSES["regression"])
    if tune.halving and "max_iter" in space:
        raise UsageError("--halving gives each round more epochs (max_iter), so max_iter cannot also be searched")

    def search(job: Job, run_dir: Path) -> dict[str, Any]:
        return _search(job, run_dir, run_settings, tune, space, quiet=args.quiet)

    return runs.start(run_settings, force=args.force, quiet=args.quiet, search=search)


class _Progress:
    """The live display of a search: a bar of trials with the best mean score so far."""

    def __init__(self, total: int | None, quiet: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="trial", desc="search", dynamic_ncols=True, file=sys.stderr, disable=quiet)

    def __getstate__(self) -> dict[str, Any]:
        return {}  # scikit-learn sends the search, and so this, with every task; the bar stays here

    def __call__(self, results: dict[str, Any]) -> None:
        import numpy as np

        scores = np.asarray(results["mean_test_score"], dtype=float)
        self.bar.update(len(scores) - self.bar.n)
        postfix = {"best": f"{np.nanmax(scores):.4f}"} if np.isfinite(scores).any() else {}
        if "n_resources" in results:
            postfix["epochs"] = results["n_resources"][-1]
        self.bar.set_postfix(postfix)

    def close(self) -> None:
        self.bar.close()


def _search(job: Job, run_dir: Path, run_settings: settings.RunSettings, tune: TuneSettings, space: dict[str, Any],
            *, quiet: bool) -> dict[str, Any]:
    """Run the search on the job's training rows, write search.csv and search.json into ``run_dir``, print the
    leaderboard, and return the best candidate's settings."""
    import numpy as np
    from sklearn.exceptions import FitFailedWarning

    from ...distributed import search_backend

    est = make_estimator(job, run_settings)
    X, y = job.train_frame, job.y_train
    metric = "accuracy" if job.task == "classification" else "R²"
    total = None if tune.halving else tune.trials
    if not quiet:
        print(f"searching {len(space)} hyperparameters of {type(est).__name__} on {job.name}: {tune.trials} "
              f"{'candidates, successive halving' if tune.halving else 'trials'} × {tune.cv} folds of "
              f"{len(y)} rows, scored by {metric}", file=sys.stderr)
    start = time.perf_counter()
    progress = _Progress(total, quiet)
    try:
        with search_backend(tune.backend, X=X, y=y, n_jobs=tune.n_jobs, address=tune.scheduler,
                            blas_threads=tune.blas_threads) as session, warnings.catch_warnings():
            # the trials' warnings repeat for every fold what the data's preparation said once (typos, categories
            # a fold has not seen, batches larger than a small fold), and short trials end before converging
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FitFailedWarning)  # counted below
            pipeline = tuning.search_pipeline(job, est, session.steps)
            search = tuning.make_search(pipeline, space, tune, task=job.task, seed=run_settings.seed,
                                        max_iter=est.max_iter, progress=progress)
            search.fit(session.X, session.y)
    except ConnectionError as e:  # a cluster that cannot be reached is the user's to fix
        raise UsageError(str(e)) from e
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    rows = tuning.leaderboard(search.cv_results_, search.n_splits_, list(space))
    chosen = search.cv_results_["params"][search.best_index_]  # scikit-learn's choice, the leaderboard's first row
    best = {name: tuning.plain(chosen[f"model__{name}"]) for name in space}
    failed = int(np.isnan([r["score"] for r in rows]).sum())
    summary = {"method": "successive halving" if tune.halving else "random search", "trials": tune.trials,
               "evaluated": len(rows), "folds": tune.cv, "seed": run_settings.seed, "metric": metric,
               "time_budget": tune.time_budget, "budget_spent": bool(search.budget_spent_),
               "backend": session.describe(), "workers": session.n_workers, "blas_threads": session.blas_threads,
               "seconds": round(seconds, 3), "failed": failed, "best_score": rows[0]["score"], "best": best,
               "space": space}
    io.atomic_write(run_dir / "search.json", (json.dumps(summary, indent=2) + "\n").encode())
    io.atomic_write(run_dir / "search.csv", tuning.leaderboard_csv(rows))
    if failed:
        warnings.warn(f"{failed} of {len(rows)} trials failed (their fits raised errors) and rank last; train one "
                      "with glassnet train to see why", UserWarning, stacklevel=2)
    if tune.halving:
        what = f"{len(rows)} trials ({tune.trials} candidates, {len(search.n_resources_)} rounds)"
        spent = f"; the time budget ran out in round {len(search.n_resources_)}" if search.budget_spent_ else ""
    else:
        what = f"{len(rows)} trials"
        spent = f"; the time budget ran out after {len(rows)} of {tune.trials}" if search.budget_spent_ else ""
    print(f"search: {what} × {tune.cv} folds in {seconds:.1f} s ({session.describe()}){spent}")
    print(tuning.leaderboard_text(rows, metric))
    if not quiet:
        print(f"training the best configuration (mean {metric} {rows[0]['score']:.4f} in cross-validation)",
              file=sys.stderr)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in best.items()}
