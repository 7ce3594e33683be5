"""glassnet: neural-network training you can see through, on NumPy or any Array API library."""

from . import functional, nn, optim
from .backend import manual_seed, to_numpy
from .estimators import MLPClassifier, MLPRegressor
from .io import load, save
from .tensor import Tensor, no_grad
from .testing import GradcheckError, gradcheck

__version__ = "0.1.0"

__all__ = ["GradcheckError", "MLPClassifier", "MLPRegressor", "Tensor", "__version__", "functional", "gradcheck",
           "load", "manual_seed", "nn", "no_grad", "optim", "save", "to_numpy"]
