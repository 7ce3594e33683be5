"""PyTorch's module name for the learning-rate schedules: the classes of :mod:`glassnet.optim.schedules`,
so that ``from glassnet.optim.lr_scheduler import StepLR`` and ``optim.lr_scheduler.StepLR`` work as in PyTorch."""

from .schedules import CosineAnnealingLR, ExponentialLR, LinearLR, LRScheduler, OneCycleLR, ReduceLROnPlateau, StepLR

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LinearLR", "OneCycleLR", "ReduceLROnPlateau", "StepLR"]
