"""Optimizer base: parameter groups, per-parameter state and step counts, zero_grad and state dicts.

PyTorch's semantics: ``step()`` skips a parameter whose ``.grad`` is None (no decay, no momentum);
a parameter's step count and state start at its first gradient; each parameter group has its own
settings (``opt.param_groups[i]["lr"]``). Subclasses define the rule once, in
``_update(p, g, state, group, step)``: in place, on arrays of any Array API namespace, for one
parameter or for a flat stretch of several that share a step count. Where numba is installed,
``_fused_update(kernels, p, g, state, group, step)`` runs the same rule as one compiled pass over
a flat stretch (see :mod:`glassnet.backend.numba_kernels`); :func:`glassnet.backend.kernels_for`
decides when it may.

With NumPy parameters of one dtype the parameters, gradients and state live in flat buffers
(:mod:`glassnet.optim.flat`), so that the usual step (every parameter has a gradient and all share
one step count) is one pass over everything; results are the same as parameter by parameter.
Settings that decide which state is kept (SGD's momentum being zero or not, RMSprop's momentum and
``centered``, Adam's ``amsgrad``) are fixed when a group is added.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor
from .flat import FlatStorage


class GroupSetting:
    """A setting as an attribute of the optimizer: reads the first group's value and writes every group's.

    ``opt.lr = 0.01`` sets the learning rate of all groups; ``opt.param_groups[i]["lr"]`` is one group's.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, opt: Any, owner: type | None = None) -> Any:
        if opt is None:
            return self
        return opt.param_groups[0][self.name]

    def __set__(self, opt: Any, value: Any) -> None:
        for group in opt.param_groups:
            group[self.name] = value


class Optimizer:
    """Parameter groups, each parameter's state and step count; ``step()`` applies the rule.

    ``params`` is an iterable of Tensors or of dicts (parameter groups: ``{"params": [...], "lr": ...}``),
    whose settings override ``defaults``. Parameters are numbered by position across the groups, in
    order: ``params``, ``state`` (name -> array) and ``steps`` follow that numbering.
    """

    lr = GroupSetting()

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any],
                 flat: bool | None = None) -> None:
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__} takes an iterable of Tensors or of parameter groups (dicts), "
                            "got a single Tensor")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not all(isinstance(g, dict) for g in groups):
            groups = [{"params": groups}]
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.params: list[Tensor] = []
        self.state: list[dict[str, Any]] = []
        self.steps: list[int] = []  # each parameter's step count: 0 until its first gradient
        self.t = 0  # calls of step()
        # each group with the positions [start, stop) of its parameters and the names of their state arrays
        self._layout: list[tuple[dict[str, Any], int, int, tuple[str, ...]]] = []
        self._flat_wanted = flat
        self._storage: FlatStorage | None = None
        for group in groups:
            self._add_group(group)
        if not self.params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        self._arrange()

    # ---- groups ---------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own settings (the others from ``defaults``), as PyTorch does."""
        self._add_group(param_group)
        self._arrange()

    def _add_group(self, param_group: dict[str, Any]) -> None:
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"a parameter group must be a dict with a 'params' key, got {type(param_group).__name__}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        known = {id(p) for p in self.params}
        for i, p in enumerate(params, start=len(self.params)):
            # a frozen parameter (requires_grad=False) is accepted and, never getting a gradient, skipped
            if not isinstance(p, Tensor) or p._backward is not None or not backend.is_float(p.data, p.xp):
                raise TypeError(f"parameter {i} is not a floating-point leaf Tensor (a model parameter)")
            if id(p) in known:
                raise ValueError(f"{type(self).__name__} got the same parameter more than once (parameter {i})")
            known.add(id(p))
        settings = {**self.defaults, **{k: v for k, v in param_group.items() if k != "params"}}
        group = {"params": params, **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}}
        if group.get("lr", 0.0) < 0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        self._check_group(group)
        start = len(self.params)
        self.param_groups.append(group)
        self._layout.append((group, start, start + len(params), self.state_names(group)))
        self.params += params
        self.state += [{} for _ in params]
        self.steps += [0] * len(params)

    def positions(self, group: dict[str, Any]) -> range:
        """The positions of ``group``'s parameters in ``params``, ``state`` and ``steps``."""
        for g, start, stop, _ in self._layout:
            if g is group:
                return range(start, stop)
        raise ValueError("not a parameter group of this optimizer")

    def _arrange(self) -> None:
        """Allocate the state (zeros) and, where the parameters allow, move everything into flat buffers."""
        names = [ns for _, start, stop, ns in self._layout for _ in range(start, stop)]
        xp = self.params[0].xp
        # flat buffers need NumPy's views (a reshaped slice that shares memory) and one dtype;
        # elsewhere, and when asked to, the update runs parameter by parameter
        can_flatten = backend.is_numpy(xp) and all(
            p.xp is xp and p.data.dtype == self.params[0].data.dtype for p in self.params)
        self.flat = can_flatten if self._flat_wanted is None else bool(self._flat_wanted and can_flatten)
        if self.flat:
            self._storage = FlatStorage(self.params, self.state, names)
            self._fused = backend.kernels_for(self._storage.data) if self._fused_update is not None else None
            return
        if self._storage is not None:  # the buffers are left behind: backward no longer writes into them
            for p in self.params:
                p._grad_buffer = None
        self._storage, self._fused = None, None
        for p, st, ns in zip(self.params, self.state, names, strict=True):
            for name in ns:
                if name not in st:
                    st[name] = p.xp.zeros_like(p.data)

    # ---- the step -------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop the gradients (``.grad = None``, so the next step skips a parameter that gets none), as
        PyTorch does; ``set_to_none=False`` zeroes them in place instead (the step then uses zeros)."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def step(self) -> None:
        """Apply one update to every parameter that has a gradient; the others are left as they are."""
        self.t += 1
        steps, storage = self.steps, self._storage
        for group, start, stop, names in self._layout:
            if storage is None:
                for i in range(start, stop):
                    p = self.params[i]
                    if p.grad is not None:
                        steps[i] += 1
                        self._update(p.data, p.grad, self.state[i], group, steps[i])
                continue
            for a, b in storage.runs(start, stop, steps):
                t = steps[a] + 1
                steps[a:b] = [t] * (b - a)
                p, g, state = storage.views(a, b, names)
                if self._fused is None:
                    self._update(p, g, state, group, t)
                else:
                    self._fused_update(self._fused, p, g, state, group, t)

    def state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The names of the state arrays each parameter of ``group`` keeps."""
        return ()

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise ValueError when a setting of ``group`` is out of range."""

    def _update(self, p: Any, g: Any, state: dict[str, Any], group: dict[str, Any], step: int) -> None:
        raise NotImplementedError

    # (kernels, p, g, state, group, step) -> None: the rule as one compiled kernel call; None where there is none
    _fused_update = None

    # ---- state dicts ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data: each group's settings with its parameters' positions, and each parameter's step
        count and state (host copies) by position; ``t`` counts the calls of ``step()``."""
        return {
            "param_groups": [{**copy.deepcopy({k: v for k, v in group.items() if k != "params"}),
                              "params": list(range(start, stop))}
                             for group, start, stop, _ in self._layout],
            "state": {i: {"step": self.steps[i],
                          **{k: np.array(backend.to_numpy(v), copy=True) for k, v in st.items()}}
                      for i, st in enumerate(self.state)},
            "t": self.t,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore settings, step counts and state; groups and parameter shapes must match position by position.

        Everything is checked before anything is copied, so a refused state leaves the optimizer as it was.
        """
        if "param_groups" not in state_dict:
            raise ValueError("optimizer state has no 'param_groups': it was saved in an older format")
        saved_groups, saved = state_dict["param_groups"], state_dict["state"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"optimizer state has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        groups = []
        for k, (saved_group, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved_group["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {k} of the optimizer state has {len(saved_group['params'])} "
                                 f"parameters, this optimizer's has {len(group['params'])}")
            missing = sorted(set(self.defaults) - set(saved_group))
            if missing:
                raise ValueError(f"parameter group {k} of the optimizer state lacks the settings {missing}: "
                                 f"it was saved by another optimizer than {type(self).__name__}")
            groups.append({"params": group["params"], **{key: tuple(v) if isinstance(v, list) else v
                                                          for key, v in saved_group.items() if key != "params"}})
        if len(saved) != len(self.params):
            raise ValueError(f"optimizer state has {len(saved)} parameters, this optimizer has {len(self.params)}")
        entries = []
        for group, (_, start, stop, _) in zip(groups, self._layout, strict=True):
            names = set(self.state_names(group))
            for i in range(start, stop):
                entry = saved[i] if i in saved else saved.get(str(i))
                if entry is None or "step" not in entry:
                    raise ValueError(f"optimizer state has no step count for parameter {i}")
                arrays = {name: value for name, value in entry.items() if name != "step"}
                if set(arrays) != names or names != set(self.state[i]):
                    raise ValueError(f"optimizer state of parameter {i} holds {sorted(arrays)}, this optimizer keeps "
                                     f"{sorted(self.state[i])}: it was saved with other settings "
                                     "(momentum, centered, amsgrad)")
                for name, value in arrays.items():
                    if tuple(np.shape(value)) != self.params[i].shape:
                        raise ValueError(f"optimizer state {name!r} of parameter {i} has shape "
                                         f"{tuple(np.shape(value))}, the parameter has {self.params[i].shape}")
                entries.append((int(entry["step"]), arrays))
        for i, (p, st, (step, arrays)) in enumerate(zip(self.params, self.state, entries, strict=True)):
            for name, value in arrays.items():
                st[name][...] = backend.asarray(value, like=p.data)
            self.steps[i] = step
        for group, loaded in zip(self.param_groups, groups, strict=True):
            group.clear()  # in place: whoever holds a group (a schedule) sees the loaded settings
            group.update(loaded)
        self.t = int(state_dict["t"])
