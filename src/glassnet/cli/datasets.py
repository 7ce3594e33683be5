"""Built-in data sets: scikit-learn's bundled tables and small synthetic problems; no download."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Features ``X`` (float64), target ``y``, column names and the task the target calls for."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    task: str
    description: str = field(default="", repr=False)

    def frame(self, target: str = "target"):
        """The data set as one pandas DataFrame with the target in column ``target``."""
        import pandas as pd

        df = pd.DataFrame(self.X, columns=self.feature_names)
        df[target] = self.y
        return df


def _sklearn(name: str) -> Dataset:
    from sklearn import datasets as skd

    loader = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
              "breast_cancer": skd.load_breast_cancer, "diabetes": skd.load_diabetes}[name]
    bunch = loader()
    names = [str(n) for n in getattr(bunch, "feature_names", [])] or [f"x{j}" for j in range(bunch.data.shape[1])]
    task = "regression" if name == "diabetes" else "classification"
    y = bunch.target.astype(np.float64 if task == "regression" else np.int64)
    title = next((line.strip() for line in bunch.DESCR.splitlines() if line.strip() and not line.startswith("..")),
                 name)
    return Dataset(name, bunch.data.astype(np.float64), y, names, task, title)


def _synthetic(name: str, n_samples: int, noise: float, seed: int) -> Dataset:
    from sklearn.datasets import make_circles, make_moons

    rng = np.random.default_rng(seed)
    if name == "moons":
        x, y = make_moons(n_samples, noise=noise, random_state=seed)
    elif name == "circles":
        x, y = make_circles(n_samples, noise=noise, factor=0.5, random_state=seed)
    elif name == "xor":
        x = rng.uniform(-1, 1, size=(n_samples, 2))
        y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
        x = x + rng.normal(0, noise, size=x.shape)
    else:  # spirals: three interleaved arms
        arms = 3
        t = rng.uniform(0.05, 1.0, size=n_samples)
        y = rng.integers(0, arms, size=n_samples)
        angle = 4.0 * t + 2.0 * np.pi * y / arms
        x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) + rng.normal(0, noise, size=(n_samples, 2))
    return Dataset(name, x.astype(np.float64), y.astype(np.int64), ["x0", "x1"], "classification",
                   f"synthetic 2-D {name} problem ({n_samples} points)")


SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
SYNTHETIC_DATASETS = ("xor", "moons", "circles", "spirals")
NAMES = SKLEARN_DATASETS + SYNTHETIC_DATASETS
DEFAULT = "digits"


def load(name: str, *, n_samples: int = 1000, noise: float = 0.1, random_state: int = 0) -> Dataset:
    """The built-in data set ``name``; synthetic ones take a size, noise level and seed."""
    if name not in NAMES:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(NAMES)}")
    if name in SKLEARN_DATASETS:
        return _sklearn(name)
    if n_samples < 4:
        raise ValueError(f"n_samples must be at least 4, got {n_samples}")
    return _synthetic(name, n_samples, noise, random_state)
