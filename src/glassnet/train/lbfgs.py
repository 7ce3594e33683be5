"""Full-batch training with scipy's L-BFGS-B over one flat float64 vector of all parameters.

glassnet computes the loss and its gradient (backward plus penalties); scipy does the line
searches and the curvature memory. Suits small data sets, as in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize

from .. import backend
from ..autograd import Tensor
from .penalty import Penalty


class FlatObjective:
    """f(theta) and its gradient for ``module`` on all of (X, Y, W), theta = every parameter, flattened."""

    def __init__(self, module: Any, objective: Callable, penalty: Penalty, X: Any, Y: Any, W: Any = None) -> None:
        self.module, self.objective, self.penalty = module, objective, penalty
        self.X, self.Y, self.W = X, Y, W
        self.params: list[Tensor] = module.parameters()
        self.n = X.shape[0] if W is None else backend.namespace(W).sum(W)
        self.value = 0.0  # the reported loss at the last point evaluated

    def pack(self) -> np.ndarray:
        """The current parameters as one float64 vector."""
        return np.concatenate([backend.to_numpy(p.data).ravel() for p in self.params]).astype(np.float64)

    def unpack(self, theta: np.ndarray) -> None:
        """Write ``theta`` into the parameters, in place."""
        start = 0
        for p in self.params:
            stop = start + p.size
            p.data[...] = backend.asarray(theta[start:stop].reshape(p.shape), like=p.data)
            start = stop

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        self.unpack(theta)
        for p in self.params:
            p.grad = None
        loss, value = self.objective(self.module(self.X), self.Y, self.W)
        loss.backward()
        penalty = self.penalty.add_to_grads(self.n)
        self.value = float(value + penalty)
        grad = np.concatenate([backend.to_numpy(p.grad).ravel() for p in self.params]).astype(np.float64)
        return float(loss.data + penalty), grad


def minimize_lbfgs(fun: FlatObjective, *, max_iter: int, max_fun: int, tol: float,
                   callback: Callable[[float], Any] | None = None) -> scipy.optimize.OptimizeResult:
    """Run L-BFGS-B from the module's current weights and leave it at the solution.

    ``callback(reported_loss)`` runs after each iteration; returning True stops the search.
    """
    def _after_iteration(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        if callback is not None and callback(fun.value):
            raise StopIteration

    result = scipy.optimize.minimize(fun, fun.pack(), method="L-BFGS-B", jac=True, callback=_after_iteration,
                                     options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})
    fun(result.x)  # parameters, gradients and reported loss at the solution
    return result
