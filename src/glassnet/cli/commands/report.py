"""glassnet report RUN_DIR: rebuild the plots and the HTML report of a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet report``."""
    p = subparsers.add_parser("report", parents=[common], help="rebuild the plots and HTML report of a run directory")
    p.add_argument("run_dir")
    return p


def run(args: argparse.Namespace) -> int:
    """Rebuild the report from the run's history.jsonl, config.json and evaluation.json."""
    from .. import report  # matplotlib is imported only when a report is built

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"run directory {run_dir} does not exist")
    print(f"report: {report.build(run_dir)}")
    return 0
