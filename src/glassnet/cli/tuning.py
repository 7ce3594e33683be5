"""glassnet tune's pieces: its settings, the search space (a default, overridden in the --config file), the
pipeline whose preprocessing each cross-validation fold fits on its own training rows, the search, and its
results as a leaderboard, a CSV file and a JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io as pyio
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .errors import UsageError
from .jobs import Job
from .settings import ALIASES, RunSettings, check_estimator_params

# The default search space, in the --config file's own form ([search.space]): a list is a set of choices,
# {loguniform = [low, high]}, {uniform = [low, high]} and {integers = [low, high]} are ranges.
DEFAULT_SPACE: dict[str, Any] = {
    "learning_rate_init": {"loguniform": [1e-4, 1e-1]},
    "alpha": {"loguniform": [1e-6, 1e-1]},
    "l1": {"loguniform": [1e-7, 1e-3]},
    "dropout": {"uniform": [0.0, 0.5]},
    "hidden_layer_sizes": [[32], [64], [128], [256], [64, 64], [128, 64], [128, 128]],
    "batch_size": [32, 64, 128, 256],
    "solver": ["adam", "adamw", "rmsprop", "sgd"],
}
RANGES = ("loguniform", "uniform", "integers")


def parse_duration(text: str) -> float:
    """--time-budget: seconds, or a number with s, m or h (``90``, ``90s``, ``10m``, ``1.5h``)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*", str(text))
    if match is None:
        raise argparse.ArgumentTypeError(f"must be seconds or a number with s, m or h (10m), got {text!r}")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass
class TuneSettings:
    """How glassnet tune searches: trials, folds, method, time budget and where the trials run."""

    trials: int = 20
    cv: int = 3
    halving: bool = False  # successive halving with epochs as the resource, instead of a plain random search
    time_budget: float | None = None  # seconds after which no new trial starts
    n_jobs: int = 1  # worker processes on this machine (-1: one per core); on a cluster, all its workers
    backend: str = "loky"
    scheduler: str | None = None  # the Dask scheduler's or Ray head's address
    blas_threads: int | None = None  # per worker on this machine; None: the cores shared out evenly
    space: dict[str, Any] = field(default_factory=dict)  # [search.space]: entries added to or replacing the default's

    @classmethod
    def resolve(cls, args: argparse.Namespace, table: dict[str, Any], where: str) -> TuneSettings:
        """The defaults, then the --config file's [search] table (``where`` names it), then the command line."""
        from ..distributed import BACKENDS

        names = [f.name for f in fields(cls)]
        values: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for key, value in table.items():
            name = key.replace("-", "_")
            name = "scheduler" if name == "address" else name
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; [search] takes {names}"
                raise UsageError(f"unknown setting {key!r} in [search] of {where}{hint}")
            values[name], labels[name] = value, f"{key} in [search] of {where}"
        for name in names:
            if getattr(args, name, None) is not None:
                values[name], labels[name] = getattr(args, name), "--" + name.replace("_", "-")
        self = cls(**values)

        def check(name: str, ok: bool, what: str) -> None:
            if not ok:
                label = labels.get(name, "--" + name.replace("_", "-"))
                raise UsageError(f"{label} must be {what}, got {getattr(self, name)!r}")

        def whole(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        check("trials", whole(self.trials) and self.trials >= 1, "a whole number of at least 1")
        check("cv", whole(self.cv) and self.cv >= 2, "a whole number of folds, at least 2")
        check("halving", isinstance(self.halving, bool), "true or false")
        if isinstance(self.time_budget, str):
            try:
                self.time_budget = parse_duration(self.time_budget)
            except argparse.ArgumentTypeError:
                check("time_budget", False, "seconds or a number with s, m or h (10m)")
        check("time_budget", self.time_budget is None or (isinstance(self.time_budget, (int, float))
                                                          and not isinstance(self.time_budget, bool)
                                                          and self.time_budget > 0), "a positive number of seconds")
        check("n_jobs", whole(self.n_jobs) and self.n_jobs != 0 and self.n_jobs >= -1,
              "a whole number of workers, or -1 for one per core")
        check("backend", self.backend in BACKENDS, " or ".join(BACKENDS))
        check("scheduler", self.scheduler is None or isinstance(self.scheduler, str), "an address such as "
              "tcp://host:8786")
        check("blas_threads", self.blas_threads is None or (whole(self.blas_threads) and self.blas_threads >= 1),
              "a whole number of at least 1")
        check("space", isinstance(self.space, dict), "a table of hyperparameters ([search.space])")
        if self.backend == "loky" and self.scheduler is not None:
            raise UsageError(f"{labels['scheduler']} needs --backend dask or ray (the trials run on that cluster)")
        if self.backend != "loky" and self.blas_threads is not None:
            raise UsageError(f"{labels['blas_threads']} applies to --backend loky; a {self.backend} cluster's workers "
                             "start with one BLAS thread per task slot")
        return self


# ---------------------------------------------------------------- the search space

def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _distribution(name: str, spec: Any, where: str) -> Any:
    """A [search.space] entry as scikit-learn's searches take it: a list of choices, or a scipy distribution."""
    from scipy import stats

    if isinstance(spec, list) and spec:
        return [tuple(v) if isinstance(v, list) else v for v in spec]
    if isinstance(spec, dict) and len(spec) == 1:
        (kind, bounds), = spec.items()
        if kind in RANGES and isinstance(bounds, list) and len(bounds) == 2 and all(map(_is_number, bounds)) \
                and bounds[0] < bounds[1] and (kind != "loguniform" or bounds[0] > 0) \
                and (kind != "integers" or all(isinstance(b, int) for b in bounds)):
            low, high = bounds
            if kind == "loguniform":
                return stats.loguniform(low, high)
            return stats.uniform(low, high - low) if kind == "uniform" else stats.randint(low, high + 1)
    raise UsageError(f"{name} in {where}: give a list of values, or one of {{loguniform = [low, high]}} "
                     f"(0 < low < high), {{uniform = [low, high]}}, {{integers = [low, high]}}; got {spec!r}")


def describe(spec: Any) -> str:
    """A space entry in words: ``log-uniform on [0.0001, 0.1]``, ``one of 32, 64``."""
    if isinstance(spec, list):
        return "one of " + ", ".join(_cell(v) for v in spec)
    (kind, (low, high)), = spec.items()
    words = {"loguniform": "log-uniform", "uniform": "uniform", "integers": "whole numbers"}[kind]
    return f"{words} on [{low}, {high}]"


def _extremes(spec: Any) -> list[Any]:
    """The values of a space entry that must all be valid settings: every choice, or a range's two ends."""
    if isinstance(spec, list):
        return [tuple(v) if isinstance(v, list) else v for v in spec]
    (_, bounds), = spec.items()
    return list(bounds)


def search_space(settings: RunSettings, overrides: dict[str, Any], where: str, estimator_class: type) -> dict[str, Any]:
    """The space to search, as {estimator parameter: its [search.space] form}: the default space less the settings
    the user fixed (an option, the --config file or --param), then ``overrides`` ([search.space], from ``where``).
    Every value the space can give is checked against ``estimator_class`` here, before any data is read."""
    space = {name: spec for name, spec in DEFAULT_SPACE.items() if name not in settings.labels}
    labels = dict(settings.labels)
    for key, spec in overrides.items():
        name = ALIASES.get(key.replace("-", "_"), key.replace("-", "_"))
        if name in settings.labels:
            raise UsageError(f"{name} is both fixed ({settings.label(name)}) and searched ({key} in [search.space] "
                             f"of {where}); drop one")
        space[name] = spec
        labels[name] = f"{key} in [search.space] of {where}"
    if not space:
        raise UsageError("nothing to search: every hyperparameter of the default space is fixed; add entries to "
                         "[search.space] in the --config file")
    checked = RunSettings(estimator=settings.estimator, labels=labels)
    for name, spec in space.items():
        _distribution(name, spec, labels.get(name, "the default space"))
        for value in _extremes(spec):
            check_estimator_params(estimator_class, {**settings.estimator, name: value}, checked)
    return space


# ---------------------------------------------------------------- the pipeline and the search

def search_pipeline(job: Job, est: Any, first: list[tuple[str, Any]] = ()) -> Any:
    """The pipeline each trial fits: the ``first`` steps (reading the data where the backend keeps it), the run's
    preprocessing unfitted, so that each fold standardizes, encodes and imputes from its own training rows, then
    ``est``."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    return Pipeline([*first, *clone(job.preprocessor).steps, ("model", est)])


def cv_splitter(task: str, folds: int, seed: int) -> Any:
    """Shuffled folds from ``seed``: stratified by class for classification."""
    from sklearn.model_selection import KFold, StratifiedKFold

    cls = StratifiedKFold if task == "classification" else KFold
    return cls(n_splits=folds, shuffle=True, random_state=seed)


def make_search(pipeline: Any, space: dict[str, Any], tune: TuneSettings, *, task: str, seed: int, max_iter: int,
                progress: Any = None) -> Any:
    """The search: :class:`~glassnet.distributed.RandomSearch`, or with ``tune.halving``
    :class:`~glassnet.distributed.HalvingSearch` with epochs (``max_iter``) as the resource; no refit (the
    command line refits the best candidate as a run of its own)."""
    from ..distributed import HalvingSearch, RandomSearch

    distributions = {f"model__{name}": _distribution(name, spec, "") for name, spec in space.items()}
    common = {"cv": cv_splitter(task, tune.cv, seed), "random_state": seed, "refit": False,
              "time_budget": tune.time_budget, "progress": progress}
    if not tune.halving:
        return RandomSearch(pipeline, distributions, n_iter=tune.trials, **common)
    return HalvingSearch(pipeline, distributions, n_candidates=tune.trials, resource="model__max_iter",
                         max_resources=max_iter, min_resources="exhaust", return_train_score=False, **common)


def plain(value: Any) -> Any:
    """A sampled setting as plain JSON-able Python (NumPy scalars and tuples of them become numbers and lists)."""
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- results

def leaderboard(results: dict[str, Any], n_splits: int, names: list[str]) -> list[dict[str, Any]]:
    """One row per evaluated candidate, best first (with successive halving, the last round's candidates first):
    rank, mean and standard deviation of the fold scores, each fold's score, mean fit time, then its settings
    (the estimator parameters ``names``, in that order)."""
    n = len(results["params"])
    halving = "n_resources" in results
    scores = np.asarray(results["mean_test_score"], dtype=float)
    order = sorted(range(n), key=lambda i: (-results["n_resources"][i] if halving else 0,
                                            -scores[i] if np.isfinite(scores[i]) else math.inf))
    rows = []
    for rank, i in enumerate(order, start=1):
        row: dict[str, Any] = {"rank": rank, "score": float(scores[i]),
                               "score_std": float(results["std_test_score"][i])}
        row.update({f"fold_{k + 1}": float(results[f"split{k}_test_score"][i]) for k in range(n_splits)})
        row["fit_seconds"] = float(results["mean_fit_time"][i])
        if halving:
            row.update(round=int(results["iter"][i]) + 1, epochs=int(results["n_resources"][i]))
        row.update({name: plain(results["params"][i][f"model__{name}"]) for name in names})
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def leaderboard_csv(rows: list[dict[str, Any]]) -> bytes:
    """The leaderboard as CSV text: one column per field, hidden layer sizes written as ``(64, 32)``."""
    out = pyio.StringIO()
    columns = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else (_cell(row[c]) if isinstance(row[c], list) else row[c])
                         for c in columns])
    return out.getvalue().encode()


def leaderboard_text(rows: list[dict[str, Any]], metric: str, top: int = 10) -> str:
    """The best ``top`` rows as an aligned text table: rank, score ± std, fit time, then the settings."""
    skip = {"rank", "score", "score_std", "fit_seconds"}
    settings = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in skip and not k.startswith("fold_")]
    header = ["rank", metric, "fit s", *settings]
    table = [header] + [[str(r["rank"]), f"{r['score']:.4f} ± {r['score_std']:.4f}", f"{r['fit_seconds']:.2f}",
                         *(_cell(r.get(k, "")) for k in settings)] for r in rows[:top]]
    widths = [max(len(line[j]) for line in table) for j in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in table)
