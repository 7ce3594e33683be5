"""The fit loop: phase order (mini-batch and L-BFGS), batch replacement, stopping, validation, resuming."""

from __future__ import annotations

import doctest
import re
import warnings

import numpy as np
import pytest

import glassnet.functional as F
from glassnet import nn, optim
from glassnet.data import ArraySource, Batch
from glassnet.train import LBFGS, Callback, Checkpoint, EarlyStopping, Loop, ScheduleLR, fit
from glassnet.train.callbacks.base import overrides

_rng = np.random.default_rng(0)
X = _rng.normal(size=(10, 3)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64)


def model(seed: int = 0, dropout: float = 0.0) -> nn.MLP:
    return nn.MLP([3, 8, 2], activation="tanh", dropout=dropout, rng=seed)


def weights(module) -> list[np.ndarray]:
    return [np.array(p.data) for p in module.parameters()]


class Recorder(Callback):
    """Writes down every phase, and checks what each phase may rely on."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, state):
        self.calls.append("train_begin")

    def on_epoch_begin(self, state):
        self.calls.append(f"epoch_begin {state.epoch}")

    def on_batch_begin(self, state, batch):
        self.before = weights(state.module)
        self.calls.append("batch_begin")

    def on_after_backward(self, state):
        assert all(p.grad is not None for p in state.module.parameters())
        assert all(np.array_equal(a, b) for a, b in zip(self.before, weights(state.module), strict=True))
        self.calls.append("after_backward")

    def on_batch_end(self, state):
        self.calls.append("batch_end")

    def on_epoch_end(self, state):
        assert state.metrics["loss"] > 0
        self.calls.append(f"epoch_end {state.epoch}")

    def on_train_end(self, state):
        self.calls.append("train_end")


def _compress(calls: list[str]) -> str:
    """The phase sequence with each batch as one letter: B for begin, after backward, end in that order."""
    text = " | ".join(calls).replace("batch_begin | after_backward | batch_end", "B")
    return re.sub(r"B( \| B)*", "B+", text)


def test_phase_order_of_a_two_epoch_minibatch_run():
    rec = Recorder()
    m = model()
    history = fit(m, F.cross_entropy, optim.SGD(m.parameters(), lr=0.1), (X, Y), epochs=2, batch_size=4,
                  callbacks=[rec], rng=0)
    batches = ["batch_begin", "after_backward", "batch_end"] * 3  # 10 rows in batches of 4
    assert rec.calls == ["train_begin", "epoch_begin 1", *batches, "epoch_end 1", "epoch_begin 2", *batches,
                         "epoch_end 2", "train_end"]
    assert [r["epoch"] for r in history] == [1, 2]


def test_phase_order_of_a_two_iteration_lbfgs_run():
    rec = Recorder()
    m = model()
    history = fit(m, F.cross_entropy, LBFGS(m.parameters(), tol=0.0), (X, Y), epochs=2, batch_size=None,
                  callbacks=[rec])
    # each iteration is an epoch, each function-and-gradient evaluation a batch
    assert _compress(rec.calls) == ("train_begin | epoch_begin 1 | B+ | epoch_end 1 | epoch_begin 2 | B+ | "
                                    "epoch_end 2 | train_end")
    assert len(history) == 2 and history[0]["lr"] is None and history[1]["loss"] < history[0]["loss"]


def test_lbfgs_trains_a_module_and_needs_one_batch():
    m = model()
    before = float(F.cross_entropy(m(X), Y).data)
    history = fit(m, F.cross_entropy, LBFGS(m.parameters()), (X, Y), epochs=30, batch_size=None)
    assert history[-1]["loss"] < 0.5 * before
    np.testing.assert_allclose(float(F.cross_entropy(m(X), Y).data), history[-1]["loss"], rtol=1e-6)
    with pytest.raises(ValueError, match="one batch"):
        fit(model(), F.cross_entropy, LBFGS(model().parameters()), (X, Y), epochs=2, batch_size=4)


def test_on_batch_begin_may_replace_the_batch():
    fixed = Batch(X[:4] * 2.0, Y[:4])

    class Replace(Callback):
        def on_batch_begin(self, state, batch):
            return fixed

        def on_after_backward(self, state):
            assert state.batch is fixed

    a, b = model(), model()
    fit(a, F.cross_entropy, optim.SGD(a.parameters(), lr=0.1), (X, Y), epochs=2, batch_size=4, callbacks=[Replace()])
    opt = optim.SGD(b.parameters(), lr=0.1)
    for _ in range(6):  # the same six steps, all on the replacement
        opt.zero_grad()
        F.cross_entropy(b(fixed.x), fixed.y).backward()
        opt.step()
    assert all(np.array_equal(u, v) for u, v in zip(weights(a), weights(b), strict=True))


def test_on_epoch_end_may_stop_training():
    class StopAtThree(Callback):
        def on_epoch_end(self, state):
            state.stop_training = state.epoch == 3

        def on_train_end(self, state):
            self.ended = state.epoch

    stop = StopAtThree()
    m = model()
    history = fit(m, F.cross_entropy, optim.Adam(m.parameters()), (X, Y), epochs=10, callbacks=[stop])
    assert len(history) == 3 and stop.ended == 3


def test_validation_metrics_are_means_over_the_validation_data():
    m = model()

    def accuracy(output, y):
        return float(np.mean(np.argmax(output.data, axis=1) == y))

    history = fit(m, F.cross_entropy, optim.Adam(m.parameters(), lr=0.01), (X, Y), epochs=3, batch_size=4,
                  validation_data=(X[:7], Y[:7]), score=accuracy)
    np.testing.assert_allclose(history[-1]["val_loss"], float(F.cross_entropy(m(X[:7]), Y[:7]).data), rtol=1e-6)
    assert history[-1]["val_score"] == accuracy(m(X[:7]), Y[:7])
    assert not m.training  # left in evaluation mode


def test_sample_weights_reach_the_loss_function():
    seen = []

    def weighted(output, y, sample_weight):
        seen.append(np.array(sample_weight))
        return F.cross_entropy(output, y)

    m = model()
    w = np.linspace(0.5, 1.5, 10)
    fit(m, weighted, optim.SGD(m.parameters(), lr=0.1), (X, Y, w), epochs=1, batch_size=5, shuffle=False)
    np.testing.assert_array_equal(np.concatenate(seen), w.astype(np.float32))


def test_a_loss_function_may_report_another_value_than_it_differentiates():
    m = model()
    history = fit(m, lambda out, y: (F.cross_entropy(out, y) * 2.0, 7.0), optim.SGD(m.parameters(), lr=0.1),
                  (X, Y), epochs=1)
    assert history[0]["loss"] == 7.0


def test_ctrl_c_ends_training_with_a_warning_and_the_history_so_far():
    class Interrupt(Callback):
        def on_batch_end(self, state):
            if state.epoch == 2:
                raise KeyboardInterrupt

        def on_train_end(self, state):
            self.ended = True

    m, cb = model(), Interrupt()
    with pytest.warns(UserWarning, match="interrupted"):
        history = fit(m, F.cross_entropy, optim.SGD(m.parameters(), lr=0.1), (X, Y), epochs=5, callbacks=[cb])
    assert len(history) == 1 and cb.ended and not m.training


def test_empty_data_is_an_error():
    m = model()
    with pytest.raises(ValueError, match="no batches"):
        fit(m, F.cross_entropy, optim.SGD(m.parameters(), lr=0.1), [], epochs=1)


def test_only_overridden_phases_are_dispatched():
    class EpochOnly(Callback):
        def on_epoch_end(self, state):
            pass

    cb = EpochOnly()
    assert overrides(cb, "on_epoch_end") and not overrides(cb, "on_batch_end")
    per_batch = ScheduleLR(optim.StepLR(optim.SGD(model().parameters(), lr=0.1), step_size=1), interval="batch")
    assert overrides(per_batch, "on_batch_end") and not overrides(per_batch, "on_epoch_end")
    loop = Loop(model(), F.cross_entropy, optim.SGD(model().parameters(), lr=0.1), ArraySource(X, Y), callbacks=[cb])
    loop.run(1)
    assert loop._phases["on_batch_end"] == [] and cb in loop._phases["on_epoch_end"]


def test_resuming_a_saved_run_is_exact():
    """Dropout, shuffling, early stopping and a schedule all continue from the saved state."""

    def run(epochs, resume=None, save=None):
        m = model(dropout=0.3)
        opt = optim.Adam(m.parameters(), lr=0.01)
        callbacks = [EarlyStopping("val_loss", patience=50), ScheduleLR(optim.StepLR(opt, step_size=2, gamma=0.5))]
        if save is not None:
            callbacks.append(Checkpoint(save, every=3))
        history = fit(m, F.cross_entropy, opt, (X, Y), epochs=epochs, batch_size=4, validation_data=(X, Y),
                      callbacks=callbacks, rng=np.random.default_rng(5), resume=resume)
        return m, history

    full, full_history = run(8)
    saved = {}
    run(4, save=lambda state, epoch: saved.update({epoch: state}))
    assert list(saved) == [3]
    resumed, history = run(8, resume=saved[3])
    assert all(np.array_equal(u, v) for u, v in zip(weights(full), weights(resumed), strict=True))
    drop_time = lambda h: [{k: v for k, v in r.items() if k != "wall_time"} for r in h]
    assert drop_time(history) == drop_time(full_history)


def test_fit_docstring_example_runs():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for test in finder.find(fit, "fit", globs={}):
            runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
