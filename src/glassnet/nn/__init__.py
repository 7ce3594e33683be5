"""Neural-network modules."""

from .layers import ACTIVATIONS, GELU, Dropout, Identity, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Tanh
from .mlp import MLP
from .module import Module

__all__ = ["ACTIVATIONS", "GELU", "MLP", "Dropout", "Identity", "LeakyReLU", "Linear", "Module", "ReLU",
           "Sequential", "Sigmoid", "Tanh"]
