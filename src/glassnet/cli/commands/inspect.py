"""glassnet inspect MODEL: show what a model file holds, after verifying it: the network, its settings, the
pipeline's preprocessing, and the inputs of its ONNX export."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...io.pipelines import final_estimator, is_pipeline
from .. import health
from ..metrics import metric_line
from ..model_metadata import add_model_arguments, load_model
from ..onnx_export import input_columns
from ..preprocessing import describe, summary


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet inspect`` and its options."""
    p = subparsers.add_parser("inspect", parents=[common], help="show what a model file holds")
    add_model_arguments(p)
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    """Print the architecture, labels, settings, training data, metrics, training health, preprocessing and ONNX
    inputs of a model file."""
    obj, meta = load_model(args.model, sha256=args.expect_sha256)
    est = final_estimator(obj)
    if args.json:
        shown = {k: v for k, v in meta.items() if k not in ("content", "tensors")}
        print(json.dumps({**shown, "columns": describe(obj), "onnx_inputs": input_columns(obj)}, indent=2))
        return 0
    arch = meta.get("architecture", {})
    rows = [("file", f"{args.model} ({Path(args.model).stat().st_size:,} bytes)"),
            ("format", f"{meta['format']} v{meta['format_version']}, written by glassnet "
                       f"{meta.get('glassnet_version', '?')}"),
            ("kind", f"{meta['kind']} {meta.get('class', '?')}" + (f" ({meta['task']})" if meta.get("task") else ""))]
    if "sizes" in arch:
        sizes = " -> ".join(map(str, arch["sizes"][:50])) + (" -> ..." if len(arch["sizes"]) > 50 else "")
        rows.append(("architecture", f"{sizes}, {arch.get('activation', '?')}, dropout {arch.get('dropout', '?')}"))
    rows.append(("parameters", f"{arch.get('n_parameters', 0):,}"))
    if meta.get("labels"):
        labels = meta["labels"]
        rows.append(("labels", ", ".join(map(str, labels[:50])) + (f", ... ({len(labels)} in all)" if len(labels) > 50
                                                                     else "")))
    training = meta.get("training", {})
    if est is not None:
        kept = f" (weights kept from epoch {training['kept_epoch']})" if "kept_epoch" in training else ""
        if training.get("refit"):
            kept = f" on all {training['refit']['rows']} training rows, the count early stopping chose"
        rows.append(("epochs", f"{getattr(est, 'n_iter_', '?')}{kept}"))
        if training.get("stopped"):
            rows.append(("stopped", training["stopped"]))
    data = training.get("data")
    if data:
        where = Path(data["file"]).name if "file" in data else f"built-in {data.get('dataset')}"
        rows.append(("data", f"{where}: {data.get('rows')} rows, target {data.get('target')!r}"))
    if meta.get("metrics"):
        rows.append(("metrics", metric_line(meta["metrics"], "") + " (held-out rows)"))
    for name, value in rows:
        print(f"{name:<14}{value}")
    if est is not None and ("health" in training or getattr(est, "history_", None)):
        found = health.from_dicts(training["health"]) if "health" in training else health.findings(est)
        for line in health.lines(found):
            print(f"{'health':<14}{line.removeprefix('health: ')}")
    if est is not None:  # every effective setting, marking those that differ from the class's default
        defaults = type(est)().get_params(deep=False)
        print("estimator settings")
        for k, v in est.get_params(deep=False).items():
            changed = f"  (default {defaults[k]!r})" if repr(v) != repr(defaults.get(k)) else ""
            print(f"  {k:<22}{v!r}{changed}")
    if training.get("settings"):
        print("run settings")
        for k, v in training["settings"].items():
            print(f"  {k:<22}{v!r}")
    if is_pipeline(obj):
        lines = summary(obj).splitlines() or repr(obj).splitlines()
        print("preprocessing" + (" (a scikit-learn pipeline)" if lines else ""))
        for line in lines[:20]:
            print(f"  {line}")
        if len(lines) > 20:
            print(f"  ... and {len(lines) - 20} more columns")
    _print_onnx_inputs(obj)
    return 0


def _print_onnx_inputs(obj: object) -> None:
    """The inputs of ``glassnet export --onnx``: one per column (name, type, how a missing value is passed)."""
    inputs = input_columns(obj)
    print(f"onnx inputs   {len(inputs)}, in this order" + (", each of shape [N, 1]" if len(inputs) > 1 else ""))
    for c in inputs[:20]:
        shape = "" if len(inputs) > 1 else f" {c['shape']}"
        print(f"  {c['name']:<22}{c['type']}{shape}, missing as {c['missing']}")
    if len(inputs) > 20:
        print(f"  ... and {len(inputs) - 20} more (--json shows all)")
