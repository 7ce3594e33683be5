"""The command line's preprocessing: a scikit-learn pipeline that standardizes numbers, one-hot encodes categories
and flags missing values, chosen from the training table.

:func:`column_kinds` decides each column's kind (numbers, numbers with a few typos, or categories) with the
warnings a person needs; :func:`make_preprocessor` builds the pipeline: glassnet's :class:`TableColumns`, which
reads each column as its kind, then a ColumnTransformer of scikit-learn's StandardScaler and SimpleImputer (missing
numbers become the training mean), OneHotEncoder (unseen categories become all zeros; a missing category is the
category "", a flag of its own) and MissingIndicator (one flag per numeric column with missing values in training).
The model file stores this pipeline with the network; ``gn.load`` gives it back.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..estimators.table import TYPO_SHARE, TableColumns, category_text, column_values, missing_mask, parse_numbers
from ..estimators.table import typos as _typos

TASKS = ("classification", "regression")
MISSING_POLICIES = ("impute", "error")


def columns_of(data: Any) -> dict[str, np.ndarray]:
    """A table as {column name: 1-D array}: float64 for numeric and boolean columns, object otherwise.

    ``data`` is a pandas DataFrame, a mapping of column name to 1-D array, or a 2-D array.
    """
    if isinstance(data, dict):
        return {str(k): np.asarray(v, dtype=np.float64 if np.asarray(v).dtype.kind in "biuf" else object)
                for k, v in data.items()}
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        names = [str(c) for c in data.columns]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate column names {dupes}")
        return {name: column_values(data[col]) for name, col in zip(names, data.columns, strict=True)}
    a = np.asarray(data)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D table of features, got an array of shape {a.shape}")
    kind_numeric = a.dtype.kind in "biuf"
    return {f"x{j}": a[:, j].astype(np.float64 if kind_numeric else object) for j in range(a.shape[1])}


def column_kinds(data: Any, categorical: list[str] = (), missing: str = "impute") -> tuple[list[str], list[str]]:
    """(numeric columns, categorical columns) of the training table ``data``, refusing what cannot be learned.

    Numbers are numeric unless named in ``categorical``; a text column whose values are numbers but for a few
    typos (at most a tenth) is numeric, the typos missing, with a warning naming them; other text is categorical.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {list(MISSING_POLICIES)}, got {missing!r}")
    table = columns_of(data)
    unknown = sorted(set(categorical) - set(table))
    if unknown:
        raise ValueError(f"categorical columns {unknown} are not in the data")
    if not table:
        raise ValueError("the data has no feature columns")
    table = {name: _numbers_with_typos(name, v, categorical, missing) for name, v in table.items()}
    with_missing = [name for name, v in table.items() if missing_mask(v).any()]
    if with_missing and missing == "error":
        raise ValueError(f"missing values in columns {with_missing}; fill them in or impute them "
                         "(missing='impute')")
    numeric, texts = [], []
    for name, values in table.items():
        mask = missing_mask(values)
        if mask.all():
            raise ValueError(f"column {name!r} has no values (all missing)")
        if values.dtype.kind == "f" and name not in categorical:
            if not np.isfinite(values[~mask]).all():
                raise ValueError(f"column {name!r} holds infinite values")
            numeric.append(name)
            continue
        n_categories = len({category_text(v) for v in values[~mask]})
        if n_categories > max(50, 0.5 * len(values)):
            warnings.warn(f"column {name!r} has {n_categories} distinct values and looks like an identifier; its "
                          "one-hot encoding will not generalize (drop it?)", UserWarning, stacklevel=2)
        texts.append(name)
    return numeric, texts


def _numbers_with_typos(name: str, values: np.ndarray, categorical: Any, missing: str) -> np.ndarray:
    """A text column whose values are numbers but for a few typos ("39,1", "4O.2") becomes numeric, the typos
    missing (with a warning naming them); other columns are returned as they are."""
    if values.dtype.kind == "f" or name in categorical:
        return values
    numbers, bad = parse_numbers(values)
    present = int((~missing_mask(values)).sum())
    if not 0 < bad.sum() <= TYPO_SHARE * present:
        return values
    if missing == "error":
        raise ValueError(f"column {name!r}: {_typos(values, bad)}; fix them, or treat the column as text "
                         "(categorical)")
    warnings.warn(f"column {name!r}: {_typos(values, bad)}; the column is read as numeric with those missing "
                  f"(--categorical {name} keeps it as text)", UserWarning, stacklevel=4)
    return numbers


def make_preprocessor(numeric: list[str], categorical: list[str], missing: str = "impute") -> Any:
    """The unfitted preprocessing pipeline for these columns: TableColumns, then a ColumnTransformer whose output
    is the standardized numbers, the categories' one-hot blocks, and one flag per numeric column with missing
    values in training."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    scale = Pipeline([("scale", StandardScaler()), ("impute", SimpleImputer(strategy="constant", fill_value=0.0))])
    features = ColumnTransformer([
        ("numeric", scale, list(numeric)),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(categorical)),
        ("missing", MissingIndicator(features="missing-only", error_on_new=False), list(numeric))])
    return Pipeline([("columns", TableColumns(list(numeric), list(categorical), missing)), ("features", features)])


def fit_preprocessor(data: Any, *, missing: str = "impute", categorical: list[str] = ()) -> Any:
    """The preprocessing pipeline for the training table ``data``, fitted (:func:`column_kinds` decides the kinds)."""
    from .tables import import_pandas

    pd = import_pandas()
    numeric, texts = column_kinds(data, categorical, missing)
    with warnings.catch_warnings():  # column_kinds has said it; the pipeline's fit would say it again
        warnings.filterwarnings("ignore", ".*; treated as missing", UserWarning)
        return make_preprocessor(numeric, texts, missing).fit(pd.DataFrame(columns_of(data)))


def describe(pipeline: Any) -> list[dict[str, Any]]:
    """One record per input column of a pipeline that starts with TableColumns: name, kind, mean and scale or
    categories, and whether it had missing values in training (empty for any other pipeline)."""
    table = pipeline[0] if hasattr(pipeline, "steps") else None
    if not isinstance(table, TableColumns):
        return []
    stats = {}
    features = pipeline.steps[1][1] if len(pipeline.steps) > 1 else None
    numeric = getattr(features, "named_transformers_", {}).get("numeric")
    if table.numeric and hasattr(numeric, "named_steps") and hasattr(numeric.named_steps.get("scale"), "mean_"):
        scaler = numeric.named_steps["scale"]
        stats = {name: (float(m), float(s)) for name, m, s in zip(table.numeric, scaler.mean_, scaler.scale_,
                                                                  strict=True)}
    records = []
    for name in table.numeric:
        mean, scale = stats.get(name, (None, None))
        records.append({"name": name, "kind": "numeric", "mean": mean, "scale": scale})
    records += [{"name": name, "kind": "categorical", "categories": list(table.categories_[name])}
                for name in table.categorical]
    for r in records:
        r["missing_flag"] = r["name"] in table.missing_in_fit_
    return records


def output_columns(pipeline: Any) -> list[str]:
    """The original column behind each feature the pipeline outputs, in order: a one-hot block and a missing-value
    flag belong to their column (attributions are summed back to the columns by it)."""
    table, features = pipeline[0], pipeline.steps[1][1]
    names = list(table.numeric)
    encoder = features.named_transformers_.get("categorical")
    if table.categorical and hasattr(encoder, "categories_"):
        names += [name for name, cats in zip(table.categorical, encoder.categories_, strict=True) for _ in cats]
    indicator = features.named_transformers_.get("missing")
    if table.numeric and hasattr(indicator, "features_"):
        names += [table.numeric[i] for i in indicator.features_]
    return names


def summary(pipeline: Any) -> str:
    """One line per input column: kind, mean/scale or number of categories, missing-value flag."""
    lines = []
    for c in describe(pipeline):
        flag = ", missing-value flag" if c["missing_flag"] else ""
        if c["kind"] == "numeric" and c["mean"] is not None:
            lines.append(f"{c['name']}: numeric, mean {c['mean']:.4g}, scale {c['scale']:.4g}{flag}")
        elif c["kind"] == "numeric":
            lines.append(f"{c['name']}: numeric{flag}")
        else:
            cats = ", ".join(c["categories"][:5]) + (", ..." if len(c["categories"]) > 5 else "")
            lines.append(f"{c['name']}: categorical, {len(c['categories'])} categories ({cats}){flag}")
    return "\n".join(lines)


# ---------------------------------------------------------------- targets

def infer_task(y: Any) -> str:
    """'classification' for text, boolean or few-valued integer targets, 'regression' otherwise."""
    y = np.asarray(y)
    if y.dtype.kind not in "iuf":
        return "classification"
    values = y[~np.isnan(y)] if y.dtype.kind == "f" else y
    if not np.all(np.mod(values, 1) == 0):
        return "regression"
    n_unique = len(np.unique(values))
    return "classification" if n_unique <= 20 and (n_unique <= 2 or n_unique <= 0.5 * len(values)) else "regression"


def check_target(name: str, y: Any) -> np.ndarray:
    """``y`` as an array, refusing missing values with a message naming the column."""
    y = np.asarray(y)
    n_missing = int(missing_mask(y).sum())
    if n_missing:
        raise ValueError(f"target column {name!r} has {n_missing} missing values; drop or fill those rows")
    return y


class LabelEncoder:
    """Maps class labels (text, numbers, booleans) to 0..K-1 and back; JSON-serializable."""

    def __init__(self, classes: list[Any] | None = None) -> None:
        self.classes = list(classes) if classes is not None else None

    @staticmethod
    def _plain(v: Any) -> Any:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, np.integer)):
            return int(v)
        if isinstance(v, (float, np.floating)):
            return int(v) if float(v).is_integer() else float(v)
        return str(v)

    def fit(self, y: Any) -> LabelEncoder:
        """Learn the sorted set of labels in ``y``."""
        labels = {self._plain(v) for v in np.asarray(y).ravel().tolist()}
        if len(labels) < 2:
            raise ValueError(f"classification needs at least two classes, the target has {sorted(labels, key=str)}")
        kinds = {type(v) for v in labels}
        self.classes = sorted(labels) if len(kinds) == 1 else sorted(labels, key=str)
        return self

    def transform(self, y: Any) -> np.ndarray:
        """int64 class indices; unknown labels raise an error naming them."""
        index = {v: i for i, v in enumerate(self.classes)}
        plain = [self._plain(v) for v in np.asarray(y).ravel().tolist()]
        unknown = sorted({v for v in plain if v not in index}, key=str)
        if unknown:
            raise ValueError(f"labels {unknown[:5]} were not seen in training (known: {self.classes[:10]})")
        return np.array([index[v] for v in plain], dtype=np.int64)

    def inverse_transform(self, idx: Any) -> np.ndarray:
        """The labels for class indices ``idx``."""
        return np.array(self.classes, dtype=object)[np.asarray(idx, dtype=np.int64)]

    def to_dict(self) -> dict[str, Any]:
        return {"classes": list(self.classes)}

    @classmethod
    def from_dict(cls, d: Any) -> LabelEncoder:
        if not isinstance(d, dict) or not isinstance(d.get("classes"), list) or len(d["classes"]) < 2:
            raise ValueError("invalid label description: needs a list of at least two classes")
        if not all(isinstance(v, (str, int, float, bool)) for v in d["classes"]):
            raise ValueError("invalid label description: classes must be strings, numbers or booleans")
        return cls(d["classes"])
