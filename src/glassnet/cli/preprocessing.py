"""Table preprocessing stored with a model: standardize numbers, one-hot categories, flag missing values.

Everything a fitted preprocessor knows is plain JSON (``to_dict``/``from_dict``), so it travels in
the model file's header. Output columns are ordered: standardized numeric columns, then each
categorical column's one-hot block, then one 0/1 missing-value flag per column that had missing
values in training. Input is a pandas DataFrame, a mapping of column name to 1-D array, or a 2-D NumPy array
(columns ``x0, x1, ...``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

TASKS = ("classification", "regression")
MISSING_POLICIES = ("impute", "error")


def missing_mask(values: np.ndarray) -> np.ndarray:
    """True where a column's value is missing (NaN, None, pandas NA)."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    try:
        import pandas as pd

        return np.asarray(pd.isna(values), dtype=bool)
    except ImportError:
        return np.array([v is None or (isinstance(v, float) and v != v) for v in values], dtype=bool)


def columns_of(data: Any) -> dict[str, np.ndarray]:
    """A table as {column name: 1-D array}: float64 for numeric and boolean columns, object otherwise.

    ``data`` is a pandas DataFrame, a mapping of column name to 1-D array, or a 2-D array.
    """
    if isinstance(data, dict):
        return {str(k): np.asarray(v, dtype=np.float64 if np.asarray(v).dtype.kind in "biuf" else object)
                for k, v in data.items()}
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        import pandas as pd

        names = [str(c) for c in data.columns]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"duplicate column names {dupes}")
        out = {}
        for name, col in zip(names, data.columns, strict=True):
            s = data[col]
            if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s)
                                                 and not isinstance(s.dtype, pd.CategoricalDtype)):
                out[name] = s.to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                out[name] = s.to_numpy(dtype=object)
        return out
    a = np.asarray(data)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D table of features, got an array of shape {a.shape}")
    kind_numeric = a.dtype.kind in "biuf"
    return {f"x{j}": a[:, j].astype(np.float64 if kind_numeric else object) for j in range(a.shape[1])}


def parse_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, mask of the entries that are present but not numbers) of one column."""
    if values.dtype.kind == "f":
        return values, np.zeros(len(values), dtype=bool)
    mask = missing_mask(values)
    out = np.full(len(values), np.nan)
    for i in np.flatnonzero(~mask):
        try:
            out[i] = float(values[i])
        except (TypeError, ValueError):
            pass
    return out, ~mask & np.isnan(out)


def _typos(values: np.ndarray, bad: np.ndarray) -> str:
    shown = ", ".join(repr(v) for v in values[bad][:5]) + (", ..." if bad.sum() > 5 else "")
    return f"{int(bad.sum())} of {len(values)} values are not numbers ({shown})"


# a column whose present values are numbers except for at most this share is numeric, the rest missing
TYPO_SHARE = 0.1


class Preprocessor:
    """Standardizes numeric columns, one-hot encodes categorical ones, imputes and flags missing values.

    ``missing="impute"`` fills numbers with the training mean and categories with all-zero one-hots and
    adds a flag column; ``missing="error"`` refuses missing values, naming the columns. Unknown
    categories at transform time become all-zero one-hots (with a warning), never a crash.
    ``categorical`` forces numeric-looking columns (codes, zip codes) to be treated as categories.
    """

    def __init__(self, missing: str = "impute", categorical: list[str] | None = None) -> None:
        if missing not in MISSING_POLICIES:
            raise ValueError(f"missing must be one of {list(MISSING_POLICIES)}, got {missing!r}")
        self.missing = missing
        self.categorical = list(categorical or [])
        self.columns: list[dict[str, Any]] = []

    def fit(self, data: Any) -> Preprocessor:
        """Learn column kinds, means, scales and categories from the training table ``data``."""
        table = columns_of(data)
        unknown = sorted(set(self.categorical) - set(table))
        if unknown:
            raise ValueError(f"categorical columns {unknown} are not in the data")
        if not table:
            raise ValueError("the data has no feature columns")
        table = {name: self._numbers_with_typos(name, v) for name, v in table.items()}
        with_missing = [name for name, v in table.items() if missing_mask(v).any()]
        if with_missing and self.missing == "error":
            raise ValueError(f"missing values in columns {with_missing}; fill them in or impute them "
                             "(missing='impute')")
        self.columns = []
        for name, values in table.items():
            mask = missing_mask(values)
            if mask.all():
                raise ValueError(f"column {name!r} has no values (all missing)")
            col: dict[str, Any] = {"name": name, "missing_flag": bool(mask.any())}
            if values.dtype.kind == "f" and name not in self.categorical:
                finite = values[~mask]
                if not np.isfinite(finite).all():
                    raise ValueError(f"column {name!r} holds infinite values")
                scale = float(finite.std())
                col.update(kind="numeric", mean=float(finite.mean()), scale=scale if scale > 0 else 1.0)
            else:
                col.update(kind="categorical", categories=sorted({category_text(v) for v in values[~mask]}))
                if len(col["categories"]) > max(50, 0.5 * len(values)):
                    warnings.warn(f"column {name!r} has {len(col['categories'])} distinct values and looks like an "
                                  "identifier; its one-hot encoding will not generalize (drop it?)", UserWarning,
                                  stacklevel=2)
            self.columns.append(col)
        return self

    def _numbers_with_typos(self, name: str, values: np.ndarray) -> np.ndarray:
        """A text column whose values are numbers but for a few typos ("39,1", "4O.2") becomes numeric, the typos
        missing (with a warning naming them); other columns are returned as they are."""
        if values.dtype.kind == "f" or name in self.categorical:
            return values
        numbers, bad = parse_numbers(values)
        present = int((~missing_mask(values)).sum())
        if not 0 < bad.sum() <= TYPO_SHARE * present:
            return values
        if self.missing == "error":
            raise ValueError(f"column {name!r}: {_typos(values, bad)}; fix them, or treat the column as text "
                             "(categorical)")
        warnings.warn(f"column {name!r}: {_typos(values, bad)}; the column is read as numeric with those missing "
                      f"(--categorical {name} keeps it as text)", UserWarning, stacklevel=3)
        return numbers

    @property
    def feature_names_out(self) -> list[str]:
        """Names of the output columns, in order."""
        self._check_fitted()
        names = [c["name"] for c in self.columns if c["kind"] == "numeric"]
        for c in self.columns:
            if c["kind"] == "categorical":
                names += [f"{c['name']}={cat}" for cat in c["categories"]]
        return names + [f"{c['name']}__missing" for c in self.columns if c["missing_flag"]]

    @property
    def feature_columns(self) -> list[str]:
        """The original column behind each output column, in order: a one-hot block and a missing-value flag
        belong to their column (attributions are summed back to the columns by it)."""
        self._check_fitted()
        names = [c["name"] for c in self.columns if c["kind"] == "numeric"]
        for c in self.columns:
            if c["kind"] == "categorical":
                names += [c["name"]] * len(c["categories"])
        return names + [c["name"] for c in self.columns if c["missing_flag"]]

    def _check_fitted(self) -> None:
        if not self.columns:
            raise ValueError("this Preprocessor is not fitted yet; call fit() first")

    def transform(self, data: Any) -> np.ndarray:
        """The float32 feature matrix for table ``data`` (extra columns are ignored)."""
        self._check_fitted()
        table = columns_of(data)
        absent = [c["name"] for c in self.columns if c["name"] not in table]
        if absent:
            raise ValueError(f"the data lacks columns {absent} that the model was trained on")
        n = len(next(iter(table.values())))
        numeric, onehots, flags, new_missing, unknown = [], [], [], [], {}
        for c in self.columns:
            values = table[c["name"]]
            if c["kind"] == "numeric":
                values = self._numeric_values(c["name"], values)
            mask = missing_mask(values)
            if mask.any() and not c["missing_flag"]:
                new_missing.append(c["name"])
            if c["kind"] == "numeric":
                numeric.append((np.where(mask, c["mean"], values) - c["mean"]) / c["scale"])
            else:
                index = {cat: i for i, cat in enumerate(c["categories"])}
                codes = np.array([index.get(category_text(v), -1) for v in values], dtype=np.int64)
                known = (codes >= 0) & ~mask
                block = np.zeros((n, len(index)))
                block[np.flatnonzero(known), codes[known]] = 1.0
                if (~known & ~mask).any():
                    unknown[c["name"]] = int((~known & ~mask).sum())
                onehots.append(block)
            if c["missing_flag"]:
                flags.append(mask.astype(np.float64))
        if new_missing and self.missing == "error":
            raise ValueError(f"missing values in columns {new_missing}")
        if new_missing:
            warnings.warn(f"missing values in columns {new_missing}, which had none in training; "
                          "imputed without a flag", UserWarning, stacklevel=2)
        if unknown:
            warnings.warn(f"categories not seen in training (encoded as all zeros): {unknown}", UserWarning,
                          stacklevel=2)
        parts = [np.stack(numeric, axis=1)] if numeric else []
        parts += onehots + ([np.stack(flags, axis=1)] if flags else [])
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((n, 0), np.float32)

    def _numeric_values(self, name: str, values: np.ndarray) -> np.ndarray:
        """A numeric column's values as floats: a few typos become missing (with a warning), more are an error."""
        numbers, bad = parse_numbers(values)
        if not bad.any():
            return numbers
        if bad.sum() > TYPO_SHARE * (~missing_mask(values)).sum() or self.missing == "error":
            raise ValueError(f"column {name!r} was numeric in training but {_typos(values, bad)} now")
        warnings.warn(f"column {name!r}: {_typos(values, bad)}; treated as missing", UserWarning, stacklevel=3)
        return numbers

    def fit_transform(self, data: Any) -> np.ndarray:
        """fit(data) then transform(data)."""
        return self.fit(data).transform(data)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as plain JSON data."""
        self._check_fitted()
        return {"type": "tabular", "version": 1, "missing": self.missing, "columns": [dict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, d: Any) -> Preprocessor:
        """Rebuild from :meth:`to_dict`'s output, checking every field."""
        if not isinstance(d, dict) or d.get("type") != "tabular" or d.get("version") != 1:
            raise ValueError("invalid preprocessing description: not a version-1 tabular preprocessor")
        self = cls(missing=d.get("missing", "impute"))
        columns = d.get("columns")
        if not isinstance(columns, list) or not columns:
            raise ValueError("invalid preprocessing description: no columns")
        for c in columns:
            ok = isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("missing_flag"), bool)
            if ok and c.get("kind") == "numeric":
                ok = all(isinstance(c.get(k), (int, float)) and np.isfinite(c[k]) for k in ("mean", "scale"))
                ok = ok and c["scale"] > 0
            elif ok and c.get("kind") == "categorical":
                ok = isinstance(c.get("categories"), list) and all(isinstance(v, str) for v in c["categories"])
            else:
                ok = False
            if not ok:
                raise ValueError(f"invalid preprocessing description for column {c!r}")
            self.columns.append(dict(c))
        return self

    def summary(self) -> str:
        """One line per column: kind, mean/scale or number of categories, missing flag."""
        lines = []
        for c in self.columns:
            flag = ", missing-value flag" if c["missing_flag"] else ""
            if c["kind"] == "numeric":
                lines.append(f"{c['name']}: numeric, mean {c['mean']:.4g}, scale {c['scale']:.4g}{flag}")
            else:
                cats = ", ".join(c["categories"][:5]) + (", ..." if len(c["categories"]) > 5 else "")
                lines.append(f"{c['name']}: categorical, {len(c['categories'])} categories ({cats}){flag}")
        return "\n".join(lines)


def category_text(v: Any) -> str:
    """The canonical string of a category value (integral floats lose their '.0')."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


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
