"""glassnet train [DATA]: train a model, log every epoch, checkpoint, evaluate on held-out rows, save, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import datasets, runs
from ..errors import UsageError
from ..preprocessing import TASKS
from ..settings import ESTIMATOR_OPTIONS, resolve_settings, settings_given


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet train`` and its options: data, split, run directory, then every estimator setting."""
    p = subparsers.add_parser("train", parents=[common],
                              help="train a model on a CSV/Parquet file or a built-in data set",
                              description="Train an MLP. Without a data argument trains on the built-in digits "
                                          "data set.")
    p.add_argument("data", nargs="?", default=None, help="CSV, TSV or Parquet file")
    p.add_argument("--dataset", choices=datasets.NAMES, default=None, help="a built-in data set instead of a file")
    p.add_argument("--target", default=None, metavar="COL", help="target column (default: target)")
    p.add_argument("--task", choices=("auto", *TASKS), default=None, help="default: inferred from the target")
    p.add_argument("--drop", nargs="+", default=None, metavar="COL", help="columns to ignore (ids, leaks)")
    p.add_argument("--categorical", nargs="+", default=None, metavar="COL",
                   help="treat these numeric-looking columns as categories")
    p.add_argument("--missing", choices=("impute", "error"), default=None,
                   help="impute missing values with a flag column (default) or refuse them")
    p.add_argument("--scale-target", action=argparse.BooleanOptionalAction, default=None,
                   help="regression: train on the standardized target (default), folded back into the model")
    p.add_argument("--test-fraction", type=float, default=None, metavar="F",
                   help="rows held out for the final metric (0.2)")
    p.add_argument("--config", default=None, metavar="FILE", help="TOML file of settings (command line wins)")
    p.add_argument("--run-dir", default=None, metavar="DIR", help="run directory (default: runs/<time>-<data>)")
    p.add_argument("--output", "-o", default=None, metavar="MODEL", help="also save the model here (.safetensors)")
    p.add_argument("--force", action="store_true", help="replace an existing --output file or run directory")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N", help="checkpoint every N epochs")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    est = p.add_argument_group("estimator settings (scikit-learn's names, then short aliases)")
    for flags, param, kwargs in ESTIMATOR_OPTIONS:
        est.add_argument(*flags, dest=param, default=None, **kwargs)
    est.add_argument("--param", action="append", metavar="KEY=VALUE", help="any other estimator parameter")
    return p


def run(args: argparse.Namespace) -> int:
    """Start a run from the settings given, or continue one (--resume) with the settings it started with."""
    if not args.resume:
        runs.start(resolve_settings(args), force=args.force, quiet=args.quiet)
        return 0
    given = settings_given(args)
    if given:
        raise UsageError(f"--resume takes every setting from the run directory; drop {given}")
    runs.resume(Path(args.resume), force=args.force, quiet=args.quiet)
    return 0
