"""Module: the base of every layer; finds its parameters by walking its attributes."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor


class Module:
    """A piece of a network. Tensors stored as attributes are its parameters, modules its children.

    A parameter is a Tensor attribute that requires gradients when assigned (or one given to
    ``register_parameter``); freezing it later (``requires_grad = False``) keeps it a parameter, in
    ``parameters()``, ``state_dict()`` and model files, as in PyTorch. A Tensor assigned without
    gradients is a constant. Parameters are named by attribute path (``layers.0.weight``) in the
    order they were assigned, which is stable across runs and is the order optimizers and state dicts use.

    A layer describes itself as plain data with ``config()`` and is rebuilt by ``from_config()``;
    ``nn.register`` gives its class the name model files store (see ``glassnet.nn.registry``).
    """

    training: bool = True
    _parameter_names: tuple[str, ...] = ()  # attributes registered as parameters (an instance's own once set)

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Tensor) and value.requires_grad:
            self._register(name)
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, tensor: Tensor) -> None:
        """Store ``tensor`` as parameter ``name`` even if it does not require gradients (a frozen one)."""
        if not isinstance(tensor, Tensor):
            raise TypeError(f"parameter {name!r} must be a Tensor, got {type(tensor).__name__}")
        self._register(name)
        object.__setattr__(self, name, tensor)

    def _register(self, name: str) -> None:
        if name not in self._parameter_names:  # a new tuple: shallow copies never share the registration
            object.__setattr__(self, "_parameter_names", (*self._parameter_names, name))

    def forward(self, *args: Any) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.forward(*args, **kwargs)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(dotted name, tensor) for every parameter, frozen or not, depth first in assignment order.

        A parameter shared by several layers is listed once, under its first name.
        """
        seen: set[int] = set()
        for name, p in self._walk_parameters(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _walk_parameters(self, prefix: str) -> Iterator[tuple[str, Tensor]]:
        registered = self._parameter_names
        for name, value in vars(self).items():
            if isinstance(value, Tensor) and (value.requires_grad or name in registered):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child._walk_parameters(f"{prefix}{name}.")

    def parameters(self) -> list[Tensor]:
        """Every parameter, frozen ones included; give an optimizer those with ``requires_grad``."""
        return [p for _, p in self.named_parameters()]

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter of this module and its children."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def modules(self) -> Iterator[Module]:
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Switch this module and its children to training (dropout on) or evaluation mode."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Host NumPy copies of every parameter (frozen ones too), by name."""
        return {name: np.array(backend.to_numpy(p.data), copy=True) for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any], assign: bool = False) -> None:
        """Copy ``state`` into the parameters in place, after checking every name and shape.

        ``assign=True`` gives each parameter a new array (a copy of the state's, in the parameter's
        namespace and dtype) instead: it fills modules built under ``nn.init.skip_init()``.
        """
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state]
        extra = [k for k in state if k not in own]
        wrong = [f"{k}: expected {p.shape}, got {tuple(np.shape(state[k]))}"
                 for k, p in own.items() if k in state and tuple(np.shape(state[k])) != p.shape]
        problems = []
        if missing:
            problems.append(f"missing entries {missing}")
        if extra:
            problems.append(f"unexpected entries {extra}")
        if wrong:
            problems.append(f"mis-shaped entries [{'; '.join(wrong)}]")
        if problems:
            raise ValueError(f"load_state_dict for {type(self).__name__}: " + ", ".join(problems))
        for name, p in own.items():
            if assign:
                p.data = backend.asarray(np.array(backend.to_numpy(state[name]), copy=True), like=p.data)
            else:
                p.data[...] = backend.asarray(state[name], like=p.data)

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this layer, as JSON data (model files store it).

        This default serves constructors without arguments; a layer that takes any defines its own.
        """
        init = type(self).__init__
        if init is not object.__init__ and len(inspect.signature(init).parameters) > 1:
            raise NotImplementedError(f"{type(self).__name__} takes constructor arguments: define config() "
                                      "returning them as plain data, so that it can be saved and rebuilt")
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        """The layer that ``config()`` described (containers override it to rebuild their children)."""
        return cls(**config)

    def to_onnx(self, graph: Any, x: str) -> str:
        """Add this layer's ONNX nodes after value ``x`` of ``graph``; returns the output's name.

        ``graph.op(op_type, inputs, **attributes)`` adds a node and returns its output's name;
        ``graph.const(array, hint)`` adds a constant (weights) and returns its name.
        """
        raise NotImplementedError(f"{type(self).__name__} has no ONNX form: define to_onnx(graph, x) on it "
                                  "to export it")

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): {child!r}".replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"
