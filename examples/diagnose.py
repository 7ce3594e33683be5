"""A network that does not learn, what glassnet says is wrong with it, and the fix, with the plots.

1. The failure: a deep stack of sigmoid layers on the digits, trained with plain SGD. The loss hardly
   moves, and accuracy stays near chance.
2. The diagnosis: ``gn.diagnose`` reads the per-layer records the estimator kept (``history_``) and
   names the failure, with its numbers: the first layer's gradient is a tiny fraction of the last one's.
3. The fix it suggests: ReLU instead of sigmoid, Adam instead of plain SGD, and a learning rate from the
   range test (``gn.lr_find``) instead of a guess. The same layers then learn, and the diagnosis comes
   back clean.

The plots (gradient norm per layer, the losses, the range test) are written as PNG files to the
directory given, or to a temporary one.

Run: ``python examples/diagnose.py [OUT_DIR]``
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import glassnet as gn

HIDDEN = (32,) * 6
SETTINGS = {"hidden_layer_sizes": HIDDEN, "max_iter": 40, "random_state": 0}


def gradient_plot(ax, est, title: str) -> None:
    """The gradient norm of every layer, epoch by epoch (log scale)."""
    n_layers = len(est.history_[0]["grad_norm"])
    for layer in range(n_layers):
        ax.plot([r["epoch"] for r in est.history_], [r["grad_norm"][layer] for r in est.history_],
                label=f"layer {layer}")
    ax.set_yscale("log")
    ax.set(title=title, xlabel="epoch", ylabel="gradient norm")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def main(out_dir: str | Path | None = None) -> dict:
    """Train the failing network, diagnose it, train the fixed one, save the plots; print what happens."""
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="glassnet-diagnose-"))
    out.mkdir(parents=True, exist_ok=True)
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16, y, test_size=0.25, random_state=0, stratify=y)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the failing fit does not converge, by design
        failing = gn.MLPClassifier(activation="logistic", solver="sgd", learning_rate_init=0.01, **SETTINGS).fit(
            x_train, y_train)
    before = gn.diagnose(failing)
    print(f"failing network: sigmoid, {len(HIDDEN)} hidden layers of {HIDDEN[0]}, SGD at 0.01; "
          f"test accuracy {failing.score(x_test, y_test):.3f}")
    for finding in before:
        print(f"  {finding}")

    fixed = gn.MLPClassifier(activation="relu", solver="adam", **SETTINGS)
    search = gn.lr_find(fixed, x_train, y_train)
    fixed.set_params(learning_rate_init=search.suggestion)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fixed.fit(x_train, y_train)
    after = gn.diagnose(fixed)
    print(f"the fix: ReLU and Adam, at the range test's rate {search.suggestion:.3g} ({search.note})")
    print(f"fixed network: test accuracy {fixed.score(x_test, y_test):.3f}; "
          f"{'no problems found' if not after else [f.kind for f in after]}")

    fig = Figure(figsize=(12, 3.8), dpi=100, layout="tight")
    left, middle, right = fig.subplots(1, 3)
    gradient_plot(left, failing, "Sigmoid: gradients vanish toward layer 0")
    gradient_plot(middle, fixed, "ReLU: every layer gets a gradient")
    right.plot(failing.loss_curve_, label="sigmoid, SGD 0.01")
    right.plot(fixed.loss_curve_, label=f"ReLU, Adam {search.suggestion:.2g}")
    right.set(title="Training loss", xlabel="epoch", ylabel="loss")
    right.legend()
    right.grid(alpha=0.3)
    gradients = out / "diagnose_gradients.png"
    fig.savefig(gradients)
    range_test = out / "diagnose_lr_find.png"
    search.plot(range_test)
    print(f"plots: {gradients}, {range_test}")
    return {"failing": failing, "fixed": fixed, "before": before, "after": after, "lr_find": search,
            "accuracy": (failing.score(x_test, y_test), fixed.score(x_test, y_test)),
            "plots": [gradients, range_test]}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
