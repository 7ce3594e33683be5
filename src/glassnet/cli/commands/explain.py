"""glassnet explain MODEL DATA: which columns the model's predictions rest on, by integrated gradients
(and permutation importance where DATA holds the target), per original column; heat maps for images."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from ...inspect import explain
from ..errors import UsageError
from ..inspection import Rows, add_data_arguments, output_dir, write_results
from ..preprocessing import describe

METHODS = ("integrated_gradients", "saliency", "gradient_x_input")


def add_parser(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``glassnet explain`` and its options."""
    p = subparsers.add_parser("explain", parents=[common], help="which columns a model's predictions rest on",
                              description="Attribute each prediction (the predicted class, or the regression "
                                          "output) to the original columns, and rank them.")
    add_data_arguments(p)
    p.add_argument("--method", choices=METHODS, default="integrated_gradients", help="attribution method")
    p.add_argument("--steps", type=int, default=50, metavar="N", help="integrated gradients: points on the path")
    p.add_argument("--top", type=int, default=15, metavar="K", help="columns shown in the table and bar chart")
    p.add_argument("--repeats", type=int, default=5, metavar="R",
                   help="permutation importance: shuffles per column (0: skip it)")
    p.add_argument("--seed", type=int, default=0, help="seeds the permutation shuffles")
    return p


class _TableModel:
    """A saved model as scikit-learn's permutation_importance sees an estimator: a table in, a score out.

    ``fit`` leaves the trained model as it is, as scikit-learn's ``FrozenEstimator`` does.
    """

    def __init__(self, rows: Rows) -> None:
        self.model = rows.model

    def fit(self, X: Any, y: Any = None) -> _TableModel:  # noqa: N803 (scikit-learn's names)
        return self

    def predict(self, X: Any) -> np.ndarray:  # noqa: N803
        model = self.model
        if model.task == "classification":
            return model.proba(X).argmax(axis=1)
        return np.asarray(model.model.predict(model.inputs(X)), dtype=np.float64)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:  # noqa: N803
        from sklearn.metrics import accuracy_score, r2_score

        if self.model.task == "classification":
            return float(accuracy_score(y, self.predict(X)))
        return float(r2_score(y, self.predict(X)))


def _attributions(rows: Rows, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The attributions of every row's prediction and a description of how they were made."""
    est = rows.model.est
    if args.method == "integrated_gradients":
        if args.steps < 1:
            raise UsageError(f"--steps must be positive, got {args.steps}")
        result = explain.integrated_gradients(est, rows.x, steps=args.steps)
        error, difference = np.abs(result.completeness_error), np.abs(result.output_difference)
        about = {"method": f"integrated gradients, {args.steps} Gauss-Legendre steps from the all-zeros input "
                           "(the training mean of every numeric column, no category, no missing flag)",
                 "completeness_error": {"median": float(np.median(result.relative_completeness_error)),
                                        "overall": float(error.sum() / max(difference.sum(), 1e-30)),
                                        "largest": float(error.max())}}
    else:
        result = getattr(explain, args.method)(est, rows.x)
        about = {"method": args.method.replace("_", " ")}
    return result, about


def _by_column(values: np.ndarray, columns: list[str]) -> tuple[list[str], np.ndarray]:
    """Attributions (rows × input features) summed into the original columns: (names, rows × columns)."""
    names = list(dict.fromkeys(columns))
    index = {name: j for j, name in enumerate(names)}
    summing = np.zeros((len(columns), len(names)))
    summing[np.arange(len(columns)), [index[c] for c in columns]] = 1.0
    return names, values.astype(np.float64) @ summing


def _permutation(rows: Rows, args: argparse.Namespace) -> dict[str, tuple[float, float]] | None:
    """{column: (mean drop of the score, its std)} when the rows have their targets, else None."""
    if rows.y is None or args.repeats < 1:
        return None
    y = rows.y
    if rows.model.task == "classification":
        y = rows.model.labels.transform(y) if rows.model.labels is not None else y
    found = explain.permutation_importance(_TableModel(rows), rows.table, y, n_repeats=args.repeats,
                                           random_state=args.seed)
    names = [str(c) for c in rows.table.columns]
    return {n: (float(m), float(s)) for n, m, s in zip(names, found.importances_mean, found.importances_std,
                                                       strict=True)}


def _heatmaps(rows: Rows, per_column: np.ndarray, target: np.ndarray) -> dict[str, Any] | None:
    """Mean attribution per pixel for each class explained, where the columns form a square image (8x8 digits)."""
    n = per_column.shape[1]
    side = math.isqrt(n)
    numeric = all(c["kind"] == "numeric" and not c["missing_flag"] for c in describe(rows.model.model))
    if not numeric or side < 8 or side * side != n:
        return None
    classifier = rows.model.task == "classification"
    maps = {}
    for t in np.unique(target):
        label = str(rows.model.output_label(int(t))) if classifier else "output"
        maps[label] = {"rows": int((target == t).sum()),
                       "values": per_column[target == t].mean(axis=0).reshape(side, side).tolist()}
    return {"shape": [side, side], "classes": maps}


def completeness_line(c: dict[str, float]) -> str:
    """How closely the attributions of a row add up to its change of score, in words."""
    return (f"completeness: each row's attributions sum to f(x) - f(baseline) within {100 * c['median']:.2g} % "
            f"(median row; {100 * c['overall']:.2g} % over all rows; largest gap {c['largest']:.2g})")


def run(args: argparse.Namespace) -> int:
    """Print the top columns by mean |attribution| (and permutation importance), write explain.json and the report."""
    if args.top < 1:
        raise UsageError(f"--top must be positive, got {args.top}")
    rows = Rows(args)
    result, about = _attributions(rows, args)
    names, per_column = _by_column(result.values, rows.columns())
    permutation = _permutation(rows, args)
    magnitude = np.abs(per_column).mean(axis=0)
    total = magnitude.sum() or 1.0
    order = np.argsort(-magnitude, kind="stable")
    table = [{"column": names[j], "mean_abs": float(magnitude[j]), "mean": float(per_column[:, j].mean()),
              "share": float(magnitude[j] / total),
              **({"permutation": permutation[names[j]][0], "permutation_std": permutation[names[j]][1]}
                 if permutation and names[j] in permutation else {})} for j in order]
    results = {**about, "data": rows.source, "rows": len(rows.x), "task": rows.model.task,
               "explained": "the predicted class" if rows.model.task == "classification" else "the prediction",
               "note": "attributions are computed in the model's input space (after preprocessing) and summed back "
                       "to each original column (a one-hot block or missing-value flag counts for its column)",
               "columns": table, "heatmaps": _heatmaps(rows, per_column, result.target)}
    if permutation is not None:
        results["permutation"] = {"repeats": args.repeats,
                                  "score": "accuracy" if rows.model.task == "classification" else "R²"}
    run_dir = output_dir(args)
    html = write_results(run_dir, "explain.json", results)
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{results['method']}; {results['rows']} rows of {rows.source}, explaining {results['explained']}")
    if "completeness_error" in about:
        c = about["completeness_error"]
        print(completeness_line(c))
    print(results["note"])
    shown = table[:args.top]
    width = max(6, *(len(r["column"]) for r in shown))
    perm = " permutation (drop in score)" if permutation is not None else ""
    print(f"{'rank':>4}  {'column':<{width}}  {'mean |attr|':>11}  {'mean attr':>10}  {'share':>6}{perm}")
    for i, r in enumerate(shown, 1):
        extra = f"  {r['permutation']:>8.4f} ± {r['permutation_std']:.4f}" if "permutation" in r else ""
        print(f"{i:>4}  {r['column']:<{width}}  {r['mean_abs']:>11.4g}  {r['mean']:>10.4g}  "
              f"{100 * r['share']:>5.1f}%{extra}")
    if len(table) > args.top:
        print(f"... and {len(table) - args.top} more columns (explain.json has all)")
    print(f"results: {run_dir / 'explain.json'}" + (f"; report: {html}" if html else ""))
    return 0
