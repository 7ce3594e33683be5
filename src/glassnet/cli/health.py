"""Training health for the command line: ``gn.diagnose``'s findings as terminal lines and HTML, and the plot of
what the gradient-health monitor recorded (update-to-weight ratios, dead and saturated units, loss spikes).

``glassnet train`` prints the findings at the end, ``glassnet inspect`` shows them for a saved model and the
report has a health section.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from ..inspect import diagnose
from ..inspect.diagnosis import Finding

# the monitor's fields in a record: plotted here, not among the report's other per-epoch plots
MONITOR_KEYS = ("update_ratio", "dead_fraction", "saturated_fraction", "loss_spikes", "loss_spike_max")


def findings(obj: Any) -> list[Finding]:
    """The findings for a fitted estimator or a list of records; none for a model without a training history."""
    if isinstance(obj, list) or getattr(obj, "history_", None):
        return diagnose(obj)
    return []


def from_dicts(found: list[dict[str, Any]]) -> list[Finding]:
    """Findings read back from JSON (evaluation.json, a model file's metadata)."""
    return [Finding(**f) for f in found]


def lines(found: list[Finding]) -> list[str]:
    """The findings as terminal lines: a one-line all-clear, or one line per finding."""
    if not found:
        return ["health: no problems found (gradients, activations, learning rate, losses)"]
    return [f"health: {f}" for f in found]


def to_html(found: list[Finding]) -> str:
    """The findings as an HTML list (or a sentence saying there were none)."""
    if not found:
        return "<p>No problems found: gradients, activations, learning rate and losses look normal.</p>"
    items = "".join(
        f"<li><strong>{html.escape(f.kind.replace('_', ' '))}</strong>"
        f"{html.escape(f' (layer {f.layer})' if f.layer is not None else '')}"
        f"{html.escape(f' (epoch {f.epoch})' if f.epoch is not None else '')}: {html.escape(f.message)}"
        f"<br><em>Try:</em> {html.escape(f.suggestion)}</li>" for f in found)
    return f"<ul>{items}</ul>"


def _layer_series(history: list[dict[str, Any]], key: str) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for i, record in enumerate(history):
        values = record.get(key)
        if not isinstance(values, list):
            continue
        for layer, v in enumerate(values):
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                series.setdefault(f"layer {layer}", []).append((record.get("epoch", i + 1), v))
    return series


def plot(history: list[dict[str, Any]], path: str | Path) -> Path | None:
    """One PNG with the monitor's records: update-to-weight ratio per layer (1e-3 marked as the healthy level),
    dead ReLU and saturated sigmoid/tanh fractions per layer, loss spikes per epoch; None without them."""
    ratios = _layer_series(history, "update_ratio")
    dead, saturated = _layer_series(history, "dead_fraction"), _layer_series(history, "saturated_fraction")
    spikes = [(r.get("epoch", i + 1), r["loss_spikes"]) for i, r in enumerate(history)
              if isinstance(r.get("loss_spikes"), int)]
    if not (ratios or dead or saturated or spikes):
        return None
    from .report import _figure

    fig = _figure(12, 3.6)
    left, middle, right = fig.subplots(1, 3)
    for name, points in ratios.items():
        left.plot(*zip(*points, strict=True), label=name)
    left.axhline(1e-3, color="grey", linestyle=":", linewidth=1.5, label="about right (1e-3)")
    if ratios and all(v > 0 for points in ratios.values() for _, v in points):
        left.set_yscale("log")
    left.set(title="Update-to-weight ratio", xlabel="epoch", ylabel="|ΔW| / |W| per step")
    for label, series, style in (("dead ReLU", dead, "-"), ("saturated", saturated, "--")):
        for name, points in series.items():
            middle.plot(*zip(*points, strict=True), linestyle=style, label=f"{label}, {name}")
    middle.set(title="Dead and saturated units", xlabel="epoch", ylabel="fraction of the layer", ylim=(-0.02, 1.02))
    if spikes:
        right.bar(*zip(*spikes, strict=True), color="tab:red")
    right.set(title="Loss spikes per epoch", xlabel="epoch", ylabel="steps")
    for ax in (left, middle, right):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.savefig(path)
    return Path(path)
