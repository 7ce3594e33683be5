"""glassnet lr-find [DATA]: the learning-rate range test on the data ``glassnet train`` would train on.

The rate grows from ``--start-lr`` to ``--end-lr`` over ``--steps`` steps of the network ``train`` would
start from (same preprocessing, split, solver and batch size); the command prints the loss against the
rate, the suggested rate and whether the curve can be trusted, and saves the plot.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from ...inspect import lr_find
from .. import datasets, settings
from ..errors import UsageError
from ..jobs import make_estimator, prepare
from ..preprocessing import TASKS

DEFAULT_PLOT = "lr-find.png"


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet lr-find``: the data options of ``train``, its estimator settings, then the range."""
    p = subparsers.add_parser("lr-find", parents=[common], help="find a learning rate: the range test",
                              description="The learning-rate range test: train briefly while the rate grows "
                                          "geometrically, print the loss against the rate and the suggested rate "
                                          "(halfway down the longest valley of the smoothed loss, fastai's rule), "
                                          "and save the plot. The model is not saved; train with --lr auto to use "
                                          "the suggestion.")
    p.add_argument("data", nargs="?", default=None, help="CSV, TSV or Parquet file; - reads CSV from standard input")
    p.add_argument("--dataset", choices=datasets.NAMES, default=None,
                   help=f"a built-in data set instead of a file (default: {datasets.DEFAULT})")
    p.add_argument("--target", default=None, metavar="COL", help="target column (default: target)")
    p.add_argument("--task", choices=("auto", *TASKS), default=None, help="default: inferred from the target")
    p.add_argument("--drop", nargs="+", default=None, metavar="COL", help="columns to ignore")
    p.add_argument("--categorical", nargs="+", default=None, metavar="COL",
                   help="treat these numeric-looking columns as categories")
    p.add_argument("--test-fraction", type=float, default=None, metavar="F",
                   help="rows held out as train would hold them out, left out of the test (default: 0.2)")
    p.add_argument("--config", default=None, metavar="FILE", help="TOML file of settings (command line wins)")
    p.add_argument("--start-lr", type=float, default=1e-7, metavar="LR", help="the first rate (default: 1e-7)")
    p.add_argument("--end-lr", type=float, default=10.0, metavar="LR", help="the last rate (default: 10)")
    p.add_argument("--steps", type=int, default=100, metavar="N", help="steps of the sweep (default: 100)")
    p.add_argument("--plot", default=DEFAULT_PLOT, metavar="PNG", help=f"where to save the plot (default: "
                                                                        f"{DEFAULT_PLOT}); none for no plot")
    p.add_argument("--force", action="store_true", help="replace an existing plot file")
    p.add_argument("--json", action="store_true", help="print the curve and the suggestion as JSON")
    est = p.add_argument_group("estimator settings (as for glassnet train)")
    for flags, param, kwargs in settings.ESTIMATOR_OPTIONS:
        est.add_argument(*flags, dest=param, default=None, **{"action": settings.Remember, **kwargs})
    est.add_argument("--param", action="append", metavar="KEY=VALUE", help="any other estimator parameter")
    return p


def _plot_path(args: argparse.Namespace) -> Path | None:
    if args.plot == "none":
        return None
    path = Path(args.plot)
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists; pass --force to replace it, or --plot another.png")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: the directory {path.parent} does not exist")
    return path


def run(args: argparse.Namespace) -> int:
    """Run the range test on the training rows of the data and report the suggested learning rate."""
    plot = _plot_path(args)
    run_settings = settings.resolve_settings(args)
    params = {k: v for k, v in run_settings.estimator.items() if k != "learning_rate_init" or v != "auto"}
    job, _ = prepare(run_settings)
    est = make_estimator(job, replace(run_settings, estimator=params))
    result = lr_find(est, job.x_train, job.y_train, start_lr=args.start_lr, end_lr=args.end_lr,
                     num_steps=args.steps)
    if args.json:
        print(json.dumps({"lrs": result.lrs, "losses": result.losses, "raw_losses": result.raw_losses,
                          "suggestion": result.suggestion, "reliable": result.reliable, "note": result.note}))
    else:
        print(f"learning-rate range test on {job.name}: {len(job.y_train)} training rows, {type(est).__name__} "
              f"({est.solver}), {len(result.lrs)} steps from {args.start_lr:g} to {result.lrs[-1]:.3g}")
        print(f"  {'learning rate':>14}  smoothed loss")
        picks = sorted(set(np.linspace(0, len(result.lrs) - 1, min(12, len(result.lrs))).round().astype(int)))
        for i in picks:
            loss = result.losses[i]
            print(f"  {result.lrs[i]:>14.3g}  " + (f"{loss:.4g}" if math.isfinite(loss) else str(loss)))
        if result.suggestion is None:
            print(f"no suggestion: {result.note}")
        elif result.reliable:
            print(f"suggested learning rate: {result.suggestion:.3g} ({result.note}); "
                  f"train with --lr {result.suggestion:.3g} or --lr auto")
        else:
            print(f"suggested learning rate: {result.suggestion:.3g}, but the curve cannot be trusted: {result.note}")
    if plot is not None:
        result.plot(plot)
        if not args.json:
            print(f"plot saved to {plot}")
    return 0
