"""A training job: the run's data loaded, split and preprocessed, the estimator that will fit it, and the model
saved in the end: the preprocessing pipeline followed by the fitted estimator.

The same settings always give the same job, which is what lets an interrupted run resume.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io.estimators import name_classes
from . import datasets
from .errors import UsageError
from .preprocessing import LabelEncoder, columns_of, fit_preprocessor, infer_task, missing_mask
from .settings import ESTIMATOR_CLASSES, MIN_PATIENCE, PATIENCE_STEPS, REFIT_ROWS, RunSettings, check_estimator_params
from .tables import import_pandas, read_table, stdin_bytes


@dataclass
class Job:
    """Everything a run trains and evaluates on, after splitting and preprocessing."""

    task: str
    name: str
    preprocessor: Any  # the fitted scikit-learn Pipeline (TableColumns, ColumnTransformer)
    labels: LabelEncoder | None
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    target_scaling: dict[str, float] | None = None  # regression: y_train was (y - mean) / scale
    rows: tuple[np.ndarray, np.ndarray] | None = None  # the table's (training, held-out) row numbers
    train_frame: Any = None  # the training rows before preprocessing (glassnet tune's folds preprocess their own)

    def model(self, est: Any) -> Any:
        """The model to save: the preprocessing pipeline, then the fitted ``est``. A classifier learns class
        indices; this gives it the labels as its classes (in place), so that the pipeline predicts them."""
        from sklearn.pipeline import Pipeline

        if self.labels is not None:
            name_classes(est, self.labels.classes)
            if isinstance(getattr(est, "class_weight", None), dict):  # by class index until now
                est.class_weight = {est.classes_[i].item(): w for i, w in est.class_weight.items()}
        return Pipeline([*self.preprocessor.steps, ("mlp", est)])

    def feature_names(self) -> list[str]:
        """The names of the network's input columns."""
        return self.preprocessor.get_feature_names_out().tolist()


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
    frame = import_pandas().DataFrame(table)
    pre = fit_preprocessor(frame.iloc[train_rows], missing=settings.missing, categorical=settings.categorical)
    with warnings.catch_warnings():  # typos were reported by the fit; unseen categories in held-out rows are expected
        warnings.simplefilter("ignore", UserWarning)
        x_train = pre.transform(frame.iloc[train_rows])
        x_test = pre.transform(frame.iloc[test_rows]) if len(test_rows) else x_train[:0]
    job = Job(task, source["name"], pre, labels, x_train, y[train_rows], x_test, y[test_rows],
              rows=(train_rows, test_rows), train_frame=frame.iloc[train_rows])
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


def make_estimator(job: Job, settings: RunSettings) -> Any:
    """An unfitted estimator for the job's task, its "auto" settings resolved from the data and class weights
    given by label turned into class indices; unknown or invalid settings are refused before training starts."""
    params = dict(settings.estimator)
    if params.get("n_iter_no_change") == "auto":
        params["n_iter_no_change"] = auto_patience(params, len(job.y_train))
    if job.labels is None and params.pop("class_weight", None) is not None:
        raise UsageError(f"{settings.label('class_weight')} applies to classification; the target "
                         f"{job.name!r} calls for regression")
    if isinstance(params.get("class_weight"), dict):
        params["class_weight"] = _class_indices(params["class_weight"], job.labels.classes,
                                                settings.label("class_weight"))
    cls = ESTIMATOR_CLASSES[job.task]
    return cls(**check_estimator_params(cls, params, settings))


def auto_patience(params: dict[str, Any], n_train: int) -> int:
    """Early stopping's patience in epochs: PATIENCE_STEPS optimizer steps' worth, at least MIN_PATIENCE epochs
    (an epoch of 100 rows is one step, of 50,000 rows 250). Without early stopping, scikit-learn's 10."""
    if not params.get("early_stopping"):
        return 10
    n_fit = n_train - math.ceil(params.get("validation_fraction", 0.1) * n_train)
    batch = params.get("batch_size", "auto")
    batch = min(200 if batch == "auto" else int(batch), max(n_fit, 1))
    return max(MIN_PATIENCE, math.ceil(PATIENCE_STEPS / math.ceil(max(n_fit, 1) / batch)))


def _class_indices(weights: dict[Any, Any], classes: list[Any], label: str) -> dict[int, Any]:
    """{label: weight} (labels as the data writes them; JSON and TOML keys are text) as {class index: weight}."""
    index = {str(c): i for i, c in enumerate(classes)}
    unknown = [k for k in weights if str(k) not in index]
    if unknown:
        raise UsageError(f"{label}: no class {unknown[0]!r} in the target; its classes are {classes}")
    return {index[str(k)]: w for k, w in weights.items()}


def refits(est: Any, settings: RunSettings, n_train: int) -> bool:
    """Whether the run trains anew on all training rows once early stopping has chosen the epoch count."""
    if not est.early_stopping or est.solver == "lbfgs":
        return False
    return settings.refit is True or (settings.refit == "auto" and n_train < REFIT_ROWS)


def refit_estimator(est: Any, epochs: int) -> Any:
    """A fresh estimator with ``est``'s settings that trains exactly ``epochs`` epochs on all the rows it is given."""
    from sklearn.base import clone

    # a plateau needs more than n_iter_no_change epochs without improvement: with ``epochs`` none can end it early
    return clone(est).set_params(early_stopping=False, max_iter=int(epochs), n_iter_no_change=int(epochs))
