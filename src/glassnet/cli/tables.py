"""Data tables for the command line: CSV, TSV and Parquet files read and written through pandas."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .. import io
from .errors import UsageError


def import_pandas() -> Any:
    """The pandas module, or a UsageError saying how to install it."""
    try:
        import pandas as pd
    except ImportError as e:
        raise UsageError("reading and writing CSV or Parquet files needs pandas and pyarrow: "
                         "pip install 'glassnet[data]'") from e
    return pd


def _table_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst", ".zip"):
        suffixes = suffixes[:-1]  # compressed CSV
    fmt = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise UsageError(f"{path}: unsupported file type {path.suffix or '(no suffix)'}; use .csv, .tsv or .parquet")
    return fmt


def read_table(path: str | Path) -> Any:
    """A pandas DataFrame from a CSV, TSV or Parquet file, with clear errors."""
    path = Path(path)
    fmt = _table_format(path)
    if not path.exists():
        raise UsageError(f"data file {path} does not exist")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    pd = import_pandas()
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except ImportError as e:
        raise UsageError(f"reading {path} needs pyarrow: pip install 'glassnet[data]'") from e
    except Exception as e:
        raise UsageError(f"could not read {path} as {fmt}: {e}") from e


def write_table(df: Any, path: str | Path | None, force: bool) -> None:
    """Write ``df`` as CSV/Parquet by suffix, or CSV to standard output when ``path`` is None."""
    if path is None:
        df.to_csv(sys.stdout, index=False)
        return
    path = Path(path)
    fmt = _table_format(path)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to replace it")
    # written whole, then renamed into place: never a half-written table
    if fmt == "parquet":
        io.atomic_write(path, df.to_parquet(index=False))
    else:
        io.atomic_write(path, df.to_csv(index=False, sep="\t" if fmt == "tsv" else ",").encode())
