"""Full-batch training with scipy's L-BFGS-B over one flat float64 vector of all parameters.

glassnet computes the loss and its gradient (one batch of the fit loop: forward, backward,
``on_after_backward`` callbacks such as penalties); scipy does the line searches and keeps the
curvature memory. Each L-BFGS iteration is an epoch of the loop, each function-and-gradient
evaluation a batch. Suits small data sets, as in scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import backend
from ..autograd import Tensor


class LBFGS:
    """L-BFGS-B on ``params``: pass it to the fit loop as the optimizer; it drives the loop's epochs.

    Stops after ``max_fun`` evaluations (checked at the end of an iteration), when the projected
    gradient's largest entry falls below ``tol``, or when the loss stops decreasing (scipy's rules).
    The training data must come as one batch (``batch_size=None``). ``result`` is scipy's
    ``OptimizeResult`` of the last run.
    """

    def __init__(self, params: Iterable[Tensor], *, max_fun: int = 15000, tol: float = 1e-5) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("LBFGS got an empty parameter list")
        self.max_fun, self.tol = int(max_fun), float(tol)
        self.result: Any = None  # scipy.optimize.OptimizeResult

    def zero_grad(self) -> None:
        """Drop the gradients before an evaluation."""
        for p in self.params:
            p.grad = None

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

    def gradient(self) -> np.ndarray:
        """All gradients as one float64 vector."""
        return np.concatenate([backend.to_numpy(p.grad).ravel() for p in self.params]).astype(np.float64)

    def drive(self, loop: Any, epochs: int) -> None:
        """Run L-BFGS-B from the current weights up to epoch ``epochs`` and leave the parameters at its solution.

        An epoch begins with its first evaluation; one cut short (a failed line search, Ctrl-C) gets
        no ``on_epoch_end``. Afterwards ``state.loss`` and ``state.objective`` are those of the solution.
        """
        import scipy.optimize  # here: importing it takes a while, and only L-BFGS needs it

        state = loop.state
        self.result = None
        if state.epoch >= epochs:
            return
        batches = list(state.train_data.batches(state.rng))
        if len(batches) != 1:
            raise ValueError(f"L-BFGS needs the training data as one batch (batch_size=None), got {len(batches)}")
        batch = batches[0]
        in_epoch = False
        iterate: tuple[np.ndarray, Any, Any] | None = None  # scipy's current iterate: (theta, loss, objective)

        def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
            nonlocal in_epoch, iterate
            if not in_epoch:
                loop.begin_epoch()
                in_epoch = True
            self.unpack(theta)
            loop.forward_backward(batch)
            loop.end_batch()
            if iterate is None:  # the starting point
                iterate = theta.copy(), state.loss, state.objective
            return float(state.objective), self.gradient()

        def after_iteration(intermediate_result: Any) -> None:
            nonlocal in_epoch, iterate
            in_epoch = False
            iterate = intermediate_result.x.copy(), state.loss, state.objective
            if loop.end_epoch(float(state.loss)):
                raise StopIteration

        try:
            self.result = scipy.optimize.minimize(
                fun, self.pack(), method="L-BFGS-B", jac=True, callback=after_iteration,
                options={"maxfun": self.max_fun, "maxiter": epochs - state.epoch, "gtol": self.tol})
        finally:  # also when interrupted: back to the last iterate
            if iterate is not None:
                theta, state.loss, state.objective = iterate
                self.unpack(theta if self.result is None else self.result.x)

    def state_dict(self) -> dict[str, Any]:
        """L-BFGS keeps its curvature memory inside scipy: a run cannot be saved part way."""
        raise TypeError("an L-BFGS run cannot be checkpointed: its curvature memory lives inside scipy")
