"""Model files: one safetensors file holding the weights and a JSON header; never pickle.

A file stores tensors by name and, in the safetensors header, one JSON document under the key
``glassnet``: format version, glassnet version, kind, architecture, a SHA-256 per tensor (the
format itself does not detect flipped bytes) and any extra metadata (preprocessing, labels,
training settings, metrics). Loading checks all of it and builds objects only from a fixed list
of glassnet classes, so a file from a stranger cannot run code. Writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn

FORMAT = "glassnet-model"
FORMAT_VERSION = 1
METADATA_KEY = "glassnet"
KINDS = ("module", "estimator", "checkpoint")
_RESERVED = {"format", "format_version", "glassnet_version", "kind", "class", "architecture", "tensors", "content"}
_TENSOR_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64"}
_MAX_HEADER = 100 * 2**20


class ModelFileError(ValueError):
    """A file that is missing, corrupt, not a glassnet model, or inconsistent with what it claims."""


# ---------------------------------------------------------------- plain data <-> JSON + tensors

class _Encoder:
    """Turns nested plain data into JSON, moving every numeric array into a named tensor."""

    def __init__(self) -> None:
        self.tensors: dict[str, np.ndarray] = {}

    def encode(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return self._array(value, path)
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in value):
                return {k: self.encode(v, f"{path}.{k}") for k, v in value.items()}
            return {"$items": [[self.encode(k, f"{path}.key{i}"), self.encode(v, f"{path}.{k}")]
                               for i, (k, v) in enumerate(value.items())]}
        raise TypeError(f"cannot store {path.lstrip('.')!r}: {type(value).__name__} is not plain data "
                        "(arrays, numbers, strings, lists, dicts)")

    def _array(self, value: np.ndarray, path: str) -> Any:
        if value.dtype.kind in "UO":
            items = value.tolist()
            if not all(isinstance(v, (str, int, float, bool)) or v is None for v in value.ravel().tolist()):
                raise TypeError(f"cannot store {path!r}: object array with non-plain items")
            return {"$list_array": items, "dtype": value.dtype.kind}
        if value.dtype.name not in _TENSOR_DTYPES:
            raise TypeError(f"cannot store {path!r}: dtype {value.dtype} is not supported")
        name = path.lstrip(".") or "value"
        while name in self.tensors:
            name += "_"
        self.tensors[name] = value
        return {"$array": name}


def _decode(value: Any, tensors: dict[str, np.ndarray]) -> Any:
    try:
        return _decode_tree(value, tensors)
    except (TypeError, ValueError, AttributeError, RecursionError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"malformed metadata in model file: {e}") from e


def _decode_tree(value: Any, tensors: dict[str, np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode_tree(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "$array" in value:
        name = value["$array"]
        if name not in tensors:
            raise ModelFileError(f"metadata refers to tensor {name!r}, which the file does not contain")
        return tensors[name]
    if "$tuple" in value:
        return tuple(_decode_tree(v, tensors) for v in value["$tuple"])
    if "$items" in value:
        return {_decode_tree(k, tensors): _decode_tree(v, tensors) for k, v in value["$items"]}
    if "$list_array" in value:
        return np.array(value["$list_array"], dtype=object if value.get("dtype") == "O" else None)
    return {k: _decode_tree(v, tensors) for k, v in value.items()}


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(a.tobytes()).hexdigest()


def _contiguous(a: np.ndarray) -> np.ndarray:
    # A C-ordered little-endian copy: safetensors 0.8 writes strided views (a transposed array,
    # a strided slice) in the wrong element order (upstream issue 825).
    a = np.asarray(a)
    return np.array(a, dtype=a.dtype.newbyteorder("<"), order="C", copy=True)


# ---------------------------------------------------------------- raw file write / read

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
    meta = {**meta, "tensors": {k: {"dtype": v.dtype.name, "shape": list(v.shape), "sha256": _sha256(v)}
                                for k, v in tensors.items()}}
    return atomic_write(path, st_save(tensors, metadata={METADATA_KEY: json.dumps(meta)}))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, blob: bytes) -> Path:
    """Write ``blob`` to a temporary file beside ``path``, then rename: a crash leaves no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())  # not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _refuse_foreign(head: bytes, path: Path) -> None:
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
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
    _refuse_foreign(blob[:8], path)
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
        if entry.get("sha256") != _sha256(a):
            raise ModelFileError(f"{path} is corrupt: checksum mismatch in tensor {name!r}")


# ---------------------------------------------------------------- modules

def _module_spec(m: nn.Module) -> dict[str, Any]:
    t = type(m)
    if t is nn.MLP:
        dtype = m.parameters()[0].data.dtype
        return {"type": "MLP", "sizes": list(m.sizes), "activation": m.activation, "dropout": float(m.dropout),
                "dtype": str(dtype)}
    if t is nn.Sequential:
        return {"type": "Sequential", "layers": [_module_spec(layer) for layer in m.layers]}
    if t is nn.Linear:
        return {"type": "Linear", "in_features": m.in_features, "out_features": m.out_features,
                "bias": m.bias is not None, "init": m.init, "dtype": str(m.weight.data.dtype)}
    if t is nn.LeakyReLU:
        return {"type": "LeakyReLU", "negative_slope": float(m.negative_slope)}
    if t is nn.GELU:
        return {"type": "GELU", "approximate": m.approximate}
    if t is nn.Dropout:
        return {"type": "Dropout", "p": float(m.p)}
    if t in (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Identity):
        return {"type": t.__name__}
    raise TypeError(f"cannot save a {t.__name__}: model files hold glassnet's MLP, Sequential, Linear, "
                    "activation and Dropout modules; save other modules' state_dict() instead")


def _build_module(spec: Any) -> nn.Module:
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ModelFileError(f"bad module description {spec!r}")
    kind, args = spec["type"], {k: v for k, v in spec.items() if k != "type"}
    simple = {"ReLU": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Identity": nn.Identity,
              "LeakyReLU": nn.LeakyReLU, "GELU": nn.GELU, "Dropout": nn.Dropout}
    try:
        if kind == "MLP":
            return nn.MLP(args["sizes"], args["activation"], args["dropout"], dtype=args["dtype"])
        if kind == "Sequential":
            return nn.Sequential(*[_build_module(s) for s in args["layers"]])
        if kind == "Linear":
            return nn.Linear(args["in_features"], args["out_features"], args["bias"], init=args["init"],
                             dtype=args["dtype"])
        if kind in simple:
            return simple[kind](**args)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ModelFileError(f"bad {kind} description {spec!r}: {e}") from e
    raise ModelFileError(f"unknown module type {kind!r} in model file")


def architecture(obj: Any) -> dict[str, Any]:
    """A short JSON description of a module's or fitted estimator's network (sizes, activation)."""
    module = obj if isinstance(obj, nn.Module) else getattr(obj, "module_", None)
    if module is None:
        return {}
    n_params = int(sum(p.size for p in module.parameters()))
    if type(module) is nn.MLP:
        return {"sizes": list(module.sizes), "activation": module.activation, "dropout": float(module.dropout),
                "n_parameters": n_params}
    return {"n_parameters": n_params}


# ---------------------------------------------------------------- estimators

def _estimator_classes() -> dict[str, type]:
    import glassnet

    return {name: getattr(glassnet, name) for name in ("MLPClassifier", "MLPRegressor") if hasattr(glassnet, name)}


def _is_estimator(obj: Any) -> bool:
    return type(obj) in _estimator_classes().values()


def _fitted_names(cls: type) -> tuple[str, ...]:
    """Every fitted attribute a file may hold: the required ones, then those set only by some fits."""
    return tuple(cls._fitted_attributes) + tuple(getattr(cls, "_optional_fitted_attributes", ()))


def _estimator_content(est: Any, enc: _Encoder) -> dict[str, Any]:
    params = enc.encode(est.get_params(deep=False), "params")
    if enc.tensors:
        raise TypeError("estimator parameters must be plain values, not arrays")
    fitted = {name: getattr(est, name) for name in _fitted_names(type(est)) if hasattr(est, name)}
    return {"params": params, "fitted": enc.encode(fitted, "")}


def _new_estimator(cls_name: Any, params: Any) -> Any:
    classes = _estimator_classes()
    if cls_name not in classes:
        raise ModelFileError(f"unknown estimator class {cls_name!r}; expected one of {sorted(classes)}")
    cls = classes[cls_name]
    if not isinstance(params, dict):
        raise ModelFileError("estimator parameters are not a mapping")
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ModelFileError(f"unknown {cls_name} parameters in model file: {unknown}")
    est = cls(**params)
    try:
        est._validate_params()
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"invalid {cls_name} parameters in model file: {e}") from e
    return est


def _restore_estimator(cls_name: Any, content: dict[str, Any], tensors: dict[str, np.ndarray]) -> Any:
    est = _new_estimator(cls_name, _decode(content.get("params"), tensors))
    fitted = _decode(content.get("fitted"), tensors)
    allowed = set(_fitted_names(type(est)))
    if not isinstance(fitted, dict) or not set(fitted) <= allowed:
        extra = sorted(set(fitted) - allowed) if isinstance(fitted, dict) else fitted
        raise ModelFileError(f"unexpected fitted attributes in model file: {extra}")
    missing = sorted(set(type(est)._fitted_attributes) - set(fitted))
    if missing:
        raise ModelFileError(f"model file lacks fitted attributes {missing}")
    for name, value in fitted.items():
        setattr(est, name, value)
    if est.device != "cpu":
        try:
            est._namespace()
        except ImportError:  # trained on a GPU, loaded where there is none: the weights are host arrays
            warnings.warn(f"the model was saved with device={est.device!r}, but CuPy is not available here; "
                          "it is loaded with device='cpu'", RuntimeWarning, stacklevel=4)
            est.device = "cpu"
    try:
        est._restore_module()
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise ModelFileError(f"model file is inconsistent: {e}") from e
    return est


# ---------------------------------------------------------------- public API

def _header(kind: str, obj: Any, content: Any, metadata: dict[str, Any] | None) -> dict[str, Any]:
    from .. import __version__

    extra = dict(metadata or {})
    clash = sorted(_RESERVED & set(extra))
    if clash:
        raise ValueError(f"metadata keys {clash} are reserved by the file format")
    json.dumps(extra)  # fail here, before writing, on anything that is not JSON
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "glassnet_version": __version__, "kind": kind,
            "class": type(obj).__name__, "architecture": architecture(obj), "content": content, **extra}


def save(obj: Any, path: str | os.PathLike, *, overwrite: bool = False,
         metadata: dict[str, Any] | None = None) -> Path:
    """Save an nn.Module or a fitted MLPClassifier/MLPRegressor to one .safetensors file at ``path``.

    ``metadata`` (JSON-able: preprocessing, labels, training settings, metrics) goes into the header.
    An existing file is replaced only with ``overwrite=True``; the write is atomic.
    """
    enc = _Encoder()
    if isinstance(obj, nn.Module):
        kind = "module"
        content = {"spec": _module_spec(obj)}
        enc.tensors.update({name: a for name, a in obj.state_dict().items()})
    elif _is_estimator(obj):
        if not hasattr(obj, "module_"):
            raise ValueError(f"{type(obj).__name__} is not fitted yet; call fit() before saving")
        kind = "estimator"
        content = _estimator_content(obj, enc)
    else:
        raise TypeError(f"gn.save takes an nn.Module or a glassnet estimator, got {type(obj).__name__}")
    return write_file(path, enc.tensors, _header(kind, obj, content, metadata), overwrite=overwrite)


def load_with_metadata(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Load a module or estimator file; returns it with the file's verified JSON metadata."""
    tensors, meta = read_file(path)
    content = meta.get("content")
    if not isinstance(content, dict):
        raise ModelFileError(f"{path} has no content description")
    if meta["kind"] == "module":
        module = _build_module(content.get("spec"))
        try:
            module.load_state_dict(tensors)
        except ValueError as e:
            raise ModelFileError(f"{path}: weights do not fit the architecture: {e}") from e
        return module, meta
    if meta["kind"] == "estimator":
        return _restore_estimator(meta.get("class"), content, tensors), meta
    raise ModelFileError(f"{path} is a training checkpoint, not a model; resume training from it instead")


def load(path: str | os.PathLike) -> Any:
    """Load what :func:`save` wrote: an nn.Module or a fitted estimator. Never runs code from the file."""
    return load_with_metadata(path)[0]


def save_checkpoint(path: str | os.PathLike, estimator: Any, state: dict[str, Any], *,
                    metadata: dict[str, Any] | None = None) -> Path:
    """Atomically write a training checkpoint: the estimator's parameters and ``get_training_state()``."""
    enc = _Encoder()
    content = {"params": enc.encode(estimator.get_params(deep=False), "params"), "state": enc.encode(state, "")}
    return write_file(path, enc.tensors, _header("checkpoint", estimator, content, metadata), overwrite=True)


def load_checkpoint(path: str | os.PathLike) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(unfitted estimator with the saved parameters, training state, metadata) from a checkpoint file."""
    tensors, meta = read_file(path)
    if meta["kind"] != "checkpoint":
        raise ModelFileError(f"{path} is a {meta['kind']} file, not a training checkpoint")
    content = meta.get("content")
    if not isinstance(content, dict):
        raise ModelFileError(f"{path} has no content description")
    est = _new_estimator(meta.get("class"), _decode(content.get("params"), tensors))
    return est, _decode(content.get("state"), tensors), meta
