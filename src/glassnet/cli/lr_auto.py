"""``--lr auto``: the learning-rate range test on the run's training rows chooses the rate before training.

The range test (:func:`glassnet.lr_find`) runs on a copy of the network ``fit`` would start from.
A suggestion it trusts becomes ``learning_rate_init``; when it cannot trust its curve, the
estimator's default rate is kept and the reason is said. config.json records the rate chosen, so a
resumed run trains on with it.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from ..inspect import lr_find
from .errors import UsageError
from .jobs import Job, make_estimator
from .settings import RunSettings


def wanted(settings: RunSettings) -> bool:
    """True when the run asks for ``--lr auto``."""
    return settings.estimator.get("learning_rate_init") == "auto"


def choose(settings: RunSettings, job: Job, *, quiet: bool) -> tuple[RunSettings, dict[str, Any]]:
    """(the settings with the rate chosen, what the range test found) for a run that asked for ``--lr auto``."""
    params = {k: v for k, v in settings.estimator.items() if k != "learning_rate_init"}
    est = make_estimator(job, replace(settings, estimator=params))
    if est.solver == "lbfgs":
        raise UsageError(f"{settings.label('learning_rate_init')} auto needs a stochastic solver; L-BFGS has no "
                         "learning rate")
    result = lr_find(est, job.x_train, job.y_train)
    default = est.learning_rate_init
    chosen = result.suggestion if result.reliable else default
    found = {"suggestion": result.suggestion, "reliable": result.reliable, "note": result.note, "chosen": chosen}
    if not quiet:
        if result.reliable:
            print(f"learning rate: {chosen:.3g}, from the range test ({result.note})", file=sys.stderr)
        else:
            print(f"learning rate: keeping the default {default:g}; the range test's curve cannot be trusted: "
                  f"{result.note}", file=sys.stderr)
    return replace(settings, estimator={**settings.estimator, "learning_rate_init": float(chosen)}), found
