"""A training job: the run's data loaded, split and preprocessed, and the estimator that will fit it.

The same settings always give the same job, which is what lets an interrupted run resume.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import datasets
from .errors import UsageError
from .preprocessing import LabelEncoder, Preprocessor, columns_of, infer_task, missing_mask
from .settings import ESTIMATOR_CLASSES, RunSettings, check_estimator_params
from .tables import read_table, stdin_bytes


@dataclass
class Job:
    """Everything a run trains and evaluates on, after splitting and preprocessing."""

    task: str
    name: str
    preprocessor: Preprocessor
    labels: LabelEncoder | None
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    target_scaling: dict[str, float] | None = None  # regression: y_train was (y - mean) / scale


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_source(settings: RunSettings) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """(feature columns, raw target, description of the source) for the run's data."""
    if settings.data:
        path = Path(settings.data)
        df = read_table(path)
        target = settings.target
        where = "standard input" if settings.data == "-" else path
        if target not in df.columns:
            raise UsageError(f"target column {target!r} is not in {where}; its columns are "
                             f"{list(map(str, df.columns))}; choose one with --target")
        table = columns_of(df)
        if settings.data == "-":
            source = {"file": "-", "sha256": hashlib.sha256(stdin_bytes()).hexdigest()}
        else:
            source = {"file": str(path.resolve()), "sha256": _sha256_file(path)}
        source.update(rows=len(df), target=target)
        name = "stdin" if settings.data == "-" else path.stem
    else:
        name = settings.dataset or datasets.DEFAULT
        ds = datasets.load(name)
        table = {n: ds.X[:, j] for j, n in enumerate(ds.feature_names)}
        table["target"] = ds.y
        target = "target"
        source = {"dataset": name, "rows": len(ds.y), "target": target}
    for option in ("drop", "categorical"):
        columns = getattr(settings, option)
        if target in columns:
            raise UsageError(f"{settings.label(option)}: {target!r} is the target column, not a feature")
        unknown = sorted(set(columns) - set(table))
        if unknown:
            raise UsageError(f"{settings.label(option)}: no columns {unknown} in the data; its columns are "
                             f"{sorted(table)}")
    y = table.pop(target)
    for col in settings.drop:
        table.pop(col)
    infinite = np.flatnonzero(np.isinf(y)) if y.dtype.kind == "f" else []
    if len(infinite):
        raise UsageError(f"target column {target!r} has {len(infinite)} infinite values (rows "
                         f"{infinite[:5].tolist()}); fix or drop those rows")
    missing = missing_mask(y)
    if missing.any() and not settings.drop_missing_target:
        raise UsageError(f"target column {target!r} has {int(missing.sum())} missing values; "
                         "pass --drop-missing-target to train without those rows")
    if missing.any():
        warnings.warn(f"dropped {int(missing.sum())} of {len(y)} rows: their target {target!r} is missing",
                      UserWarning, stacklevel=2)
        table, y = {k: v[~missing] for k, v in table.items()}, y[~missing]
        source["rows_dropped"] = int(missing.sum())
    return table, y, {"name": name, **source}


def prepare(settings: RunSettings) -> tuple[Job, dict[str, Any]]:
    """Load, split and preprocess the run's data; the same settings always give the same Job."""
    from sklearn.model_selection import train_test_split

    table, y, source = _load_source(settings)
    inferred = infer_task(y)
    task = settings.task if settings.task != "auto" else inferred
    if task == "classification" and inferred == "regression":
        warnings.warn(f"{settings.label('task')} classification: the target {source['target']!r} looks like a "
                      f"quantity ({len(np.unique(y))} distinct numbers in {len(y)} rows); each value becomes a class",
                      UserWarning, stacklevel=2)
    labels = LabelEncoder().fit(y) if task == "classification" else None
    if labels is not None:
        y = labels.transform(y)
    else:
        try:
            y = y.astype(np.float64)
        except ValueError as e:
            raise UsageError(f"regression needs a numeric target; column {source['target']!r} is not") from e
    rows = np.arange(len(y))
    if settings.test_fraction > 0:
        stratify = y if labels is not None and np.bincount(y).min() >= 2 else None
        train_rows, test_rows = train_test_split(rows, test_size=settings.test_fraction, random_state=settings.seed,
                                                 stratify=stratify)
    else:
        train_rows, test_rows = rows, rows[:0]
    pre = Preprocessor(missing=settings.missing, categorical=settings.categorical)
    pre.fit({k: v[train_rows] for k, v in table.items()})
    with warnings.catch_warnings():  # unseen categories in the held-out rows are expected, not news
        warnings.simplefilter("ignore", UserWarning)
        x_test = pre.transform({k: v[test_rows] for k, v in table.items()})
    x_train = pre.transform({k: v[train_rows] for k, v in table.items()})
    job = Job(task, source["name"], pre, labels, x_train, y[train_rows], x_test, y[test_rows])
    if labels is None and settings.scale_target:
        mean, scale = float(job.y_train.mean()), float(job.y_train.std()) or 1.0
        job.y_train = (job.y_train - mean) / scale
        job.target_scaling = {"mean": mean, "scale": scale}
    return job, source


def fold_target_scaling(est: Any, scaling: dict[str, float] | None) -> None:
    """Fold the target standardization into the last layer, so the model predicts in the target's units."""
    if scaling is None or est.out_activation_ != "identity":
        return
    w, b = est.coefs_[-1], est.intercepts_[-1]
    est.coefs_[-1] = (w * scaling["scale"]).astype(w.dtype)
    est.intercepts_[-1] = (b * scaling["scale"] + scaling["mean"]).astype(b.dtype)
    est._restore_module()


def make_estimator(task: str, settings: RunSettings) -> Any:
    """An unfitted estimator for ``task``, refusing unknown or invalid settings before training starts."""
    cls = ESTIMATOR_CLASSES[task]
    return cls(**check_estimator_params(cls, settings.estimator, settings))
