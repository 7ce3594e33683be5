"""Checkpoint: save the training state every few epochs, to a function of yours or to a NumPy ``.npz`` file.

The file holds the state's arrays as ``.npz`` entries and everything else as one JSON string, so
:func:`load_checkpoint` reads it back with ``allow_pickle=False``: a file cannot run code when loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .base import Callback

_STRUCTURE = "__structure__"


def _split(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` with every array replaced by {"__array__": key} and stored in ``arrays`` under that key."""
    if isinstance(value, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        return {str(k): _split(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _join(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, arrays) for v in value]
    return value


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (nested dicts and lists of arrays and JSON values) to ``path`` as ``.npz``, atomically.

    Dictionary keys become strings (the optimizer and the loop read either form back).
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    structure = json.dumps(_split(state, arrays))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays, **{_STRUCTURE: np.array(structure)})
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read what :func:`save_checkpoint` wrote (never unpickles)."""
    with np.load(path, allow_pickle=False) as data:
        if _STRUCTURE not in data.files:
            raise ValueError(f"{path} is not a glassnet training checkpoint (no {_STRUCTURE} entry)")
        arrays = {k: data[k] for k in data.files if k != _STRUCTURE}
        return _join(json.loads(str(data[_STRUCTURE])), arrays)


class Checkpoint(Callback):
    """Saves the training state (:meth:`TrainState.state_dict`) at the end of every ``every``-th epoch.

    ``target`` is a function ``save(state_dict, epoch)``, or a path for :func:`save_checkpoint`
    (``{epoch}`` in it is replaced by the epoch number; without it each save replaces the last).
    ``glassnet.train.fit(..., resume=load_checkpoint(path))`` continues the run exactly. The state
    holds what the callbacks before this one did in the epoch: put it last.
    """

    def __init__(self, target: Callable[[dict[str, Any], int], Any] | str | os.PathLike, every: int = 1) -> None:
        if int(every) != every or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not callable(target) and not isinstance(target, (str, os.PathLike)):
            raise TypeError(f"target must be a function save(state_dict, epoch) or a path, got {type(target).__name__}")
        self.target, self.every = target, int(every)

    def on_epoch_end(self, state: Any) -> None:
        if state.epoch % self.every:
            return
        saved = state.state_dict()
        if callable(self.target):
            self.target(saved, state.epoch)
        else:
            save_checkpoint(str(self.target).replace("{epoch}", str(state.epoch)), saved)
