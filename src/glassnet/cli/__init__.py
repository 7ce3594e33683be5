"""The glassnet command line: train, predict, evaluate, inspect, export and report.

``glassnet train`` with no arguments trains a classifier on scikit-learn's bundled digits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from .. import io
from . import datasets, runs
from .errors import UsageError
from .metrics import metric_line
from .preprocessing import TASKS, Preprocessor
from .saved_model import SavedModel
from .settings import ESTIMATOR_OPTIONS, resolve_settings, settings_given
from .tables import read_table, write_table

USER_ERRORS = (UsageError, ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
               PermissionError, ImportError)


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model, log every epoch, checkpoint, evaluate on held-out rows, save and report."""
    if not args.resume:
        run, params = resolve_settings(args)
        runs.start(run, params, force=args.force, quiet=args.quiet)
        return 0
    given = settings_given(args)
    if given:
        raise UsageError(f"--resume takes every setting from the run directory; drop {given}")
    runs.resume(Path(args.resume), force=args.force, quiet=args.quiet)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Write predictions (and with --proba class probabilities) for a data file."""
    model = SavedModel(args.model)
    if args.output and Path(args.output).exists() and not args.force:
        raise UsageError(f"{args.output} already exists; pass --force to replace it")
    out = model.predictions(read_table(args.data), proba=args.proba)
    write_table(out, args.output, args.force)
    if args.output:
        print(f"{len(out)} predictions written to {args.output}", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on a labelled data file."""
    model = SavedModel(args.model)
    df = read_table(args.data)
    target = args.target or model.target
    if target not in df.columns:
        raise UsageError(f"target column {target!r} is not in {args.data}; choose one with --target")
    metrics = model.score(df, target)
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(metric_line(metrics, ""))
    if "confusion_matrix" in metrics:
        names = [str(c) for c in model.class_names()]
        width = max(6, *map(len, names)) + 1
        print("confusion matrix (rows: true, columns: predicted)")
        print(" " * width + "".join(n.rjust(width) for n in names))
        for name, row in zip(names, metrics["confusion_matrix"], strict=True):
            print(name.rjust(width) + "".join(str(v).rjust(width) for v in row))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Show what a model file holds, after verifying it."""
    obj, meta = io.load_with_metadata(args.model)
    if args.json:
        print(json.dumps({k: v for k, v in meta.items() if k not in ("content", "tensors")}, indent=2))
        return 0
    arch = meta.get("architecture", {})
    rows = [("file", f"{args.model} ({Path(args.model).stat().st_size:,} bytes)"),
            ("format", f"{meta['format']} v{meta['format_version']}, written by glassnet {meta['glassnet_version']}"),
            ("kind", f"{meta['kind']} {meta['class']}" + (f" ({meta['task']})" if meta.get("task") else ""))]
    if "sizes" in arch:
        rows.append(("architecture", " -> ".join(map(str, arch["sizes"])) +
                     f", {arch['activation']}, dropout {arch['dropout']}"))
    rows.append(("parameters", f"{arch.get('n_parameters', 0):,}"))
    if meta.get("labels"):
        rows.append(("labels", ", ".join(map(str, meta["labels"]))))
    if meta["kind"] == "estimator":
        defaults = type(obj)().get_params(deep=False)
        changed = {k: v for k, v in obj.get_params(deep=False).items() if repr(v) != repr(defaults.get(k))}
        rows.append(("settings", ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "defaults"))
        rows.append(("epochs", str(getattr(obj, "n_iter_", "?"))))
    data = meta.get("training", {}).get("data")
    if data:
        where = Path(data["file"]).name if "file" in data else f"built-in {data.get('dataset')}"
        rows.append(("data", f"{where}: {data.get('rows')} rows, target {data.get('target')!r}"))
    if meta.get("metrics"):
        rows.append(("metrics", metric_line(meta["metrics"], "") + " (held-out rows)"))
    for name, value in rows:
        print(f"{name:<14}{value}")
    if meta.get("preprocessing"):
        print("preprocessing")
        lines = Preprocessor.from_dict(meta["preprocessing"]).summary().splitlines()
        for line in lines[:20]:
            print(f"  {line}")
        if len(lines) > 20:
            print(f"  ... and {len(lines) - 20} more columns (--json shows all)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a model file to ONNX."""
    from . import onnx_export as export_onnx

    if not args.onnx:
        raise UsageError("choose an export format: --onnx OUT.onnx")
    path = export_onnx.export_file(args.model, args.onnx, overwrite=args.force)
    print(f"ONNX model written to {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild the plots and HTML report of a run directory."""
    from . import report

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"run directory {run_dir} does not exist")
    print(f"report: {report.build(run_dir)}")
    return 0


# ---------------------------------------------------------------- parser and entry point

class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, pointing at --help, instead of the whole usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every subcommand."""
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback on errors")
    parser = _Parser(prog="glassnet", description=__doc__.splitlines()[0], parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", parents=[common], help="train a model on a CSV/Parquet file or a built-in data set",
                       description="Train an MLP. Without a data argument trains on the built-in digits data set.")
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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", parents=[common], help="predict for a data file")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--output", "-o", default=None, help="CSV or Parquet file (default: CSV on standard output)")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", parents=[common], help="score a model on a labelled data file")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--target", default=None, help="target column (default: the one used in training)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("inspect", parents=[common], help="show what a model file holds")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("export", parents=[common], help="export a model (ONNX)")
    p.add_argument("model")
    p.add_argument("--onnx", metavar="OUT", help="write an ONNX graph, preprocessing included")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", parents=[common], help="rebuild the plots and HTML report of a run directory")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_report)
    return parser


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"glassnet: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user mistakes exit with status 2 and one message (``--debug`` for the traceback)."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print("glassnet: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # the reader went away (glassnet predict ... | head): not an error
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as e:
            if debug:
                raise
            if isinstance(e, USER_ERRORS):
                print(f"glassnet: error: {e}", file=sys.stderr)
                return 2
            print(f"glassnet: internal error ({type(e).__name__}): {e}\n"
                  "run again with --debug to see the traceback", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
