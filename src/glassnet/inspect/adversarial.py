"""Adversarial training: a fit-loop callback that swaps part of each batch for adversarial rows.

It lives in inspect, beside the attacks it uses, rather than among the engine's callbacks in
``train/callbacks`` (which may not import inspect). At ``on_batch_begin`` the first ``fraction`` of the
batch's rows (batches are shuffled, so these are random rows) are replaced by FGSM or PGD versions of
themselves, made against the current weights on the training loss itself, so the same callback serves
classifiers and regressors. The attack runs in evaluation mode without touching the parameters'
gradients; the batch keeps its size, targets and weights. PGD's random start draws from the loop's
generator, so a seed fixes the run and a resumed run continues exactly.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Tensor
from ..data import Batch
from ..train import Callback, TrainState
from .linf import check_eps, linf_attack
from .network import frozen

ATTACKS = ("fgsm", "pgd")


class AdversarialTraining(Callback):
    """Train on a mix of clean and adversarial rows: ``fraction`` of each batch attacked at ``eps``.

    ``attack`` is "fgsm" (one step of eps; Goodfellow et al., 2015) or "pgd" (``steps`` steps of ``alpha``,
    default 2.5 * eps / steps, from a random start; Madry et al., 2018); ``clip`` is the valid input
    range, ``(min, max)`` scalars or per-feature arrays, or None for none. ``fraction=1`` trains on
    adversarial rows only.
    """

    def __init__(self, attack: str = "fgsm", eps: float = 0.1, fraction: float = 0.5, *, steps: int = 10,
                 alpha: float | None = None, clip: Any = None) -> None:
        if attack not in ATTACKS:
            raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")
        if check_eps(eps) == 0:
            raise ValueError("eps must be positive for adversarial training")
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        if int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if clip is not None and (not isinstance(clip, (tuple, list)) or len(clip) != 2):
            raise ValueError(f"clip must be a pair (min, max) of scalars or per-feature arrays, got {clip!r}")
        self.attack, self.eps, self.fraction, self.clip = attack, float(eps), float(fraction), clip
        self.steps = int(steps) if attack == "pgd" else 1
        self.alpha = (2.5 * self.eps / self.steps if alpha is None else float(alpha)) if attack == "pgd" else self.eps

    def on_batch_begin(self, state: TrainState, batch: Batch) -> Batch:
        x, y, w = batch
        m = x.shape[0]
        k = min(m, max(1, round(self.fraction * m)))
        rows_y = None if y is None else y[:k, ...]
        rows_w = None if w is None else w[:k, ...]
        module, loss_fn = state.module, state.loss_fn

        def gradient(a: Any) -> Any:
            t = Tensor(a, requires_grad=True)
            out = module(t)
            loss = loss_fn(out, rows_y) if rows_w is None else loss_fn(out, rows_y, rows_w)
            (loss[0] if type(loss) is tuple else loss).backward()
            return t.grad

        with frozen(module):
            adv = linf_attack(gradient, x[:k, ...], self.eps, steps=self.steps, alpha=self.alpha,
                              random_start=self.attack == "pgd", clip=self.clip, rng=state.rng)
        if k < m:
            adv = backend.namespace(x).concat([adv, x[k:, ...]], axis=0)
        return Batch(adv, y, w)

    def __repr__(self) -> str:
        steps = f", steps={self.steps}, alpha={self.alpha:g}" if self.attack == "pgd" else ""
        return f"AdversarialTraining({self.attack!r}, eps={self.eps:g}, fraction={self.fraction:g}{steps})"
