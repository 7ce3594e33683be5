"""Monitor case: glassnet's fit loop with the gradient-health monitor (and the NaN guard) on and off, side by side.

Three variants of the same training run, interleaved repeat by repeat at 1 thread: ``loop`` (the fit
loop alone), ``loop+monitor`` (with ``glassnet.train.Monitor``, as the estimators run it: a probe of
256 rows) and ``loop+monitor+guard`` (with the ``NaNGuard`` too, the estimators' default). Two
networks: the benchmark MLP (784-256-256-10, one epoch at batch 128) and the tiny one (2-16-16-1 at
batch 4, 256 samples, real epochs of 64 steps so that the monitor's per-epoch work is counted).
"""

from __future__ import annotations

from .harness import Config, Prepare, Row, optional_module, rows_from
from .nets import Problem, glassnet_model
from .training import mnist_problem, problem

VARIANTS = ("loop", "loop+monitor", "loop+monitor+guard")


def tiny_epochs(cfg: Config) -> tuple[Problem, int]:
    """The tiny network's problem and the epochs of one timed run (16 epochs of 64 steps in full)."""
    return problem((2, 16, 16, 1), "mse", 256, 4), cfg.size(16, 2)


def _prepare(p: Problem, epochs: int, variant: str) -> Prepare:
    import glassnet as gn
    from glassnet.data import ArraySource

    def prepare():
        model, opt, loss_fn = glassnet_model(p)
        callbacks = []
        if variant != "loop":
            callbacks.append(gn.train.Monitor(probe=p.x[:256]))
        if variant.endswith("guard"):
            callbacks.append(gn.train.NaNGuard())
        source = ArraySource(p.x, p.y, batch_size=p.batch, shuffle=False)
        loop = gn.train.Loop(model, loss_fn, opt, source, callbacks=callbacks, rng=0)
        return lambda: loop.run(epochs)

    return prepare


def monitor(cfg: Config, n_threads: int) -> list[Row]:
    """Time the loop with and without the monitor on the benchmark MLP and the tiny network."""
    if "glassnet" not in cfg.libs or optional_module("glassnet") is None:
        return []
    mnist = mnist_problem(cfg)
    tiny, tiny_n = tiny_epochs(cfg)
    rows = []
    for name, p, epochs, repeats in (("mnist", mnist, 1, cfg.reps(9, 3)), ("tiny", tiny, tiny_n, cfg.reps(21, 5))):
        prepares = {variant: _prepare(p, epochs, variant) for variant in VARIANTS}
        steps = epochs * len(p.epoch())
        found, _ = rows_from("monitor", name, n_threads, prepares, repeats, epochs * p.n, steps)
        rows += found
    return rows


def describe(cfg: Config) -> str:
    """The title line of this case."""
    tiny, epochs = tiny_epochs(cfg)
    return (f"glassnet's fit loop with the monitor (and the NaN guard) on and off: {mnist_problem(cfg).describe()}, "
            f"one epoch; {tiny.describe()}, {epochs} epochs")
