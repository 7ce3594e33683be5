"""diagnose: the classic ways training fails, named in words, with the numbers that show them and what to try.

``diagnose(fitted_estimator_or_history)`` reads the per-epoch records (``history_`` of a fitted
estimator, or the list ``glassnet.train.fit`` returns, or a run's ``history.jsonl`` read back) and
applies one rule per kind of failure. The rules and their thresholds:

- ``nan``: an epoch the NaN guard cut short (its record has ``nonfinite``), or a loss that is not finite.
- ``exploding_gradients``: a layer's gradient norm at least 10 times its weight norm (median over the
  epochs), or a gradient norm that grew 1000-fold from the first epoch, or the first layer's gradient
  at least 100 times the last layer's.
- ``vanishing_gradients``: the first layer's gradient norm at most 1/1000 of the last layer's (median).
- ``dead_relu``: half or more of a ReLU layer's units output zero for every probe row (last epoch).
- ``saturation``: half or more of a sigmoid or tanh layer's outputs sit where the slope is below 5 % of
  its peak (last epoch).
- ``lr_too_high``: an update-to-weight ratio of 0.5 or more (a step that moves the weights by half their
  size), or a training loss that rose in 3 of the last 5 epochs by more than a tenth of its earlier
  fall, or 5 or more loss spikes of 10 times the mean loss of the steps before.
- ``lr_too_low``: a median update-to-weight ratio below 1e-4 while the training loss has not halved (and
  the gradients are not what is missing: the largest is at least 1e-3 of its layer's weights).
- ``overfitting``: a validation loss that rose to 1.3 times its minimum, at least 5 epochs (and a tenth
  of the run) later, while the training loss kept falling, in a run without signs of instability
  (nan, exploding gradients, a learning rate too high). Where early stopping kept an epoch's weights,
  it is that epoch's validation loss that counts: weights kept at the lowest one are not overfit.
- ``underfitting``: a training loss that stopped improving (under 1 % over its last 10 epochs) at half
  or more of where it started (for a classifier: of the loss of guessing the classes uniformly), when
  no other finding explains it. Noisy data can look the same: the suggestion says what to try first.

The update ratios, dead and saturated fractions and spikes come from :class:`glassnet.train.Monitor`
(on by default in the estimators); without them the rules that need them stay silent.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("nan", "exploding_gradients", "vanishing_gradients", "dead_relu", "saturation", "lr_too_high",
         "lr_too_low", "overfitting", "underfitting")

EXPLODING_RATIO = 10.0  # gradient norm over weight norm
EXPLODING_GROWTH = 1000.0  # largest gradient norm over the first epoch's
EXPLODING_DEPTH = 100.0  # first layer's gradient norm over the last layer's
VANISHING_DEPTH = 1e-3
DEAD_FRACTION = 0.5
SATURATED_FRACTION = 0.5
HIGH_UPDATE_RATIO = 0.5
LOW_UPDATE_RATIO = 1e-4
SPIKES, SPIKE_SIZE = 5, 10.0
OVERFIT_RISE, OVERFIT_EPOCHS = 1.3, 5
PLATEAU_EPOCHS, PLATEAU_CHANGE, UNDERFIT_FRACTION = 10, 0.01, 0.5


@dataclass
class Finding:
    """One named failure: ``kind`` (one of :data:`KINDS`), ``layer`` (0-based Linear index, or None for the whole
    network), ``epoch`` (1-based, where it shows most, or None), ``message`` (what is wrong, with its numbers),
    ``evidence`` (those numbers by name) and ``suggestion`` (what to try)."""

    kind: str
    layer: int | None
    epoch: int | None
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    suggestion: str = ""

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"layer {self.layer}" if self.layer is not None else "",
                                      f"epoch {self.epoch}" if self.epoch is not None else "") if p)
        return f"{self.kind}{f' ({where})' if where else ''}: {self.message} Try: {self.suggestion}"

    def to_dict(self) -> dict[str, Any]:
        """The finding as plain JSON data."""
        return asdict(self)


@dataclass
class _Run:
    """What the rules read: the epoch records, the complete ones apart, and what the model is."""

    history: list[dict[str, Any]]
    complete: list[dict[str, Any]]  # records of epochs that ran to their end with a finite loss
    chance_loss: float | None  # the loss of a classifier that guesses uniformly, when known
    kept_epoch: int | None  # the epoch whose weights early stopping kept, when it did


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _layered(record: dict[str, Any], key: str) -> list[float | None]:
    values = record.get(key)
    return [v if _finite(v) else None for v in values] if isinstance(values, list) else []


def _largest(values: Sequence[float | None]) -> tuple[int, float] | None:
    """(index, value) of the largest number among ``values``, or None when there is none."""
    found = [(i, v) for i, v in enumerate(values) if v is not None]
    return max(found, key=lambda iv: iv[1]) if found else None


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.1e}"


# ---- the rules ----------------------------------------------------------------------------------------
def _nan(run: _Run) -> list[Finding]:
    for record in run.history:
        event = record.get("nonfinite")
        if isinstance(event, dict):
            target = "target" in str(event.get("cause", ""))
            return [Finding(
                "nan", event.get("layer"), event.get("epoch"),
                f"the {event.get('quantity')} became {event.get('value')} at step {event.get('step')}: "
                f"{event.get('cause')}. Training stopped before that step; the weights are those of the step before.",
                {k: event.get(k) for k in ("step", "quantity", "value", "layer", "cause")},
                ("scale the target (standardize it) or the inputs" if target else
                 "lower the learning rate (learning_rate_init, --lr), clip the gradients (max_grad_norm), or scale "
                 "the inputs (StandardScaler) and the target"))]
    for record in run.history:
        loss = record.get("loss")
        if isinstance(loss, float) and not math.isfinite(loss):
            return [Finding("nan", None, record.get("epoch"), f"the training loss became {loss} in this epoch.",
                            {"loss": str(loss)},
                            "lower the learning rate, clip the gradients, or scale the inputs and the target; "
                            "the estimators' NaN guard (monitor=True) stops at the first bad step")]
    return []


def _depth_ratios(run: _Run) -> list[tuple[int, float]]:
    """(epoch, first layer's gradient norm / last layer's) for every complete epoch where both are positive."""
    out = []
    for r in run.complete:
        g = _layered(r, "grad_norm")
        if len(g) >= 2 and g[0] is not None and g[-1]:
            out.append((r["epoch"], g[0] / g[-1]))
    return out


def _exploding(run: _Run) -> list[Finding]:
    suggestion = ("lower the learning rate, clip the gradients (max_grad_norm, ClipGradNorm), scale the inputs, and "
                  "check the initialization (smaller initial weights)")
    relative = []  # per epoch: (epoch, layer, gradient norm / weight norm) of the worst layer
    for r in run.complete:
        ratios = [g / w if g is not None and w else None
                  for g, w in zip(_layered(r, "grad_norm"), _layered(r, "weight_norm"), strict=False)]
        worst = _largest(ratios)
        if worst is not None:
            relative.append((r["epoch"], *worst))
    if relative:
        median = statistics.median(v for _, _, v in relative)
        if median >= EXPLODING_RATIO:
            epoch, layer, value = max(relative, key=lambda t: t[2])
            return [Finding("exploding_gradients", layer, epoch,
                            f"gradients are far larger than the weights they update: the gradient norm is "
                            f"{_fmt(median)} times the weight norm (median over {_epochs(len(relative))}; "
                            f"{_fmt(value)} for layer {layer} in epoch {epoch}).",
                            {"median_grad_to_weight": median, "max_grad_to_weight": value}, suggestion)]
    largest = [(r["epoch"], _largest(_layered(r, "grad_norm"))) for r in run.complete]
    largest = [(e, lv) for e, lv in largest if lv is not None]
    if len(largest) >= 2 and largest[0][1][1] > 0:
        first = largest[0][1][1]
        epoch, (layer, peak) = max(largest, key=lambda t: t[1][1])
        if peak >= EXPLODING_GROWTH * first:
            return [Finding("exploding_gradients", layer, epoch,
                            f"the gradient norm grew {_fmt(peak / first)}-fold, from {_fmt(first)} in the first epoch "
                            f"to {_fmt(peak)} (layer {layer}, epoch {epoch}).",
                            {"first_grad_norm": first, "peak_grad_norm": peak}, suggestion)]
    depth = _depth_ratios(run)
    if len(depth) >= 1 and statistics.median(v for _, v in depth) >= EXPLODING_DEPTH:
        median = statistics.median(v for _, v in depth)
        return [Finding("exploding_gradients", 0, None,
                        f"the first layer's gradient is {_fmt(median)} times the last layer's (median over "
                        f"{_epochs(len(depth))}): gradients grow as they flow back through the layers.",
                        {"first_to_last_grad": median}, suggestion)]
    return []


def _vanishing(run: _Run) -> list[Finding]:
    depth = _depth_ratios(run)
    if not depth:
        return []
    median = statistics.median(v for _, v in depth)
    if median > VANISHING_DEPTH:
        return []
    return [Finding("vanishing_gradients", 0, None,
                    f"the first layer's gradient is only {_fmt(median)} of the last layer's (median over "
                    f"{_epochs(len(depth))}): the error signal fades as it flows back, and the first layers barely "
                    "learn.",
                    {"first_to_last_grad": median, "layers": len(_layered(run.complete[-1], "grad_norm"))},
                    "use ReLU-like activations (activation='relu') instead of sigmoid or tanh, fewer layers, and "
                    "scaled inputs; Adam copes better than plain SGD")]


def _last_stats(run: _Run, key: str) -> tuple[dict[str, Any], list[float | None]] | None:
    for r in reversed(run.history):
        values = _layered(r, key)
        if any(v is not None for v in values):
            return r, values
    return None


def _fraction_rule(run: _Run, key: str, kind: str, threshold: float, what: str, suggestion: str) -> list[Finding]:
    found = _last_stats(run, key)
    if found is None:
        return []
    record, values = found
    layer, value = _largest(values)
    if value < threshold:
        return []
    first = next((_layered(r, key)[layer] for r in run.history if len(_layered(r, key)) > layer
                  and _layered(r, key)[layer] is not None), None)
    since = f" (it was {first:.0%} in the first epoch)" if first is not None and first != value else ""
    return [Finding(kind, layer, record.get("epoch"),
                    f"{value:.0%} of layer {layer}'s {what}{since}.",
                    {key: values, "first_epoch": first}, suggestion)]


def _dead(run: _Run) -> list[Finding]:
    return _fraction_rule(run, "dead_fraction", "dead_relu", DEAD_FRACTION,
                          "ReLU units output zero for every probe row: they are dead and no longer learn",
                          "lower the learning rate, scale the inputs, check for large negative biases, or use an "
                          "activation that keeps a gradient below zero (activation='leaky_relu', 'elu' or 'gelu')")


def _saturated(run: _Run) -> list[Finding]:
    return _fraction_rule(run, "saturated_fraction", "saturation", SATURATED_FRACTION,
                          "outputs sit in the flat tails of the activation, where its slope is under 5 % of its "
                          "peak: those units pass almost no gradient back",
                          "scale the inputs (StandardScaler), start from smaller weights, lower the learning rate, "
                          "or use ReLU-like activations")


def _update_ratios(run: _Run) -> list[tuple[dict[str, Any], int, float]]:
    """(record, layer, ratio) of the layer with the largest update-to-weight ratio, per epoch that has one."""
    out = []
    for r in run.history:
        worst = _largest(_layered(r, "update_ratio"))
        if worst is not None:
            out.append((r, *worst))
    return out


def _has_lr(run: _Run) -> bool:
    """Whether the run had a learning rate to blame (L-BFGS has none: its line search sizes each step)."""
    return any(r.get("lr") is not None for r in run.history)


def _lr_high(run: _Run) -> list[Finding]:
    if not _has_lr(run):
        return []
    suggestion = "lower the learning rate tenfold (learning_rate_init, --lr), or find one with gn.lr_find / glassnet " \
                 "lr-find"
    ratios = _update_ratios(run)
    if ratios:
        record, layer, value = max(ratios, key=lambda t: t[2])
        if value >= HIGH_UPDATE_RATIO:
            epoch = record.get("epoch")
            size = f"{value:.3g} times their size" if value >= 2 else f"{value:.0%} of their size"
            return [Finding("lr_too_high", layer, epoch,
                            f"one optimizer step changed layer {layer}'s weights by {size} (epoch {epoch}); about "
                            "0.1 % is healthy.",
                            {"update_ratio": value, "lr": record.get("lr")}, suggestion)]
    losses = [(r["epoch"], r["loss"]) for r in run.complete]
    if len(losses) >= 6:
        values = [v for _, v in losses]
        tail = values[-6:]
        rises = sum(b > a for a, b in itertools.pairwise(tail))
        fall = values[0] - min(values)
        if rises >= 3 and fall > 0 and values[-1] - min(values) > 0.1 * fall:
            return [Finding("lr_too_high", None, losses[-1][0],
                            f"the training loss rose in {rises} of the last 5 epochs, to {_fmt(values[-1])} from a "
                            f"low of {_fmt(min(values))}.",
                            {"losses": tail, "lowest": min(values)}, suggestion)]
    spikes = sum(r.get("loss_spikes") or 0 for r in run.history)
    peaks = [r.get("loss_spike_max") for r in run.history if _finite(r.get("loss_spike_max"))]
    if spikes >= SPIKES and peaks and max(peaks) >= SPIKE_SIZE:
        return [Finding("lr_too_high", None, None,
                        f"{spikes} steps had a loss spike (up to {_fmt(max(peaks))} times the mean of the steps "
                        "before): training is unstable.", {"loss_spikes": spikes, "loss_spike_max": max(peaks)},
                        suggestion)]
    return []


def _relative_gradients(run: _Run) -> list[float]:
    """Per complete epoch, the largest ratio of a layer's gradient norm to its weight norm."""
    out = []
    for r in run.complete:
        ratios = [g / w if g is not None and w else None
                  for g, w in zip(_layered(r, "grad_norm"), _layered(r, "weight_norm"), strict=False)]
        worst = _largest(ratios)
        if worst is not None:
            out.append(worst[1])
    return out


def _lr_low(run: _Run) -> list[Finding]:
    if not _has_lr(run):
        return []
    ratios = _update_ratios(run)
    gradients = _relative_gradients(run)
    if not ratios or len(run.complete) < 2 or not gradients:
        return []
    median = statistics.median(v for _, _, v in ratios)
    first, last = run.complete[0]["loss"], run.complete[-1]["loss"]
    # small steps from a real gradient: the rate is to blame (no gradient at all is another finding's business)
    if median >= LOW_UPDATE_RATIO or last <= UNDERFIT_FRACTION * first or statistics.median(gradients) < 1e-3:
        return []
    return [Finding("lr_too_low", None, None,
                    f"a step changes the weights by only {_fmt(median)} of their size (median over "
                    f"{_epochs(len(ratios))} measured; about 1e-3 is healthy), and the training loss went only from "
                    f"{_fmt(first)} to {_fmt(last)} in {_epochs(len(run.complete))}.",
                    {"median_update_ratio": median, "first_loss": first, "last_loss": last},
                    "raise the learning rate tenfold or more (learning_rate_init, --lr), or find one with "
                    "gn.lr_find / glassnet lr-find")]


def _overfitting(run: _Run) -> list[Finding]:
    series = [(r["epoch"], r["val_loss"], r["loss"]) for r in run.complete if _finite(r.get("val_loss"))]
    if len(series) < OVERFIT_EPOCHS + 1:
        return []
    best = min(range(len(series)), key=lambda i: series[i][1])
    epoch, low, train_at_best = series[best]
    after = series[best + 1:]
    # the model's weights: those of the last epoch, or those early stopping kept
    judged = next((i for i, s in enumerate(series) if s[0] == run.kept_epoch), len(series) - 1)
    judged_epoch, judged_loss, judged_train = series[judged]
    if (len(after) < max(OVERFIT_EPOCHS, 0.1 * len(series)) or judged_loss < OVERFIT_RISE * low
            or judged_train >= train_at_best):
        return []
    whose = (f"the weights early stopping kept, from epoch {judged_epoch}, have a validation loss of "
             f"{_fmt(judged_loss)}" if run.kept_epoch is not None else
             f"it rose to {_fmt(judged_loss)} by epoch {judged_epoch}")
    return [Finding("overfitting", None, epoch,
                    f"the validation loss was lowest at epoch {epoch} ({_fmt(low)}), and {whose}, while the "
                    f"training loss kept falling ({_fmt(train_at_best)} to {_fmt(judged_train)}).",
                    {"best_epoch": epoch, "best_val_loss": low, "judged_epoch": judged_epoch,
                     "final_val_loss": judged_loss, "train_loss_at_best": train_at_best,
                     "final_train_loss": judged_train},
                    "stop earlier (early_stopping=True with validation_metric='loss' keeps the epoch of the lowest "
                    "validation loss), regularize (alpha, dropout), use a smaller network, or get more data")]


def _underfitting(run: _Run) -> list[Finding]:
    losses = [r["loss"] for r in run.complete]
    if len(losses) < PLATEAU_EPOCHS + 1:
        return []
    recent = losses[-PLATEAU_EPOCHS - 1]
    if recent <= 0 or (recent - losses[-1]) / recent >= PLATEAU_CHANGE:
        return []
    reference = losses[0] if run.chance_loss is None else min(losses[0], run.chance_loss)
    if losses[-1] < UNDERFIT_FRACTION * reference:
        return []
    against = "guessing the classes uniformly" if reference == run.chance_loss else "the first epoch"
    return [Finding("underfitting", None, None,
                    f"the training loss settled at {_fmt(losses[-1])}, {losses[-1] / reference:.0%} of {against} "
                    f"({_fmt(reference)}), and improved by under 1 % in its last {PLATEAU_EPOCHS} epochs: the model "
                    "does not fit even the training data (on noisy data that may be all the features allow).",
                    {"final_loss": losses[-1], "reference_loss": reference},
                    "use a larger network (hidden_layer_sizes), less regularization (alpha, l1, dropout), more "
                    "epochs, or better features")]


RULES: tuple[Callable[[_Run], list[Finding]], ...] = (
    _nan, _exploding, _vanishing, _dead, _saturated, _lr_high, _lr_low)
# overfitting is reported only when training was stable (a diverging run's validation loss rises too), and
# underfitting only when nothing else explains a model that does not learn
UNSTABLE = {"nan", "exploding_gradients", "lr_too_high"}
EXPLAINS_UNDERFITTING = {"nan", "exploding_gradients", "vanishing_gradients", "dead_relu", "saturation", "lr_too_high",
                         "lr_too_low"}


def _kept_epoch(obj: Any, history: list[dict[str, Any]]) -> int | None:
    """The epoch whose weights an estimator's early stopping kept (the lowest validation loss, or the last of the
    best validation scores, as the estimators keep them); None without early stopping."""
    if not getattr(obj, "early_stopping", False) or getattr(obj, "validation_scores_", None) is None:
        return None
    if getattr(obj, "validation_metric", "score") == "loss":
        scored = [(r["val_loss"], r["epoch"]) for r in history if _finite(r.get("val_loss")) and "epoch" in r]
        return min(scored)[1] if scored else None
    scored = [(r["val_score"], r["epoch"]) for r in history if _finite(r.get("val_score")) and "epoch" in r]
    return max(scored)[1] if scored else None


def _history_of(obj: Any) -> tuple[list[dict[str, Any]], float | None, int | None]:
    """(records, chance-level loss or None, the epoch early stopping kept or None) of a fitted estimator or a list
    of records."""
    if hasattr(obj, "history_"):
        history = list(obj.history_ or [])
        chance = None
        classes = getattr(obj, "classes_", None)
        head = getattr(obj, "out_activation_", None)
        if classes is not None and head == "softmax":
            chance = math.log(len(classes))
        elif head == "logistic":
            chance = math.log(2.0) * int(getattr(obj, "n_outputs_", 1))
        return history, chance, _kept_epoch(obj, history)
    if isinstance(obj, (list, tuple)) and all(isinstance(r, dict) for r in obj):
        return list(obj), None, None
    raise TypeError(f"diagnose takes a fitted estimator (with history_) or a list of per-epoch records, "
                    f"got {type(obj).__name__}")


def diagnose(fitted_estimator_or_history: Any) -> list[Finding]:
    """The findings that name what went wrong in a training run; an empty list when it was healthy.

    Takes a fitted estimator (its ``history_``) or a list of per-epoch records (what
    ``glassnet.train.fit`` returns, a run's ``history.jsonl`` read back). Each :class:`Finding` has a
    ``kind`` (``"nan"``, ``"exploding_gradients"``, ``"vanishing_gradients"``, ``"dead_relu"``,
    ``"saturation"``, ``"lr_too_high"``, ``"lr_too_low"``, ``"overfitting"``, ``"underfitting"``), the
    ``layer`` and ``epoch`` where it shows, a ``message`` with the numbers, the ``evidence`` and a
    ``suggestion``. The rules are listed in this module's docstring.

    Examples
    --------
    >>> import numpy as np
    >>> import glassnet as gn
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = gn.MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=1e-7, max_iter=20, random_state=0)
    >>> [f.kind for f in gn.diagnose(clf.fit(X, y))]
    ['lr_too_low']
    """
    history, chance, kept = _history_of(fitted_estimator_or_history)
    complete = [r for r in history if "nonfinite" not in r and _finite(r.get("loss")) and "epoch" in r]
    run = _Run(history, complete, chance, kept)
    findings = [f for rule in RULES for f in rule(run)]
    if not any(f.kind in UNSTABLE for f in findings):
        findings += _overfitting(run)
    if not any(f.kind in EXPLAINS_UNDERFITTING for f in findings):
        findings += _underfitting(run)
    return findings


def summary(findings: Sequence[Finding]) -> str:
    """The findings as lines of text for a terminal: one paragraph each, or a line saying training looked healthy."""
    if not findings:
        return "health: no problems found (gradients, activations, learning rate and losses look normal)"
    return "\n".join(f"health: {f}" for f in findings)
