"""Estimator case: ``fit`` of glassnet's MLPClassifier/MLPRegressor against scikit-learn's, at equal settings.

Both get the same float32 data and the same keyword arguments (sklearn's names and meanings);
each initializes its own weights from ``random_state``. Reported: fit time, test score
(accuracy or R²) and the number of epochs run.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from .harness import Config, Prepare, Row, optional_module, rows_from
from .nets import make_data

SETTINGS = {"solver": "adam", "activation": "relu", "batch_size": 128, "learning_rate_init": 1e-3,
            "alpha": 1e-4, "tol": 1e-4, "n_iter_no_change": 10, "shuffle": True, "early_stopping": False,
            "random_state": 0}


@functools.lru_cache(maxsize=4)
def _digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split((x / 16.0).astype(np.float32), y, test_size=0.25, random_state=0, stratify=y))


@functools.lru_cache(maxsize=4)
def _classification(n: int, n_test: int) -> tuple[np.ndarray, ...]:
    # 784 features, 40 of them informative, 10 classes of two clusters each: learnable in a few epochs
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n + n_test, n_features=784, n_informative=40, n_redundant=0, n_classes=10,
                               n_clusters_per_class=2, flip_y=0.01, random_state=0)
    x = x.astype(np.float32)
    return x[:n], x[n:], y[:n], y[n:]


@functools.lru_cache(maxsize=4)
def _regression(n: int, n_test: int) -> tuple[np.ndarray, ...]:
    x, y = make_data(100, 1, n + n_test, "mse", 3)
    return x[:n], x[n:], y[:n, 0], y[n:, 0]


def tasks(cfg: Config) -> list[tuple[str, str, tuple[np.ndarray, ...], dict]]:
    """(name, "classifier" or "regressor", (X_train, x_test, y_train, y_test), keyword arguments) per task.

    The first three run at equal explicit settings (SETTINGS); the "defaults" ones pass only
    random_state (and max_iter on the large task), as a user who changes nothing would.
    """
    n_big = cfg.size(50_000, 5_000, 500)
    n_reg = cfg.size(20_000, 2_000, 500)
    big = _classification(n_big, max(200, n_big // 5))
    return [
        ("digits", "classifier", _digits(), {**SETTINGS, "hidden_layer_sizes": (100,), "max_iter": cfg.size(30, 5)}),
        ("synthetic", "classifier", big, {**SETTINGS, "hidden_layer_sizes": (256, 256), "max_iter": cfg.size(5, 2)}),
        ("regression", "regressor", _regression(n_reg, max(200, n_reg // 4)),
         {**SETTINGS, "hidden_layer_sizes": (64, 64), "max_iter": cfg.size(10, 3)}),
        ("digits-defaults", "classifier", _digits(), {"random_state": 0, "max_iter": cfg.size(200, 20)}),
        ("synthetic-defaults", "classifier", big, {"random_state": 0, "max_iter": cfg.size(5, 2)}),
    ]


def _estimator_classes(cfg: Config) -> dict[str, dict[str, type]]:
    classes = {}
    if "sklearn" in cfg.libs:
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        classes["sklearn"] = {"classifier": MLPClassifier, "regressor": MLPRegressor}
    gn = optional_module("glassnet") if "glassnet" in cfg.libs else None
    if gn is not None and hasattr(gn, "MLPClassifier") and hasattr(gn, "MLPRegressor"):
        classes["glassnet"] = {"classifier": gn.MLPClassifier, "regressor": gn.MLPRegressor}
    return classes


def _prepare(cls: type, params: dict, x: np.ndarray, y: np.ndarray) -> Prepare:
    def prepare():
        est = cls(**params)

        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is fixed on purpose
                return est.fit(x, y)

        return run

    return prepare


def estimators(cfg: Config, n_threads: int) -> list[Row]:
    """Fit time and test score of each library's estimator on each task."""
    classes = _estimator_classes(cfg)
    rows = []
    for name, kind, (x, x_test, y, y_test), task_params in tasks(cfg):
        prepares = {lib: _prepare(by_kind[kind], task_params, x, y) for lib, by_kind in classes.items()}
        big = x.shape[0] * x.shape[1] > 5_000_000
        task_rows, fitted = rows_from("estimators", name, n_threads, prepares, cfg.reps(3, 1), 0, 0,
                                      warmup=not big)
        for row in task_rows:
            est = fitted.get(row.lib)
            if est is None or row.error:
                continue
            row.score = float(est.score(x_test, y_test))
            row.extra["n_iter_"] = int(est.n_iter_)
            row.samples = x.shape[0] * int(est.n_iter_)
        if "glassnet" in cfg.libs and "glassnet" not in classes:
            task_rows.append(Row("estimators", name, n_threads, "glassnet",
                                 error="skipped: glassnet.MLPClassifier/MLPRegressor are not importable yet"))
        rows += task_rows
    return rows


def describe(cfg: Config) -> str:
    """The title line of this case."""
    parts = [f"{name} ({x.shape[0]:,}x{x.shape[1]}, hidden {p.get('hidden_layer_sizes', '(100,)')}, "
             f"{'up to ' if 'tol' not in p else ''}{p['max_iter']} epochs)" for name, _, (x, *_), p in tasks(cfg)]
    return ("estimator fit, equal settings (adam, batch 128, lr 1e-3, alpha 1e-4) or scikit-learn's defaults: "
            + "; ".join(parts))
