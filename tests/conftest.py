"""Shared fixtures: ``xp`` runs a test once on NumPy and once on array-api-strict arrays.

array-api-strict is the reference implementation of the Array API standard: it rejects every
call the standard does not define, so a test that passes on it proves the core uses no
NumPy-only function.
"""

from __future__ import annotations

import array_api_compat
import numpy as np
import pytest

import glassnet as gn
from glassnet import backend

BACKENDS = ["numpy", "array_api_strict"]


@pytest.fixture(params=BACKENDS)
def xp(request: pytest.FixtureRequest):
    """The array namespace under test: NumPy (through array-api-compat) or array-api-strict."""
    if request.param == "numpy":
        return array_api_compat.array_namespace(np.empty(0))
    return pytest.importorskip("array_api_strict")


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same default generator."""
    gn.manual_seed(0)


def to_xp(xp, value, dtype: str = "float64"):
    """A NumPy array or nested list as an ``xp`` array of float ``dtype`` (or int64 for integer input)."""
    arr = np.asarray(value)
    if arr.dtype.kind in "iu":
        return xp.asarray(arr.astype(np.int64))
    return xp.asarray(arr.astype(dtype), dtype=getattr(xp, dtype))


def npy(x) -> np.ndarray:
    """Host NumPy copy of an array or Tensor."""
    return gn.to_numpy(x.data if isinstance(x, gn.Tensor) else x)


def torch_copy(model, activation="relu"):
    """A torch Sequential with the weights of a glassnet MLP (float64, so the comparison is about the math)."""
    torch = pytest.importorskip("torch")
    linears = [m for m in model.modules() if isinstance(m, gn.nn.Linear)]
    layers = []
    for i, lin in enumerate(linears):
        t = torch.nn.Linear(lin.in_features, lin.out_features).double()
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(np.asarray(lin.weight.data, dtype=np.float64).T))
            t.bias.copy_(torch.from_numpy(np.asarray(lin.bias.data, dtype=np.float64)))
        layers.append(t)
        if i < len(linears) - 1:
            layers.append(torch.nn.ReLU() if activation == "relu" else torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


@pytest.fixture
def numba_switch(monkeypatch: pytest.MonkeyPatch):
    """``numba_switch("1" | "0")``: compiled kernels on or off for the rest of the test, as ``GLASSNET_NUMBA``
    sets them at start-up (the variable is set too, for child processes and the fingerprints' mode)."""

    def switch(value: str) -> None:
        monkeypatch.setenv("GLASSNET_NUMBA", value)
        monkeypatch.setattr(backend, "kernels_enabled", value != "0")

    return switch
