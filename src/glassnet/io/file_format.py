"""The model file format: one safetensors file, its JSON metadata in the header, a SHA-256 per tensor.

The header holds, under the key ``glassnet``, one JSON document: format version, glassnet version,
kind, class, architecture, content and a table of every tensor's dtype, shape and checksum (the
safetensors format itself does not detect flipped bytes). ``read_file`` checks all of it before
anything is built from the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write

FORMAT = "glassnet-model"
FORMAT_VERSION = 1
METADATA_KEY = "glassnet"
KINDS = ("module", "estimator", "checkpoint")
_MAX_HEADER = 100 * 2**20


class ModelFileError(ValueError):
    """A file that is missing, corrupt, not a glassnet model, or inconsistent with what it claims."""


def sha256(a: np.ndarray) -> str:
    """The hex SHA-256 of an array's bytes, as the tensor table stores it."""
    return hashlib.sha256(a.tobytes()).hexdigest()


def _contiguous(a: np.ndarray) -> np.ndarray:
    # A C-ordered little-endian copy: safetensors 0.8 writes strided views (a transposed array,
    # a strided slice) in the wrong element order (upstream issue 825).
    a = np.asarray(a)
    return np.array(a, dtype=a.dtype.newbyteorder("<"), order="C", copy=True)


def write_file(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict[str, Any], *,
               overwrite: bool = False) -> Path:
    """Write ``tensors`` and the JSON ``meta`` (plus a checksum table) atomically to one file."""
    from safetensors.numpy import save as st_save

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it")
    if path.exists() and path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a model file")
    tensors = {k: _contiguous(v) for k, v in tensors.items()}
    meta = {**meta, "tensors": {k: {"dtype": v.dtype.name, "shape": list(v.shape), "sha256": sha256(v)}
                                for k, v in tensors.items()}}
    return atomic_write(path, st_save(tensors, metadata={METADATA_KEY: json.dumps(meta)}))


def _refuse_foreign(head: bytes, path: Path) -> None:
    # a safetensors header of 640, 896, 1152 or 1408 bytes starts like a pickle too; its JSON starts at byte 8
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") and head[8:9] != b"{":
        raise ModelFileError(f"{path} is a pickle file, not a glassnet model file; glassnet never unpickles")
    if head[:4] == b"PK\x03\x04":
        raise ModelFileError(f"{path} is a zip archive (PyTorch or joblib?), not a glassnet model file")


def read_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a glassnet file: header, format version, tensor names, dtypes, shapes, checksums."""
    from safetensors.numpy import load as st_load

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    blob = path.read_bytes()
    _refuse_foreign(blob[:9], path)
    if len(blob) < 8:
        raise ModelFileError(f"{path} is not a glassnet model file (only {len(blob)} bytes)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > min(_MAX_HEADER, len(blob) - 8):
        raise ModelFileError(f"{path} is not a glassnet model file (no valid safetensors header)")
    try:
        header = json.loads(blob[8:8 + n])
        meta = json.loads(header["__metadata__"][METADATA_KEY])
    except (ValueError, KeyError, TypeError, RecursionError) as e:
        raise ModelFileError(f"{path} is not a glassnet model file (its header has no glassnet metadata)") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a glassnet model file (format {meta.get('format')!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} uses model format {version}, newer than this glassnet reads "
                             f"({FORMAT_VERSION}); upgrade glassnet")
    if meta.get("kind") not in KINDS:
        raise ModelFileError(f"{path}: unknown kind {meta.get('kind')!r}; expected one of {list(KINDS)}")
    try:
        tensors = st_load(blob)
    except Exception as e:
        raise ModelFileError(f"{path} is corrupt: {e}") from e
    _verify_tensors(path, tensors, meta.get("tensors"))
    return tensors, meta


def _verify_tensors(path: Path, tensors: dict[str, np.ndarray], table: Any) -> None:
    if not isinstance(table, dict) or set(table) != set(tensors):
        raise ModelFileError(f"{path} is corrupt: its tensor table does not match the tensors it holds")
    for name, a in tensors.items():
        entry = table[name]
        if not isinstance(entry, dict):
            raise ModelFileError(f"{path} is corrupt: bad table entry for tensor {name!r}")
        if entry.get("dtype") != a.dtype.name or entry.get("shape") != list(a.shape):
            raise ModelFileError(f"{path} is corrupt: tensor {name!r} is {a.dtype.name}{list(a.shape)}, "
                                 f"the table says {entry.get('dtype')}{entry.get('shape')}")
        if entry.get("sha256") != sha256(a):
            raise ModelFileError(f"{path} is corrupt: checksum mismatch in tensor {name!r}")
