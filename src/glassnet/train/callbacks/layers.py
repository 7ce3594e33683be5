"""Looking inside a network: its Linear layers, norms, and a layer-by-layer forward pass.

The gradient-health monitor and the NaN guard use these. Layer ``k`` is always the ``k``-th
:class:`~glassnet.nn.Linear` of the module (0-based, in ``module.modules()`` order), the numbering
that ``gn.diagnose`` reports in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import backend, nn
from ...autograd import Tensor, no_grad

# the activation modules whose units the monitor watches, by the name it reports them under
WATCHED = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}


def linear_layers(module: Any) -> list[nn.Linear]:
    """The module's Linear layers, in order (layer ``k`` of the monitor's records and of diagnoses)."""
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def frobenius(a: Any) -> float:
    """The Frobenius norm of an array (summed again in float64 when its own dtype overflows)."""
    xp = backend.namespace(a)
    flat = xp.reshape(a, (-1,))
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow here is handled just below
        square = float(xp.vecdot(flat, flat))
    if math.isinf(square):
        flat = xp.astype(flat, xp.float64)
        square = float(xp.vecdot(flat, flat))
    return math.sqrt(square)


@dataclass
class LayerOutput:
    """What Linear layer ``index`` computed on a batch: ``linear`` (x @ W + b) and, where an activation
    follows it, that activation's name (``"relu"``, ``"sigmoid"``, ``"tanh"``, or the class name) and output."""

    index: int
    linear: Any
    activation: str | None = None
    output: Any = None


def _flatten(module: Any) -> list[Any]:
    layers = []
    for layer in module.layers:
        layers += _flatten(layer) if isinstance(layer, nn.Sequential) else [layer]
    return layers


def layer_outputs(module: Any, x: Any) -> list[LayerOutput] | None:
    """Run ``x`` through a Sequential module (an :class:`~glassnet.nn.MLP`, say) one layer at a time, without
    gradients, and return each Linear layer's output and its activation's; None for other modules.

    Dropout layers are left out (as at inference), so no random numbers are drawn and the module's
    training mode is left alone.
    """
    if not isinstance(module, nn.Sequential):
        return None
    found: list[LayerOutput] = []
    pending: LayerOutput | None = None  # a Linear layer whose activation may come next
    with no_grad():
        h = x if isinstance(x, Tensor) else Tensor(x)
        for layer in _flatten(module):
            if isinstance(layer, nn.Dropout):
                continue
            h = layer(h)
            if isinstance(layer, nn.Linear):
                pending = LayerOutput(len(found), h.data)
                found.append(pending)
            elif pending is not None:
                pending.activation = WATCHED.get(type(layer), type(layer).__name__)
                pending.output = h.data
                pending = None
    return found
