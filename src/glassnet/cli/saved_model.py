"""A trained model file as predict and evaluate use it: the object ``gn.load`` returns, with its labels and task.

A model trained by the command line is a scikit-learn Pipeline (glassnet's TableColumns, the transformers, the
estimator) that takes the table's own columns; a model saved from Python may be a bare estimator, which takes
numeric columns only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import is_classifier

from ..estimators import TableColumns
from ..io.estimators import fractional
from ..io.pipelines import final_estimator
from .errors import UsageError
from .metrics import classification_metrics, regression_metrics
from .model_metadata import load_model
from .preprocessing import LabelEncoder, check_target, columns_of
from .tables import import_pandas


class SavedModel:
    """A loaded model file: ``model`` (a Pipeline or an estimator), its final estimator ``est``, labels and task."""

    def __init__(self, path: str | Path, *, sha256: str | None = None) -> None:
        obj, meta = load_model(path, sha256=sha256)
        est = final_estimator(obj)
        if est is None:
            raise UsageError(f"{path} holds a {meta.get('class', '?')}, not a trained model (a glassnet estimator, or "
                             "a pipeline ending in one)")
        self.model, self.est, self.meta = obj, est, meta
        self.task = "classification" if is_classifier(est) else "regression"
        self.target = meta.get("target", "target")
        labels = meta.get("labels") or (np.asarray(est.classes_).tolist() if self.task == "classification" else None)
        self.labels = LabelEncoder(labels) if labels else None

    @property
    def table(self) -> TableColumns | None:
        """The pipeline's first step when it reads a table (a command-line model), else None."""
        first = self.model.steps[0][1] if hasattr(self.model, "steps") else None
        return first if isinstance(first, TableColumns) else None

    def feature_columns(self) -> list[str]:
        """The input columns the model reads (empty for a model that takes every column of a numeric table)."""
        return list(self.table.feature_names_in_) if self.table is not None else []

    def inputs(self, df: Any) -> Any:
        """What the model takes for table ``df``: the table itself, or its numeric columns for a bare estimator."""
        if hasattr(self.model, "steps"):
            return df
        table = columns_of(df)
        table.pop(self.target, None)
        bad = [k for k, v in table.items() if v.dtype.kind != "f"]
        if bad:
            raise UsageError(f"this model has no stored preprocessing, so every column must be numeric; {bad} are not")
        return np.stack(list(table.values()), axis=1) if table else np.zeros((len(df), 0))

    def features(self, df: Any) -> np.ndarray:
        """The network's input matrix for table ``df``: the table through every step of the pipeline but the last."""
        if hasattr(self.model, "steps"):
            return np.asarray(self.model[:-1].transform(df), dtype=np.float64)
        return np.asarray(self.inputs(df), dtype=np.float64)

    def output_label(self, k: int) -> Any:
        """The label of the network's output ``k`` (a classifier's k-th class)."""
        return self.labels.classes[self._label_index(np.asarray(self.est.classes_).tolist()[k])]

    def proba(self, df: Any) -> np.ndarray:
        """Class probabilities for table ``df``, one column per label (0 for a label absent from training)."""
        full = np.zeros((len(df), len(self.labels.classes)))
        if len(df):  # scikit-learn refuses empty input; no rows have no probabilities
            columns = [self._label_index(c) for c in np.asarray(self.est.classes_).tolist()]
            full[:, columns] = self.model.predict_proba(self.inputs(df))
        elif self.table is not None:
            self.table.transform(df)  # the columns are checked all the same
        return full

    def _label_index(self, cls: Any) -> int:
        """The position among the labels of one of the estimator's classes (a label, or for fractional labels
        its index)."""
        names = self.labels.classes
        if fractional(names):
            return int(cls)
        return names.index(cls) if cls in names else [str(v) for v in names].index(str(cls))

    def predictions(self, df: Any, proba: bool = False) -> Any:
        """A DataFrame of predictions for table ``df``; with ``proba`` also one probability column per class."""
        out = import_pandas().DataFrame(index=range(len(df)))
        if self.task == "classification":
            p = self.proba(df)
            out["prediction"] = np.asarray(self.labels.classes, dtype=object)[p.argmax(axis=1)]
            if proba:
                for j, name in enumerate(self.labels.classes):
                    out[f"proba_{name}"] = p[:, j]
            return out
        if proba:
            raise UsageError("--proba applies to classifiers; this model is a regressor")
        if len(df) == 0:  # scikit-learn refuses empty input; no rows have no predictions
            if self.table is not None:
                self.table.transform(df)
            pred = np.zeros(0) if self.est.n_outputs_ == 1 else np.zeros((0, self.est.n_outputs_))
        else:
            pred = np.asarray(self.model.predict(self.inputs(df)), dtype=np.float64)
        if pred.ndim == 1:
            out["prediction"] = pred
        else:
            for j in range(pred.shape[1]):
                out[f"prediction_{j}"] = pred[:, j]
        return out

    def score(self, df: Any, target: str) -> dict[str, Any]:
        """The model's metrics on table ``df``, whose column ``target`` holds the true values."""
        y = check_target(target, df[target].to_numpy())
        x = df.drop(columns=[target])
        if self.task == "classification":
            return classification_metrics(self.labels.transform(y), self.proba(x))
        pred = np.asarray(self.model.predict(self.inputs(x)), dtype=np.float64)
        return regression_metrics(y.astype(np.float64), pred)
