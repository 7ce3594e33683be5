"""The glassnet command line (minimal: train a plain MLP on a built-in data set)."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import functional as F
from . import nn, optim
from .tensor import no_grad


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    X = (data.data / 16.0).astype(np.float32)
    return X, data.target.astype(np.int64)


def train(args: argparse.Namespace) -> int:
    X, y = _digits()
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(X))
    n_test = len(X) // 5
    test, fit = order[:n_test], order[n_test:]
    model = nn.MLP([X.shape[1], *args.hidden, int(y.max()) + 1], rng=rng)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        start, total = time.perf_counter(), 0.0
        perm = rng.permutation(fit)
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i:i + args.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch:3d}  loss {total / len(perm):.4f}  ({time.perf_counter() - start:.2f} s)")
    with no_grad():
        accuracy = float(np.mean(np.argmax(model.eval()(X[test]).numpy(), axis=1) == y[test]))
    print(f"test accuracy {accuracy:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train an MLP on scikit-learn's digits")
    p.add_argument("--hidden", type=int, nargs="+", default=[64])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=train)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
