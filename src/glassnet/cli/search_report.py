"""The search section of a glassnet tune run's report: what was searched, the leaderboard, and the
cross-validation score against each hyperparameter, read back from search.json and search.csv.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .report import _figure, _fmt, _table

_RESULTS = {"rank", "score", "score_std", "fit_seconds", "round", "epochs"}


def _value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def read_search(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(search.json, search.csv's rows with numbers as floats) of a run directory, or None for a run of glassnet
    train."""
    summary, table = run_dir / "search.json", run_dir / "search.csv"
    if not (summary.is_file() and table.is_file()):
        return None
    with table.open(newline="") as f:
        rows = [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(f)]
    return json.loads(summary.read_text()), rows


def plot_scores(rows: list[dict[str, Any]], names: list[str], metric: str, path: Path, log: set[str]) -> Path:
    """One panel per hyperparameter: each trial's mean cross-validation score against its value (a log axis for the
    names in ``log``; choices side by side); with successive halving, colour by round."""
    from matplotlib.ticker import NullFormatter

    cols = min(3, len(names))
    fig = _figure(4.0 * cols, 3.2 * math.ceil(len(names) / cols))
    scores = np.array([r["score"] for r in rows], dtype=float)
    rounds = sorted({r["epochs"] for r in rows}) if "epochs" in rows[0] else [None]
    for k, name in enumerate(names):
        ax = fig.add_subplot(math.ceil(len(names) / cols), cols, k + 1)
        values = [r[name] for r in rows]
        numeric = all(isinstance(v, float) for v in values)
        if numeric:
            x = np.array(values, dtype=float)
            if name in log:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # labels on the decades only
        else:
            choices = sorted(set(map(str, values)), key=lambda c: (len(c), c))
            x = np.array([choices.index(str(v)) for v in values], dtype=float)
            for c in range(len(choices)):  # a choice's trials side by side, not on top of each other
                same = x == c
                x[same] += np.linspace(-0.2, 0.2, same.sum()) if same.sum() > 1 else 0.0
            ax.set_xticks(range(len(choices)), choices, rotation=30 if len(choices) > 4 else 0)
        for epochs in rounds:
            keep = np.array([epochs is None or r["epochs"] == epochs for r in rows])
            ax.scatter(x[keep], scores[keep], s=18, alpha=0.75, label=None if epochs is None else f"{epochs:g} epochs")
        ax.scatter(x[:1], scores[:1], s=90, facecolors="none", edgecolors="black", linewidths=1.5,
                   label="best" if k == 0 else None)
        ax.set(xlabel=name, ylabel=metric if k % cols == 0 else None)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=8)
    fig.suptitle(f"Mean cross-validation {metric} against each hyperparameter")
    fig.savefig(path)
    return path


def section(run_dir: Path) -> str:
    """The report's search section as HTML (with its plot embedded), or "" for a run that holds no search."""
    found = read_search(run_dir)
    if found is None:
        return ""
    summary, rows = found
    names = [n for n in summary["space"] if n in rows[0]]
    metric = summary["metric"]
    log = {n for n, spec in summary["space"].items() if isinstance(spec, dict) and "loguniform" in spec}
    image = plot_scores(rows, names, metric, run_dir / "search_scores.png", log) if names and rows else None
    facts = {"method": summary["method"], "trials evaluated": f"{summary['evaluated']} of {summary['trials']}",
             "folds": summary["folds"], f"best mean {metric}": summary["best_score"], "ran on": summary["backend"],
             "seconds": summary["seconds"]}
    if summary.get("time_budget"):
        facts["time budget (s)"] = summary["time_budget"]
    columns = ["rank", "score", "score_std", *(["epochs"] if "epochs" in rows[0] else []), *names]
    head = "".join(f"<th>{html.escape({'score': metric, 'score_std': 'std'}.get(c, c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in columns) + "</tr>"
                   for r in rows[:10])
    figure = "" if image is None else (
        f"<figure><img alt='score against each hyperparameter' src='data:image/png;base64,"
        f"{base64.b64encode(image.read_bytes()).decode()}'><figcaption>Each trial's mean {html.escape(metric)} in "
        "cross-validation; the circled one was kept</figcaption></figure>")
    return (f"<h2>Hyperparameter search</h2>{_table(facts)}<h3>Leaderboard (search.csv has every trial)</h3>"
            f"<table><tr>{head}</tr>{body}</table>{figure}")
