"""A table kept in Ray's object store, and the pipeline step that reads rows of it, so that a search on Ray
sends its data to the cluster once: each trial receives row numbers and a reference, and each worker process
fetches the table once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

_fetched: dict[str, Any] = {}  # this process's copies of the stored tables, by object reference


class StoredTable:
    """A reference to a table (a NumPy array or a pandas DataFrame) in Ray's object store; copying it copies
    the reference, never the table."""

    def __init__(self, ref: Any) -> None:
        self.ref = ref

    def __deepcopy__(self, memo: dict) -> StoredTable:
        return self

    def get(self) -> Any:
        """The table, fetched from the object store on this process's first use."""
        key = self.ref.hex()
        if key not in _fetched:
            import ray

            _fetched[key] = ray.get(self.ref)
        return _fetched[key]


class StoredRows(TransformerMixin, BaseEstimator):
    """The first step of a search pipeline on Ray: its input is a column of row numbers, its output those rows of
    the stored table."""

    def __init__(self, table: StoredTable | None = None) -> None:
        self.table = table

    @classmethod
    def put(cls, table: Any) -> StoredRows:
        """Put ``table`` in the object store (once) and return the step that reads it."""
        import ray

        return cls(StoredTable(ray.put(table)))

    def fit(self, X: Any, y: Any = None) -> StoredRows:
        """Nothing to learn."""
        return self

    def transform(self, X: Any) -> Any:
        """The stored table's rows numbered in the one column of ``X``."""
        rows = np.asarray(X).ravel()
        table = self.table.get()
        return table.iloc[rows] if hasattr(table, "iloc") else table[rows]
