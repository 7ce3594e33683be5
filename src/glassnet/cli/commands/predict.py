"""glassnet predict MODEL DATA: predictions (and with --proba class probabilities) for a data file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import UsageError
from ..model_metadata import add_model_arguments
from ..saved_model import SavedModel
from ..tables import read_table, write_table


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet predict`` and its options."""
    p = subparsers.add_parser("predict", parents=[common], help="predict for a data file")
    add_model_arguments(p)
    p.add_argument("data", help="CSV, TSV or Parquet file; - reads CSV from standard input")
    p.add_argument("--output", "-o", default=None, help="CSV or Parquet file (default: CSV on standard output)")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument("--id", nargs="+", default=[], metavar="COL",
                   help="copy these columns (row identifiers) into the predictions, in front")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    return p


def run(args: argparse.Namespace) -> int:
    """Write the predictions to --output, or as CSV to standard output."""
    model = SavedModel(args.model, sha256=args.expect_sha256)
    if args.output and Path(args.output).is_dir():
        raise UsageError(f"--output {args.output} is a directory; give a file name")
    if args.output and os.path.lexists(args.output) and not args.force:
        raise UsageError(f"{args.output} already exists; pass --force to replace it")
    df = read_table(args.data)
    absent = [c for c in args.id if c not in df.columns]
    if absent:
        raise UsageError(f"--id: no columns {absent} in {args.data}; its columns are {list(map(str, df.columns))}")
    out = model.predictions(df, proba=args.proba)
    if args.id:
        out = df[args.id].reset_index(drop=True).join(out, rsuffix="_predicted")
    write_table(out, args.output, args.force)
    if args.output:
        print(f"{len(out)} predictions written to {args.output}", file=sys.stderr)
    return 0
