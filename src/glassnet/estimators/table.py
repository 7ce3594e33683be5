"""TableColumns: the first step of a pipeline on a table, reading each column as the kind it had in training.

Numeric columns become floats, NaN where missing; a value that is not a number (a typo such as ``"39,1"`` or
``"4O.2"``) counts as missing, with a warning naming it, and more than a tenth of them is an error. Categorical
columns become text, ``""`` where missing (whole numbers lose their ``.0``: 3 and 3.0 are one category). What
scikit-learn's transformers after it need (scaling, one-hot encoding, missing-value flags) is then plain data, and
the warnings a person needs (typos, unseen categories, missing values where training had none) name the columns.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

# a column whose present values are numbers except for at most this share is numeric, the rest missing
TYPO_SHARE = 0.1


def missing_mask(values: np.ndarray) -> np.ndarray:
    """True where a column's value is missing (NaN, None, pandas NA)."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    import pandas as pd

    return np.asarray(pd.isna(values), dtype=bool)


def column_values(column: Any) -> np.ndarray:
    """A pandas column as a 1-D array: float64 for numeric and boolean columns (NaN for missing), object otherwise."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column) or (pd.api.types.is_numeric_dtype(column)
                                              and not isinstance(column.dtype, pd.CategoricalDtype)):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return column.to_numpy(dtype=object)


def category_text(v: Any) -> str:
    """The canonical string of a category value (integral floats lose their '.0')."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


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


def typos(values: np.ndarray, bad: np.ndarray) -> str:
    """'2 of 40 values are not numbers ('39,1', '4O.2')': the entries ``bad`` marks, for a message."""
    shown = ", ".join(repr(v) for v in values[bad][:5]) + (", ..." if bad.sum() > 5 else "")
    return f"{int(bad.sum())} of {len(values)} values are not numbers ({shown})"


def table_of(data: Any) -> Any:
    """``data`` (a pandas DataFrame or a mapping of column name to 1-D array) as a DataFrame with text column names."""
    import pandas as pd

    if isinstance(data, Mapping):
        data = pd.DataFrame({str(k): np.asarray(v) for k, v in data.items()})
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"expected a table (a pandas DataFrame or a mapping of columns), got {type(data).__name__}")
    names = [str(c) for c in data.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate column names {sorted({n for n in names if names.count(n) > 1})}")
    return data.set_axis(names, axis=1)


class TableColumns(TransformerMixin, BaseEstimator):
    """Selects a table's ``numeric`` and ``categorical`` columns and reads each as its kind: a DataFrame of floats
    (NaN for missing) and texts ("" for missing), in that order; other columns are ignored.

    ``missing="error"`` refuses missing values (naming the columns) instead of passing them on. Fitted attributes:
    ``categories_`` (each categorical column's sorted texts) and ``missing_in_fit_`` (the columns that had missing
    values in training), used only for the warnings about what training did not see.
    """

    _parameter_constraints: ClassVar[dict] = {"numeric": [list, tuple], "categorical": [list, tuple],
                                              "missing": [StrOptions({"impute", "error"})]}

    def __init__(self, numeric: Any = (), categorical: Any = (), missing: str = "impute") -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.missing = missing

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any = None) -> TableColumns:
        """Learn each categorical column's categories and which columns have missing values."""
        columns = self._read(X, fitting=True)
        with_missing = [name for name, (_, mask) in columns.items() if mask.any()]
        if with_missing and self.missing == "error":
            raise ValueError(f"missing values in columns {with_missing}; fill them in or impute them "
                             "(missing='impute')")
        self.categories_ = {name: sorted(set(columns[name][0][~columns[name][1]].tolist()))
                            for name in self.categorical}
        self.missing_in_fit_ = with_missing
        self.feature_names_in_ = np.asarray([*self.numeric, *self.categorical], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: Any) -> Any:
        """The table's model columns, read as their kinds (warnings name what training did not see)."""
        import pandas as pd

        check_is_fitted(self)
        columns = self._read(X, fitting=False)
        new_missing = [name for name, (_, mask) in columns.items() if mask.any() and name not in self.missing_in_fit_]
        if new_missing and self.missing == "error":
            raise ValueError(f"missing values in columns {new_missing}")
        if new_missing:
            warnings.warn(f"missing values in columns {new_missing}, which had none in training; "
                          "imputed without a flag", UserWarning, stacklevel=3)
        unknown = {}
        for name in self.categorical:
            text, mask = columns[name]
            unseen = int((~mask & ~pd.Series(text).isin(self.categories_[name]).to_numpy()).sum())
            if unseen:
                unknown[name] = unseen
        if unknown:
            warnings.warn(f"categories not seen in training (encoded as all zeros): {unknown}", UserWarning,
                          stacklevel=3)
        return pd.DataFrame({name: values for name, (values, _) in columns.items()})

    def _read(self, X: Any, fitting: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{column: (values as its kind, missing mask)} for every model column of table ``X``."""
        import pandas as pd

        table = table_of(X)
        absent = [name for name in [*self.numeric, *self.categorical] if name not in table.columns]
        if absent:
            raise ValueError(f"the data lacks columns {absent} that the model was trained on")
        out = {}
        for name in self.numeric:
            values = self._numbers(name, column_values(table[name]), fitting)
            out[name] = values, np.isnan(values)
        for name in self.categorical:
            codes, uniques = pd.factorize(column_values(table[name]))  # missing values get code -1
            texts = np.array([category_text(v) for v in uniques] + [""], dtype=object)
            out[name] = texts[codes], codes < 0
        return out

    def _numbers(self, name: str, values: np.ndarray, fitting: bool) -> np.ndarray:
        """A numeric column's values as floats: a few typos become missing (with a warning), more are an error."""
        numbers, bad = parse_numbers(values)
        if not bad.any():
            return numbers
        if bad.sum() > TYPO_SHARE * (~missing_mask(values)).sum() or self.missing == "error":
            when = "is numeric" if fitting else "was numeric in training"
            raise ValueError(f"column {name!r} {when} but {typos(values, bad)}" + ("" if fitting else " now"))
        warnings.warn(f"column {name!r}: {typos(values, bad)}; treated as missing", UserWarning, stacklevel=4)
        return numbers

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output columns: the numeric ones, then the categorical ones."""
        check_is_fitted(self)
        return self.feature_names_in_.copy()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        return tags
