"""Monitor: the health of training per layer, cheap enough to leave on, added to every epoch's record.

Per layer (layer ``k`` is the ``k``-th Linear): the update-to-weight ratio of an optimizer step, the
fraction of dead ReLU units and of saturated sigmoid/tanh units; per epoch, the loss spikes. Together
with the gradient and weight norms that :class:`~glassnet.train.History` records, they are what
``gn.diagnose`` reads.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from ... import backend
from ...autograd import Tensor
from .base import Callback
from .layers import frobenius, layer_outputs, linear_layers

MIN_STEPS = 200  # by default, measurements are at least this many steps apart (see Monitor)
SPIKE_WINDOW = 20  # a step's loss is compared with the mean of the steps before it
SPIKE_FACTOR = 4.0  # ... and is a spike above this many times that mean
SLOPE_FLOOR = 0.05  # a sigmoid/tanh output is saturated where the slope is below this fraction of its peak
_LOSS_BUFFER = 4096  # losses kept before they are reduced to spike counts


class Monitor(Callback):
    """Adds the health of training to every epoch's record (``state.metrics``, the history, ``history_``).

    - ``update_ratio``: per layer, ||ΔW|| / ||W|| of the weights over one optimizer step (the mean over
      the epoch's measured steps). Around 1e-3 is healthy; far above, the learning rate is too high,
      far below, too low.
    - ``dead_fraction``: per layer, the fraction of its ReLU units that output zero for every row of
      the probe batch (None for a layer not followed by a ReLU).
    - ``saturated_fraction``: per layer, the fraction of its sigmoid or tanh outputs on the probe batch
      where the activation's slope is below 5 % of its peak (None for other layers).
    - ``loss_spikes``: the epoch's steps whose loss exceeded 4 times the mean loss of the 20 steps
      before; ``loss_spike_max``: the largest such ratio seen in the epoch (None before 21 steps).

    Which steps are measured: by default (``every=None``) the first step of the first epoch, then the
    first step of an epoch once at least 200 steps have passed since the last measurement (every
    epoch, where epochs are that long), so that the monitor costs a few per cent at most even when an
    epoch is a single step; ``every=N`` measures every N-th step instead. The activation statistics
    are taken at the end of each epoch with a measurement, and once more when training ends (into
    the last record), from a fixed probe batch run layer by layer without gradients (which needs an
    :class:`~glassnet.nn.Sequential` such as :class:`~glassnet.nn.MLP`; they are None for other
    modules): ``probe`` (input rows), or else the first ``probe_size`` training rows the loop
    delivers. Epochs without a measurement record None for those fields; loss spikes are counted at
    every step. Per batch the monitor keeps the batch's loss and compares a step count. It reads the
    model and never changes it: the weights, the random streams and the order of operations are
    those of a run without it. Put it before callbacks that read the epoch's record.

    Under an optimizer that drives the loop itself (:class:`~glassnet.train.LBFGS`), an epoch is one
    iteration: its update ratio spans the whole iteration and every iteration's is measured, the activation
    statistics are taken at least 200 evaluations apart (and at the end), and loss spikes are counted among
    the iterations' losses, not among the trial points of a line search.
    """

    def __init__(self, every: int | None = None, probe: Any = None, probe_size: int = 256) -> None:
        if every is not None and (int(every) != every or every < 1):
            raise ValueError(f"every must be a positive number of steps or None (once per epoch), got {every!r}")
        if int(probe_size) != probe_size or probe_size < 1:
            raise ValueError(f"probe_size must be a positive number of rows, got {probe_size!r}")
        self.every = None if every is None else int(every)
        self.probe_size = int(probe_size)
        self.probe = probe.data if isinstance(probe, Tensor) else probe
        self._weights: list[Tensor] = []
        self._parts: list[Any] = []  # probe rows collected so far
        self._losses: list[Any] = []  # the losses of the steps since the last reduction
        self._window: deque[float] = deque(maxlen=SPIKE_WINDOW)  # the last losses, as context for the next ones
        self._snapshot: list[Any] | None = None  # the weights before the step to be measured
        self._measure_at: int | None = None
        self._measured: int | None = None  # the last step measured
        self._since: int | None = None  # steps from the last measurement to a resumed run's start
        self._step = 0  # the last epoch's end, in steps
        self._ratios: list[list[float | None]] = []
        self._spikes, self._spike_max = 0, None
        self._records = 0
        self._next = 0
        self._driven = False
        self._probed: int | None = None  # under L-BFGS: the step of the last activation statistics

    # ---- the loop's phases ------------------------------------------------------------------------
    def on_train_begin(self, state: Any) -> None:
        self._weights = [layer.weight for layer in linear_layers(state.module)]
        self._on_numpy = not self._weights or backend.is_numpy(self._weights[0].xp)
        self._driven = getattr(state.optimizer, "drive", None) is not None  # L-BFGS runs the loop's epochs itself
        self._probed = None
        if isinstance(self.probe, np.ndarray) and not self._on_numpy:  # a resumed run's probe, saved on the host
            self.probe = backend.asarray(self.probe, like=self._weights[0].data)
        self._parts, self._losses, self._ratios = [], [], []
        self._snapshot, self._measure_at = None, None
        if self._since is not None:  # resumed: the last measurement was that many steps before this one
            self._measured, self._since = state.step - self._since, None
        elif self._measured is not None and self._measured > state.step:  # a new run
            self._measured = None
        self._records = len(state.history)
        if self.every is not None and state.step % self.every == self.every - 1:
            self._take_snapshot(state.step + 1)
        self._schedule(state.step)

    def on_epoch_begin(self, state: Any) -> None:
        self._records = len(state.history)
        self._spikes, self._spike_max = 0, None
        if self._driven:  # an iteration of L-BFGS: measured whole, however many evaluations its line search takes
            self._take_snapshot(state.step)
            return
        if self.every is None and (self._measured is None or state.step - self._measured >= MIN_STEPS):
            self._take_snapshot(state.step + 1)
            self._schedule(state.step)

    def on_batch_end(self, state: Any) -> None:
        if self._driven:  # a trial point of a line search: neither a step nor a loss of the run
            if self.probe is None:
                self._collect(state.batch.x)
            return
        self._losses.append(state.loss)
        if state.step >= self._next:
            self._act(state)

    def on_epoch_end(self, state: Any) -> None:
        self._step = state.step
        if self._driven:
            self._losses.append(state.metrics["loss"])
            if self._snapshot is not None:
                self._measure()
        if self.probe is None and self._parts:  # fewer rows than probe_size in the whole epoch
            self.probe = self._parts[0] if len(self._parts) == 1 else backend.namespace(self._parts[0]).concat(
                self._parts, axis=0)
            self._parts = []
        self._reduce_losses()
        none = [None] * len(self._weights)
        measured = bool(self._ratios)
        probed = measured and not (self._driven and self._probed is not None and state.step - self._probed < MIN_STEPS)
        if probed and self._driven:
            self._probed = state.step
        stats = {"update_ratio": self._mean_ratios() if measured else none,
                 **(self.activation_stats(state.module) if probed else
                    {"dead_fraction": none, "saturated_fraction": list(none)}),
                 "loss_spikes": self._spikes, "loss_spike_max": self._spike_max}
        self._ratios = []
        state.metrics.update(stats)
        if len(state.history) > self._records:  # a History before this callback has recorded the epoch already
            state.history[-1].update(stats)

    def on_train_end(self, state: Any) -> None:
        last = state.history[-1] if len(state.history) > self._records else None
        if last is not None and not any(v is not None for v in last.get("dead_fraction", [0]) +
                                        last.get("saturated_fraction", [])):
            last.update(self.activation_stats(state.module))  # the trained network's units, measured once more

    # ---- what it measures ---------------------------------------------------------------------------
    def activation_stats(self, module: Any) -> dict[str, list[float | None]]:
        """``dead_fraction`` and ``saturated_fraction`` per layer on the probe batch (all None without one)."""
        n = len(self._weights)
        dead: list[float | None] = [None] * n
        saturated: list[float | None] = [None] * n
        outputs = layer_outputs(module, self.probe) if self.probe is not None else None
        for out in outputs or []:
            a = out.output
            if a is None or out.activation not in ("relu", "sigmoid", "tanh"):
                continue
            xp = backend.namespace(a)
            if out.activation == "relu":
                dead[out.index] = 1.0 - float(xp.sum(xp.astype(xp.any(a > 0, axis=0), xp.float64))) / a.shape[1]
                continue
            slope = 4.0 * a * (1.0 - a) if out.activation == "sigmoid" else 1.0 - a * a
            saturated[out.index] = float(xp.mean(xp.astype(slope < SLOPE_FLOOR, xp.float64)))
        return {"dead_fraction": dead, "saturated_fraction": saturated}

    def _act(self, state: Any) -> None:
        """Whatever is due at this step: a measurement, a snapshot of the weights, probe rows, a reduction."""
        step = state.step
        if self._measure_at is not None and step >= self._measure_at:
            self._measure()
        if self.every is not None and step % self.every == self.every - 1:
            self._take_snapshot(step + 1)
        if self.probe is None:
            self._collect(state.batch.x)
        if len(self._losses) >= _LOSS_BUFFER:
            self._reduce_losses()
        self._schedule(step)

    def _schedule(self, step: int) -> None:
        """The next step at whose end :meth:`_act` has something to do."""
        nxt = step + max(1, _LOSS_BUFFER - len(self._losses))
        if self.probe is None:
            nxt = step + 1
        if self._measure_at is not None:
            nxt = min(nxt, self._measure_at)
        if self.every is not None:
            nxt = min(nxt, step + (self.every - 1 - step % self.every or self.every))
        self._next = nxt

    def _take_snapshot(self, measure_at: int) -> None:
        self._snapshot = [w.xp.asarray(w.data, copy=True) for w in self._weights]
        self._measure_at = measure_at

    def _measure(self) -> None:
        ratios: list[float | None] = []
        for w, before in zip(self._weights, self._snapshot or [], strict=True):
            size = frobenius(before)
            ratios.append(frobenius(w.data - before) / size if size > 0 else None)
        self._ratios.append(ratios)
        self._measured = self._measure_at
        self._snapshot, self._measure_at = None, None

    def _mean_ratios(self) -> list[float | None]:
        if not self._ratios:
            return [None] * len(self._weights)
        columns = zip(*self._ratios, strict=True)
        return [None if any(v is None for v in col) else sum(col) / len(col) for col in columns]

    def _collect(self, x: Any) -> None:
        x = x.data if isinstance(x, Tensor) else x
        self._parts.append(x)
        rows = sum(p.shape[0] for p in self._parts)
        if rows >= self.probe_size:
            whole = self._parts[0] if len(self._parts) == 1 else backend.namespace(x).concat(self._parts, axis=0)
            self.probe, self._parts = whole[: self.probe_size, ...], []

    def _reduce_losses(self) -> None:
        """Count the spikes among the losses kept so far, each against the mean of the SPIKE_WINDOW finite losses
        before it (plain Python: an epoch holds a few dozen losses, where NumPy's set-up costs more than the sums)."""
        if not self._losses:
            return
        if self._on_numpy:
            values = [float(v) for v in self._losses]
        else:  # one transfer from the device for all of them
            xp = backend.namespace(self._weights[0].data)
            values = backend.to_numpy(xp.stack([xp.asarray(v) for v in self._losses])).astype(np.float64).tolist()
        self._losses = []
        window, peak = self._window, self._spike_max
        for value in values:
            if not math.isfinite(value):
                continue
            if len(window) == SPIKE_WINDOW and value >= 0:
                mean = sum(window) / SPIKE_WINDOW
                if mean > 0:
                    ratio = value / mean
                    self._spikes += ratio > SPIKE_FACTOR
                    peak = ratio if peak is None or ratio > peak else peak
            window.append(value)
        self._spike_max = peak

    # ---- resuming ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The probe batch, the last losses and the steps since the last measurement, so that a resumed run
        measures as this one would (whatever its step count starts from)."""
        probe = None if self.probe is None else np.array(backend.to_numpy(self.probe))
        since = None if self._measured is None else self._step - self._measured
        return {"probe": probe, "tail": list(self._window), "steps_since_measured": since}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("probe") is not None:
            self.probe = np.asarray(state["probe"])
        self._window = deque((float(v) for v in state.get("tail", [])), maxlen=SPIKE_WINDOW)
        self._since = state.get("steps_since_measured")
