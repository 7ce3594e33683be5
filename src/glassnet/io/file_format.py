"""The model file format: one safetensors file, its JSON metadata in the header, a SHA-256 per tensor and one
over the metadata.

The safetensors header's ``__metadata__`` holds, under ``glassnet``, one JSON document (format version,
glassnet version, kind, class, architecture, content and a table of every tensor's dtype, shape and SHA-256)
and, under ``glassnet_sha256``, the SHA-256 of that document: a changed byte anywhere in the weights or the
metadata is refused. The checksums give integrity, not authenticity (whoever changes a file can recompute
them); ``read_file(path, sha256=...)`` checks the whole file against a hash the caller trusts.

``read_file`` does work bounded by the file's size: it reads the 8-byte length and the header first, checks
that the declared tensors exactly tile the rest of the file and that the metadata fits its schema
(``header.py``), and only then reads the tensor data, which must match its checksums and be finite.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .atomic import atomic_write
from .errors import ModelFileError
from .header import KINDS, Table, check_header

__all__ = ["CHECKSUM_KEY", "FORMAT", "FORMAT_VERSION", "KINDS", "METADATA_KEY", "MODEL_KINDS", "ModelFileError",
           "file_sha256", "read_file", "sha256", "write_file"]

FORMAT = "glassnet-model"
FORMAT_VERSION = 2  # 2: the metadata has a checksum of its own (files of format 1 still load)
METADATA_KEY = "glassnet"
MODEL_KINDS = ("module", "estimator")  # files that predict: their weights must be finite
CHECKSUM_KEY = "glassnet_sha256"
_MAX_HEADER = 100 * 2**20
# safetensors' dtype names
_DTYPES = {"BOOL": "bool", "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64", "U8": "uint8",
           "U16": "uint16", "U32": "uint32", "U64": "uint64", "F16": "float16", "F32": "float32", "F64": "float64"}


def sha256(a: np.ndarray) -> str:
    """The hex SHA-256 of an array's bytes, as the tensor table stores it."""
    return hashlib.sha256(a.tobytes()).hexdigest()


def _text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a whole file (what ``sha256sum`` prints), read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _contiguous(a: np.ndarray) -> np.ndarray:
    # A C-ordered little-endian copy: safetensors 0.8 writes strided views (a transposed array,
    # a strided slice) in the wrong element order (upstream issue 825).
    a = np.asarray(a)
    return np.array(a, dtype=a.dtype.newbyteorder("<"), order="C", copy=True)


def write_file(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, Any], *,
               overwrite: bool = False) -> Path:
    """Write ``tensors`` and the JSON ``meta`` (plus a checksum table) atomically to one file. Without
    ``overwrite`` the file is created only if its name is free, even against a concurrent writer."""
    from safetensors.numpy import save as st_save

    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a model file")
    tensors = {k: _contiguous(v) for k, v in tensors.items()}
    if meta.get("kind") in MODEL_KINDS:
        for name, a in tensors.items():
            if a.dtype.kind == "f" and not np.isfinite(a).all():
                raise ValueError(f"cannot save {path}: tensor {name!r} holds NaN or infinite values")
    meta = {**meta, "tensors": {k: {"dtype": v.dtype.name, "shape": list(v.shape), "sha256": sha256(v)}
                                for k, v in tensors.items()}}
    text = json.dumps(meta)
    blob = st_save(tensors, metadata={METADATA_KEY: text, CHECKSUM_KEY: _text_sha256(text)})
    return atomic_write(path, blob, overwrite=overwrite)


# ---------------------------------------------------------------- reading

def _refuse_foreign(head: bytes, path: Path) -> None:
    # a safetensors header of 640, 896, 1152 or 1408 bytes starts like a pickle too; its JSON starts at byte 8
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") and head[8:9] != b"{":
        raise ModelFileError(f"{path} is a pickle file, not a glassnet model file; glassnet never unpickles")
    if head[:4] == b"PK\x03\x04":
        raise ModelFileError(f"{path} is a zip archive (PyTorch or joblib?), not a glassnet model file")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # two readers could disagree on which value counts
        raise ValueError("duplicate keys")
    return out


def _json(text: str | bytes) -> Any:
    return json.loads(text, object_pairs_hook=_unique_keys)


def read_file(path: str | os.PathLike, *, sha256: str | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a glassnet file: header, metadata checksum and schema, tensor layout, dtypes, shapes,
    tensor checksums, finite weights. ``sha256``: the hex SHA-256 the whole file must have (a trusted hash)."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    if sha256 is not None:
        _check_trusted(path, sha256)
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        header, meta = _read_header(f, size, path)
        n_data = size - f.tell()
        layout = _layout(header, n_data, path)
        _check_table(meta.get("tensors"), layout, path)
        check_metadata(meta, {name: (dtype, shape) for name, (dtype, shape, _, _) in layout.items()}, path)
        data = bytearray(n_data)
        view, filled = memoryview(data), 0
        while filled < n_data:
            got = f.readinto(view[filled:])
            if not got:
                raise ModelFileError(f"{path} is corrupt: it became shorter while it was read")
            filled += got
    return _tensors(data, layout, meta["tensors"], meta["kind"], path), meta


def _check_trusted(path: Path, expected: str) -> None:
    expected = expected.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {expected[:80]!r}")
    actual = file_sha256(path)
    if actual != expected:
        raise ModelFileError(f"{path} is not the file expected: its SHA-256 is {actual}, expected {expected}")


def _read_header(f: BinaryIO, size: int, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the safetensors header, the verified glassnet metadata), reading no more than the header."""
    head = f.read(9)
    _refuse_foreign(head, path)
    head = head[:8]
    f.seek(8)
    if len(head) < 8:
        raise ModelFileError(f"{path} is not a glassnet model file (only {len(head)} bytes)")
    (n,) = struct.unpack("<Q", head)
    if n > min(_MAX_HEADER, size - 8):
        raise ModelFileError(f"{path} is not a glassnet model file (no valid safetensors header)")
    try:
        header = _json(f.read(n))
        text = header["__metadata__"][METADATA_KEY]
        checksum = header["__metadata__"].get(CHECKSUM_KEY)
        meta = _json(text)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise ModelFileError(f"{path} is not a glassnet model file (its header has no glassnet metadata)") from e
    if checksum is not None and checksum != _text_sha256(text):
        raise ModelFileError(f"{path} is corrupt: its metadata does not match the metadata checksum")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        what = meta.get("format") if isinstance(meta, dict) else meta
        raise ModelFileError(f"{path} is not a glassnet model file (format {str(what)[:40]!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path}: invalid format version {str(version)[:40]!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} uses model format {version}, newer than this glassnet reads "
                             f"({FORMAT_VERSION}); upgrade glassnet")
    if version >= 2 and checksum is None:
        raise ModelFileError(f"{path} is corrupt: its metadata checksum is missing")
    if meta.get("kind") not in KINDS:
        raise ModelFileError(f"{path}: unknown kind {str(meta.get('kind'))[:40]!r}; expected one of {list(KINDS)}")
    return header, meta


def _layout(header: dict[str, Any], n_data: int, path: Path) -> dict[str, tuple[str, tuple[int, ...], int, int]]:
    """{name: (dtype, shape, begin, end)} of the tensors the safetensors header declares, after checking that
    their sizes add up and that they tile the data exactly, without overlaps or gaps."""
    layout = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = _DTYPES[entry["dtype"]], entry["shape"], entry["data_offsets"]
            ok = all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in [*shape, begin, end])
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok or not isinstance(shape, list) or len(shape) > 32:
            raise ModelFileError(f"{path} is corrupt: bad header entry for tensor {str(name)[:80]!r}")
        if end - begin != math.prod(shape) * np.dtype(dtype).itemsize:
            raise ModelFileError(f"{path} is corrupt: tensor {str(name)[:80]!r} of shape {shape[:8]} does not fit "
                                 f"its {end - begin} bytes")
        layout[name] = (dtype, tuple(shape), begin, end)
    position = 0
    for name, (_, _, begin, end) in sorted(layout.items(), key=lambda item: item[1][2:]):
        if begin != position:
            raise ModelFileError(f"{path} is corrupt: the tensors do not tile the file (at {str(name)[:80]!r})")
        position = end
    if position != n_data:
        raise ModelFileError(f"{path} is corrupt: its tensors declare {position} bytes of data, the file holds "
                             f"{n_data} (truncated or extended)")
    return layout


def _check_table(table: Any, layout: dict[str, tuple[str, tuple[int, ...], int, int]], path: Path) -> None:
    """The metadata's tensor table names exactly the header's tensors, with their dtypes and shapes."""
    if not isinstance(table, dict) or set(table) != set(layout):
        raise ModelFileError(f"{path} is corrupt: its tensor table does not match the tensors it holds")
    for name, (dtype, shape, _, _) in layout.items():
        entry = table[name]
        if not isinstance(entry, dict):
            raise ModelFileError(f"{path} is corrupt: bad table entry for tensor {name!r}")
        if entry.get("dtype") != dtype or entry.get("shape") != list(shape):
            raise ModelFileError(f"{path} is corrupt: tensor {name!r} is {dtype}{list(shape)}, "
                                 f"the table says {str(entry.get('dtype'))[:20]}{str(entry.get('shape'))[:80]}")


def check_metadata(meta: dict[str, Any], layout: Table, path: Path) -> None:
    """The metadata against its schema (``header.py``), naming the file in the error."""
    try:
        check_header(meta, layout)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None


def _tensors(data: bytearray, layout: dict[str, tuple[str, tuple[int, ...], int, int]], table: dict[str, Any],
             kind: str, path: Path) -> dict[str, np.ndarray]:
    """The tensors as writable arrays over ``data`` (copied only where misaligned), after their checksums; a
    model's must be finite (a checkpoint may hold the state of a diverged run)."""
    view, tensors, finite = memoryview(data), {}, kind in MODEL_KINDS
    for name, (dtype, shape, begin, end) in layout.items():
        if hashlib.sha256(view[begin:end]).hexdigest() != table[name].get("sha256"):
            raise ModelFileError(f"{path} is corrupt: checksum mismatch in tensor {name!r}")
        if begin == end:
            a = np.zeros(shape, dtype=dtype)
        else:
            a = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"), count=math.prod(shape), offset=begin)
            if not a.dtype.isnative or not a.flags.aligned:
                a = a.astype(np.dtype(dtype), copy=True)
            a = a.reshape(shape)
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ModelFileError(f"{path}: tensor {name!r} holds NaN or infinite values; a model with non-finite "
                                 "weights predicts nothing meaningful")
        tensors[name] = a
    return tensors
