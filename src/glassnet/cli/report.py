"""Training report: matplotlib PNGs (loss, metric, learning rate, per-layer norms, training health, confusion
matrix or predicted-vs-actual) and one self-contained HTML page with the images embedded and a health section.

A run directory holds ``history.jsonl`` (one JSON record per epoch), ``config.json`` (settings)
and ``evaluation.json`` (held-out metrics and predictions); :func:`build` turns them into the report, with
the sections of ``glassnet explain`` and ``glassnet attack`` where their results are there
(:mod:`.inspection_report`).
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from . import health

_SKIP = {"epoch", *health.MONITOR_KEYS}  # the monitor's fields have a plot of their own (cli.health)
STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { text-align: left; padding: 0.2em 1em 0.2em 0; border-bottom: 1px solid #ddd; vertical-align: top; }
figure { display: inline-block; margin: 0 1em 1em 0; } img { max-width: 100%; }
</style>"""
_LAYER_TITLES = {"grad_norm": "Gradient norm per layer", "weight_norm": "Weight norm per layer"}


def _figure(width: float = 6.0, height: float = 4.0) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install 'glassnet[plot]'") from e
    return Figure(figsize=(width, height), dpi=100, layout="tight")


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of a JSON-lines log (a torn last line, from a killed run, is skipped)."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def kept_epoch(history: list[dict[str, Any]], early_stopping: bool, metric: str = "score", tol: float = 0.0) -> int:
    """The epoch whose weights the model keeps: with early stopping the best validation score's (the later of
    equal ones, as the fit loop keeps them) or, for ``metric`` 'loss', the last epoch whose validation loss
    was below the best before it by more than ``tol``; else the last."""
    kept = len(history)
    if early_stopping and metric == "loss":
        best = math.inf
        for i, rec in enumerate(history):
            if _is_number(rec.get("val_loss")) and rec["val_loss"] < best - tol:
                kept, best = i + 1, rec["val_loss"]
        return kept
    best = -math.inf
    if early_stopping:
        for i, rec in enumerate(history):
            if _is_number(rec.get("val_score")) and rec["val_score"] >= best:
                kept, best = i + 1, rec["val_score"]
    return kept


def falling_rate(values: list[float], last: int = 10) -> float:
    """How fast ``values`` fell over the last ``last`` epochs: the mean relative drop per epoch (negative: rising)."""
    values = [v for v in values if _is_number(v)]
    k = min(last, len(values) - 1)
    if k < 1 or values[-k - 1] == 0:
        return 0.0
    return (values[-k - 1] - values[-1]) / abs(values[-k - 1]) / k


def why_stopped(est: Any, kept: int) -> str:
    """Why the fit of ``est`` ended, in words: patience ran out (and the best epoch), or the most epochs were reached
    (and whether the watched loss was still falling)."""
    history, n = est.history_, est.n_iter_
    if est.solver == "lbfgs":
        return f"L-BFGS {'converged' if n < est.max_iter else 'reached the most iterations'} after {n} iterations"
    validation = est.early_stopping and any(_is_number(r.get("val_loss")) for r in history)
    losses = [r.get("loss") for r in history]
    event = history[-1].get("nonfinite") if history else None
    if isinstance(event, dict):  # the NaN guard (monitor=True) ended training before a bad step
        return (f"stopped at step {event['step']} (epoch {event['epoch']}): the NaN guard ended training, "
                f"the {event['quantity']} having become {event['value']}")
    if losses and not _is_number(losses[-1]):
        return f"stopped at epoch {len(history)}: the training loss became {losses[-1]}"
    watched = "validation loss" if validation and getattr(est, "validation_metric", "score") == "loss" else \
        "validation score" if validation else "training loss"
    if n < est.max_iter:
        if validation:
            return (f"stopped at epoch {n}: the {watched} had not improved for {n - kept} epochs "
                    f"(patience {est.n_iter_no_change}); best at epoch {kept}")
        return (f"stopped at epoch {n}: the training loss had not improved by more than tol={est.tol:g} for "
                f"{est.n_iter_no_change} epochs")
    series = [r.get("val_loss") for r in history] if validation else losses
    which = "validation loss" if validation else "training loss"
    last = min(10, len(series) - 1)
    rate = falling_rate(series, last)
    trend = f"still falling by {rate:.2%} per epoch" if rate > 1e-5 else "no longer falling"
    best = f"; best at epoch {kept}" if validation else ""
    return f"reached the most epochs ({est.max_iter}) with the {which} {trend} over the last {last} epochs{best}"


def _series(history: list[dict[str, Any]]) -> tuple[dict[str, list], dict[str, list]]:
    """Scalar series and per-layer (list-valued) series found in the records, by key."""
    scalars: dict[str, list] = {}
    layered: dict[str, list] = {}
    for i, rec in enumerate(history):
        epoch = rec.get("epoch", i + 1)
        for key, value in rec.items():
            if key in _SKIP or "time" in key:
                continue
            if _is_number(value):
                scalars.setdefault(key, []).append((epoch, value))
            elif isinstance(value, list) and value and all(_is_number(v) for v in value):
                layered.setdefault(key, []).append((epoch, value))
    return scalars, layered


def _line_plot(path: Path, title: str, series: dict[str, list], ylabel: str, log: bool = False,
               kept: int | None = None) -> Path:
    """One line per series; ``kept`` marks the epoch whose weights the model keeps. A log scale is used only
    where the values span two decades or more, with plain numbers (0.01, not 10⁻²) on the axis."""
    from matplotlib.ticker import FuncFormatter

    fig = _figure()
    ax = fig.add_subplot()
    for name, points in series.items():
        x, y = zip(*points, strict=True)
        ax.plot(x, y, label=name, marker="." if len(x) < 30 else None)
    if kept is not None:
        ax.axvline(kept, color="grey", linestyle=":", linewidth=1.5, label=f"kept weights (epoch {kept})")
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    values = [v for points in series.values() for _, v in points]
    if log and min(values) > 0 and max(values) >= 100 * min(values):
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.ticklabel_format(axis="y", useOffset=False)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path)
    return path


def history_plots(history: list[dict[str, Any]], *, task: str | None = None, kept: int | None = None,
                  target_scale: float | None = None) -> dict[str, dict[str, Any]]:
    """What to plot from the per-epoch records, by file name: title, y label, series {label: [(epoch, value)]},
    whether a log scale may help, and the epoch to mark.

    ``task`` names the validation metric (accuracy, R²); ``kept`` is the epoch whose weights the model keeps;
    ``target_scale`` (regression) turns the half squared error loss into an RMSE in the target's units.
    """
    scalars, layered = _series(history)
    names = {"loss": "training", "val_loss": "validation"}
    losses = {names.get(k, k): v for k, v in scalars.items() if "loss" in k}
    loss_title, loss_label = "Loss", "loss"
    if target_scale is not None:
        losses = {k: [(e, math.sqrt(2 * v) * target_scale) for e, v in points] for k, points in losses.items()}
        loss_title, loss_label = "Loss as RMSE, in the target's units", "RMSE"
    metric = {"classification": "accuracy", "regression": "R²"}.get(task or "", "score")
    rate = {k: v for k, v in scalars.items() if k == "lr" or "learning_rate" in k}
    others = {(metric if k == "val_score" else k): v for k, v in scalars.items()
              if "loss" not in k and k not in rate}
    plots = {"loss": {"title": loss_title, "ylabel": loss_label, "series": losses, "log": True, "kept": kept},
             "learning_rate": {"title": "Learning rate", "ylabel": "learning rate", "series": rate, "log": True},
             "validation_metric": {"title": f"Validation {metric}", "ylabel": metric, "series": others, "log": False,
                                   "kept": kept}}
    for key, points in layered.items():
        n_layers = max(len(v) for _, v in points)
        series = {f"layer {j}": [(e, v[j]) for e, v in points if j < len(v)] for j in range(n_layers)}
        title = _LAYER_TITLES.get(key, key.replace("_", " ").capitalize() + " per layer")
        plots[key] = {"title": title, "ylabel": key.replace("_", " "), "series": series, "log": True}
    return {name: plot for name, plot in plots.items() if plot["series"]}


def plot_history(history: list[dict[str, Any]], out_dir: str | Path, **options: Any) -> dict[str, Path]:
    """PNG plots of the per-epoch records (see :func:`history_plots` for ``options``), by title."""
    return {plot["title"]: _line_plot(Path(out_dir) / f"{name}.png", plot["title"], plot["series"], plot["ylabel"],
                                      log=plot["log"], kept=plot.get("kept"))
            for name, plot in history_plots(history, **options).items()}


def plot_confusion(matrix: Any, labels: list[Any], path: str | Path) -> Path:
    """A confusion-matrix heat map with counts (rows: true class, columns: predicted class)."""
    m = np.asarray(matrix)
    k = len(labels)
    fig = _figure(max(5.0, 0.5 * k + 2), max(4.0, 0.5 * k + 1.5))
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ticks = range(k)
    long = k > 6 or max(len(str(v)) for v in labels) > 4
    ax.set_xticks(ticks, [str(v) for v in labels], rotation=45 if long else 0, ha="right" if long else "center")
    ax.set_yticks(ticks, [str(v) for v in labels])
    ax.set(title="Confusion matrix\n(held-out rows)", xlabel="predicted", ylabel="true")
    if k <= 20:
        threshold = m.max() / 2 if m.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > threshold else "black")
    fig.savefig(path)
    return Path(path)


def plot_pred_vs_actual(y_true: Any, y_pred: Any, path: str | Path) -> Path:
    """Predicted against actual values on held-out data, with the y = x line."""
    y_true, y_pred = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    fig = _figure(5, 5)
    ax = fig.add_subplot()
    ax.scatter(y_true, y_pred, s=10, alpha=0.6)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1)
    ax.set(title="Predicted vs actual\n(held-out rows)", xlabel="actual", ylabel="predicted")
    ax.grid(alpha=0.3)
    fig.savefig(path)
    return Path(path)


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
                    for k, v in rows.items())
    return f"<table>{cells}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _training_rows(history: list[dict[str, Any]], evaluation: dict[str, Any]) -> dict[str, Any]:
    """The report's Training table: epochs, the epoch kept (or the refit on all rows), and why training stopped."""
    rows = {"epochs run": len(history), "weights kept from epoch": evaluation.get("kept_epoch", "?")}
    refit = evaluation.get("refit")
    if refit:
        rows = {"epochs run": len(history), "epochs chosen": evaluation.get("kept_epoch", "?"),
                "then trained on all training rows": f"{refit['rows']} rows, {refit['epochs']} epochs"}
    if evaluation.get("stopped"):
        rows["why training stopped"] = evaluation["stopped"]
    return rows


def build(run_dir: str | Path) -> Path:
    """Write the PNGs and ``report.html`` for a run directory; returns the HTML path."""
    from . import inspection_report

    run_dir = Path(run_dir)
    log = run_dir / "history.jsonl"
    if not log.exists() and inspection_report.present(run_dir):  # glassnet explain/attack on a model file alone
        page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>glassnet report "
                f"{html.escape(run_dir.name)}</title>\n{STYLE}</head><body>\n<h1>glassnet report "
                f"{html.escape(run_dir.name)}</h1>\n{inspection_report.sections(run_dir)}\n</body></html>\n")
        return io.atomic_write(run_dir / "report.html", page.encode())
    if not log.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no history.jsonl)")
    history = read_history(log)
    config = _read_json(run_dir / "config.json")
    evaluation = _read_json(run_dir / "evaluation.json")
    task = evaluation.get("task") or config.get("task")
    squared = config.get("estimator", {}).get("loss", "squared_error") == "squared_error"
    scale = None
    if task == "regression" and squared and "target_scaling" in evaluation:
        scale = (evaluation["target_scaling"] or {}).get("scale", 1.0)
    plots = plot_history(history, run_dir, task=task, kept=evaluation.get("kept_epoch"), target_scale=scale)
    if evaluation.get("task") == "classification" and "confusion_matrix" in evaluation:
        plots["Confusion matrix"] = plot_confusion(evaluation["confusion_matrix"], evaluation["labels"],
                                                   run_dir / "confusion_matrix.png")
    elif evaluation.get("task") == "regression" and evaluation.get("y_true"):
        plots["Predicted vs actual"] = plot_pred_vs_actual(evaluation["y_true"], evaluation["y_pred"],
                                                           run_dir / "predicted_vs_actual.png")
    health_plot = health.plot(history, run_dir / "health.png")
    if health_plot is not None:
        plots["Training health"] = health_plot
    # what glassnet train found (from the estimator, which knows its classes), or else the log's records
    found = health.from_dicts(evaluation["health"]) if "health" in evaluation else health.findings(history)
    metrics = {k: v for k, v in evaluation.get("metrics", {}).items() if k != "confusion_matrix"}
    from .search_report import section  # a glassnet tune run's search; "" for others

    search = section(run_dir)
    images = "".join(
        f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,"
        f"{base64.b64encode(path.read_bytes()).decode()}'><figcaption>{html.escape(title)}</figcaption></figure>"
        for title, path in plots.items())
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>glassnet run {html.escape(run_dir.name)}</title>
{STYLE}</head><body>
<h1>glassnet run {html.escape(run_dir.name)}</h1>
<h2>Held-out metrics</h2>{_table(metrics) if metrics else "<p>none recorded</p>"}
{search}
<h2>Training</h2>{_table(_training_rows(history, evaluation))}
<h2>Health</h2>{health.to_html(found)}
<h2>Estimator settings</h2>{_table(config.get("estimator", {}))}
<h2>Run settings</h2>{_table(config.get("run", {}))}
<h2>Data</h2>{_table(config.get("data", {}))}
<h2>Plots</h2>{images}
{inspection_report.sections(run_dir)}
</body></html>
"""
    return io.atomic_write(run_dir / "report.html", page.encode())
