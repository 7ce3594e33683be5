"""The gradient-health monitor, the NaN guard and StopTraining: what they record, that they change nothing in a
healthy run, and that a non-finite loss or gradient never reaches the weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

import glassnet as gn
import glassnet.functional as F
from glassnet import Tensor, nn, optim
from glassnet.train import Callback, Checkpoint, Monitor, NaNGuard, StopTraining, fit, load_checkpoint
from glassnet.train.callbacks import monitor as monitor_module
from glassnet.train.callbacks.layers import layer_outputs, linear_layers

# the failures built on purpose overflow
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning",
                                        "ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning",
                                        "ignore:divide by zero encountered:RuntimeWarning")

_rng = np.random.default_rng(3)
X = _rng.normal(size=(96, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
YR = (X[:, :1] - 0.5 * X[:, 1:2]).astype(np.float32)


def weights(module) -> list[np.ndarray]:
    return [np.array(p.data) for p in module.parameters()]


class Steps(Callback):
    """The weights after every optimizer step (index 0: before the first)."""

    def __init__(self):
        self.after = []

    def on_train_begin(self, state):
        self.after = [weights(state.module)]

    def on_batch_end(self, state):
        self.after.append(weights(state.module))


def run(callbacks, *, activation="relu", dropout=0.0, epochs=3, lr=0.05, sizes=(4, 16, 8, 2), loss=F.cross_entropy,
        y=Y, opt=None, **kwargs):
    m = nn.MLP(list(sizes), activation=activation, dropout=dropout, rng=0)
    opt = opt(m) if opt is not None else optim.Adam(m.parameters(), lr=lr)
    history = fit(m, loss, opt, (X, y), epochs=epochs, batch_size=8, callbacks=callbacks, rng=0, **kwargs)
    return m, history


# ---- Monitor ----------------------------------------------------------------------------------------
def test_monitor_adds_its_fields_to_every_record(monkeypatch):
    monkeypatch.setattr(monitor_module, "MIN_STEPS", 1)  # a measurement every epoch
    _, history = run([Monitor()])
    assert len(history) == 3
    for record in history:
        assert len(record["update_ratio"]) == len(record["dead_fraction"]) == len(record["saturated_fraction"]) == 3
        assert all(0 < r < 1 for r in record["update_ratio"])
        assert record["dead_fraction"][2] is None and all(0 <= d <= 1 for d in record["dead_fraction"][:2])
        assert record["saturated_fraction"] == [None, None, None]  # no sigmoid or tanh
        assert record["loss_spikes"] == 0
    # 12 steps an epoch: a step has 20 before it from epoch 2 on
    assert history[0]["loss_spike_max"] is None and 0 < history[1]["loss_spike_max"] < 4


def test_measurements_are_at_least_200_steps_apart_by_default():
    _, history = run([Monitor()], epochs=20)  # 12 steps an epoch
    measured = [r["epoch"] for r in history if r["update_ratio"][0] is not None]
    assert measured == [1, 18]  # epoch 18 starts at step 204, 203 steps after the first measurement
    assert all(r["loss_spike_max"] is not None for r in history[2:])  # spikes are looked for at every step
    # the trained network's units are measured once more at the end, into the last record
    assert history[-1]["dead_fraction"][0] is not None and history[-2]["dead_fraction"][0] is None


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_monitor_and_guard_leave_the_trajectory_and_the_random_streams_alone(dropout):
    plain, plain_history = run([], dropout=dropout, epochs=4)
    watched, watched_history = run([Monitor(every=3), NaNGuard()], dropout=dropout, epochs=4)
    for a, b in zip(weights(plain), weights(watched), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [r["loss"] for r in plain_history] == [r["loss"] for r in watched_history]
    assert [r["grad_norm"] for r in plain_history] == [r["grad_norm"] for r in watched_history]


def test_update_ratio_is_the_step_over_the_weights(monkeypatch):
    monkeypatch.setattr(monitor_module, "MIN_STEPS", 1)
    # plain SGD, no momentum: the first step changes W by lr * grad, measured on the epoch's first step
    steps = Steps()
    _, history = run([steps, Monitor()], opt=lambda m: optim.SGD(m.parameters(), lr=0.1), epochs=2)
    linear = [0, 2, 4]  # weight matrices among the parameters (weight, bias per layer)
    for epoch, first_step in ((1, 0), (2, 12)):
        before, after = steps.after[first_step], steps.after[first_step + 1]
        expected = [np.linalg.norm(after[i] - before[i]) / np.linalg.norm(before[i]) for i in linear]
        np.testing.assert_allclose(history[epoch - 1]["update_ratio"], expected, rtol=1e-5)


def test_every_n_steps_averages_the_sampled_steps():
    steps = Steps()
    _, history = run([steps, Monitor(every=1)], opt=lambda m: optim.SGD(m.parameters(), lr=0.1), epochs=1)
    ratios = [[np.linalg.norm(b[i] - a[i]) / np.linalg.norm(a[i]) for i in (0, 2, 4)]
              for a, b in zip(steps.after[:-1], steps.after[1:], strict=True)]
    np.testing.assert_allclose(history[0]["update_ratio"], np.mean(ratios, axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="every"):
        Monitor(every=0)
    with pytest.raises(ValueError, match="probe_size"):
        Monitor(probe_size=0)


def test_dead_relu_units_on_the_probe_batch():
    m = nn.MLP([4, 16, 8, 2], rng=0)
    m.layers[0].bias.data[:10] = -100.0  # ten units of layer 0 never fire
    monitor = Monitor(probe=X[:50])
    fit(m, F.cross_entropy, optim.SGD(m.parameters(), lr=1e-4), (X, Y), epochs=1, batch_size=8,
        callbacks=[monitor], rng=0)
    stats = monitor.activation_stats(m)
    hidden = np.maximum(X[:50] @ np.array(m.layers[0].weight.data) + np.array(m.layers[0].bias.data), 0)
    assert stats["dead_fraction"][0] == pytest.approx(np.mean(np.all(hidden == 0, axis=0)))
    assert stats["dead_fraction"][0] >= 10 / 16


def test_saturated_units_of_tanh_and_sigmoid():
    for activation in ("tanh", "sigmoid"):
        m = nn.MLP([4, 16, 2], activation=activation, rng=0)
        monitor = Monitor(probe=X * 100)  # inputs far too large: every unit in a flat tail
        fit(m, F.cross_entropy, optim.SGD(m.parameters(), lr=1e-4), (X, Y), epochs=1, batch_size=8,
            callbacks=[monitor], rng=0)
        assert monitor.activation_stats(m)["saturated_fraction"][0] > 0.9
        monitor.probe = X * 0.01  # small inputs: every unit near its steepest point
        assert monitor.activation_stats(m)["saturated_fraction"][0] == 0.0


def test_the_probe_is_the_first_rows_seen_and_a_fixed_one_may_be_given():
    monitor = Monitor(probe_size=20)
    run([monitor], epochs=1)
    assert monitor.probe.shape == (20, 4)
    small = Monitor(probe_size=1000)  # more than the data: the whole first epoch
    run([small], epochs=2)
    assert small.probe.shape == (96, 4)


def test_loss_spikes_are_counted():
    calls = {"n": 0}

    def spiky(out, y):
        calls["n"] += 1
        loss = F.cross_entropy(out, y)
        return loss, 100.0 if calls["n"] in (30, 31) else float(loss.data)

    _, history = run([Monitor()], loss=spiky, epochs=3)
    assert [r["loss_spikes"] for r in history] == [0, 0, 2]  # steps 30 and 31 are in epoch 3
    assert history[2]["loss_spike_max"] > 50


def test_modules_that_are_not_sequential_get_no_activation_statistics():
    class Net(nn.Module):
        def __init__(self):
            self.a, self.b = nn.Linear(4, 8, rng=0), nn.Linear(8, 2, rng=1)

        def forward(self, x):
            return self.b(F.relu(self.a(x)))

    net = Net()
    history = fit(net, F.cross_entropy, optim.Adam(net.parameters(), lr=0.01), (X, Y), epochs=2, batch_size=8,
                  callbacks=[Monitor()], rng=0)
    assert history[-1]["dead_fraction"] == [None, None] and len(history[-1]["update_ratio"]) == 2
    assert layer_outputs(net, X) is None and len(linear_layers(net)) == 2


def test_monitor_resumes_exactly():
    saved = {}
    _, full = run([Monitor(), Checkpoint(lambda state, epoch: saved.setdefault(epoch, state))], epochs=4)
    m = nn.MLP([4, 16, 8, 2], rng=0)
    history = fit(m, F.cross_entropy, optim.Adam(m.parameters(), lr=0.05), (X, Y), epochs=4, batch_size=8,
                  callbacks=[Monitor(), Checkpoint(lambda state, epoch: None)], rng=0, resume=saved[2])
    keys = ("update_ratio", "dead_fraction", "loss_spikes", "loss_spike_max")
    assert [{k: r[k] for k in keys} for r in history] == [{k: r[k] for k in keys} for r in full]


def test_monitor_state_goes_through_a_checkpoint_file(tmp_path):
    path = tmp_path / "run.npz"
    run([Monitor(probe_size=10), Checkpoint(path)], epochs=2)
    state = load_checkpoint(path)
    assert np.asarray(state["callbacks"]["Monitor"]["probe"]).shape == (10, 4)


# ---- NaN guard ----------------------------------------------------------------------------------------
def test_the_guard_stops_before_a_non_finite_loss_reaches_the_weights():
    calls = {"n": 0}

    def breaks_at_step_17(out, y):
        calls["n"] += 1
        loss = F.mse_loss(out, y)
        return loss * math.inf if calls["n"] == 17 else loss

    steps, guard = Steps(), NaNGuard()
    m, history = run([steps, guard], loss=breaks_at_step_17, y=YR, sizes=(4, 8, 1), epochs=5)
    assert len(steps.after) == 17  # the start and 16 good steps: step 17 never happened
    for a, b in zip(weights(m), steps.after[16], strict=True):
        np.testing.assert_array_equal(a, b)
    event = guard.event
    assert (event["step"], event["epoch"], event["quantity"], event["value"]) == (17, 2, "loss", "inf")
    assert "step 17" in event["message"] and "lower the learning rate" in event["message"]
    assert len(history) == 2 and history[-1]["nonfinite"] == event
    assert math.isfinite(history[-1]["loss"])  # the mean over the epoch's four good batches


def test_the_guard_names_the_layer_whose_output_overflowed():
    m = nn.MLP([4, 16, 8, 1], rng=0)
    m.layers[2].weight.data[...] = 1e38  # layer 1 (the second Linear) overflows float32
    guard = NaNGuard()
    history = fit(m, F.mse_loss, optim.SGD(m.parameters(), lr=0.01), (X, YR), epochs=2, batch_size=8,
                  callbacks=[guard], rng=0)
    assert guard.event["layer"] == 1 and "layer 1's output overflowed" in guard.event["message"]
    assert guard.event["step"] == 1 and history[0]["loss"] != history[0]["loss"]  # NaN: no good batch
    assert all(np.isfinite(p.data).all() for p in m.parameters())


def test_the_guard_names_a_target_too_large_for_float32():
    y = YR.astype(np.float64) * 1e39  # beyond float32's range: infinite once in the parameters' dtype
    guard = NaNGuard()
    m, _ = run([guard], loss=F.mse_loss, y=y, sizes=(4, 8, 1), epochs=2)
    assert guard.event["quantity"] == "loss" and "target" in guard.event["cause"]
    assert all(np.isfinite(p.data).all() for p in m.parameters())


@pytest.mark.parametrize("flat", [True, False])
def test_the_guard_catches_a_gradient_that_is_not_finite_under_a_finite_loss(flat):
    class Root(nn.Module):  # sqrt(s) at s = 0: the value is 0, the gradient infinite
        def __init__(self):
            self.w = Tensor(np.ones((4, 1), dtype=np.float32), requires_grad=True)
            self.s = Tensor(np.ones(1, dtype=np.float32), requires_grad=True)

        def forward(self, x):
            return x @ self.w + self.s ** 0.5

    net = Root()
    opt = optim.SGD(net.parameters(), lr=0.1, flat=flat)
    zero_at_step_3 = Steps()

    class ZeroS(Callback):
        def on_batch_end(self, state):
            if state.step == 2:
                net.s.data[...] = 0.0

    guard = NaNGuard()
    fit(net, F.mse_loss, opt, (X, YR), epochs=1, batch_size=8, callbacks=[zero_at_step_3, ZeroS(), guard], rng=0)
    assert guard.event["quantity"] == "gradient" and guard.event["step"] == 3 and guard.event["value"] == "inf"
    assert float(net.s.data[0]) == 0.0 and np.isfinite(net.w.data).all()


def test_stop_training_outside_the_batches_ends_training_where_it_stands():
    class StopAt(Callback):
        def __init__(self, phase):
            self.phase = phase
            setattr(self, phase, self._stop)

        def _stop(self, state, *args):
            if state.epoch == 2:
                raise StopTraining("enough")

    # History (first) has recorded epoch 2 when on_epoch_end stops; a batch phase closes epoch 2 early
    for phase, records in (("on_epoch_end", 2), ("on_epoch_begin", 1), ("on_batch_begin", 2)):
        m, history = run([StopAt(phase)], epochs=4)
        assert len(history) == records and not m.training

    class Never(Callback):
        def on_train_begin(self, state):
            raise StopTraining("not today")

    assert run([Never()], epochs=4)[1] == []


def test_the_guard_on_an_array_api_strict_model():
    xps = pytest.importorskip("array_api_strict")
    m = nn.MLP([4, 8, 1], xp=xps, dtype="float64", rng=0)
    x, y = xps.asarray(X.astype(np.float64)), xps.asarray((YR * 1e200).astype(np.float64) ** 2)
    guard = NaNGuard()
    history = fit(m, F.mse_loss, optim.SGD(m.parameters(), lr=0.01), (x, y), epochs=2, batch_size=8,
                  callbacks=[Monitor(), guard], rng=0)
    assert guard.event["quantity"] == "loss" and guard.event["step"] == 1
    assert history[-1]["update_ratio"] == [None, None]  # stopped before the first measured step
    assert all(bool(xps.all(xps.isfinite(p.data))) for p in m.parameters())


def test_gn_train_exports():
    assert gn.train.Monitor is Monitor and gn.train.NaNGuard is NaNGuard and gn.train.StopTraining is StopTraining


def test_an_estimator_resumed_from_its_training_state_records_what_an_uninterrupted_fit_records():
    from glassnet import MLPClassifier

    states = {}

    def keep(est, record):
        states[record["epoch"]] = est.get_training_state()

    settings = {"hidden_layer_sizes": (16,), "max_iter": 6, "batch_size": 16, "random_state": 0}
    full = MLPClassifier(**settings).fit(X, Y, callbacks=[keep])
    resumed = MLPClassifier(**settings).fit(X, Y, resume=states[3])
    keys = ("update_ratio", "dead_fraction", "loss_spikes", "loss_spike_max")
    assert [{k: r[k] for k in keys} for r in resumed.history_] == [{k: r[k] for k in keys} for r in full.history_]
    assert set(states[3]["monitor"]) == {"tail", "steps_since_measured"}  # the probe: the first training rows again


def test_l_bfgs_fits_are_monitored_per_iteration_and_no_learning_rate_is_blamed():
    from glassnet import MLPClassifier, diagnose
    from glassnet.inspect.diagnosis import HIGH_UPDATE_RATIO

    seen = []

    class Weights(Callback):
        def on_train_begin(self, state):
            seen.append([layer.weight.data.copy() for layer in linear_layers(state.module)])

        def on_epoch_end(self, state):
            seen.append([layer.weight.data.copy() for layer in linear_layers(state.module)])

    est = MLPClassifier((16,), solver="lbfgs", max_iter=40, random_state=0).fit(X, Y, callbacks=[Weights()])
    history = est.history_
    assert len(history) == len(seen) - 1 == est.n_iter_
    for record, before, after in zip(history, seen, seen[1:], strict=False):  # each iteration, whole
        expected = [np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(after, before, strict=True)]
        assert record["update_ratio"] == pytest.approx(expected, rel=1e-5)
    probed = [r["epoch"] for r in history if r["dead_fraction"][0] is not None]
    assert probed == [1, len(history)]  # the probe pass: first, then 200 evaluations apart (not reached), and last
    assert sum(r["loss_spikes"] for r in history) == 0  # line-search trials are not steps
    # an iteration moved the weights by more than a stochastic step may (the rule's threshold), as L-BFGS's
    # first iterations do, and yet there is no learning rate to blame
    assert max(max(r["update_ratio"]) for r in history) > HIGH_UPDATE_RATIO
    assert not [f for f in diagnose(est) if f.kind.startswith("lr_")]
