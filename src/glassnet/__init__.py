"""glassnet: neural-network training you can see through, on NumPy or any Array API library."""

import importlib

from . import functional, nn, optim
from .autograd import Tensor, concatenate, maximum, minimum, no_grad, stack, where
from .backend import manual_seed, to_numpy
from .inspect import GradcheckError, gradcheck
from .io import load, save

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # the estimators pull in scikit-learn (seconds to import), the fit loop and batch sources SciPy:
    # load them on first use only
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimators

        return getattr(estimators, name)
    if name in ("data", "train"):
        return importlib.import_module(f".{name}", __name__)
    if name in ("explain", "robust"):  # gn.explain.saliency, gn.robust.pgd...: modules of inspect
        return importlib.import_module(f".inspect.{name}", __name__)
    if name in ("diagnose", "lr_find"):  # the range test needs the fit loop
        from . import inspect

        return getattr(inspect, name)
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")

__all__ = ["GradcheckError", "MLPClassifier", "MLPRegressor", "Tensor", "__version__", "concatenate", "data",
           "diagnose", "explain", "functional", "gradcheck", "load", "lr_find", "manual_seed", "maximum", "minimum",
           "nn", "no_grad", "optim", "robust", "save", "stack", "to_numpy", "train", "where"]
