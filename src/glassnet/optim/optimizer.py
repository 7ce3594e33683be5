"""Optimizer base: parameters, per-parameter state, flat buffers, zero_grad and state dicts.

Subclasses define ``_update(p, g, state, t, work)``: the update rule, in place, on arrays;
``work`` is a scratch array of p's shape in flat mode (so NumPy can use ``out=`` and allocate
nothing per step) and None otherwise. With NumPy
parameters of one dtype the optimizer gathers all parameters, gradients and state into flat
buffers (each parameter's ``.data`` and ``.grad`` become views into them) so that one step is a
handful of whole-buffer operations instead of a handful per parameter. In flat mode a parameter
left without a gradient is updated as if its gradient were zero (PyTorch skips it). Where numba is
installed, a subclass's ``_fused_update(kernels, p, g, state, t)`` runs the whole flat step as one
compiled pass instead (see :mod:`glassnet.backend.numba_kernels`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor


class Optimizer:
    """Holds the parameters, their state and the learning rate ``lr``; ``step()`` applies the rule."""

    state_names: tuple[str, ...] = ()
    # flat mode updates the buffers in chunks of this many elements, so the scratch buffer stays
    # small (512 KiB in float32) whatever the model's size; the rules are elementwise, so it is exact
    chunk_elements = 2**17

    def __init__(self, params: Iterable[Tensor], lr: float, flat: bool | None = None) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"parameter {i} is not a Tensor with requires_grad=True")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{type(self).__name__} got the same parameter more than once")
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        self.lr = float(lr)
        self.t = 0
        xp = self.params[0].xp
        # flat buffers need NumPy's views (a reshaped slice that shares memory) and one dtype;
        # elsewhere, and when asked to, the update runs parameter by parameter
        can_flatten = backend.is_numpy(xp) and all(
            p.xp is xp and p.data.dtype == self.params[0].data.dtype for p in self.params)
        self.flat = can_flatten if flat is None else bool(flat and can_flatten)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]
        if self.flat:
            self._build_flat(xp)
        else:
            for p, st in zip(self.params, self.state, strict=True):
                for name in self.state_names:
                    st[name] = xp.zeros_like(p.data)

    def _build_flat(self, xp: Any) -> None:
        dtype = self.params[0].data.dtype
        total = sum(p.size for p in self.params)
        data, grad = xp.zeros((total,), dtype=dtype), xp.zeros((total,), dtype=dtype)
        state = {name: xp.zeros((total,), dtype=dtype) for name in self.state_names}
        # one compiled pass over the whole buffers where numba can, else NumPy chunk by chunk
        self._fused = backend.kernels_for(data) if self._fused_update is not None else None
        self._buffers = (data, grad, state)
        chunk = self.chunk_elements
        work = xp.empty((min(total, chunk),), dtype=dtype) if self._fused is None else None
        self._chunks = [] if work is None else [
            (data[a:a + chunk], grad[a:a + chunk], {name: buf[a:a + chunk] for name, buf in state.items()},
             work[:min(total - a, chunk)]) for a in range(0, total, chunk)]
        self._data_views, self._grad_views = [], []
        start = 0
        for p, st in zip(self.params, self.state, strict=True):
            stop = start + p.size
            view = xp.reshape(data[start:stop], p.shape)
            view[...] = p.data
            p.data = view
            gview = xp.reshape(grad[start:stop], p.shape)
            if p.grad is not None:
                gview[...] = p.grad
                p.grad = gview
            p._grad_buffer = gview  # backward writes fresh gradients straight into the flat buffer
            self._data_views.append(view)
            self._grad_views.append(gview)
            for name, buf in state.items():
                st[name] = xp.reshape(buf[start:stop], p.shape)
            start = stop

    def _relink(self) -> None:
        """Bring back into the flat buffers any .data or .grad that was replaced since the last step."""
        for p, view, gview in zip(self.params, self._data_views, self._grad_views, strict=True):
            if p.data is not view:
                view[...] = p.data
                p.data = view
            if p.grad is not gview:
                if p.grad is None:
                    gview[...] = 0
                else:
                    gview[...] = p.grad
                p.grad = gview

    def zero_grad(self) -> None:
        """Drop the gradients (``.grad = None``), as PyTorch does.

        With flat buffers the next backward writes each gradient straight into the buffer, so a
        gradient array kept from an earlier step is overwritten rather than left as it was.
        """
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        self.t += 1
        if self.flat:
            self._relink()
            if self._fused is not None:
                self._fused_update(self._fused, *self._buffers, self.t)
                return
            for data, grad, state, work in self._chunks:
                self._update(data, grad, state, self.t, work)
            return
        for p, st in zip(self.params, self.state, strict=True):
            if p.grad is not None:
                self._update(p.data, p.grad, st, self.t, None)

    def _update(self, p: Any, g: Any, state: dict[str, Any], t: int, work: Any) -> None:
        raise NotImplementedError

    # (kernels, p, g, state, t) -> None: the flat step as one compiled kernel call; None where there is none
    _fused_update = None

    def hyperparameters(self) -> dict[str, Any]:
        """The settings of this optimizer (plain Python values)."""
        return {"lr": self.lr}

    def state_dict(self) -> dict[str, Any]:
        """Plain data: settings, step count and host copies of each parameter's state by position."""
        return {
            "hyperparameters": copy.deepcopy(self.hyperparameters()),
            "t": self.t,
            "state": {i: {k: np.array(backend.to_numpy(v), copy=True) for k, v in st.items()}
                      for i, st in enumerate(self.state)},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore settings and state; parameter shapes must match position by position.

        Everything is checked before anything is copied, so a refused state leaves the optimizer as it was.
        """
        saved = state_dict["state"]
        if len(saved) != len(self.params):
            raise ValueError(f"optimizer state has {len(saved)} parameters, this optimizer has {len(self.params)}")
        entries = [saved[i] if i in saved else saved[str(i)] for i in range(len(self.params))]
        for i, (p, entry) in enumerate(zip(self.params, entries, strict=True)):
            if set(entry) != set(self.state_names):
                raise ValueError(f"optimizer state of parameter {i} holds {sorted(entry)}, this optimizer keeps "
                                 f"{sorted(self.state_names)}: it was saved with other settings "
                                 "(momentum, centered, amsgrad)")
            for name, value in entry.items():
                if tuple(np.shape(value)) != p.shape:
                    raise ValueError(f"optimizer state {name!r} of parameter {i} has shape "
                                     f"{tuple(np.shape(value))}, the parameter has {p.shape}")
        for p, st, entry in zip(self.params, self.state, entries, strict=True):
            for name, value in entry.items():
                st[name][...] = backend.asarray(value, like=p.data)
        for key, value in state_dict["hyperparameters"].items():
            setattr(self, key, tuple(value) if isinstance(value, list) else value)
        self.t = int(state_dict["t"])
