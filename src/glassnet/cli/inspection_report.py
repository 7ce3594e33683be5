"""The report's sections for ``glassnet explain`` and ``glassnet attack``: plots and tables from explain.json and
attack.json (a bar chart of the top columns, attribution heat maps per class, accuracy against eps)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from .inspection import RESULT_FILES

TOP = 15


def present(run_dir: Path) -> bool:
    """True when ``run_dir`` holds results of explain or attack."""
    return any((run_dir / name).is_file() for name in RESULT_FILES)


def plot_top_columns(columns: list[dict[str, Any]], path: Path) -> Path:
    """Horizontal bars of the mean |attribution| of the top columns, largest on top."""
    from .report import _figure

    top = columns[:TOP][::-1]
    fig = _figure(6, max(2.5, 0.3 * len(top) + 1))
    ax = fig.add_subplot()
    ax.barh([c["column"] for c in top], [c["mean_abs"] for c in top], color="tab:blue")
    ax.set(title="Top columns by mean |attribution|", xlabel="mean |attribution|")
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path)
    return path


def plot_heatmaps(heatmaps: dict[str, Any], path: Path) -> Path:
    """One image per class explained: the mean attribution of each pixel (red for, blue against), one colour scale."""
    from .report import _figure

    maps = heatmaps["classes"]
    n = len(maps)
    cols = min(n, 5)
    grid_rows = -(-n // cols)
    fig = _figure(2.2 * cols + 1, 2.3 * grid_rows)
    fig.set_layout_engine("constrained")  # tight layout cannot place a colour bar shared by several images
    limit = max(float(np.abs(np.asarray(m["values"])).max()) for m in maps.values()) or 1.0
    image = None
    for i, (label, m) in enumerate(maps.items()):
        ax = fig.add_subplot(grid_rows, cols, i + 1)
        image = ax.imshow(np.asarray(m["values"]), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{label} ({m['rows']} rows)", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=fig.axes, shrink=0.8)
    fig.suptitle("Mean attribution per pixel, by explained class")
    fig.savefig(path)
    return path


def plot_accuracy(attack: dict[str, Any], path: Path) -> Path:
    """Accuracy against eps (PGD or FGSM; FGSM dashed beside PGD)."""
    from .report import _figure

    fig = _figure()
    ax = fig.add_subplot()
    name = f"PGD ({attack['steps']} steps)" if attack["attack"] == "pgd" else "FGSM"
    for label, values, style in ((name, attack["accuracy"], "-o"), ("FGSM", attack.get("fgsm_accuracy"), "--s")):
        if values:
            ax.plot([float(e) for e in values], list(values.values()), style, label=label)
    ax.set(title="Accuracy under attack", xlabel="eps (L-infinity, model input space)", ylabel="accuracy",
           ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path)
    return path


def _figure_html(title: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


def _rows(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><tr>{head}</tr>{cells}</table>"


def _explain_section(run_dir: Path, found: dict[str, Any]) -> str:
    columns = found["columns"]
    with_perm = any("permutation" in c for c in columns)
    body = [[str(i), c["column"], f"{c['mean_abs']:.4g}", f"{c['mean']:.4g}", f"{100 * c['share']:.1f} %"]
            + ([f"{c['permutation']:.4f} ± {c['permutation_std']:.4f}" if "permutation" in c else "–"]
               if with_perm else []) for i, c in enumerate(columns[:TOP], 1)]
    header = ["rank", "column", "mean |attribution|", "mean attribution", "share"]
    header += [f"permutation importance (drop in {found['permutation']['score']})"] if with_perm else []
    parts = [f"<h2>Explanations</h2><p>{html.escape(found['method'])}; {found['rows']} rows of "
             f"{html.escape(found['data'])}, explaining {html.escape(found['explained'])}. "
             f"{html.escape(found['note'])}.</p>"]
    c = found.get("completeness_error") or {}
    if {"median", "overall", "largest"} <= set(c):
        parts.append(f"<p>Completeness: each row's attributions sum to f(x) - f(baseline) within "
                     f"{100 * c['median']:.2g} % (median row; {100 * c['overall']:.2g} % over all rows; largest "
                     f"gap {c['largest']:.2g}).</p>")
    parts.append(_rows(header, body))
    parts.append(_figure_html("Top columns", plot_top_columns(columns, run_dir / "explain_top_columns.png")))
    if found.get("heatmaps"):
        parts.append(_figure_html("Attribution heat maps", plot_heatmaps(found["heatmaps"],
                                                                         run_dir / "explain_heatmaps.png")))
    return "".join(parts)


def _attack_section(run_dir: Path, found: dict[str, Any]) -> str:
    fgsm = found.get("fgsm_accuracy")
    body = [[e, f"{a:.4f}"] + ([f"{fgsm[e]:.4f}"] if fgsm else []) for e, a in found["accuracy"].items()]
    name = f"PGD ({found['steps']} steps)" if found["attack"] == "pgd" else "FGSM"
    verdict = ("<p><strong>Gradient masking suspected, so these figures are no evidence of robustness:</strong> "
               + html.escape("; ".join(found["problems"])) + ".</p>") if found["problems"] else (
        "<p>Checks passed: accuracy falls as eps grows" + (", and PGD is at least as strong as FGSM" if fgsm else "")
        + ".</p>")
    return (f"<h2>Robustness</h2><p>{name} on {found['rows']} rows of {html.escape(found['data'])}; "
            f"{html.escape(found['note'])}.</p>{verdict}"
            + _rows(["eps", f"{name} accuracy"] + (["FGSM accuracy"] if fgsm else []), body)
            + _figure_html("Accuracy under attack", plot_accuracy(found, run_dir / "attack_accuracy.png")))


def sections(run_dir: Path) -> str:
    """The HTML of the Explanations and Robustness sections, each where its results exist (else empty)."""
    out = []
    for name, section in zip(RESULT_FILES, (_explain_section, _attack_section), strict=True):
        path = run_dir / name
        if path.is_file():
            out.append(section(run_dir, json.loads(path.read_text())))
    return "".join(out)
