"""Readable tables, ratios against the targets, and the machine description for the JSON file."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .harness import LIB_LABELS, Row

# (case, variant or None for any, ratio, comparison, bound); judged at 1 thread, shown at every thread count
TARGETS = [
    ("mnist", None, "glassnet/torch", "<=", 0.75),
    ("mnist", None, "floor/glassnet", ">=", 0.75),
    ("tiny", None, "glassnet/torch", "<=", 0.3),
    ("regression", None, "glassnet/sklearn", "<=", 0.5),
    ("estimators", "synthetic", "sklearn/glassnet", ">=", 1.7),
    ("estimators", "synthetic-defaults", "sklearn/glassnet", ">=", 1.5),
    ("estimators", "digits", "sklearn/glassnet", ">=", 2.0),
    ("estimators", "digits-defaults", "sklearn/glassnet", ">=", 2.0),
    ("memory", None, "glassnet/torch", "<=", 1.0),
    ("inspect", None, "glassnet/torch", "<=", 1.0),
    ("monitor", "mnist", "loop+monitor/loop", "<=", 1.03),
    ("monitor", "tiny", "loop+monitor/loop", "<=", 1.05),
]


def groups(rows: Iterable[Row]) -> dict[tuple[str, str, int], list[Row]]:
    """Rows by (case, variant, threads), in the order they were measured."""
    out: dict[tuple[str, str, int], list[Row]] = {}
    for row in rows:
        out.setdefault((row.case, row.variant, row.threads), []).append(row)
    return out


def _figure(row: Row) -> float | None:
    """The number a ratio compares: peak RSS for memory rows, the median time otherwise."""
    if row.case == "memory":
        return row.extra.get("rss_peak_bytes") or None
    return row.median


def ratios(rows: list[Row]) -> dict[str, float]:
    """glassnet/X for every other library X, floor/glassnet, torch-floor/torch, sklearn/glassnet, and the monitor's
    cost (loop+monitor/loop)."""
    fig = {r.lib: _figure(r) for r in rows if _figure(r)}
    out = {}
    gn = fig.get("glassnet")
    for lib, value in fig.items():
        if gn and lib != "glassnet":
            out[f"glassnet/{lib}"] = gn / value
    if gn and "floor" in fig:
        out["floor/glassnet"] = fig["floor"] / gn
    if "torch" in fig and "torch-floor" in fig:
        out["torch-floor/torch"] = fig["torch-floor"] / fig["torch"]
    if gn and "sklearn" in fig:
        out["sklearn/glassnet"] = fig["sklearn"] / gn
    for watched in ("loop+monitor", "loop+monitor+guard"):  # the monitor case: its cost
        if "loop" in fig and watched in fig:
            out[f"{watched}/loop"] = fig[watched] / fig["loop"]
    return out


def judge(case: str, variant: str, found: dict[str, float]) -> list[dict[str, Any]]:
    """The targets that apply to ``case`` and ``variant``, each with its measured value and whether it is met."""
    out = []
    for t_case, t_variant, name, op, bound in TARGETS:
        if t_case == case and t_variant in (None, variant) and name in found:
            value = found[name]
            out.append({"ratio": name, "target": f"{op} {bound}", "value": value,
                        "met": value <= bound if op == "<=" else value >= bound})
    return out


def summaries(rows: list[Row]) -> list[dict[str, Any]]:
    """Ratios and targets of every (case, variant, threads) group, for the JSON file."""
    out = []
    for (case, variant, n), members in groups(rows).items():
        found = ratios(members)
        out.append({"case": case, "variant": variant, "threads": n, "ratios": found,
                    "targets": judge(case, variant, found)})
    return out


def _table(headers: list[str], body: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:  # first column left-aligned, the numbers right-aligned
        return "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    lines = [line(headers)] + [line(r) for r in body]
    return "\n".join(lines)


def _num(x: float | None, fmt: str) -> str:
    if x is None:
        return "-"
    return format(x, fmt[:-1]) + "%" if fmt.endswith("%") else format(x, fmt)


def _ratio_line(case: str, variant: str, rows: list[Row]) -> str:
    found = ratios(rows)
    shown = [k for k in ("glassnet/torch", "glassnet/sklearn", "glassnet/numpy", "floor/glassnet",
                         "torch-floor/torch", "sklearn/glassnet", "loop+monitor/loop", "loop+monitor+guard/loop")
             if k in found]
    if case == "memory":
        shown = [k for k in shown if k.startswith("glassnet/")]
    parts = [f"{k} {found[k]:.2f}" for k in shown]
    for t in judge(case, variant, found):
        parts.append(f"[{t['ratio']} {t['target']}: {'met' if t['met'] else 'MISSED'}]")
    return "  " + "  ".join(parts) if parts else ""


def _timing_table(rows: list[Row]) -> str:
    gn = next((r.median for r in rows if r.lib == "glassnet" and r.median), None)
    body = []
    for r in rows:
        med = r.median
        spread = (max(r.times) - min(r.times)) / med if med and len(r.times) > 1 else None
        body.append([LIB_LABELS.get(r.lib, r.lib), _num(med, ".4f"), _num(spread and 100 * spread, ".1f%"),
                     _num(r.samples / med if med and r.samples else None, ",.0f"),
                     _num(1e6 * med / r.steps if med and r.steps else None, ",.1f"),
                     _num(gn / med if gn and med else None, ".2f")])
    return _table(["library", "median s", "spread", "samples/s", "µs/step", "glassnet÷this"], body)


def _estimator_table(rows: list[Row]) -> str:
    gn = next((r.median for r in rows if r.lib == "glassnet" and r.median), None)
    body = []
    for r in rows:
        med = r.median
        body.append([LIB_LABELS.get(r.lib, r.lib), _num(med, ".3f"), _num(r.score, ".4f"),
                     str(r.extra.get("n_iter_", "-")), _num(r.samples / med if med and r.samples else None, ",.0f"),
                     _num(gn / med if gn and med else None, ".2f")])
    return _table(["library", "fit s", "test score", "epochs", "samples/s", "glassnet÷this"], body)


def _memory_table(rows: list[Row]) -> str:
    gn = next((r.extra.get("rss_peak_bytes") for r in rows if r.lib == "glassnet" and not r.error), None)
    body = []
    for r in rows:
        rss, traced = r.extra.get("rss_peak_bytes"), r.extra.get("tracemalloc_peak_bytes")
        body.append([LIB_LABELS.get(r.lib, r.lib), _num(rss and rss / 2**20, ".2f"),
                     _num(traced and traced / 2**20, ".2f"), _num(r.extra.get("param_bytes", 0) / 2**20, ".2f"),
                     _num(gn / rss if gn and rss else None, ".2f")])
    return _table(["library", "RSS peak MiB", "traced peak MiB", "params MiB", "glassnet÷this"], body)


def _sweep_table(groups_: list[tuple[str, list[Row]]]) -> str:
    libs = [r.lib for r in groups_[0][1]]
    body = []
    for variant, rows in groups_:
        by_lib = {r.lib: r for r in rows}
        found = ratios(rows)
        body.append([variant] + [_num(by_lib[lib].median if lib in by_lib else None, ".4f") for lib in libs]
                    + [_num(found.get("glassnet/torch"), ".2f"), _num(found.get("floor/glassnet"), ".2f")])
    return _table(["width"] + [LIB_LABELS.get(lib, lib) + " s" for lib in libs]
                  + ["glassnet/torch", "floor/glassnet"], body)


def render(rows: list[Row], titles: dict[str, str]) -> str:
    """All results as text: one block per case, one table per thread count (and variant)."""
    out: list[str] = []
    by_group = groups(rows)
    for case in dict.fromkeys(r.case for r in rows):
        out.append(f"\n== {case}: {titles.get(case, '')} ==")
        thread_counts = list(dict.fromkeys(n for (c, _, n) in by_group if c == case))
        for n in thread_counts:
            members = [(v, rs) for (c, v, t), rs in by_group.items() if c == case and t == n]
            mode = members[0][1][0].mode
            reps = max(len(r.times) for _, rs in members for r in rs)
            out.append(f"-- {n} thread{'s' if n > 1 else ''} ({mode}" + (f", median of {reps}" if reps else "") + ")")
            if case == "sweep":
                out.append(_sweep_table(members))
                continue
            for variant, rs in members:
                if variant:
                    out.append(f"  [{variant}]")
                table = {"estimators": _estimator_table, "memory": _memory_table}.get(case, _timing_table)
                out.append(table([r for r in rs if not r.error]))
                out += [f"  {LIB_LABELS.get(r.lib, r.lib)}: {r.error}" for r in rs if r.error]
                line = _ratio_line(case, variant, rs)
                if line:
                    out.append(line)
    return "\n".join(out)


def _git(*args: str) -> str | None:
    try:
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info() -> dict[str, Any]:
    """Machine, versions, BLAS libraries and git commit: what a comparison between runs needs."""
    from threadpoolctl import threadpool_info

    versions = {}
    for name in ("glassnet", "numpy", "scipy", "scikit-learn", "torch", "threadpoolctl"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0],
        "versions": versions,
        "thread_pools": [{k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version", "architecture")}
                         for p in threadpool_info()],
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }
