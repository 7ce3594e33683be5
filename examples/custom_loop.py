"""Your own module, loss and optimizer trained by glassnet's fit loop, with callbacks written for the occasion.

- ``Residual``: a small network of our own, an ``nn.Module`` with a skip connection;
- ``smooth_hinge``: a loss of our own, built from glassnet operations (autograd differentiates it);
- ``GradientNorms``: a callback that, after every backward pass, records the global gradient norm;
- ``StopAtLoss``: a callback that ends training once the epoch's loss reaches a target;
- plus the built-in ``EarlyStopping`` on the validation loss, keeping the best epoch's weights.

Run: ``python examples/custom_loop.py``
"""

from __future__ import annotations

import math

import numpy as np

import glassnet as gn
import glassnet.functional as F
from glassnet import nn, optim
from glassnet.train import Callback, EarlyStopping


class Residual(nn.Module):
    """x -> out(h + tanh(block(h))), h = relu(inp(x)): one hidden block with a skip connection."""

    def __init__(self, n_in: int, width: int, n_out: int, rng: int) -> None:
        rng = np.random.default_rng(rng)
        self.inp = nn.Linear(n_in, width, init="he", rng=rng)
        self.block = nn.Linear(width, width, rng=rng)
        self.out = nn.Linear(width, n_out, rng=rng)

    def forward(self, x):
        h = F.relu(self.inp(x))
        return self.out(h + F.tanh(self.block(h)))


def smooth_hinge(scores, y):
    """Mean of softplus(1 - y * score) for labels y in {-1, +1}: a hinge loss with a smooth corner.

    softplus(z) = log(1 + e^z) is the logistic loss of logit z against target 0, which glassnet
    computes stably; autograd differentiates the whole expression.
    """
    z = 1.0 - scores.reshape((-1,)) * y
    return F.binary_cross_entropy_with_logits(z, np.zeros_like(y))


class GradientNorms(Callback):
    """The global gradient norm of every batch, read after backward (before the optimizer step)."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def on_after_backward(self, state) -> None:
        self.norms.append(math.sqrt(sum(float((p.grad.astype(np.float64) ** 2).sum())
                                        for p in state.module.parameters())))


class StopAtLoss(Callback):
    """Stop once the epoch's training loss is at most ``target``."""

    def __init__(self, target: float) -> None:
        self.target = target
        self.reached_at: int | None = None

    def on_epoch_end(self, state) -> None:
        if state.metrics["loss"] <= self.target:
            self.reached_at = state.epoch
            state.stop_training = True


def two_moons(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles with noise; labels -1 and +1."""
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    points = np.stack([x, y], axis=1) + rng.normal(scale=0.25, size=(n, 2))
    return points.astype(np.float32), np.where(upper, 1.0, -1.0).astype(np.float32)


def main(target: float = 0.3, epochs: int = 200) -> dict:
    """Train until the loss reaches ``target`` or the validation loss stops improving; print what happened."""
    rng = np.random.default_rng(0)
    x, y = two_moons(600, rng)
    x_train, y_train, x_val, y_val = x[:500], y[:500], x[500:], y[500:]
    model = Residual(2, 32, 1, rng=0)
    norms, stop = GradientNorms(), StopAtLoss(target)
    early = EarlyStopping("val_loss", patience=10, restore_best_weights=True)
    history = gn.train.fit(model, smooth_hinge, optim.Adam(model.parameters(), lr=0.01), (x_train, y_train),
                           epochs=epochs, batch_size=50, validation_data=(x_val, y_val),
                           callbacks=[norms, stop, early], rng=0)
    with gn.no_grad():
        accuracy = float(np.mean(np.sign(model(x_val).numpy().ravel()) == y_val))
    print(f"{len(history)} epochs, {len(norms.norms)} batches; gradient norm {norms.norms[0]:.3f} -> "
          f"{norms.norms[-1]:.3f}")
    print(f"training loss {history[0]['loss']:.4f} -> {history[-1]['loss']:.4f}")
    if stop.reached_at is not None:
        print(f"target loss {target} reached at epoch {stop.reached_at}")
    else:
        print(f"validation loss stopped improving: the weights of epoch {early.best_epoch} "
              f"(validation loss {early.best:.4f}) are back")
    print(f"validation accuracy {accuracy:.3f}")
    return {"model": model, "validation": (x_val, y_val), "history": history, "norms": norms.norms,
            "reached_at": stop.reached_at, "early_stopping": early, "accuracy": accuracy}


if __name__ == "__main__":
    main()
