"""The fit loop: batching and shuffling, penalties, stopping rules, history, callbacks, L-BFGS."""

from .data import batch_slices, densify, take_rows, to_device
from .history import epoch_record, layer_norms
from .lbfgs import FlatObjective, minimize_lbfgs
from .loop import FitLoop, Trainer, clip_grad_norm, generator_state, set_generator_state
from .penalty import Penalty
from .stopping import LearningRate, Plateau

__all__ = ["FitLoop", "FlatObjective", "LearningRate", "Penalty", "Plateau", "Trainer", "batch_slices",
           "clip_grad_norm", "densify", "epoch_record", "generator_state", "layer_norms", "minimize_lbfgs",
           "set_generator_state", "take_rows", "to_device"]
