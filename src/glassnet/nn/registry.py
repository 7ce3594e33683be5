"""The layer registry: one name per layer class, so that layers can be stored as plain data and rebuilt.

A layer's *spec* is ``{"type": <registered name>, **layer.config()}``; model files store it and
``from_spec`` rebuilds the layer from it. Only classes registered in the running process can be
built: a file names a layer, it never names code to import. A user's own layer registers itself::

    @nn.register("Scale")
    class Scale(nn.Module):
        def __init__(self, n: int) -> None:
            self.n = n
            self.scale = gn.Tensor(np.ones(n, np.float32), requires_grad=True)

        def config(self) -> dict:
            return {"n": self.n}

        def forward(self, x):
            return x * self.scale
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .module import Module

M = TypeVar("M", bound=type[Module])

_CLASSES: dict[str, type[Module]] = {}
_NAMES: dict[type[Module], str] = {}


class SpecError(ValueError):
    """A layer description that names no registered layer, or that its layer cannot be built from."""


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(name: str) -> Callable[[M], M]:
    """Class decorator: record a Module subclass under ``name``, the name its specs (and model files) carry.

    Registering again under the same name replaces a class of the same qualified name (a reloaded
    module); a different class, or a second name for one class, is refused.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a layer name must be an identifier, got {name!r}")

    def decorate(cls: M) -> M:
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise TypeError(f"nn.register({name!r}) decorates Module subclasses, got {cls!r}")
        old = _CLASSES.get(name)
        if old is not None and old is not cls and _qualified(old) != _qualified(cls):
            raise ValueError(f"layer name {name!r} is already registered to {_qualified(old)}")
        if _NAMES.get(cls, name) != name:
            raise ValueError(f"{_qualified(cls)} is already registered as {_NAMES[cls]!r}")
        if old is not None:
            del _NAMES[old]
        _CLASSES[name], _NAMES[cls] = cls, name
        return cls

    return decorate


def registered() -> dict[str, type[Module]]:
    """Every registered layer class by name (a copy)."""
    return dict(_CLASSES)


def layer_name(cls: type[Module]) -> str:
    """The name ``cls`` is registered under; a clear error if it is not registered."""
    name = _NAMES.get(cls)
    if name is None:
        raise TypeError(f"{cls.__name__} is not a registered layer: decorate its class with "
                        f"@nn.register({cls.__name__!r}) and give it config(), so that it can be saved and rebuilt")
    return name


def to_spec(module: Module) -> dict[str, Any]:
    """``module`` as plain data: its registered name under "type", then its ``config()``."""
    name = layer_name(type(module))
    config = module.config()
    if not isinstance(config, dict) or "type" in config or not all(isinstance(k, str) for k in config):
        raise TypeError(f"{type(module).__name__}.config() must return a dict with string keys other than 'type'")
    return {"type": name, **config}


def from_spec(spec: Any) -> Module:
    """The layer a spec describes, built by its registered class's ``from_config``.

    Raises SpecError naming the layer when the name is not registered or the config does not fit.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise SpecError(f"bad layer description {_short(spec)}: expected a dict with a 'type' name")
    name = spec["type"]
    cls = _CLASSES.get(name)
    if cls is None:
        raise SpecError(f"unknown module type {name!r}: no layer class is registered under that name in this "
                        f"process; import the code whose class carries @nn.register({name!r}) before loading")
    config = {k: v for k, v in spec.items() if k != "type"}
    try:
        return cls.from_config(config)
    except SpecError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise SpecError(f"cannot build {name} from {_short(config)}: {e}") from e


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
