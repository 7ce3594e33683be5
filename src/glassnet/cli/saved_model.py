"""A trained estimator file as predict and evaluate use it: the model with its preprocessing, labels and task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import UsageError
from .metrics import classification_metrics, full_proba, regression_metrics
from .model_metadata import load_model
from .preprocessing import LabelEncoder, Preprocessor, check_target, columns_of
from .tables import import_pandas


class SavedModel:
    """A loaded estimator file with its preprocessing, labels and task."""

    def __init__(self, path: str | Path, *, sha256: str | None = None) -> None:
        obj, meta = load_model(path, sha256=sha256)
        if meta["kind"] != "estimator":
            raise UsageError(f"{path} holds a bare network ({meta['class']}), not a trained estimator")
        self.est, self.meta = obj, meta
        self.task = "classification" if meta["class"] == "MLPClassifier" else "regression"
        pre = meta.get("preprocessing")
        self.preprocessor = Preprocessor.from_dict(pre) if pre else None
        labels = meta.get("labels")
        self.labels = LabelEncoder.from_dict({"classes": labels}) if labels else None
        self.target = meta.get("target", "target")

    def feature_columns(self) -> list[str]:
        """The input columns the model reads (empty for a model saved without preprocessing)."""
        return [c["name"] for c in self.preprocessor.columns] if self.preprocessor is not None else []

    def features(self, df: Any) -> np.ndarray:
        """The model's input matrix for table ``df`` (preprocessed as in training)."""
        if self.preprocessor is not None:
            return self.preprocessor.transform(df)
        table = columns_of(df)
        table.pop(self.target, None)
        bad = [k for k, v in table.items() if v.dtype.kind != "f"]
        if bad:
            raise UsageError(f"this model has no stored preprocessing, so every column must be numeric; {bad} are not")
        return np.stack(list(table.values()), axis=1).astype(np.float32)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, one column per entry of :meth:`class_names`."""
        if len(x) == 0:  # scikit-learn refuses empty input; no rows have no probabilities
            return np.zeros((0, len(self.class_names())))
        if self.labels is None:
            return np.asarray(self.est.predict_proba(x), dtype=np.float64)
        return full_proba(self.est, x, len(self.labels.classes))

    def class_names(self) -> list[Any]:
        """The class labels in probability-column order."""
        return list(self.labels.classes) if self.labels else list(np.asarray(self.est.classes_).tolist())

    def predictions(self, df: Any, proba: bool = False) -> Any:
        """A DataFrame of predictions for table ``df``; with ``proba`` also one probability column per class."""
        x = self.features(df)
        pd = import_pandas()
        out = pd.DataFrame(index=range(len(x)))
        if self.task == "classification":
            p = self.proba(x)
            out["prediction"] = np.asarray(self.class_names(), dtype=object)[p.argmax(axis=1)]
            if proba:
                for j, name in enumerate(self.class_names()):
                    out[f"proba_{name}"] = p[:, j]
            return out
        if proba:
            raise UsageError("--proba applies to classifiers; this model is a regressor")
        if len(x) == 0:  # scikit-learn refuses empty input; no rows have no predictions
            pred = np.zeros(0) if self.est.n_outputs_ == 1 else np.zeros((0, self.est.n_outputs_))
        else:
            pred = np.asarray(self.est.predict(x), dtype=np.float64)
        if pred.ndim == 1:
            out["prediction"] = pred
        else:
            for j in range(pred.shape[1]):
                out[f"prediction_{j}"] = pred[:, j]
        return out

    def score(self, df: Any, target: str) -> dict[str, Any]:
        """The model's metrics on table ``df``, whose column ``target`` holds the true values."""
        y = check_target(target, df[target].to_numpy())
        x = self.features(df.drop(columns=[target]))
        if self.task == "classification":
            y_idx = (self.labels or LabelEncoder(self.class_names())).transform(y)
            return classification_metrics(y_idx, self.proba(x))
        return regression_metrics(y.astype(np.float64), np.asarray(self.est.predict(x), dtype=np.float64))
