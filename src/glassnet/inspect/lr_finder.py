"""lr_find: the learning-rate range test (L. Smith, 2017), as fastai's and Lightning's LR finders run it.

Training starts at ``start_lr`` and multiplies the rate by the same factor at every step, up to
``end_lr`` after ``num_steps`` steps (or until the loss runs away), recording each step's loss. The
loss first barely moves (the rate is too small to matter), then falls, then blows up (too large). The
suggestion is read off the exponentially smoothed curve by one rule, fastai's "valley":

    leave out the first tenth of the steps and the last five; find the longest valley, the longest run
    of points each lower than the one before it in the run (a decreasing subsequence); suggest the
    rate halfway down it (a third of its length, and half a third again, from its start).

(fastai's default since 2021. It sits well below the cliff where the loss blows up, and below the
steepest point that Lightning suggests: a rate that is good for a long run to convergence, as
``glassnet train --lr auto`` makes with early stopping, and still faster than a timid default.) The
result says when the curve cannot be trusted: when the loss never falls clearly, when it falls by less
than its own step-to-step noise, or when too few points precede the minimum. The model's weights, its
training mode and its random streams are left as they were.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend
from .. import functional as F
from ..data import as_source
from ..train import Callback, Loop, StopTraining, generator_state, set_generator_state

SKIP_START, SKIP_END = 0.1, 5  # the first tenth of the steps and the last five are left out of the search
MIN_DROP = 0.05  # the smoothed loss must fall by at least 5 % of where it started
MIN_POINTS = 10  # points needed before the minimum


@dataclass
class TrainingSetup:
    """What the range test trains: a module, its loss function ``loss_fn(output, y[, w])``, an optimizer whose
    ``lr`` is set every step, a batch source, callbacks to run on the way (penalties, clipping) and the
    generator that shuffles; the module is a copy that the test may change. Estimators give one through
    ``_lr_find_setup(X, y)``."""

    module: Any
    loss_fn: Callable[..., Any]
    optimizer: Any
    data: Any
    callbacks: list[Any] = field(default_factory=list)
    rng: Any = None


@dataclass
class LRFinderResult:
    """The range test's curve and what it suggests.

    ``lrs`` and ``losses`` (exponentially smoothed, bias-corrected) and ``raw_losses``, one per step;
    ``suggestion``, the rate the documented rule picks (None when the loss never fell); ``reliable``,
    False when the curve is too flat or too noisy to trust, with ``note`` saying why (or how the
    suggestion was found).
    """

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestion: float | None
    reliable: bool
    note: str

    def plot(self, path: Any = None, ax: Any = None) -> Any:
        """Loss against learning rate (log scale), the raw losses faint, the suggestion marked; saved to
        ``path`` when given. Returns the matplotlib Figure."""
        if ax is None:
            try:
                from matplotlib.figure import Figure
            except ImportError as e:
                raise ImportError("plots need matplotlib: pip install 'glassnet[plot]'") from e
            fig = Figure(figsize=(6, 4), dpi=100, layout="tight")
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        ax.plot(self.lrs, self.raw_losses, color="tab:blue", alpha=0.25, linewidth=1, label="loss per step")
        ax.plot(self.lrs, self.losses, color="tab:blue", label="smoothed")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="tab:red", linestyle="--",
                       label=f"suggestion {self.suggestion:.2g}" + ("" if self.reliable else " (unreliable)"))
        ax.set_xscale("log")
        finite = [v for v in self.losses if math.isfinite(v)]
        if finite:  # the blow-up at the end would flatten everything else: show the fall down to the minimum
            lowest = self.losses.index(min(finite))
            low = min([min(finite), *(v for v in self.raw_losses[: lowest + 1] if math.isfinite(v))])
            high = self.losses[0] if math.isfinite(self.losses[0]) else max(finite)
            ax.set_ylim(low - 0.1 * (high - low), high + 0.5 * (high - low) + 1e-12)
        ax.set(title="Learning-rate range test", xlabel="learning rate", ylabel="training loss")
        ax.grid(alpha=0.3)
        ax.legend()
        if path is not None:
            fig.savefig(path)
        return fig


class _Sweep(Callback):
    """Sets each step's rate, records its loss, and stops at the last step or when the loss runs away."""

    def __init__(self, lrs: np.ndarray, smoothing: float, diverge: float) -> None:
        self.lrs, self.smoothing, self.diverge = lrs, smoothing, diverge
        self.raw: list[float] = []
        self.smoothed: list[float] = []
        self._average = 0.0

    def on_batch_begin(self, state: Any, batch: Any) -> None:
        state.optimizer.lr = float(self.lrs[len(self.raw)])

    def on_batch_end(self, state: Any) -> None:
        loss = float(state.loss)
        self.raw.append(loss)
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        smoothed = self._average / (1 - self.smoothing ** len(self.raw))
        self.smoothed.append(smoothed)
        best = min(self.smoothed)
        if (not math.isfinite(smoothed) or (len(self.raw) > 1 and smoothed > self.diverge * best and best > 0)
                or len(self.raw) == len(self.lrs)):
            raise StopTraining("the range test is over")


def _valley(s: np.ndarray) -> tuple[int, int]:
    """(start, end) of the longest valley of ``s``: the end of its longest decreasing subsequence, and that
    subsequence's length before it (fastai's reading)."""
    length = [1] * len(s)
    end = 0
    for i in range(1, len(s)):
        for j in range(i):
            if s[i] < s[j] and length[i] < length[j] + 1:
                length[i] = length[j] + 1
        if length[i] > length[end]:
            end = i
    return max(end - length[end], 0), end


def suggest(lrs: list[float], losses: list[float], raw_losses: list[float]) -> tuple[float | None, bool, str]:
    """(suggested rate, reliable, note) by the rule in the module docstring."""
    s = np.asarray(losses, dtype=np.float64)
    raw = np.asarray(raw_losses, dtype=np.float64)
    finite = np.isfinite(s)
    if finite.sum() < 3:
        return None, False, "the loss was not finite from the start: lower start_lr or check the data"
    s, raw, lr = s[finite], raw[finite], np.asarray(lrs, dtype=np.float64)[: len(finite)][finite]
    lowest = int(np.argmin(s))
    scale = max(abs(s[0]), 1e-12)
    drop = (s[0] - s[lowest]) / scale
    if drop < MIN_DROP:
        return None, False, (f"the loss never fell clearly (by {drop:.1%} at most): widen the range (start_lr, "
                             "end_lr), take more steps, or check the model and the data")
    first, last = int(SKIP_START * len(s)), len(s) - SKIP_END
    if last - first < 3:  # a short curve: all of it
        first, last = 0, len(s)
    start, end = _valley(s[first:last])
    third = (end - start) / 3
    index = first + start + int(third) + int(third / 2)
    suggestion = float(lr[index])
    noise = float(np.median(np.abs(np.diff(raw[: lowest + 1])))) / scale if lowest >= 1 else 0.0
    if lowest < MIN_POINTS:
        return suggestion, False, (f"the loss was lowest after only {lowest + 1} steps, too few to read the curve: "
                                   "lower start_lr or take more steps")
    if noise >= drop / 2:
        return suggestion, False, (f"the curve is too noisy to trust: the loss jumps by {noise:.1%} of its level from "
                                   f"step to step while the smoothed loss falls only {drop:.1%}; use larger batches "
                                   "or more steps")
    return suggestion, True, (f"halfway down the longest valley, from lr {lr[first + start]:.2g} to "
                              f"{lr[first + end]:.2g}; the smoothed loss falls {drop:.0%} to its lowest at lr "
                              f"{lr[lowest]:.2g}")


def _module_setup(module: Any, X: Any, y: Any, loss_fn: Any, optimizer: Any, batch_size: int | None,
                  rng: Any) -> TrainingSetup:
    params = module.parameters()
    if not params:
        raise ValueError("lr_find: the module has no parameters to train")
    xp, dtype = backend.namespace(params[0].data), params[0].data.dtype
    if loss_fn is None:
        y_host = np.asarray(backend.to_numpy(y)) if not isinstance(y, np.ndarray) else y
        loss_fn = F.cross_entropy if y_host.dtype.kind in "iub" and y_host.ndim == 1 else F.mse_loss
    from .. import optim

    opt = (optimizer or optim.Adam)(params, lr=1e-7)
    data = as_source((X, y), batch_size=batch_size, shuffle=True, xp=xp, dtype=dtype)
    return TrainingSetup(module, loss_fn, opt, data, [], backend.get_rng(rng))


def lr_find(estimator_or_module: Any, X: Any, y: Any, start_lr: float = 1e-7, end_lr: float = 10.0,
            num_steps: int = 100, *, loss_fn: Callable[..., Any] | None = None, optimizer: Any = None,
            batch_size: int | None = 32, smoothing: float = 0.98, diverge: float = 4.0,
            rng: Any = 0) -> LRFinderResult:
    """Run the learning-rate range test on (X, y) and return the curve with a suggested rate.

    ``estimator_or_module``: a glassnet estimator (fitted: from its weights; unfitted: from the
    weights ``fit`` would start from, its solver, batch size and penalties) or an ``nn.Module``
    (with ``loss_fn``, default cross-entropy for integer labels and MSE otherwise; ``optimizer``, an
    optimizer class called as ``optimizer(params, lr=...)``, default Adam; ``batch_size``). The rate
    grows geometrically from ``start_lr`` to ``end_lr`` over ``num_steps`` steps, cycling through the
    data as often as needed; the test stops early once the smoothed loss exceeds ``diverge`` times
    its minimum. Afterwards the model is exactly as it was (weights, training mode, random streams).
    The rule for the suggestion and for calling a curve unreliable is in this module's docstring.

    Examples
    --------
    >>> import numpy as np
    >>> import glassnet as gn
    >>> X = np.random.default_rng(0).normal(size=(512, 4)).astype(np.float32)
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    >>> model = gn.nn.MLP([4, 16, 2], rng=0)
    >>> before = model.state_dict()
    >>> result = gn.lr_find(model, X, y)
    >>> 1e-4 < result.suggestion < 1.0
    True
    >>> all((before[k] == v).all() for k, v in model.state_dict().items())
    True
    """
    if not (0 < start_lr < end_lr and math.isfinite(end_lr)):
        raise ValueError(f"lr_find needs 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if int(num_steps) != num_steps or num_steps < 2:
        raise ValueError(f"num_steps must be an integer of at least 2, got {num_steps!r}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    if not diverge > 1:
        raise ValueError(f"diverge must be above 1, got {diverge}")
    default_rng = backend.get_rng(None)
    saved_rng = generator_state(default_rng)
    try:  # on a copy of the network, so that the model itself is left as it was
        if hasattr(estimator_or_module, "_lr_find_setup"):
            setup = estimator_or_module._lr_find_setup(X, y)
        elif hasattr(estimator_or_module, "parameters") and hasattr(estimator_or_module, "state_dict"):
            setup = _module_setup(copy.deepcopy(estimator_or_module), X, y, loss_fn, optimizer, batch_size, rng)
        else:
            raise TypeError(f"lr_find takes a glassnet estimator or an nn.Module, got "
                            f"{type(estimator_or_module).__name__}")
        lrs = np.geomspace(start_lr, end_lr, int(num_steps))
        sweep = _Sweep(lrs, smoothing, diverge)
        loop = Loop(setup.module, setup.loss_fn, setup.optimizer, setup.data, callbacks=[*setup.callbacks, sweep],
                    rng=setup.rng)
        loop.run(int(num_steps))  # at least one batch an epoch: enough epochs for every step
    finally:
        set_generator_state(default_rng, saved_rng)  # dropout without a generator of its own draws from it
    done = len(sweep.raw)
    suggestion, reliable, note = suggest(list(lrs[:done]), sweep.smoothed, sweep.raw)
    return LRFinderResult([float(v) for v in lrs[:done]], sweep.smoothed, sweep.raw, suggestion, reliable, note)
