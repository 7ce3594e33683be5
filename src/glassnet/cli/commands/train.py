"""glassnet train [DATA]: train a model, log every epoch, checkpoint, evaluate on held-out rows, save, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import datasets, runs, settings
from ..errors import UsageError
from ..preprocessing import TASKS
from ..settings import RunSettings, shown


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet train`` and its options: data, split, run directory, then every estimator setting."""
    p = subparsers.add_parser("train", parents=[common],
                              help="train a model on a CSV/Parquet file or a built-in data set",
                              description="Train an MLP. Without a data argument trains on the built-in digits "
                                          "data set. Every default shown is the value used when the option is not "
                                          "given (nor set in --config).")
    add_data_options(p)
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="checkpoint every N epochs (default: 0, only on Ctrl-C and at the end)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue a run from its checkpoint; with --epochs N, train it on to N epochs in all")
    p.add_argument("--keep-diverged", action="store_true",
                   help="save the model even when no epoch ended with a finite loss (default: such a run fails, "
                        "exit status 2)")
    add_estimator_options(p)
    return p


def add_data_options(p: argparse.ArgumentParser) -> None:
    """The options of a run's data, split, run directory and output, shared by glassnet train and tune."""
    run = RunSettings()
    p.add_argument("data", nargs="?", default=None,
                   help="CSV, TSV or Parquet file; - reads CSV from standard input")
    p.add_argument("--dataset", choices=datasets.NAMES, default=None,
                   help=f"a built-in data set instead of a file (default: {datasets.DEFAULT})")
    p.add_argument("--target", default=None, metavar="COL", help=f"target column (default: {run.target})")
    p.add_argument("--task", choices=("auto", *TASKS), default=None,
                   help="classification or regression (default: auto, inferred from the target)")
    p.add_argument("--drop", nargs="+", default=None, metavar="COL",
                   help="columns to ignore: ids, leaks (default: none)")
    p.add_argument("--categorical", nargs="+", default=None, metavar="COL",
                   help="treat these numeric-looking columns as categories (default: none)")
    p.add_argument("--missing", choices=("impute", "error"), default=None,
                   help=f"impute missing values with a flag column, or refuse them (default: {run.missing})")
    p.add_argument("--drop-missing-target", action="store_true", default=None,
                   help="train without the rows whose target is missing, saying how many (default: refuse them)")
    p.add_argument("--scale-target", action=argparse.BooleanOptionalAction, default=None,
                   help="regression: train on the standardized target, folded back into the model "
                        f"(default: {shown(run.scale_target)})")
    p.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                   help="once early stopping has chosen the epoch count, train anew on all training rows (the "
                        "validation rows too) for that many epochs (default: auto, with fewer than "
                        f"{settings.REFIT_ROWS:,} training rows)")
    p.add_argument("--test-fraction", type=float, default=None, metavar="F",
                   help=f"rows held out for the final metric, 0 for none (default: {run.test_fraction})")
    p.add_argument("--config", default=None, metavar="FILE", help="TOML file of settings (command line wins)")
    p.add_argument("--run-dir", default=None, metavar="DIR", help="run directory (default: runs/<time>-<data>)")
    p.add_argument("--output", "-o", default=None, metavar="MODEL",
                   help="also save the model here, a .safetensors file (default: only in the run directory)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --output file, or the run in --run-dir once the new one has finished")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or progress messages; results still "
                                                              "print")


def add_estimator_options(p: argparse.ArgumentParser) -> None:
    """One option for every estimator setting, and --param for the rest."""
    defaults = settings.estimator_defaults()
    est = p.add_argument_group("estimator settings (scikit-learn's names, then short aliases)")
    for flags, param, kwargs in settings.ESTIMATOR_OPTIONS:
        kwargs = {"action": settings.Remember, **kwargs}
        kwargs["help"] = f"{kwargs.get('help', '')} (default: {shown(defaults[param])})".lstrip()
        est.add_argument(*flags, dest=param, default=None, **kwargs)
    est.add_argument("--param", action="append", metavar="KEY=VALUE",
                     help="any other estimator parameter, as JSON or a Python literal: beta_1=0.95, "
                          "hidden_layer_sizes='(8, 8)'")


def run(args: argparse.Namespace) -> int:
    """Start a run from the settings given, or continue one (--resume) with the settings it started with."""
    if not args.resume:
        return runs.start(settings.resolve_settings(args), force=args.force, quiet=args.quiet,
                          keep_diverged=args.keep_diverged)
    given = [name for name in settings.settings_given(args) if name != "max_iter"]
    if given:
        raise UsageError(f"--resume takes every setting from the run directory (only --epochs may change); "
                         f"drop {given}")
    flag = getattr(args, "typed_flags", {}).get("max_iter", "--epochs")
    return runs.resume(Path(args.resume), epochs=args.max_iter, epochs_flag=flag, force=args.force, quiet=args.quiet,
                       keep_diverged=args.keep_diverged)
