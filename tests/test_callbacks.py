"""The callbacks everyone needs: history, early stopping, checkpoints, clipping, schedules, progress, penalties."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest

import glassnet.functional as F
from glassnet import Tensor, nn, optim
from glassnet.train import (
    Callback,
    Checkpoint,
    ClipGradNorm,
    ClipGradValue,
    EarlyStopping,
    Penalty,
    ProgressBar,
    ScheduleLR,
    clip_grad_norm,
    clip_grad_value,
    fit,
    load_checkpoint,
)

_rng = np.random.default_rng(1)
X = _rng.normal(size=(40, 3)).astype(np.float32)
Y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)


def model(seed: int = 0) -> nn.MLP:
    return nn.MLP([3, 8, 2], activation="tanh", rng=seed)


def weights(module) -> list[np.ndarray]:
    return [np.array(p.data) for p in module.parameters()]


def train(callbacks, epochs=4, lr=0.05, seed=0, **kwargs):
    m = model(seed)
    opt = kwargs.pop("opt", None) or optim.SGD(m.parameters(), lr=lr)
    history = fit(m, F.cross_entropy, opt, (X, Y), epochs=epochs, batch_size=8, callbacks=callbacks, rng=0,
                  **kwargs)
    return m, history


class Feed(Callback):
    """Puts a scripted value of ``name`` into each epoch's metrics (before the callbacks that read it)."""

    def __init__(self, name, values):
        self.name, self.values = name, list(values)

    def on_epoch_end(self, state):
        state.metrics[self.name] = self.values[state.epoch - 1]


class KeepWeights(Callback):
    """The module's weights at the end of every epoch."""

    def __init__(self):
        self.kept = {}

    def on_epoch_end(self, state):
        self.kept[state.epoch] = weights(state.module)


# ---- History -----------------------------------------------------------------------------------
def test_history_records_each_epoch():
    opt_model = model()
    opt = optim.SGD(opt_model.parameters(), lr=0.1)
    history = fit(opt_model, F.cross_entropy, opt, (X, Y), epochs=3, batch_size=8,
                  callbacks=[ScheduleLR(optim.StepLR(opt, step_size=1, gamma=0.5))])
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert [r["lr"] for r in history] == [0.1, 0.05, 0.025]  # the rate each epoch started with
    assert all(len(r["grad_norm"]) == len(r["weight_norm"]) == 2 for r in history)  # two weight matrices
    assert 0 < history[0]["wall_time"] <= history[1]["wall_time"] <= history[2]["wall_time"]
    assert history[0]["val_loss"] is None and history[0]["val_score"] is None


# ---- EarlyStopping -----------------------------------------------------------------------------
@pytest.mark.parametrize(("monitor", "mode", "values", "best_epoch", "stopped_at"), [
    ("val_loss", "auto", [1.0, 0.8, 0.85, 0.9, 0.95, 0.7, 0.6, 0.5], 2, 5),   # 0.7 comes too late (patience 3)
    ("val_score", "auto", [0.5, 0.6, 0.6, 0.55, 0.58, 0.9, 0.9, 0.9], 2, 5),    # a tie is no improvement
    ("loss", "min", [3.0, 2.0, 1.5, 1.4, 1.39, 1.395, 1.38, 1.37], 4, 7),      # min_delta 0.05
    ("val_loss", "max", [0.1, 0.2, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0], 3, 6),
])
def test_early_stopping_each_monitor_and_mode(monitor, mode, values, best_epoch, stopped_at):
    min_delta = 0.05 if monitor == "loss" else 0.0
    stop = EarlyStopping(monitor, mode=mode, patience=3, min_delta=min_delta, restore_best_weights=True)
    keep = KeepWeights()
    m, history = train([Feed(monitor, values), keep, stop], epochs=8)
    assert len(history) == stopped_at and stop.best_epoch == best_epoch
    assert all(np.array_equal(u, v) for u, v in zip(weights(m), keep.kept[best_epoch], strict=True))


def test_early_stopping_infers_the_mode_and_names_a_missing_metric():
    assert EarlyStopping("val_loss").mode == "min" and EarlyStopping("loss").mode == "min"
    assert EarlyStopping("val_score").mode == "max" and EarlyStopping("val_accuracy").mode == "max"
    with pytest.raises(ValueError, match="validation data"):
        train([EarlyStopping("val_loss")])
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="lowest")


def test_early_stopping_on_real_validation_loss_keeps_the_best_epoch():
    stop = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    keep = KeepWeights()
    m, history = train([keep, stop], epochs=60, lr=2.0, validation_data=(X[:10], Y[:10]))
    losses = [r["val_loss"] for r in history]
    best = int(np.argmin(losses)) + 1
    assert len(history) < 60 and stop.best_epoch == best and len(history) == best + 2
    assert all(np.array_equal(u, v) for u, v in zip(weights(m), keep.kept[best], strict=True))


def test_a_non_finite_value_never_improves():
    stop = EarlyStopping("loss", patience=1)
    _, history = train([Feed("loss", [1.0, float("nan"), 0.5]), stop], epochs=3)
    assert len(history) == 2 and stop.best == 1.0


# ---- clipping ----------------------------------------------------------------------------------
def _params_with_grads(scale, seed=0):
    rng = np.random.default_rng(seed)
    params = [Tensor(rng.normal(size=s), requires_grad=True) for s in [(3, 4), (4,), (4, 2)]]
    for p in params:
        p.grad = rng.normal(size=p.shape) * scale
    return params


@pytest.mark.parametrize("scale", [0.01, 10.0])
def test_clip_grad_norm_matches_pytorch(scale):
    torch = pytest.importorskip("torch")
    params = _params_with_grads(scale)
    tparams = [torch.tensor(p.data, requires_grad=True) for p in params]
    for t, p in zip(tparams, params, strict=True):
        t.grad = torch.tensor(p.grad)
    clip_grad_norm(params, 1.0)
    torch.nn.utils.clip_grad_norm_(tparams, 1.0)
    for p, t in zip(params, tparams, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
    assert np.sqrt(sum((p.grad ** 2).sum() for p in params)) <= 1.0 + 1e-9


def test_clip_grad_value_matches_pytorch():
    torch = pytest.importorskip("torch")
    params = _params_with_grads(1.0)
    tparams = [torch.tensor(p.data, requires_grad=True) for p in params]
    for t, p in zip(tparams, params, strict=True):
        t.grad = torch.tensor(p.grad)
    clip_grad_value(params, 0.3)
    torch.nn.utils.clip_grad_value_(tparams, 0.3)
    for p, t in zip(params, tparams, strict=True):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


@pytest.mark.parametrize(("clip", "check"), [
    (ClipGradNorm(0.05), lambda grads: np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads)) <= 0.05 * 1.0001),
    (ClipGradValue(0.01), lambda grads: max(np.abs(g).max() for g in grads) <= 0.01),
])
def test_clipping_acts_after_backward_before_the_step(clip, check):
    class Inspect(Callback):
        def __init__(self):
            self.ok = []

        def on_after_backward(self, state):
            self.ok.append(check([p.grad for p in state.module.parameters()]))

    inspect = Inspect()
    train([clip, inspect], epochs=2, lr=1.0)
    assert inspect.ok and all(inspect.ok)


def test_clipping_rejects_a_non_positive_bound():
    with pytest.raises(ValueError, match="max_norm"):
        ClipGradNorm(0.0)
    with pytest.raises(ValueError, match="clip_value"):
        ClipGradValue(-1.0)


# ---- learning-rate schedules -------------------------------------------------------------------
class LRs(Callback):
    def __init__(self):
        self.lrs = []

    def on_batch_begin(self, state, batch):
        self.lrs.append(state.optimizer.lr)


def test_schedule_steps_per_batch():
    m = model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    lrs = LRs()
    fit(m, F.cross_entropy, opt, (X, Y), epochs=2, batch_size=20,
        callbacks=[lrs, ScheduleLR(optim.StepLR(opt, step_size=1, gamma=0.5), interval="batch")])
    np.testing.assert_allclose(lrs.lrs, [0.1, 0.05, 0.025, 0.0125])


def test_schedule_steps_per_epoch():
    m = model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    lrs = LRs()
    fit(m, F.cross_entropy, opt, (X, Y), epochs=2, batch_size=20,
        callbacks=[lrs, ScheduleLR(optim.ExponentialLR(opt, gamma=0.5))])
    np.testing.assert_allclose(lrs.lrs, [0.1, 0.1, 0.05, 0.05])


def test_reduce_on_plateau_steps_on_the_monitored_metric():
    m = model()
    opt = optim.SGD(m.parameters(), lr=0.1)
    plateau = optim.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    _, history = train([Feed("val_loss", [1.0, 1.1, 1.2, 1.3, 0.5]), ScheduleLR(plateau, monitor="val_loss")],
                       epochs=5, opt=opt)
    assert [r["lr"] for r in history] == [0.1, 0.1, 0.1, 0.05, 0.05]
    with pytest.raises(ValueError, match="monitor"):
        ScheduleLR(plateau)
    with pytest.raises(ValueError, match="interval='epoch'"):
        ScheduleLR(plateau, interval="batch", monitor="val_loss")


# ---- checkpoints -------------------------------------------------------------------------------
def test_checkpoint_hands_the_training_state_to_a_function():
    saved = []

    def save(state, epoch):
        saved.append((epoch, state))

    keep = KeepWeights()
    train([keep, Checkpoint(save, every=2)], epochs=5)
    assert [epoch for epoch, _ in saved] == [2, 4]
    state = saved[-1][1]
    assert state["epoch"] == 4 and len(state["history"]) == 4 and state["step"] == 4 * 5
    for (name, value), kept in zip(state["module"].items(), keep.kept[4], strict=True):
        np.testing.assert_array_equal(value, kept, err_msg=name)
    assert set(state) >= {"module", "optimizer", "rng", "epoch", "step", "history", "callbacks"}


def test_checkpoint_file_round_trips_without_pickle_and_resumes(tmp_path):
    m = model()
    opt = optim.Adam(m.parameters(), lr=0.01)
    full = fit(m, F.cross_entropy, opt, (X, Y), epochs=6, batch_size=8, rng=np.random.default_rng(2))
    a = model()
    fit(a, F.cross_entropy, optim.Adam(a.parameters(), lr=0.01), (X, Y), epochs=3, batch_size=8,
        callbacks=[Checkpoint(tmp_path / "run-{epoch}.npz")], rng=np.random.default_rng(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-1.npz", "run-2.npz", "run-3.npz"]
    with np.load(tmp_path / "run-3.npz", allow_pickle=False) as raw:  # plain arrays and one JSON string
        assert all(raw[k].dtype != object for k in raw.files)
    state = load_checkpoint(tmp_path / "run-3.npz")
    b = model(seed=9)
    resumed = fit(b, F.cross_entropy, optim.Adam(b.parameters(), lr=0.01), (X, Y), epochs=6, batch_size=8,
                  rng=np.random.default_rng(7), resume=state)
    assert all(np.array_equal(u, v) for u, v in zip(weights(m), weights(b), strict=True))
    assert [r["loss"] for r in resumed] == [r["loss"] for r in full]


def test_checkpoint_rejects_what_it_cannot_save_to():
    with pytest.raises(TypeError, match="target"):
        Checkpoint(42)
    with pytest.raises(ValueError, match="every"):
        Checkpoint("x.npz", every=0)


# ---- progress ----------------------------------------------------------------------------------
def test_progress_prints_one_line_per_epoch_when_not_a_terminal(capsys):
    train([ProgressBar()], epochs=3, validation_data=(X, Y))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("epoch 1/3: loss ") and "val_loss " in lines[0]


def test_progress_draws_a_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    train([ProgressBar(file=out)], epochs=3)
    text = out.getvalue()
    assert "training" in text and "3/3" in text and "epoch 1/3:" not in text


# ---- penalties ---------------------------------------------------------------------------------
def test_penalty_adds_its_gradient_and_value_after_backward():
    w = Tensor(np.array([[1.0, -2.0], [0.5, 0.0]]), requires_grad=True)
    w.grad = np.zeros((2, 2))
    state = SimpleNamespace(batch=(np.zeros((4, 1)), None, None), loss=np.float64(1.0), optimizer=None)
    state.objective = state.loss
    Penalty([w], alpha=0.1, l1=0.2).on_after_backward(state)
    np.testing.assert_allclose(w.grad, (0.1 * w.data + 0.2 * np.sign(w.data)) / 4)
    expected = 1.0 + (0.05 * (w.data ** 2).sum() + 0.2 * np.abs(w.data).sum()) / 4
    np.testing.assert_allclose([state.loss, state.objective], [expected, expected])
