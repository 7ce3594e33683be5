"""The examples: importable, runnable, and right (xor.py's hand-written backprop equals autograd; custom_loop.py's
callbacks do what they say)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# the script runs on the glassnet under test (this process's), not whichever copy is installed
ENV = {**os.environ,
       "PYTHONPATH": os.pathsep.join([str(Path(gn.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def xor():
    spec = importlib.util.spec_from_file_location("xor_example", EXAMPLES / "xor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", range(5))
def test_xor_hand_written_gradients_equal_autograd(xor, seed) -> None:
    params = xor.init_params(seed)
    params["b1"] += np.random.default_rng(seed).normal(size=4)  # nonzero biases too
    x = np.random.default_rng(seed + 100).normal(size=(6, 2))  # and inputs beyond the four corners
    y = np.random.default_rng(seed + 200).uniform(size=(6, 1))
    manual_loss, manual = xor.manual_gradients(params, x, y)
    auto_loss, auto = xor.autograd_gradients(params, x, y)
    assert manual_loss == pytest.approx(auto_loss, rel=1e-14)
    for name in xor.NAMES:
        assert manual[name].shape == params[name].shape
        assert auto[name].dtype == np.float64
        np.testing.assert_allclose(manual[name], auto[name], rtol=1e-12, atol=1e-15)


def test_xor_hand_written_gradients_match_finite_differences(xor) -> None:
    params, eps = xor.init_params(3), 1e-6
    _, grads = xor.manual_gradients(params, xor.X, xor.Y)
    for name in xor.NAMES:
        for idx in np.ndindex(params[name].shape):
            shifted = {k: v.copy() for k, v in params.items()}
            shifted[name][idx] += eps
            plus, _ = xor.manual_gradients(shifted, xor.X, xor.Y)
            shifted[name][idx] -= 2 * eps
            minus, _ = xor.manual_gradients(shifted, xor.X, xor.Y)
            assert grads[name][idx] == pytest.approx((plus - minus) / (2 * eps), rel=1e-5, abs=1e-9)


def test_xor_training_descends_and_both_ways_agree(xor) -> None:
    start = xor.init_params(1)
    manual = {k: v.copy() for k, v in start.items()}
    manual_losses = xor.train_manual(manual, epochs=1000)
    auto, auto_losses = xor.train_autograd(start, epochs=1000)
    assert np.all(np.diff(manual_losses) <= 1e-12)  # the loss goes down at every step
    assert manual_losses[-1] < 0.05 * manual_losses[0]
    np.testing.assert_allclose(manual_losses, auto_losses, rtol=1e-10)
    for name in xor.NAMES:
        np.testing.assert_allclose(manual[name], auto[name], rtol=1e-10, atol=1e-12)


def test_xor_script_solves_xor() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "xor.py")], capture_output=True, text=True,
                            timeout=120, check=True, env=ENV)
    lines = result.stdout.splitlines()
    assert lines[-1] == "XOR solved"
    gradient_gap = float(lines[0].rsplit(" ", 1)[-1])
    assert gradient_gap < 1e-12
    predictions = [int(line.rsplit("-> ", 1)[-1]) for line in lines if "predicted" in line]
    assert predictions == [0, 1, 1, 0]


@pytest.fixture(scope="module")
def custom_loop():
    spec = importlib.util.spec_from_file_location("custom_loop_example", EXAMPLES / "custom_loop.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_custom_loop_stops_at_the_target_loss(custom_loop, capsys) -> None:
    result = custom_loop.main(target=0.3)
    history = result["history"]
    assert result["reached_at"] == len(history) and history[-1]["loss"] <= 0.3 < history[-2]["loss"]
    assert len(result["norms"]) == 10 * len(history)  # one gradient norm per batch: 500 rows in batches of 50
    assert result["accuracy"] > 0.9
    assert "target loss 0.3 reached" in capsys.readouterr().out


def test_custom_loop_early_stopping_restores_the_best_weights(custom_loop) -> None:
    result = custom_loop.main(target=0.0)
    history, early = result["history"], result["early_stopping"]
    assert result["reached_at"] is None and len(history) == early.best_epoch + early.patience
    best = min(r["val_loss"] for r in history)
    assert early.best == best == history[early.best_epoch - 1]["val_loss"]
    x_val, y_val = result["validation"]
    with gn.no_grad():
        restored = float(custom_loop.smooth_hinge(result["model"](x_val), y_val).data)
    assert restored == pytest.approx(best, rel=1e-5)


def test_custom_loop_script_runs() -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "custom_loop.py")], capture_output=True, text=True,
                            timeout=120, check=True, env=ENV)
    assert "target loss 0.3 reached at epoch" in result.stdout


@pytest.mark.slow  # three fits of 80 epochs, one of them with a 10-step attack per batch
def test_robust_digits_adversarial_training_pays_off() -> None:
    spec = importlib.util.spec_from_file_location("robust_digits", EXAMPLES / "robust_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.compare(epochs=80)
    standard, pgd = results["standard"], results["PGD training"]
    assert all(r["trustworthy"] for r in results.values())
    assert pgd["robust"][0.1] > standard["robust"][0.1] + 0.2
    assert pgd["robust"][0.0] > standard["robust"][0.0] - 0.05
    assert standard["completeness"] < 0.01


@pytest.fixture(scope="module")
def diagnose_example():
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("diagnose_example", EXAMPLES / "diagnose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_diagnose_example_names_the_failure_and_the_fix_cures_it(diagnose_example, tmp_path, capsys):
    result = diagnose_example.main(tmp_path)
    assert "vanishing_gradients" in [f.kind for f in result["before"]] and result["after"] == []
    failing, fixed = result["accuracy"]
    assert failing < 0.3 < 0.9 < fixed
    assert result["lr_find"].reliable
    for path in result["plots"]:
        assert path.parent == tmp_path and path.read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "vanishing_gradients (layer 0)" in out and "no problems found" in out


def test_diagnose_script_runs(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run([sys.executable, str(EXAMPLES / "diagnose.py"), str(tmp_path)], capture_output=True,
                            text=True, timeout=300, check=True, env=ENV)
    assert "fixed network: test accuracy" in result.stdout and (tmp_path / "diagnose_lr_find.png").exists()
