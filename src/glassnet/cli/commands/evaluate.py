"""glassnet evaluate MODEL DATA: score a model on a labelled data file."""

from __future__ import annotations

import argparse
import json

from ..errors import UsageError
from ..metrics import metric_line
from ..model_metadata import add_model_arguments
from ..saved_model import SavedModel
from ..tables import read_table


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet evaluate`` and its options."""
    p = subparsers.add_parser("evaluate", parents=[common], help="score a model on a labelled data file")
    add_model_arguments(p)
    p.add_argument("data", help="CSV, TSV or Parquet file; - reads CSV from standard input")
    p.add_argument("--target", default=None, help="target column (default: the one used in training)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    """Print the metrics (accuracy, F1, log-loss and the confusion matrix, or R², MAE, RMSE)."""
    model = SavedModel(args.model, sha256=args.expect_sha256)
    df = read_table(args.data)
    target = args.target or model.target
    if target in model.feature_columns():
        raise UsageError(f"--target {target!r} is one of the model's input columns; the model predicts "
                         f"{model.target!r}")
    if target not in df.columns:
        raise UsageError(f"target column {target!r} is not in {args.data}; choose one with --target")
    if len(df) == 0:
        raise UsageError(f"{args.data} has no rows to evaluate the model on")
    metrics = model.score(df, target)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(metric_line(metrics, ""))
    if "confusion_matrix" in metrics:
        names = [str(c) for c in model.labels.classes]
        width = max(6, *map(len, names)) + 1
        print("confusion matrix (rows: true, columns: predicted)")
        print(" " * width + "".join(n.rjust(width) for n in names))
        for name, row in zip(names, metrics["confusion_matrix"], strict=True):
            print(name.rjust(width) + "".join(str(v).rjust(width) for v in row))
    return 0
