"""The command line's view of training health: glassnet lr-find, train --lr auto, the health summary at the end of
train, the report's health section, inspect's health line, and a diverging run stopped by the NaN guard."""

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

import glassnet as gn  # noqa: E402
from glassnet.cli import datasets, main  # noqa: E402
from test_cli import cli, ok  # noqa: E402


def glassnet(*args):
    """Run the command in this process; its exit status (output through capsys)."""
    try:
        return main([str(a) for a in args])
    except SystemExit as e:  # argparse's own errors
        return e.code


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                  "label": np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")}).to_csv("data.csv", index=False)
    return tmp_path


def test_lr_find_on_a_file_prints_the_curve_and_saves_the_plot(work, capsys):
    assert glassnet("lr-find", "data.csv", "--target", "label", "--plot", "curve.png") == 0
    out = capsys.readouterr().out
    assert "learning-rate range test on data: 240 training rows, MLPClassifier (adam)" in out
    assert "suggested learning rate:" in out and "plot saved to curve.png" in out
    assert (work / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert glassnet("lr-find", "data.csv", "--target", "label", "--plot", "curve.png") == 2  # no silent overwrite
    assert "curve.png already exists" in capsys.readouterr().err
    assert glassnet("lr-find", "data.csv", "--target", "label", "--plot", "none", "--json", "--steps", "40") == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["lrs"]) == len(result["losses"]) <= 40 and result["suggestion"] > 0


def test_lr_find_mistakes_are_one_line(work, capsys):
    assert glassnet("lr-find", "data.csv", "--target", "label", "--start-lr", "1", "--end-lr", "0.1") == 2
    assert "start_lr < end_lr" in capsys.readouterr().err
    assert glassnet("lr-find", "data.csv", "--target", "label", "--solver", "lbfgs") == 2
    assert "stochastic solver" in capsys.readouterr().err
    assert glassnet("train", "data.csv", "--target", "label", "--lr", "fast") == 2
    assert "--lr" in capsys.readouterr().err
    assert glassnet("train", "data.csv", "--target", "label", "--lr", "auto", "--solver", "lbfgs") == 2
    assert "auto needs a stochastic solver" in capsys.readouterr().err


def test_train_lr_auto_records_the_range_test_and_reports_health(work, capsys):
    assert glassnet("train", "data.csv", "--target", "label", "--lr", "auto", "--run-dir", "run") == 0
    captured = capsys.readouterr()
    assert "learning rate: " in captured.err and "from the range test" in captured.err
    assert "health: no problems found" in captured.out
    config = json.loads((work / "run" / "config.json").read_text())
    found = config["lr_find"]
    assert found["reliable"] and config["estimator"]["learning_rate_init"] == found["chosen"] == found["suggestion"]
    records = [json.loads(line) for line in (work / "run" / "history.jsonl").read_text().splitlines()]
    assert {"update_ratio", "dead_fraction", "loss_spikes"} <= set(records[0])
    html = (work / "run" / "report.html").read_text()
    assert "<h2>Health</h2>" in html and "No problems found" in html and "Training health" in html
    assert (work / "run" / "health.png").read_bytes()[:4] == b"\x89PNG"
    est = gn.load(work / "run" / "model.safetensors")[-1]  # the pipeline's network
    assert est.learning_rate_init == found["chosen"]


def test_a_learning_rate_far_too_high_is_named_by_train_report_and_inspect(work, capsys):
    assert glassnet("train", "data.csv", "--target", "label", "--lr", "10", "--epochs", "8", "--run-dir", "run",
                    "--output", "m.safetensors", "-q") == 0
    assert "health: lr_too_high" in capsys.readouterr().out
    assert "lr too high" in (work / "run" / "report.html").read_text()
    assert glassnet("inspect", "m.safetensors") == 0
    assert "health        lr_too_high" in capsys.readouterr().out


def test_a_diverging_run_stops_at_the_bad_step_and_saves_finite_weights(work, capsys):
    table = pd.read_csv("data.csv")
    table["y"] = table["a"] * 1e20  # its square overflows float32 at the first step
    table.drop(columns=["label"]).to_csv("big.csv", index=False)
    assert glassnet("train", "big.csv", "--target", "y", "--no-scale-target", "--run-dir", "run",
                    "--output", "m.safetensors") == 0
    captured = capsys.readouterr()
    assert "warning: training stopped at step 1 (epoch 1): the loss became inf" in captured.err
    assert "overflow encountered" not in captured.err  # NumPy's warnings add nothing to the guard's
    assert "the NaN guard ended training" in captured.err and "health: nan" in captured.out
    assert "training anew on all" not in captured.err  # nothing to gain from a second run into the same wall
    est = gn.load("m.safetensors")[-1]
    assert all(np.isfinite(c).all() for c in est.coefs_ + est.intercepts_)
    assert "nonfinite" in json.loads((work / "run" / "history.jsonl").read_text().splitlines()[-1])


def test_lr_find_as_a_command_of_its_own(tmp_path):
    result = ok(cli("lr-find", "--dataset", "iris", "--plot", "none", cwd=tmp_path))
    assert "suggested learning rate" in result.stdout


@pytest.mark.parametrize("name", datasets.NAMES)
def test_lr_auto_on_the_built_in_data_sets_is_never_worse_than_the_default(tmp_path, monkeypatch, capsys, name):
    monkeypatch.chdir(tmp_path)
    scores = {}
    for lr in ("auto", "0.001"):
        assert glassnet("train", "--dataset", name, "--lr", lr, "--run-dir", f"run-{lr}", "-q") == 0
        metrics = json.loads((tmp_path / f"run-{lr}" / "evaluation.json").read_text())["metrics"]
        scores[lr] = metrics.get("accuracy", metrics.get("r2"))
    capsys.readouterr()
    assert scores["auto"] >= scores["0.001"] - 0.01 - 1e-9, scores  # 1e-9: 0.935 - 0.01 in floating point
