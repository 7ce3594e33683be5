"""gn.save / gn.load: model files of modules, fitted estimators and scikit-learn pipelines, and training checkpoints.

Every file is written by ``file_format.write_file`` (atomic, never clobbering without ``overwrite``) and
read back by ``file_format.read_file`` (verified), then built only from registered layers, glassnet's
own estimator classes and the scikit-learn classes ``pipelines`` allows: a file from a stranger cannot run code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import nn
from .estimators import estimator_content, is_estimator, new_estimator, restore_estimator
from .file_format import FORMAT, FORMAT_VERSION, ModelFileError, read_file, write_file
from .modules import build_module, module_content
from .pipelines import final_estimator, is_pipeline, pipeline_content, restore_pipeline
from .plain_data import Encoder, decode
from .tabular_v1 import is_tabular_v1, tabular_pipeline

_RESERVED = {"format", "format_version", "glassnet_version", "kind", "class", "architecture", "tensors", "content"}


def architecture(obj: Any) -> dict[str, Any]:
    """A JSON description of a module's, fitted estimator's or pipeline's network: its layer spec and parameter
    count (empty for a pipeline that does not end in a glassnet estimator)."""
    module = obj if isinstance(obj, nn.Module) else getattr(final_estimator(obj), "module_", None)
    if module is None:
        return {}
    return {**nn.to_spec(module), "n_parameters": int(sum(p.size for p in module.parameters()))}


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
    """Save an nn.Module of registered layers, a fitted MLPClassifier/MLPRegressor, or a fitted scikit-learn
    Pipeline or ColumnTransformer (of the transformers ``io.pipelines.allowed_classes`` names, ending in a glassnet
    estimator or not) to one file at ``path``.

    ``metadata`` (JSON-able: preprocessing, labels, training settings, metrics) goes into the header.
    An existing file is replaced only with ``overwrite=True``; the write is atomic.
    """
    if isinstance(obj, nn.Module):
        kind, (content, tensors) = "module", module_content(obj)
    elif is_estimator(obj):
        if not hasattr(obj, "module_"):
            raise ValueError(f"{type(obj).__name__} is not fitted yet; call fit() before saving")
        enc = Encoder()
        kind, content, tensors = "estimator", estimator_content(obj, enc), enc.tensors
    elif is_pipeline(obj):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(obj)
        kind, (content, tensors) = "estimator", pipeline_content(obj)
    else:
        raise TypeError(f"gn.save takes an nn.Module or a glassnet estimator, alone or at the end of a scikit-learn "
                        f"pipeline, got {type(obj).__name__}")
    return write_file(path, tensors, _header(kind, obj, content, metadata), overwrite=overwrite)


def load_with_metadata(path: str | os.PathLike, *, sha256: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Load a module, estimator or pipeline file; returns it with the file's verified JSON metadata.

    A command-line model written before the command line saved pipelines comes back as the pipeline it describes.
    ``sha256``: the hex SHA-256 that the whole file must have (a hash from a source you trust: the file's
    checksums alone show that it is intact, not who wrote it).
    """
    tensors, meta = read_file(path, sha256=sha256)
    content = meta.get("content")
    if not isinstance(content, dict):
        raise ModelFileError(f"{path} has no content description")
    if meta["kind"] == "module":
        return build_module(content, tensors, path), meta
    if meta["kind"] == "estimator" and "object" in content:
        return restore_pipeline(content, tensors), meta
    if meta["kind"] == "estimator":
        est = restore_estimator(meta.get("class"), content, tensors)
        return (tabular_pipeline(est, meta) if is_tabular_v1(meta) else est), meta
    raise ModelFileError(f"{path} is a training checkpoint, not a model; resume training from it instead")


def load(path: str | os.PathLike, *, sha256: str | None = None) -> Any:
    """Load what :func:`save` wrote: an nn.Module, a fitted estimator or a pipeline. Never runs code from the file.
    ``sha256``: the hex SHA-256 the whole file must have, for a file whose origin matters."""
    return load_with_metadata(path, sha256=sha256)[0]


def save_checkpoint(path: str | os.PathLike, estimator: Any, state: dict[str, Any], *,
                    metadata: dict[str, Any] | None = None) -> Path:
    """Atomically write a training checkpoint: the estimator's parameters and ``get_training_state()``."""
    enc = Encoder()
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
    est = new_estimator(meta.get("class"), decode(content.get("params"), tensors))
    return est, decode(content.get("state"), tensors), meta
