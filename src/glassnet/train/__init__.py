"""The fit loop as phases with callbacks, the callbacks everyone needs (a gradient-health monitor and a NaN guard
among them), weight penalties and L-BFGS.

``fit(module, loss_fn, optimizer, data, epochs=..., callbacks=[...], validation_data=...)`` trains any
module; :class:`Loop` is the same loop for those who drive it themselves (the estimators do).
"""

from .callbacks import (
    PHASES,
    Callback,
    Checkpoint,
    ClipGradNorm,
    ClipGradValue,
    EarlyStopping,
    History,
    Monitor,
    NaNGuard,
    ProgressBar,
    ScheduleLR,
    StopTraining,
    clip_grad_norm,
    clip_grad_value,
    epoch_record,
    layer_norms,
    load_checkpoint,
    save_checkpoint,
)
from .lbfgs import LBFGS
from .loop import Loop, fit
from .penalty import Penalty
from .state import TrainState, generator_state, set_generator_state

__all__ = ["LBFGS", "PHASES", "Callback", "Checkpoint", "ClipGradNorm", "ClipGradValue", "EarlyStopping", "History",
           "Loop", "Monitor", "NaNGuard", "Penalty", "ProgressBar", "ScheduleLR", "StopTraining", "TrainState",
           "clip_grad_norm", "clip_grad_value", "epoch_record", "fit", "generator_state", "layer_norms",
           "load_checkpoint", "save_checkpoint", "set_generator_state"]
