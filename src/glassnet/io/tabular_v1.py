"""Command-line model files written before the command line saved pipelines: their "tabular" preprocessing.

Such a file holds an estimator fitted on class indices and, in its metadata, the labels and the preprocessing:
per column either numeric (mean, scale) or categorical (its categories), and whether it had missing values.
Loading builds the scikit-learn pipeline this describes, with the same output columns in the same order (the
scaled numbers, each categorical column's one-hot block, then one flag per column that had missing values),
and gives the estimator the labels as its classes, so the pipeline predicts them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .estimators import name_classes
from .file_format import ModelFileError


def is_tabular_v1(meta: dict[str, Any]) -> bool:
    """True for the metadata of an estimator file with a version-1 tabular preprocessing description."""
    pre = meta.get("preprocessing")
    return meta.get("kind") == "estimator" and isinstance(pre, dict) and pre.get("type") == "tabular"


def _columns(pre: dict[str, Any]) -> list[dict[str, Any]]:
    """The description's columns, each checked."""
    columns = pre.get("columns")
    if pre.get("version") != 1 or pre.get("missing", "impute") not in ("impute", "error") or \
            not isinstance(columns, list) or not columns:
        raise ModelFileError("invalid preprocessing description: not a version-1 tabular preprocessor")
    for c in columns:
        ok = isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("missing_flag"), bool)
        if ok and c.get("kind") == "numeric":
            ok = all(isinstance(c.get(k), (int, float)) and np.isfinite(c[k]) for k in ("mean", "scale"))
            ok = ok and c["scale"] > 0
        elif ok and c.get("kind") == "categorical":
            ok = isinstance(c.get("categories"), list) and all(isinstance(v, str) for v in c["categories"])
            ok = ok and len(c["categories"]) > 0
        else:
            ok = False
        if not ok:
            raise ModelFileError(f"invalid preprocessing description for column {c!r}")
    return columns


def tabular_pipeline(est: Any, meta: dict[str, Any]) -> Any:
    """The pipeline (TableColumns, the transformers, ``est``) that an old command-line file's metadata describes."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from ..estimators import TableColumns

    columns = _columns(meta["preprocessing"])
    numeric = [c for c in columns if c["kind"] == "numeric"]
    categorical = [c for c in columns if c["kind"] == "categorical"]
    table = TableColumns([c["name"] for c in numeric], [c["name"] for c in categorical],
                         missing=meta["preprocessing"].get("missing", "impute"))
    table.categories_ = {c["name"]: list(c["categories"]) for c in categorical}
    table.missing_in_fit_ = [c["name"] for c in columns if c["missing_flag"]]
    table.feature_names_in_ = np.asarray(table.numeric + table.categorical, dtype=object)
    table.n_features_in_ = len(columns)
    flags = [(f"missing_{c['name']}", MissingIndicator(missing_values=np.nan if c["kind"] == "numeric" else "",
                                                       features="all"), [c["name"]])
             for c in columns if c["missing_flag"]]
    features = ColumnTransformer([
        ("numeric", Pipeline([("scale", StandardScaler()), ("impute", SimpleImputer(strategy="constant",
                                                                                    fill_value=0.0))]),
         table.numeric),
        ("categorical", OneHotEncoder(categories=[c["categories"] for c in categorical], handle_unknown="ignore",
                                      sparse_output=False), table.categorical),
        *flags])
    # fitted on one row (0 for numbers, each column's first category) for its layout, then given the statistics
    features.fit(pd.DataFrame({**{c["name"]: [0.0] for c in numeric},
                               **{c["name"]: pd.Series([c["categories"][0]], dtype=object) for c in categorical}}))
    if numeric:
        scaler = features.named_transformers_["numeric"]["scale"]
        scaler.mean_ = np.array([c["mean"] for c in numeric], dtype=np.float64)
        scaler.scale_ = np.array([c["scale"] for c in numeric], dtype=np.float64)
        scaler.var_ = scaler.scale_ ** 2
    if meta.get("labels"):
        name_classes(est, meta["labels"])
    return Pipeline([("columns", table), ("features", features), ("mlp", est)])
