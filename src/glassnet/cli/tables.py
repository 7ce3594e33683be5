"""Data tables for the command line: CSV, TSV and Parquet files read and written through pandas.

A CSV file's delimiter (comma, semicolon, tab or bar; a semicolon file may use decimal commas) and encoding
(UTF-8, else Latin-1) are detected; ``-`` reads CSV from standard input. Duplicate column names are refused
(pandas would rename them silently), and Parquet's exact decimals are read as numbers.
"""

from __future__ import annotations

import decimal
import functools
import io as pyio
import os
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


@functools.cache
def stdin_bytes() -> bytes:
    """Standard input, read once (a run reads its data twice: to train and to fingerprint it)."""
    return sys.stdin.buffer.read()


def _read_csv(pd: Any, source: Any, sep: str, encoding: str) -> Any:
    """Read delimited text. A file read as one column whose name holds ``;``, tab or ``|`` is split by that;
    a semicolon file whose numbers have decimal commas ("3,5") and no decimal points is read with decimal ``,``."""
    names = pd.read_csv(_rewound(source), sep=sep, nrows=0, encoding=encoding).columns
    if len(names) == 1 and any(c in str(names[0]) for c in ";\t|"):
        sep = max(";\t|", key=str(names[0]).count)
    decimal = "."
    if sep == ";":
        values = pd.read_csv(_rewound(source), sep=sep, nrows=200, dtype=str, encoding=encoding).stack()
        comma, point = (values.str.fullmatch(rf"[-+]?\d*\{mark}\d+").any() for mark in ",.")
        decimal = "," if comma and not point else "."
    header = pd.read_csv(_rewound(source), sep=sep, header=None, nrows=1, dtype=str, encoding=encoding,
                         keep_default_na=False)
    _refuse_duplicates([str(v) for v in header.iloc[0]] if len(header) else [])
    return pd.read_csv(_rewound(source), sep=sep, decimal=decimal, encoding=encoding)


def _refuse_duplicates(names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate column names {dupes[:10]}; every column needs a name of its own")


def _decimals_as_numbers(df: Any) -> Any:
    """Columns of exact decimals (Parquet's decimal type, read by pandas as Python Decimal objects) as floats."""
    for name in df.select_dtypes(include="object").columns:
        present = df[name].dropna()
        if len(present) and all(isinstance(v, decimal.Decimal) for v in present):
            df[name] = df[name].astype("float64")
    return df


def _rewound(source: Any) -> Any:
    if isinstance(source, pyio.BytesIO):
        source.seek(0)
    return source


def read_table(path: str | Path) -> Any:
    """A pandas DataFrame from a CSV, TSV or Parquet file (``-``: CSV on standard input), with clear errors."""
    if str(path) == "-":
        path, fmt, source = Path("-"), "csv", pyio.BytesIO(stdin_bytes())
    else:
        path = Path(path)
        fmt, source = _table_format(path), path
        if not path.exists():
            raise UsageError(f"data file {path} does not exist")
        if not path.is_file():
            raise UsageError(f"{path} is not a file")
    pd = import_pandas()
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            _refuse_duplicates([str(c) for c in pq.read_schema(path).names])
            return _decimals_as_numbers(pd.read_parquet(path))
        sep = "\t" if fmt == "tsv" else ","
        try:
            return _read_csv(pd, source, sep, "utf-8")
        except UnicodeDecodeError:  # not UTF-8: Latin-1 decodes any bytes
            return _read_csv(pd, source, sep, "latin-1")
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
    if path.is_dir():
        raise UsageError(f"--output {path} is a directory; give a file name")
    if os.path.lexists(path) and not force:
        raise UsageError(f"{path} already exists; pass --force to replace it")
    # written whole, then renamed into place (or, without --force, linked: never over a file made meanwhile)
    blob = df.to_parquet(index=False) if fmt == "parquet" else \
        df.to_csv(index=False, sep="\t" if fmt == "tsv" else ",").encode()
    try:
        io.atomic_write(path, blob, overwrite=force)
    except FileExistsError:
        raise UsageError(f"{path} already exists; pass --force to replace it") from None
