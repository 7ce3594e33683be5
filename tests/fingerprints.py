"""Fingerprints of fitted estimator weights, to prove that refactoring leaves trajectories unchanged.

``python tests/fingerprints.py`` rewrites tests/data/fingerprints.json (only ever on purpose);
tests/test_fingerprints.py recomputes every entry and compares.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, load_digits, load_iris, make_regression

PATH = Path(__file__).parent / "data" / "fingerprints.json"
SOLVERS = ("sgd", "adam", "rmsprop", "adamw", "lbfgs")


def datasets() -> dict[str, tuple]:
    X, y = load_iris(return_X_y=True)
    Xd, yd = load_digits(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    Xm, ym = make_regression(n_samples=300, n_features=8, n_targets=2, noise=5.0, random_state=0)
    return {"iris": ("classifier", X, y), "digits": ("classifier", Xd[:600] / 16, yd[:600]),
            "diabetes": ("regressor", Xr, (yr - yr.mean()) / yr.std()),
            "friedman": ("regressor", Xm, ym / ym.std())}


def cases() -> list[tuple[str, str, dict]]:
    out = []
    for data in datasets():
        for solver in SOLVERS:
            out.append((data, solver, {}))
        out.append((data, "sgd", {"learning_rate": "adaptive", "momentum": 0.5, "early_stopping": True}))
        out.append((data, "sgd", {"learning_rate": "invscaling", "nesterovs_momentum": False}))
        out.append((data, "adam", {"early_stopping": True, "dropout": 0.2, "l1": 1e-3, "batch_size": 32}))
        out.append((data, "adam", {"max_grad_norm": 0.5, "alpha": 0.01, "sample_weight": True}))
        out.append((data, "adam", {"max_iter": 300, "early_stopping": True, "n_iter_no_change": 5}))
        out.append((data, "sgd", {"max_iter": 300, "tol": 1e-3}))
    return out


def fingerprint(data: str, solver: str, extra: dict) -> dict:
    import glassnet as gn

    kind, X, y = datasets()[data]
    cls = gn.MLPClassifier if kind == "classifier" else gn.MLPRegressor
    params = {"max_iter": 25, **{k: v for k, v in extra.items() if k != "sample_weight"}}
    est = cls(hidden_layer_sizes=(16, 8), solver=solver, random_state=0, **params)
    w = np.linspace(0.5, 1.5, X.shape[0]) if extra.get("sample_weight") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y, sample_weight=w)
    h = hashlib.sha256()
    for a in est.coefs_ + est.intercepts_:
        h.update(np.ascontiguousarray(a).tobytes())
    return {"sha256": h.hexdigest(), "n_iter_": int(est.n_iter_),
            "loss": float(est.loss_), "loss_curve_len": len(est.loss_curve_)}


def key(data: str, solver: str, extra: dict) -> str:
    mode = "numpy" if os.environ.get("GLASSNET_NUMBA") == "0" else "compiled"
    return f"{mode}:{data}:{solver}:{json.dumps(extra, sort_keys=True)}"


if __name__ == "__main__":
    table = json.loads(PATH.read_text()) if PATH.exists() else {}
    for case in cases():
        table[key(*case)] = fingerprint(*case)
    PATH.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"{len(table)} fingerprints in {PATH}")
