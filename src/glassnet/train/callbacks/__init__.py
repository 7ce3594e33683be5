"""The callbacks everyone needs, each written once on the fit loop's phases."""

from .base import PHASES, Callback, StopTraining
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .clipping import ClipGradNorm, ClipGradValue, clip_grad_norm, clip_grad_value
from .early_stopping import EarlyStopping
from .history import History, epoch_record, layer_norms
from .monitor import Monitor
from .nan_guard import NaNGuard
from .progress import ProgressBar
from .schedule import ScheduleLR

__all__ = ["PHASES", "Callback", "Checkpoint", "ClipGradNorm", "ClipGradValue", "EarlyStopping", "History", "Monitor",
           "NaNGuard", "ProgressBar", "ScheduleLR", "StopTraining", "clip_grad_norm", "clip_grad_value", "epoch_record",
           "layer_norms", "load_checkpoint", "save_checkpoint"]
