"""Neural-network modules, and the registry through which layers are saved, loaded and exported."""

from . import init
from .layers import ACTIVATIONS, ELU, GELU, Dropout, Identity, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, SiLU, Tanh
from .losses import CrossEntropyLoss, MSELoss
from .mlp import MLP
from .module import Module
from .registry import SpecError, from_spec, layer_name, register, registered, to_spec

__all__ = ["ACTIVATIONS", "ELU", "GELU", "MLP", "CrossEntropyLoss", "Dropout", "Identity", "LeakyReLU", "Linear",
           "MSELoss", "Module", "ReLU", "Sequential", "SiLU", "Sigmoid", "SpecError", "Tanh", "from_spec", "init",
           "layer_name", "register", "registered", "to_spec"]
