"""What ``glassnet explain`` and ``glassnet attack`` share: the rows to look at, the model's input space, and
where the results go.

Both work in the model's input space, after preprocessing: standardized numeric columns, one-hot blocks and
missing-value flags. Attributions are summed back to the original columns; attacks perturb the input
features within per-feature ranges taken from the training data (stored in the model file by
``glassnet train``; for older files, the range of the rows given).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from . import datasets
from .errors import UsageError
from .preprocessing import output_columns
from .saved_model import SavedModel
from .tables import read_table

RESULT_FILES = ("explain.json", "attack.json")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """MODEL, DATA (or --dataset), --target, --rows and --run-dir, as both commands take them."""
    p.add_argument("model", help="a model file written by glassnet train")
    p.add_argument("data", nargs="?", default=None, help="CSV, TSV or Parquet file (held-out rows, ideally)")
    p.add_argument("--dataset", choices=datasets.NAMES, default=None, help="a built-in data set instead of a file")
    p.add_argument("--target", default=None, metavar="COL", help="target column (default: the one used in training)")
    p.add_argument("--rows", type=int, default=None, metavar="N", help="use only the first N rows")
    p.add_argument("--run-dir", default=None, metavar="DIR",
                   help="where the results, plots and report go (default: the model's run directory, or "
                        "MODEL-report beside the model file)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


class Rows:
    """The rows of DATA as the model sees them: the table, its input matrix, and the targets if the table has them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.model = SavedModel(args.model)
        if (args.data is None) == (args.dataset is None):
            raise UsageError("give a data file or --dataset NAME (one of them)")
        if args.dataset is not None:
            df = datasets.load(args.dataset).frame(self.model.target)
            self.source = f"built-in {args.dataset}"
        else:
            df = read_table(args.data)
            self.source = str(args.data)
        if args.rows is not None:
            if args.rows < 1:
                raise UsageError(f"--rows must be positive, got {args.rows}")
            df = df.head(args.rows)
        if len(df) == 0:
            raise UsageError(f"{self.source} has no rows")
        target = args.target or self.model.target
        self.target = target if target in df.columns else None
        if args.target and self.target is None:
            raise UsageError(f"target column {args.target!r} is not in {self.source}")
        self.table = df.drop(columns=[target]) if self.target else df
        self.y = df[target].to_numpy() if self.target else None
        self.x = self.model.features(self.table)

    def columns(self) -> list[str]:
        """The original column behind each input feature of the model (one-hot blocks and flags map to theirs)."""
        if self.model.table is not None:
            return output_columns(self.model.model)
        return [c for c in map(str, self.table.columns) if c != self.target]

    def class_labels(self) -> np.ndarray:
        """The targets as the estimator's own classes; refuses regressors and tables without the target."""
        if self.model.task != "classification":
            raise UsageError("attacks need a classifier; this model is a regressor")
        if self.y is None:
            raise UsageError(f"{self.source} has no target column {self.model.target!r}; attacks need the true "
                             "labels (choose the column with --target)")
        outputs = {str(self.model.output_label(k)): k for k in range(len(self.model.est.classes_))}
        unknown = sorted({str(v) for v in self.y} - set(outputs))
        if unknown:
            raise UsageError(f"{self.source} has labels the model was not trained on: {unknown[:5]}")
        return np.asarray(self.model.est.classes_)[[outputs[str(v)] for v in self.y]]

    def input_range(self) -> tuple[np.ndarray, np.ndarray, str]:
        """(min, max) per input feature and where they come from: the training data, or else these rows."""
        stored = self.model.meta.get("input_range")
        if stored and len(stored.get("min", ())) == self.x.shape[1]:
            return np.asarray(stored["min"]), np.asarray(stored["max"]), "the training data"
        return self.x.min(axis=0), self.x.max(axis=0), "the rows given (the model file stores no training range)"


def output_dir(args: argparse.Namespace) -> Path:
    """Where results go: --run-dir, else the model's run directory, else MODEL-report beside the model."""
    if args.run_dir:
        path = Path(args.run_dir)
    else:
        model = Path(args.model)
        run = model.parent
        is_run = (run / "config.json").is_file() and (run / "history.jsonl").is_file()
        path = run if is_run else model.with_name(f"{model.stem}-report")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_results(run_dir: Path, name: str, results: dict[str, Any]) -> Path | None:
    """Write ``name`` (explain.json or attack.json) and rebuild the report; returns the report, or None without
    matplotlib."""
    from . import report

    io.atomic_write(run_dir / name, (json.dumps(results, indent=1) + "\n").encode())
    try:
        return report.build(run_dir)
    except ImportError as e:
        import warnings

        warnings.warn(f"report skipped: {e}", UserWarning, stacklevel=2)
        return None
