"""glassnet attack MODEL DATA --eps 0.01,0.05,0.1: accuracy under FGSM or PGD attack at each eps, checked for
gradient masking, in the model's input space."""

from __future__ import annotations

import argparse
import json
import warnings

from ...inspect import robust
from ..errors import UsageError
from ..inspection import Rows, add_data_arguments, output_dir, write_results


def _eps_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--eps takes numbers separated by commas, got {text!r}") from e
    if not values or any(not v >= 0 or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"--eps takes finite numbers >= 0, got {text!r}")
    return values


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet attack`` and its options."""
    p = subparsers.add_parser("attack", parents=[common], help="accuracy under adversarial attack at each eps",
                              description="L-infinity attacks on a classifier in its input space (after "
                                          "preprocessing: eps is in standard deviations for numeric columns), "
                                          "within the per-feature ranges of the training data.")
    add_data_arguments(p)
    p.add_argument("--eps", type=_eps_list, default=[0.0, 0.01, 0.05, 0.1], metavar="E1,E2,...",
                   help="attack sizes (default 0,0.01,0.05,0.1); 0 is added for the clean accuracy")
    p.add_argument("--attack", choices=("pgd", "fgsm"), default="pgd", help="PGD (checked against FGSM) or FGSM")
    p.add_argument("--steps", type=int, default=10, metavar="N", help="PGD steps")
    p.add_argument("--seed", type=int, default=0, help="seeds PGD's random start")
    return p


def run(args: argparse.Namespace) -> int:
    """Print accuracy against eps (and FGSM's beside PGD's), write attack.json and the report."""
    if args.steps < 1:
        raise UsageError(f"--steps must be positive, got {args.steps}")
    rows = Rows(args)
    y = rows.class_labels()
    low, high, range_source = rows.input_range()
    eps = sorted({0.0, *args.eps})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", robust.GradientMaskingWarning)  # said below, in the command's words
        result = robust.robust_accuracy(rows.model.est, rows.x, y, eps, attack=args.attack, clip=(low, high),
                                        steps=args.steps, rng=args.seed)
    results = {"attack": args.attack, "steps": args.steps if args.attack == "pgd" else 1, "data": rows.source,
               "rows": len(rows.x), "clean_accuracy": result.clean,
               "accuracy": {str(e): a for e, a in result.items()},
               "fgsm_accuracy": None if result.fgsm is None else {str(e): a for e, a in result.fgsm.items()},
               "problems": result.problems,
               "note": "attacks perturb the model's input space (after preprocessing: eps is in standard deviations "
                       f"for numeric columns, and one-hot and flag columns move continuously), within the "
                       f"per-feature range of {range_source}"}
    run_dir = output_dir(args)
    html = write_results(run_dir, "attack.json", results)
    if args.json:
        print(json.dumps(results))
        return 0
    name = f"PGD ({args.steps} steps)" if args.attack == "pgd" else "FGSM"
    print(f"{name} on {results['rows']} rows of {rows.source}; {results['note']}")
    header = f"{'eps':>8}  {'accuracy':>8}" + (f"  {'FGSM':>8}" if result.fgsm else "")
    print(header)
    for e, a in result.items():
        print(f"{e:>8g}  {a:>8.4f}" + (f"  {result.fgsm[e]:>8.4f}" if result.fgsm else ""))
    if result.problems:
        print("gradient masking suspected, so these figures are no evidence of robustness: "
              + "; ".join(result.problems))
    else:
        print("checks passed: accuracy falls as eps grows" + (", and PGD is at least as strong as FGSM"
                                                              if result.fgsm else ""))
    print(f"results: {run_dir / 'attack.json'}" + (f"; report: {html}" if html else ""))
    return 0
