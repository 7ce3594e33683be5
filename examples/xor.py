"""XOR with a 2-4-1 sigmoid MLP, trained twice: hand-written backprop in NumPy, then glassnet autograd.

The classic tutorial version of this network has four bugs, all fixed here:

1. it climbed the loss (``W += lr * grad``); gradient descent steps *against* the gradient;
2. it applied the sigmoid derivative to an already-activated value, ``s(a) * (1 - s(a))``;
   with ``a = s(z)`` the derivative is ``s'(z) = a * (1 - a)``;
3. it left out the output layer's sigmoid derivative;
4. it drew a batch of 32 from a data set of 4 samples; here every step uses the full batch.

Both versions start from the same weights, compute the same gradients (the script prints the
largest difference) and follow the same trajectory to a network that solves XOR.

Run: ``python examples/xor.py``
"""

from __future__ import annotations

import numpy as np

import glassnet as gn
import glassnet.functional as F
from glassnet import optim

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])
NAMES = ("W1", "b1", "W2", "b2")


def init_params(seed: int = 0) -> dict[str, np.ndarray]:
    """Float64 weights of a 2-4-1 network: W1 (2, 4), b1 (4,), W2 (4, 1), b2 (1,)."""
    rng = np.random.default_rng(seed)
    return {"W1": rng.normal(size=(2, 4)), "b1": np.zeros(4), "W2": rng.normal(size=(4, 1)), "b2": np.zeros(1)}


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-z))


def forward(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hidden and output activations."""
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    return a1, a2


def manual_gradients(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
                     ) -> tuple[float, dict[str, np.ndarray]]:
    """Mean squared error and its gradients, by hand-written backpropagation."""
    a1, a2 = forward(params, x)
    loss = float(np.mean((a2 - y) ** 2))
    d_a2 = 2.0 * (a2 - y) / y.size           # dL/da2 of the mean over all outputs
    d_z2 = d_a2 * a2 * (1.0 - a2)             # through the output sigmoid: s'(z2) = a2 (1 - a2)
    d_a1 = d_z2 @ params["W2"].T
    d_z1 = d_a1 * a1 * (1.0 - a1)             # s'(z1) = a1 (1 - a1), from the activation itself
    grads = {"W2": a1.T @ d_z2, "b2": d_z2.sum(axis=0), "W1": x.T @ d_z1, "b1": d_z1.sum(axis=0)}
    return loss, grads


def autograd_loss(tensors: dict[str, gn.Tensor], x: np.ndarray, y: np.ndarray) -> gn.Tensor:
    """The same network and loss written with glassnet; backward() finds the gradients."""
    hidden = F.sigmoid(F.linear(x, tensors["W1"], tensors["b1"]))
    out = F.sigmoid(F.linear(hidden, tensors["W2"], tensors["b2"]))
    return F.mse_loss(out, y)


def autograd_gradients(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray
                       ) -> tuple[float, dict[str, np.ndarray]]:
    """Mean squared error and its gradients, by glassnet's reverse-mode autodiff."""
    tensors = {k: gn.Tensor(np.array(v), requires_grad=True) for k, v in params.items()}
    loss = autograd_loss(tensors, x, y)
    loss.backward()
    return loss.item(), {k: t.grad for k, t in tensors.items()}


def train_manual(params: dict[str, np.ndarray], epochs: int = 4000, lr: float = 2.0) -> list[float]:
    """Full-batch gradient descent with the hand-written gradients; updates ``params`` in place."""
    losses = []
    for _ in range(epochs):
        loss, grads = manual_gradients(params, X, Y)
        for k in NAMES:
            params[k] -= lr * grads[k]  # descend: step against the gradient
        losses.append(loss)
    return losses


def train_autograd(params: dict[str, np.ndarray], epochs: int = 4000, lr: float = 2.0
                   ) -> tuple[dict[str, np.ndarray], list[float]]:
    """Full-batch gradient descent with glassnet: autograd gradients and optim.SGD."""
    tensors = {k: gn.Tensor(np.array(v), requires_grad=True) for k, v in params.items()}
    opt = optim.SGD(list(tensors.values()), lr=lr)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        loss = autograd_loss(tensors, X, Y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return {k: np.array(t.data) for k, t in tensors.items()}, losses


def max_gradient_difference(params: dict[str, np.ndarray]) -> float:
    """Largest absolute difference between the hand-written and the autograd gradients."""
    _, manual = manual_gradients(params, X, Y)
    _, auto = autograd_gradients(params, X, Y)
    return max(float(np.max(np.abs(manual[k] - auto[k]))) for k in NAMES)


def main(seed: int = 0, epochs: int = 4000, lr: float = 2.0) -> dict[str, np.ndarray]:
    """Train both ways from the same start, print the comparison, return the hand-trained weights."""
    start = init_params(seed)
    print(f"max |hand-written - autograd| gradient at the start: {max_gradient_difference(start):.3e}")
    manual = {k: v.copy() for k, v in start.items()}
    manual_losses = train_manual(manual, epochs, lr)
    auto, auto_losses = train_autograd(start, epochs, lr)
    print(f"loss after {epochs} full-batch steps: hand-written {manual_losses[-1]:.6f}, "
          f"autograd {auto_losses[-1]:.6f}")
    print(f"max |hand-written - autograd| weight after training: "
          f"{max(float(np.max(np.abs(manual[k] - auto[k]))) for k in NAMES):.3e}")
    _, out = forward(manual, X)
    for x, y, p in zip(X, Y[:, 0], out[:, 0], strict=True):
        print(f"  {int(x[0])} xor {int(x[1])} = {int(y)}   predicted {p:.3f} -> {int(p > 0.5)}")
    print("XOR solved" if np.array_equal(out > 0.5, Y > 0.5) else "XOR not solved")
    return manual


if __name__ == "__main__":
    main()
