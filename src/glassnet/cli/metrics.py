"""Scores of a trained model on labelled rows (scikit-learn's metrics), and their one-line summary."""

from __future__ import annotations

from typing import Any

import numpy as np


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro F1, log-loss and the confusion matrix for class indices ``y``."""
    from sklearn import metrics

    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    return {"accuracy": float(metrics.accuracy_score(y, pred)),
            "f1_macro": float(metrics.f1_score(y, pred, average="macro", labels=range(k), zero_division=0)),
            "log_loss": float(metrics.log_loss(y, np.clip(proba, 1e-15, 1.0), labels=range(k))),
            "confusion_matrix": metrics.confusion_matrix(y, pred, labels=range(k)).tolist()}


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """R², MAE and RMSE."""
    from sklearn import metrics

    return {"r2": float(metrics.r2_score(y, pred)), "mae": float(metrics.mean_absolute_error(y, pred)),
            "rmse": float(np.sqrt(metrics.mean_squared_error(y, pred)))}


def metric_line(metrics: dict[str, Any], prefix: str) -> str:
    """The float-valued metrics on one line after ``prefix``, as in ``accuracy 0.9722  f1_macro 0.9720``."""
    return prefix + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))


def full_proba(est: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba over all ``n_classes`` (a class absent from the training rows gets 0)."""
    proba = np.asarray(est.predict_proba(x), dtype=np.float64)
    full = np.zeros((len(x), n_classes))
    full[:, np.asarray(est.classes_, dtype=np.int64)] = proba
    return full

