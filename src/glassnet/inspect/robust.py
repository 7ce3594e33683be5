"""Adversarial robustness: FGSM and PGD attacks in the L-infinity norm, and accuracy under attack.

Both attacks climb the cross-entropy of the logits by signed gradient steps and stay inside the box
``[x - eps, x + eps]`` intersected with the valid range ``clip`` (scalars or one bound per feature;
a row already outside that range is not pulled into it). FGSM (Goodfellow et al., 2015) takes one step
of size eps; PGD (Madry et al., 2018) starts at a random point of the box and takes ``steps`` steps of
size ``alpha``, projecting back after each. The model runs in evaluation mode during the attack and its
weights, gradients and mode are left as they were. Adversarial rows come back in the network's namespace
and dtype.

:func:`robust_accuracy` also checks its own figures for gradient masking: accuracy must not rise as eps
grows, and PGD must be at least as strong as FGSM. When either fails it says so (a
:class:`GradientMaskingWarning`, and ``result.problems``) instead of letting the numbers pass for robustness.
Adversarial training (:class:`AdversarialTraining`, a fit-loop callback) is re-exported here.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from .. import backend
from .adversarial import AdversarialTraining
from .linf import check_eps, linf_attack
from .network import Network, chunked, frozen, input_gradient

Attack = Callable[..., Any]

__all__ = ["AdversarialTraining", "GradientMaskingWarning", "RobustAccuracy", "fgsm", "linf_attack", "pgd",
           "robust_accuracy"]


class GradientMaskingWarning(UserWarning):
    """Accuracy under attack behaves as it cannot for a sound attack: the gradients may be masked."""


def _attack(model: Any, X: Any, y: Any, eps: float, batch_size: int | None, **options: Any) -> Any:
    """Adversarial rows for (X, y) from :func:`linf_attack` on the cross-entropy of ``model``'s logits."""
    net = Network(model)
    x = net.inputs(X)
    t = net.labels(y, x.shape[0])

    def attack_chunk(xs: Any, ts: Any) -> Any:
        def gradient(a: Any) -> Any:
            return input_gradient(net.module, a, lambda z: net.loss_gradient(z, ts))[0]

        return linf_attack(gradient, xs, eps, **options)

    with frozen(net.module):
        return chunked(attack_chunk, x, t, batch_size=batch_size)


def fgsm(model: Any, X: Any, y: Any, eps: float, clip: Any = None, *, batch_size: int | None = None) -> Any:
    """The fast gradient sign method: ``X + eps * sign(d loss / d X)``, clipped to ``clip``.

    ``model`` is an ``nn.Module`` returning logits (``y``: class indices) or a fitted estimator (``y``: its
    labels); ``clip`` is ``(min, max)``, scalars or one value per feature. The loss is the cross-entropy of
    the logits. Returns the adversarial rows in the network's namespace and dtype; rows are attacked
    ``batch_size`` at a time.

    Examples
    --------
    >>> import numpy as np
    >>> import glassnet as gn
    >>> model = gn.nn.MLP([4, 8, 3], rng=0)
    >>> X = np.random.default_rng(0).uniform(size=(5, 4)).astype(np.float32)
    >>> X_adv = gn.robust.fgsm(model, X, np.array([0, 1, 2, 0, 1]), eps=0.1, clip=(0.0, 1.0))
    >>> bool(np.abs(X_adv - X).max() <= 0.1 + 1e-7) and bool(X_adv.min() >= 0.0)
    True
    """
    return _attack(model, X, y, eps, batch_size, steps=1, clip=clip)


def pgd(model: Any, X: Any, y: Any, eps: float, alpha: float | None = None, steps: int = 10,
        random_start: bool = True, clip: Any = None, *, rng: Any = None, batch_size: int | None = None) -> Any:
    """Projected gradient descent (on the loss, so ascent): ``steps`` signed steps of ``alpha`` inside the eps-ball.

    ``alpha`` defaults to 2.5 * eps / steps (Madry et al.), so that the steps can reach any corner of
    the ball; ``random_start`` begins at a uniform random point of the ball, drawn from ``rng`` (a
    Generator, a seed, or None for glassnet's default generator, which ``gn.manual_seed`` seeds). The
    rest is as in :func:`fgsm`.
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    eps = check_eps(eps)
    alpha = 2.5 * eps / steps if alpha is None else float(alpha)
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
    return _attack(model, X, y, eps, batch_size, steps=int(steps), alpha=alpha, random_start=random_start, clip=clip,
                   rng=backend.get_rng(rng))


class RobustAccuracy(dict):
    """``{eps: accuracy under attack}``, with what the gradient-masking check found.

    ``clean`` is the accuracy without attack; ``fgsm`` holds FGSM's accuracies beside a PGD run (the
    comparison), else None; ``problems`` lists each failed check in words (empty when the figures
    passed), and ``trustworthy`` is True when there are none.
    """

    def __init__(self, accuracies: dict[float, float], *, attack: str, clean: float,
                 fgsm: dict[float, float] | None, problems: list[str]) -> None:
        super().__init__(accuracies)
        self.attack, self.clean, self.fgsm, self.problems = attack, clean, fgsm, problems

    @property
    def trustworthy(self) -> bool:
        """True when accuracy never rose with eps and PGD was never weaker than FGSM (beyond the tolerance)."""
        return not self.problems


def masking_problems(accuracies: dict[float, float], fgsm: dict[float, float] | None, tolerance: float) -> list[str]:
    """The gradient-masking checks, in words: accuracy rising with eps, or PGD weaker than FGSM."""
    problems = []
    ordered = sorted(accuracies.items())
    for (e0, a0), (e1, a1) in itertools.pairwise(ordered):
        if a1 > a0 + tolerance:
            problems.append(f"accuracy rises from {a0:.4f} at eps {e0:g} to {a1:.4f} at eps {e1:g}")
    for eps, acc in sorted((fgsm or {}).items()):
        if accuracies[eps] > acc + tolerance:
            problems.append(f"PGD is weaker than FGSM at eps {eps:g} (accuracy {accuracies[eps]:.4f} against "
                            f"{acc:.4f})")
    return problems


def robust_accuracy(model: Any, X: Any, y: Any, eps_list: Iterable[float], attack: str | Attack = "pgd", *,
                    clip: Any = None, steps: int = 10, rng: Any = None, tolerance: float = 0.005,
                    batch_size: int | None = None) -> RobustAccuracy:
    """Accuracy on (X, y) under ``attack`` at each eps of ``eps_list``: ``{eps: accuracy}``, eps in increasing order.

    ``attack`` is "pgd" (``steps`` steps, random start from ``rng``), "fgsm", or a function
    ``attack(model, X, y, eps)`` returning adversarial rows. At eps 0 the accuracy is the clean
    accuracy. With "pgd", FGSM runs too, for the gradient-masking check: a rise of accuracy with eps,
    or PGD weaker than FGSM, by more than ``tolerance``, is reported in ``result.problems`` and warned
    about (:class:`GradientMaskingWarning`): such figures are no evidence of robustness.

    Examples
    --------
    >>> import numpy as np
    >>> import glassnet as gn
    >>> model = gn.nn.MLP([4, 8, 3], rng=0)
    >>> X = np.random.default_rng(0).uniform(size=(50, 4)).astype(np.float32)
    >>> y = np.random.default_rng(1).integers(0, 3, size=50)
    >>> result = gn.robust.robust_accuracy(model, X, y, [0.0, 0.1, 0.3], rng=0)
    >>> result[0.0] == result.clean and result[0.3] <= result[0.0]
    True
    """
    eps_values = sorted({check_eps(e) for e in eps_list})
    if not eps_values:
        raise ValueError("eps_list is empty")
    if attack not in ("pgd", "fgsm") and not callable(attack):
        raise ValueError(f"attack must be 'pgd', 'fgsm' or a function attack(model, X, y, eps), got {attack!r}")
    net = Network(model)
    x = net.inputs(X)
    t = net.labels(y, x.shape[0])
    xp, generator = net.xp, backend.get_rng(rng)

    def accuracy(rows: Any) -> float:
        return float(xp.mean(xp.astype(net.predict(net.logits(net.inputs(rows), batch_size)) == t, xp.float64)))

    def run(name: str | Attack, eps: float) -> Any:
        if name == "pgd":
            return pgd(model, x, y, eps, steps=steps, clip=clip, rng=generator, batch_size=batch_size)
        if name == "fgsm":
            return fgsm(model, x, y, eps, clip=clip, batch_size=batch_size)
        return name(model, x, y, eps)

    accuracies = {eps: accuracy(run(attack, eps)) for eps in eps_values}
    compared = {eps: accuracy(run("fgsm", eps)) for eps in eps_values} if attack == "pgd" else None
    problems = masking_problems(accuracies, compared, tolerance)
    if problems:
        warnings.warn("gradient masking suspected, the accuracies are no evidence of robustness: "
                      + "; ".join(problems), GradientMaskingWarning, stacklevel=2)
    name = attack if isinstance(attack, str) else getattr(attack, "__name__", "custom")
    return RobustAccuracy(accuracies, attack=name, clean=accuracy(x), fgsm=compared, problems=problems)
