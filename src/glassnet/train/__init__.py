"""The fit loop: batching and shuffling, penalties, stopping rules, history, callbacks, L-BFGS."""

from .history import epoch_record, layer_norms
from .lbfgs import FlatObjective, minimize_lbfgs
from .loop import FitLoop, Trainer, clip_grad_norm, generator_state, set_generator_state
from .penalty import Penalty

__all__ = ["FitLoop", "FlatObjective", "Penalty", "Trainer", "clip_grad_norm", "epoch_record", "generator_state",
           "layer_norms", "minimize_lbfgs", "set_generator_state"]
