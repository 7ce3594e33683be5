"""glassnet: neural-network training you can see through, on NumPy or any Array API library."""

from . import functional, nn, optim
from .backend import manual_seed, to_numpy
from .tensor import Tensor, no_grad
from .testing import GradcheckError, gradcheck

__version__ = "0.1.0"

__all__ = ["GradcheckError", "Tensor", "__version__", "functional", "gradcheck", "manual_seed", "nn",
           "no_grad", "optim", "to_numpy"]
