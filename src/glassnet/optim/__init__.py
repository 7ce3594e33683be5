"""Optimizers and learning-rate schedules (also under PyTorch's module name, ``optim.lr_scheduler``)."""

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .schedules import CosineAnnealingLR, ExponentialLR, LinearLR, LRScheduler, OneCycleLR, ReduceLROnPlateau, StepLR
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LinearLR", "OneCycleLR",
           "Optimizer", "RMSprop", "ReduceLROnPlateau", "StepLR", "lr_scheduler"]
