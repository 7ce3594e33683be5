"""glassnet export MODEL --onnx OUT: export a model file, its preprocessing included."""

from __future__ import annotations

import argparse

from ..errors import UsageError


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet export`` and its formats."""
    p = subparsers.add_parser("export", parents=[common], help="export a model (ONNX)")
    p.add_argument("model")
    p.add_argument("--onnx", metavar="OUT", help="write an ONNX graph, preprocessing included")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    return p


def run(args: argparse.Namespace) -> int:
    """Write the export chosen (ONNX is the one format today)."""
    if not args.onnx:
        raise UsageError("choose an export format: --onnx OUT.onnx")
    from .. import onnx_export  # onnx is an optional dependency: imported only when asked for

    path = onnx_export.export_file(args.model, args.onnx, overwrite=args.force)
    print(f"ONNX model written to {path}")
    return 0
