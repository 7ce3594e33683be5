"""Differentiable functions for building networks: activations, softmax, dropout, linear maps and losses.

Thin, numerically stable forms over autograd's primitives (:mod:`glassnet.autograd.ops`), accepting
arrays as well as Tensors; one module per concept.
"""

from .activations import (
    elu,
    gelu,
    identity,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    logsigmoid,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from .dropout import dropout
from .linear import linear
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
)

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "elu", "gelu",
           "huber_loss", "identity", "l1_loss", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "logsigmoid",
           "mse_loss", "relu", "sigmoid", "silu", "softmax", "softplus", "tanh"]
