"""nn.Modules in model files: the layer spec from the registry, the weights by name, the frozen ones.

A module's content is ``{"spec": nn.to_spec(module), "frozen": [names of frozen parameters]}`` and
its tensors are its ``state_dict()``. Loading builds the layers from the spec under
``nn.init.skip_init()`` (no random draws, zero-memory placeholders), checks every parameter's name
and shape against the file's tensors, and only then gives each parameter its array.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import nn
from .file_format import ModelFileError


def module_content(module: nn.Module) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON content, tensors) describing ``module``; TypeError names a layer that cannot be saved."""
    try:
        spec = nn.to_spec(module)
        json.dumps(spec)
    except (TypeError, ValueError, NotImplementedError) as e:
        raise TypeError(f"cannot save a {type(module).__name__}: {e}") from e
    frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
    return {"spec": spec, "frozen": frozen}, module.state_dict()


def build_module(content: dict[str, Any], tensors: dict[str, np.ndarray], path: Any) -> nn.Module:
    """The module that ``content`` and ``tensors`` describe, refusing anything that does not fit."""
    try:
        with nn.init.skip_init():
            module = nn.from_spec(content.get("spec"))
    except nn.SpecError as e:
        raise ModelFileError(f"{path}: {e}") from e
    except RecursionError as e:
        raise ModelFileError(f"{path}: its layer description is nested too deeply") from e
    try:
        module.load_state_dict(tensors, assign=True)
    except ValueError as e:
        raise ModelFileError(f"{path}: weights do not fit the architecture: {e}") from e
    frozen = content.get("frozen", [])  # absent from files written before parameters could be frozen
    params = dict(module.named_parameters())
    if not isinstance(frozen, list):
        raise ModelFileError(f"{path}: its list of frozen parameters is a {type(frozen).__name__}, not a list")
    unknown = [name for name in frozen if not (isinstance(name, str) and name in params)]
    if unknown:
        raise ModelFileError(f"{path}: frozen parameters {unknown[:5]} are not parameters of the module")
    for name in frozen:
        params[name].requires_grad = False
    return module
