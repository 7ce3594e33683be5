"""MLP training problems and one training loop per library, all from the same data and weights.

A ``Problem`` holds the data, the layer sizes, the loss and the initial weights (He-uniform
hidden layers, Glorot-uniform output layer, zero biases, float32). The ``*_loop`` functions turn
a problem and a list of batch slices into a ``Prepare`` for the harness: glassnet, PyTorch
(eager, CPU), scikit-learn, a hand-written NumPy loop, and the GEMM floor (the same matrix
products alone, same shapes, same count). Every loop is ReLU hidden layers and Adam (lr 1e-3).
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .harness import Prepare

LR = 1e-3
BETAS = (0.9, 0.999)
EPS = 1e-8
Batches = list[tuple[int, int]]


@dataclass
class Problem:
    """Data, sizes, loss ("ce" or "mse") and initial weights of one MLP training task."""

    sizes: list[int]
    loss: str
    n: int
    batch: int
    seed: int = 0
    x: np.ndarray = field(init=False, repr=False)
    y: np.ndarray = field(init=False, repr=False)
    weights: list[tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.loss not in ("ce", "mse"):
            raise ValueError(f"loss must be 'ce' or 'mse', got {self.loss!r}")
        self.x, self.y = make_data(self.sizes[0], self.sizes[-1], self.n, self.loss, self.seed)
        self.weights = init_weights(self.sizes, self.seed + 1)

    def describe(self) -> str:
        kind = "classification, cross-entropy" if self.loss == "ce" else "regression, MSE"
        return f"{'-'.join(map(str, self.sizes))} ReLU MLP, {kind}, Adam, batch {self.batch}, {self.n:,} samples"

    def epoch(self) -> Batches:
        """Consecutive batch slices covering the data once (the last batch may be smaller)."""
        return [(s, min(s + self.batch, self.n)) for s in range(0, self.n, self.batch)]

    def cycle(self, steps: int) -> Batches:
        """``steps`` full batches, cycling over the data."""
        per_epoch = self.n // self.batch
        return [((i % per_epoch) * self.batch, (i % per_epoch + 1) * self.batch) for i in range(steps)]

    def spec(self) -> dict:
        """What rebuilds this problem (for a child process)."""
        return {"sizes": self.sizes, "loss": self.loss, "n": self.n, "batch": self.batch, "seed": self.seed}


def make_data(n_in: int, n_out: int, n: int, loss: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 inputs; class labels (int64) from a random linear teacher, or a noisy linear target."""
    rng = np.random.default_rng(seed)
    if loss == "ce":
        x = rng.random((n, n_in), dtype=np.float32)  # pixel-like intensities in [0, 1)
        teacher = rng.standard_normal((n_in, n_out), dtype=np.float32)
        scores = x @ teacher - 0.5 * teacher.sum(axis=0)  # = (x - 0.5) @ teacher, without the copy of x
        return x, np.argmax(scores, axis=1).astype(np.int64)
    x = rng.standard_normal((n, n_in), dtype=np.float32)
    teacher = rng.standard_normal((n_in, n_out), dtype=np.float32) / np.float32(math.sqrt(n_in))
    y = np.tanh(x @ teacher) + 0.1 * rng.standard_normal((n, n_out), dtype=np.float32)
    return x, y.astype(np.float32)


def init_weights(sizes: list[int], seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight (in, out), bias (out,)) per layer: He-uniform before ReLU, Glorot-uniform at the output."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        bound = math.sqrt(6.0 / (n_in + n_out)) if last else math.sqrt(6.0 / n_in)
        w = rng.uniform(-bound, bound, size=(n_in, n_out)).astype(np.float32)
        layers.append((w, np.zeros(n_out, dtype=np.float32)))
    return layers


def _step_loop(model: Any, opt: Any, loss_fn: Any, x: Any, y: Any, batches: Batches) -> Any:
    """The loop a user of glassnet or PyTorch writes: zero_grad, forward, loss, backward, step."""

    def run():
        for s, e in batches:
            opt.zero_grad()
            loss = loss_fn(model(x[s:e]), y[s:e])
            loss.backward()
            opt.step()
        return model

    return run


# ---- glassnet --------------------------------------------------------------------------------
def glassnet_mlp(sizes: tuple[int, ...], weights: list) -> Any:
    """glassnet's ReLU MLP of ``sizes`` holding ``weights`` ((W, b) per layer), the other libraries' start."""
    import glassnet as gn

    model = gn.nn.MLP(sizes, activation="relu")
    linears = [m for m in model.modules() if isinstance(m, gn.nn.Linear)]
    for layer, (w, b) in zip(linears, weights, strict=True):
        layer.weight.data[...] = w
        layer.bias.data[...] = b
    return model


def glassnet_model(p: Problem) -> tuple[Any, Any, Any]:
    """glassnet's MLP with the problem's initial weights, its Adam and its loss function."""
    import glassnet as gn
    import glassnet.functional as F

    model = glassnet_mlp(p.sizes, p.weights)
    opt = gn.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
    return model, opt, F.cross_entropy if p.loss == "ce" else F.mse_loss


def glassnet_loop(p: Problem, batches: Batches) -> Prepare:
    """glassnet's MLP and Adam in the loop its users write."""

    def prepare():
        model, opt, loss_fn = glassnet_model(p)
        return _step_loop(model, opt, loss_fn, p.x, p.y, batches)

    return prepare


# ---- PyTorch ---------------------------------------------------------------------------------
def torch_model(p: Problem) -> Any:
    """A torch Sequential of Linear/ReLU with the problem's initial weights."""
    import torch

    layers = []
    for i, (w, b) in enumerate(p.weights):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(p.weights) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_loop(p: Problem, batches: Batches) -> Prepare:
    """PyTorch eager on the CPU, its default Adam, the same loop; data shared with NumPy (no copy)."""
    import torch

    loss_fn = torch.nn.functional.cross_entropy if p.loss == "ce" else torch.nn.functional.mse_loss

    def prepare():
        model = torch_model(p)
        opt = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
        return _step_loop(model, opt, loss_fn, torch.from_numpy(p.x), torch.from_numpy(p.y), batches)

    return prepare


def torch_floor(p: Problem, batches: Batches) -> Prepare:
    """The same matrix products as the training loop, done by PyTorch (its BLAS) alone."""
    import torch

    return _floor(p, batches, torch)


# ---- scikit-learn ----------------------------------------------------------------------------
def sklearn_loop(p: Problem, batches: Batches) -> Prepare:
    """MLPClassifier/MLPRegressor with Adam and no L2 penalty: ``fit`` for one epoch, else ``partial_fit`` per batch.

    The estimator is first fitted on a few rows, one per class (off the clock), so that its weights can be
    overwritten with the shared initial weights; then it trains with a fresh Adam state.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPClassifier if p.loss == "ce" else MLPRegressor
    y = p.y if p.loss == "ce" else p.y.ravel() if p.y.shape[1] == 1 else p.y
    whole_epoch = batches == p.epoch()

    def prepare():
        est = cls(hidden_layer_sizes=tuple(p.sizes[1:-1]), activation="relu", solver="adam", alpha=0.0,
                  batch_size=p.batch, learning_rate_init=LR, beta_1=BETAS[0], beta_2=BETAS[1], epsilon=EPS,
                  max_iter=1, shuffle=False, tol=0.0, warm_start=True, random_state=0)
        head = np.unique(y, return_index=True)[1] if p.loss == "ce" else np.arange(min(p.n, 8))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a batch larger than these few rows, and max_iter=1
            est.fit(p.x[head], y[head])
        for c, i, (w, b) in zip(est.coefs_, est.intercepts_, p.weights, strict=True):
            c[...] = w
            i[...] = b
        del est._optimizer  # start from a fresh Adam state, like the other libraries
        x = p.x

        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if whole_epoch:
                    return est.fit(x, y)
                for s, e in batches:
                    est.partial_fit(x[s:e], y[s:e])
                return est

        return run

    return prepare


# ---- hand-written NumPy ----------------------------------------------------------------------
def numpy_loop(p: Problem, batches: Batches) -> Prepare:
    """A careful hand-written NumPy loop: preallocated buffers, ``out=`` products, Adam on flat buffers."""

    def prepare():
        net = _NumpyMLP(p, max(e - s for s, e in batches))
        x, y = p.x, p.y

        def run():
            for s, e in batches:
                net.step(x[s:e], y[s:e])
            return net

        return run

    return prepare


class _NumpyMLP:
    """ReLU MLP with explicit backpropagation and PyTorch's Adam, written for speed in plain NumPy."""

    def __init__(self, p: Problem, max_batch: int) -> None:
        self.ce = p.loss == "ce"
        shapes = [w.shape for w, _ in p.weights]
        total = sum(i * o + o for i, o in shapes)
        self.flat = np.empty(total, dtype=np.float32)
        self.grad = np.zeros(total, dtype=np.float32)
        self.m, self.v, self.tmp = (np.zeros(total, dtype=np.float32) for _ in range(3))
        self.w, self.b, self.gw, self.gb = [], [], [], []
        start = 0
        for (i, o), (w, b) in zip(shapes, p.weights, strict=True):
            for params, grads, shape, init in ((self.w, self.gw, (i, o), w), (self.b, self.gb, (o,), b)):
                stop = start + math.prod(shape)
                params.append(self.flat[start:stop].reshape(shape))
                grads.append(self.grad[start:stop].reshape(shape))
                params[-1][...] = init
                start = stop
        self.outs = [np.empty((max_batch, o), dtype=np.float32) for _, o in shapes]
        self.deltas = [np.empty((max_batch, i), dtype=np.float32) for i, _ in shapes[1:]]
        self.rows = np.arange(max_batch)
        self.t = 0

    def step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        n, n_layers = len(xb), len(self.w)
        acts = [xb]
        for k in range(n_layers):
            z = self.outs[k][:n]
            np.matmul(acts[-1], self.w[k], out=z)
            z += self.b[k]
            if k < n_layers - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
        out = acts[-1]
        if self.ce:  # softmax cross-entropy, stable; out becomes its gradient
            out -= out.max(axis=1, keepdims=True)
            picked = out[self.rows[:n], yb]
            np.exp(out, out=out)
            total = out.sum(axis=1, keepdims=True)
            loss = float(np.mean(np.log(total[:, 0]) - picked))
            out /= total
            out[self.rows[:n], yb] -= 1.0
            out *= 1.0 / n
        else:
            out -= yb
            loss = float(np.vdot(out, out)) / out.size
            out *= 2.0 / out.size
        delta = out
        for k in reversed(range(n_layers)):
            np.matmul(acts[k].T, delta, out=self.gw[k])
            np.sum(delta, axis=0, out=self.gb[k])
            if k:
                d = self.deltas[k - 1][:n]
                np.matmul(delta, self.w[k].T, out=d)
                d *= acts[k] > 0
                delta = d
        self._adam()
        return loss

    def _adam(self) -> None:
        self.t += 1
        b1, b2 = BETAS
        g, m, v, tmp = self.grad, self.m, self.v, self.tmp
        m *= b1
        np.multiply(g, 1.0 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp *= 1.0 / math.sqrt(1.0 - b2 ** self.t)
        tmp += EPS
        np.divide(m, tmp, out=tmp)
        tmp *= LR / (1.0 - b1 ** self.t)
        self.flat -= tmp


# ---- the GEMM floor --------------------------------------------------------------------------
def numpy_floor(p: Problem, batches: Batches) -> Prepare:
    """The loop's matrix products alone with NumPy's BLAS: the time no NumPy engine can beat."""
    return _floor(p, batches, None)


def _floor(p: Problem, batches: Batches, torch: Any) -> Prepare:
    # Per batch: one forward product per layer, one weight-gradient product per layer, and one
    # input-gradient product per layer but the first (the data needs no gradient).
    def prepare():
        max_b = max(e - s for s, e in batches)
        ws = [w.copy() for w, _ in p.weights]
        gws = [np.empty_like(w) for w in ws]
        outs = [np.empty((max_b, w.shape[1]), dtype=np.float32) for w in ws]
        dxs = [np.empty((max_b, w.shape[0]), dtype=np.float32) for w in ws]
        x = p.x
        mm = np.matmul
        if torch is not None:
            ws, gws, outs, dxs = ([torch.from_numpy(a) for a in arrs] for arrs in (ws, gws, outs, dxs))
            x, mm = torch.from_numpy(x), torch.matmul

        def run():
            for s, e in batches:
                n = e - s
                a = [x[s:e]]
                for k, w in enumerate(ws):
                    a.append(mm(a[k], w, out=outs[k][:n]))
                for k in reversed(range(len(ws))):
                    mm(a[k].T, a[k + 1], out=gws[k])
                    if k:
                        mm(a[k + 1], ws[k].T, out=dxs[k][:n])

        return run

    return prepare


LOOPS = {"glassnet": glassnet_loop, "torch": torch_loop, "sklearn": sklearn_loop, "numpy": numpy_loop,
         "floor": numpy_floor, "torch-floor": torch_floor}
