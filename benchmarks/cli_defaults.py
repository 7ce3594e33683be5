"""``python -m benchmarks.cli_defaults``: ``glassnet train`` with no options against scikit-learn's MLP.

Each case is a built-in data set or a real table in tests/data, given only the options that say what the data is
(target, columns to drop, task). ``--seed k`` draws both the held-out split and glassnet's initial weights;
scikit-learn's MLPClassifier/MLPRegressor (max_iter=1000, random_state=k) trains after a standard pipeline on
exactly the rows the command line trains and tests on. Prints one row per case: held-out accuracy or R² per seed,
their means, the difference and glassnet's wall time (about seven minutes for all). tests/test_cli_defaults.py
imports the cases and the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Case:
    """A built-in data set (``target`` None) or a table in tests/data with its target and data options."""

    name: str
    target: str | None = None
    options: tuple[str, ...] = ()

    def data_args(self) -> list[str]:
        """The arguments of ``glassnet train`` that name the data and say what it is."""
        if self.target is None:
            return ["--dataset", self.name, *self.options]
        return [str(DATA / self.name), "--target", self.target, *self.options]

    def drop(self) -> list[str]:
        """The columns the options drop."""
        return [self.options[i + 1] for i, o in enumerate(self.options) if o == "--drop"]


CASES = [
    *(Case(name) for name in ("digits", "iris", "wine", "breast_cancer", "diabetes", "xor", "moons", "circles",
                              "spirals")),
    Case("penguins.csv", "species"),
    Case("cars.csv", "Miles_per_Gallon", ("--drop", "Name", "--drop-missing-target")),
    Case("seattle_weather.csv", "weather", ("--drop", "date")),
    Case("barley.csv", "yield"),
    Case("grunfeld.csv", "invest"),
    Case("anes96.csv", "vote", ("--task", "classification")),
    Case("modechoice.csv", "choice", ("--drop", "individual")),
]
BY_NAME = {c.name: c for c in CASES}


def run_glassnet(case: Case, seed: int, run_dir: Path, *extra: str) -> dict[str, Any]:
    """``glassnet train`` on the case with ``--seed seed`` (and ``extra`` options) into ``run_dir``; its
    evaluation.json."""
    from glassnet.cli import main

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the results are read from evaluation.json
            code = main(["train", *case.data_args(), "--seed", str(seed), "-q", "--run-dir", str(run_dir),
                         *extra])
    except SystemExit as e:
        code = e.code
    if code != 0:
        raise RuntimeError(f"glassnet train on {case.name} (seed {seed}) exited with {code}")
    return json.loads((run_dir / "evaluation.json").read_text())


def score(evaluation: dict[str, Any]) -> float:
    """The held-out accuracy (classification) or R² (regression) of a run's evaluation.json."""
    metrics = evaluation["metrics"]
    return metrics["accuracy"] if "accuracy" in metrics else metrics["r2"]


def sklearn_score(case: Case, seed: int) -> float:
    """scikit-learn's MLPClassifier/MLPRegressor (max_iter=1000, random_state=seed) after imputing, scaling and
    one-hot encoding (a regression's target standardized too), on the rows the command line trains and tests on."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from glassnet.cli import datasets
    from glassnet.cli.jobs import prepare
    from glassnet.cli.settings import RunSettings

    if case.target is None:
        table, target, settings = datasets.load(case.name).frame(), "target", RunSettings(dataset=case.name)
    else:
        target = case.target
        table = pd.read_csv(DATA / case.name)
        table = table[table[target].notna()].reset_index(drop=True).drop(columns=case.drop())
        task = case.options[case.options.index("--task") + 1] if "--task" in case.options else "auto"
        settings = RunSettings(data=str(DATA / case.name), target=target, drop=case.drop(), task=task,
                               drop_missing_target="--drop-missing-target" in case.options)
    settings.estimator["random_state"] = seed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        job, _ = prepare(settings)
    train, test = job.rows
    x, y = table.drop(columns=[target]), table[target].to_numpy()
    numeric = [c for c in x if pd.api.types.is_numeric_dtype(x[c])]
    text = [c for c in x if c not in numeric]
    prep = ColumnTransformer([("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                              ("text", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                                     OneHotEncoder(handle_unknown="ignore")), text)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if job.task == "classification":
            model = make_pipeline(prep, MLPClassifier(max_iter=1000, random_state=seed))
            return float(accuracy_score(y[test], model.fit(x.iloc[train], y[train]).predict(x.iloc[test])))
        model = make_pipeline(prep, TransformedTargetRegressor(MLPRegressor(max_iter=1000, random_state=seed),
                                                               transformer=StandardScaler()))
        return float(r2_score(y[test], model.fit(x.iloc[train], y[train].astype(float)).predict(x.iloc[test])))


def compare(case: Case, seeds: tuple[int, ...], work: Path) -> dict[str, Any]:
    """glassnet's and scikit-learn's held-out scores on each seed's split, glassnet's wall time and the table's
    size and task."""
    ours, seconds = [], []
    for seed in seeds:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            evaluation = run_glassnet(case, seed, work / f"{case.name}-{seed}")
        seconds.append(time.perf_counter() - start)
        ours.append(score(evaluation))
    config = json.loads((work / f"{case.name}-{seeds[0]}" / "config.json").read_text())
    theirs = [sklearn_score(case, seed) for seed in seeds]
    return {"case": case.name, "rows": config["data"]["rows"] - config["data"].get("rows_dropped", 0),
            "task": config["task"], "glassnet": ours, "sklearn": theirs, "seconds": seconds}


def _row(r: dict[str, Any]) -> str:
    ours, theirs = float(np.mean(r["glassnet"])), float(np.mean(r["sklearn"]))
    per_seed = " ".join(f"{s:.3f}" for s in r["glassnet"])
    return (f"| {r['case']} | {r['rows']} | {r['task']} | {ours:.3f} ({per_seed}) | {theirs:.3f} | "
            f"{ours - theirs:+.3f} | {np.mean(r['seconds']):.1f} s |")


def main(argv: list[str] | None = None) -> int:
    """Run the cases and print the table (Markdown); ``--json`` also writes the raw results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cli_defaults", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=list(BY_NAME), default=list(BY_NAME), metavar="CASE",
                        help=f"cases to run (default: all): {', '.join(BY_NAME)}")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS), metavar="K", help="seeds (default 0 1 2)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON lines")
    args = parser.parse_args(argv)
    print("| case | rows | task | glassnet: mean (per seed) | scikit-learn | difference | glassnet time a run |")
    print("|---|---:|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as work:
        for name in args.cases:
            result = compare(BY_NAME[name], tuple(args.seeds), Path(work))
            print(_row(result), flush=True)
            if args.json:
                with args.json.open("a") as f:
                    f.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
