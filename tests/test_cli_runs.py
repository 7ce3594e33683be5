"""Run directories and the options around them: --force replaces a run only once the new one has finished,
Ctrl-C leaves a resumable run, finished runs train on with --epochs, and mistakes are caught before training."""

import json
import signal
import subprocess
import time

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

import glassnet as gn  # noqa: E402
from glassnet.cli import main  # noqa: E402
from test_cli import COMMAND, ENV, cli, ok  # noqa: E402

SMALL = ["--epochs", "6", "--hidden", "8"]


def glassnet(*args):
    """Run the command in this process (fast: no start-up); (exit status, stdout, stderr) via capsys."""
    try:
        return main([str(a) for a in args])
    except SystemExit as e:  # argparse's own errors
        return e.code


def one_line_error(capsys, code, message):
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, (code, err)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A directory holding a table of numeric, text and missing values; the current directory during a test."""
    rng = np.random.default_rng(0)
    n = 200
    a, b = rng.normal(size=n), rng.uniform(0, 10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    score = a + 0.3 * b + np.where(color == "red", 1.5, 0.0)
    label = np.where(score > 2.5, "high", np.where(score > 0.5, "mid", "low"))
    a[rng.random(n) < 0.1] = np.nan
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "a": a, "b": b, "color": color, "label": label,
                       "price": 10 * score + rng.normal(size=n)})
    df.to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


TRAIN = ["train", "data.csv", "--target", "label", "--drop", "id", "price", "-q"]


def model_bytes(path):
    return (path / "model.safetensors").read_bytes()


# ---------------------------------------------------------------- --force and --output, checked before training

def test_force_swaps_in_a_finished_run_and_keeps_the_old_one_when_the_new_one_fails(work, capsys):
    assert glassnet(*TRAIN, *SMALL, "--run-dir", "run") == 0
    old = model_bytes(work / "run")
    # a new run that fails (diverges without the NaN guard, which would stop it and keep its last good weights):
    # the old run stays whole, and nothing of the new one is left behind
    code = glassnet(*TRAIN, *SMALL, "--run-dir", "run", "--force", "--solver", "sgd", "--lr", "1e30",
                    "--param", "monitor=false")
    assert code == 2 and "non-finite" in capsys.readouterr().err
    assert model_bytes(work / "run") == old and sorted(p.name for p in work.iterdir()) == ["data.csv", "run"]
    # a new run that finishes replaces the old one as a whole
    assert glassnet(*TRAIN, "--epochs", "3", "--hidden", "8", "--run-dir", "run", "--force") == 0
    assert sorted(p.name for p in work.iterdir()) == ["data.csv", "run"]
    assert len((work / "run" / "history.jsonl").read_text().splitlines()) == 3
    assert json.loads((work / "run" / "config.json").read_text())["estimator"]["max_iter"] == 3
    assert gn.load(work / "run" / "model.safetensors")[-1].n_iter_ == 3


def test_output_and_run_dir_mistakes_are_refused_before_training(work, capsys):
    (work / "somedir").mkdir()
    (work / "notes").mkdir()
    (work / "notes" / "todo.txt").write_text("mine")
    cases = [
        (("--output", "somedir", "--force"), "--output somedir is a directory"),
        (("-o", "nowhere/m.safetensors"), "the directory nowhere does not exist"),
        (("--run-dir", "notes", "--force"), "holds no glassnet run"),
        (("--run-dir", "data.csv"), "data.csv is a file"),
    ]
    for args, message in cases:
        one_line_error(capsys, glassnet(*TRAIN, *SMALL, *args), message)
    assert (work / "notes" / "todo.txt").read_text() == "mine" and not (work / "runs").exists()


# ---------------------------------------------------------------- Ctrl-C

def _wait_for_epochs(log, n, process):
    deadline = time.monotonic() + 120
    while not (log.exists() and len(log.read_text().splitlines()) >= n) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.002)


def test_ctrl_c_exits_130_with_a_run_that_resumes_to_the_uninterrupted_model(work):
    args = [*TRAIN, "--epochs", "600", "--hidden", "16", "--tol", "0", "--n-iter-no-change", "2000"]
    ok(cli(*TRAIN, *SMALL, "--run-dir", "old", cwd=work))
    before = model_bytes(work / "old")
    full = subprocess.Popen([*COMMAND, *args, "--run-dir", "full"], cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=ENV)
    # the interrupted run replaces an existing one (--force): that one must survive the interruption
    victim = subprocess.Popen([*COMMAND, *args, "--run-dir", "old", "--force"], cwd=work, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 120
    while not list(work.glob("old.new-*/history.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.002)
    (staging,) = [p.parent for p in work.glob("old.new-*/history.jsonl")]
    _wait_for_epochs(staging / "history.jsonl", 5, victim)
    victim.send_signal(signal.SIGINT)
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == 130, err
    epochs = len((staging / "history.jsonl").read_text().splitlines())
    assert 5 <= epochs < 600, "the run finished before it could be interrupted"
    assert f"interrupted after {epochs} epochs; continue with: glassnet train --resume {staging.name}" in err
    assert f"the run in old is unchanged; the interrupted new one is in {staging.name}" in err
    assert "stopped improving" not in err + out and "Traceback" not in err
    assert model_bytes(work / "old") == before and not (staging / "model.safetensors").exists()

    assert full.wait(timeout=180) == 0, full.stderr.read()
    ok(cli("train", "--resume", staging, "--quiet", cwd=work))
    from safetensors.numpy import load_file

    a, b = load_file(work / "full" / "model.safetensors"), load_file(staging / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    drop_time = lambda line: {k: v for k, v in json.loads(line).items() if k != "wall_time"}
    assert [drop_time(x) for x in (staging / "history.jsonl").read_text().splitlines()] == \
        [drop_time(x) for x in (work / "full" / "history.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- training a finished run on

def test_resume_with_epochs_trains_a_finished_run_on_to_the_straight_model(work, capsys):
    assert glassnet(*TRAIN, "--epochs", "4", "--hidden", "8", "--run-dir", "short", "-o", "short.safetensors") == 0
    assert glassnet(*TRAIN, "--epochs", "9", "--hidden", "8", "--run-dir", "straight") == 0
    one_line_error(capsys, glassnet("train", "--resume", "short"), "has already finished after 4 epochs; --epochs N")
    one_line_error(capsys, glassnet("train", "--resume", "short", "--max-iter", "3"),
                   "--max-iter 3: the run in short has already trained 4 epochs")
    one_line_error(capsys, glassnet("train", "--resume", "short", "--epochs", "9", "--lr", "0.1"),
                   "only --epochs may change")
    # the run's own --output copy is replaced without --force
    assert glassnet("train", "--resume", "short", "--epochs", "9") == 0
    assert "model saved to" in capsys.readouterr().out
    from safetensors.numpy import load_file

    a, b = load_file(work / "short" / "model.safetensors"), load_file(work / "straight" / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert (work / "short.safetensors").read_bytes() == model_bytes(work / "short")
    assert json.loads((work / "short" / "config.json").read_text())["estimator"]["max_iter"] == 9
    assert len((work / "short" / "history.jsonl").read_text().splitlines()) == 9


def test_a_run_that_stopped_early_trains_on_with_its_patience_anew(work, capsys):
    assert glassnet(*TRAIN, "--hidden", "8", "--n-iter-no-change", "2", "--tol", "1", "--validation-metric", "score",
                    "--no-refit", "--run-dir", "r") == 0
    stopped = gn.load(work / "r" / "model.safetensors")[-1].n_iter_
    assert stopped == 4  # no epoch after the first improves by tol=1: stops once 3 epochs (> 2) did not
    assert glassnet("train", "--resume", "r", "--epochs", "50") == 0
    assert gn.load(work / "r" / "model.safetensors")[-1].n_iter_ == stopped + 3  # 3 more epochs, no improvement
    assert len((work / "r" / "history.jsonl").read_text().splitlines()) == stopped + 3


# ---------------------------------------------------------------- data problems

def test_zero_test_fraction_and_predicting_for_a_header_only_file(work, capsys):
    assert glassnet(*TRAIN, *SMALL, "--run-dir", "all", "--test-fraction", "0", "-o", "m.safetensors") == 0
    assert json.loads((work / "all" / "evaluation.json").read_text())["metrics"] == {}
    pd.read_csv(work / "data.csv").head(0).to_csv(work / "empty.csv", index=False)
    capsys.readouterr()
    assert glassnet("predict", "m.safetensors", "empty.csv") == 0
    assert capsys.readouterr().out.split() == ["prediction"]


def test_target_named_as_a_feature_is_refused_with_its_flag(work, capsys):
    one_line_error(capsys, glassnet(*TRAIN, "--drop", "label"), "--drop: 'label' is the target column")
    one_line_error(capsys, glassnet(*TRAIN, "--categorical", "label"), "--categorical: 'label' is the target column")
    one_line_error(capsys, glassnet(*TRAIN, "--categorical", "nope"), "--categorical: no columns ['nope'] in the data")
    assert glassnet(*TRAIN, *SMALL, "--run-dir", "r", "-o", "m.safetensors") == 0
    one_line_error(capsys, glassnet("evaluate", "m.safetensors", "data.csv", "--target", "a"),
                   "--target 'a' is one of the model's input columns; the model predicts 'label'")


def test_rows_with_a_missing_target_are_refused_or_dropped(work, capsys):
    df = pd.read_csv(work / "data.csv")
    df.loc[[3, 50, 70], "label"] = None
    df.to_csv(work / "holes.csv", index=False)
    holes = ["train", "holes.csv", "--target", "label", "--drop", "id", "price", "-q", *SMALL]
    one_line_error(capsys, glassnet(*holes), "'label' has 3 missing values; pass --drop-missing-target")
    assert glassnet(*holes, "--drop-missing-target", "--run-dir", "r") == 0
    assert "dropped 3 of 200 rows: their target 'label' is missing" in capsys.readouterr().err
    config = json.loads((work / "r" / "config.json").read_text())
    assert config["data"]["rows_dropped"] == 3 and config["run"]["drop_missing_target"] is True


def test_numeric_column_with_typos_warns_and_reads_them_as_missing(work, capsys):
    df = pd.read_csv(work / "data.csv")
    df["b"] = df["b"].round(1).astype(str)
    df.loc[[4, 9], "b"] = ["39,1", "4O.2"]
    df.to_csv(work / "typos.csv", index=False)
    assert glassnet("train", "typos.csv", "--target", "label", "--drop", "id", "price", "-q", *SMALL,
                    "--run-dir", "r", "--test-fraction", "0") == 0
    err = capsys.readouterr().err
    assert "column 'b': 2 of 200 values are not numbers ('39,1', '4O.2')" in err and "--categorical b" in err
    from glassnet.cli.preprocessing import describe

    (b,) = [c for c in describe(gn.load(work / "r" / "model.safetensors")) if c["name"] == "b"]
    assert b["kind"] == "numeric" and b["missing_flag"]


# ---------------------------------------------------------------- messages in the user's words

@pytest.mark.parametrize("args, message", [
    (("--epochs", "0"), "--epochs (max_iter) must be an int in the range [1, inf), got 0"),
    (("--max-iter", "0"), "--max-iter (max_iter) must be an int in the range [1, inf), got 0"),
    (("--seed", "-3"), "--seed (random_state) must be"),
    (("--no-early-stopping", "--validation-fraction", "2"),
     "--validation-fraction (validation_fraction) must be a float in the range"),
    (("--validation-fraction", "0"), "--validation-fraction 0.0 leaves 0 of the 160 training rows for validation"),
    (("--batch-size", "abc"), "argument --batch-size: must be a whole number or auto, got 'abc'"),
    (("--param", "hiden_layer_sizes=8"), "unknown estimator setting(s) ['hiden_layer_sizes'] "
                                         "(--param hiden_layer_sizes); did you mean 'hidden_layer_sizes'?"),
    (("--param", "activaton=tanh"), "did you mean 'activation'?"),
    (("--param", "beta_1=2"), "--param beta_1 must be a float in the range [0.0, 1.0), got 2"),
])
def test_errors_name_the_flag_typed(work, capsys, args, message):
    one_line_error(capsys, glassnet(*TRAIN, *args), message)


def test_config_file_errors_name_the_key_and_file(work, capsys):
    (work / "t.toml").write_text("epochs = 0\n[estimator]\nbeta2 = 0.5\n")
    one_line_error(capsys, glassnet(*TRAIN, "--config", "t.toml"), "did you mean 'beta_2'?")
    (work / "t.toml").write_text("epochs = 0\n")
    one_line_error(capsys, glassnet(*TRAIN, "--config", "t.toml"), "epochs in t.toml (max_iter) must be an int")


def test_param_takes_python_literals(work):
    assert glassnet(*TRAIN, "--epochs", "3", "--run-dir", "r", "--param", "hidden_layer_sizes=(8, 4)",
                    "--param", "shuffle=False") == 0
    est = gn.load(work / "r" / "model.safetensors")[-1]
    assert est.hidden_layer_sizes == (8, 4) and est.shuffle is False


def test_quiet_hides_progress_not_results_and_a_forced_classification_warns(work, capsys):
    assert glassnet("train", "data.csv", "--target", "price", "--task", "classification", "--drop", "id", "label",
                    "-q", *SMALL, "--run-dir", "r") == 0
    out, err = capsys.readouterr()
    assert "held-out accuracy" in out and "model saved to r/model.safetensors" in out and "report: " in out
    assert "training MLPClassifier" not in err and "epoch/s" not in err
    assert "--task classification: the target 'price' looks like a quantity (200 distinct numbers" in err


# ---------------------------------------------------------------- help and every effective setting

def test_help_shows_every_default_and_runs_record_every_setting(work, capsys):
    from glassnet.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    without = {"help", "debug", "data", "config", "force", "resume", "quiet", "param"}
    assert all("(default: " in a.help for a in train._actions if a.dest not in without), \
        [a.dest for a in train._actions if a.dest not in without and "(default: " not in a.help]
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--test-fraction F rows held out for the final metric, 0 for none (default: 0.2)" in text
    assert "--max-iter N, --epochs N most epochs to train (default: 1000)" in text

    assert glassnet(*TRAIN, *SMALL, "--no-refit", "--run-dir", "r", "-o", "m.safetensors") == 0
    every = set(gn.MLPClassifier().get_params())
    config = json.loads((work / "r" / "config.json").read_text())
    assert set(config["estimator"]) == every and config["estimator"]["beta_2"] == 0.999
    capsys.readouterr()
    assert glassnet("inspect", "m.safetensors") == 0
    listed = capsys.readouterr().out
    assert all(f"\n  {k} " in listed for k in every) and "early_stopping        True  (default False)" in listed
    assert "\n  test_fraction " in listed and "weights kept from epoch" in listed
    html = (work / "r" / "report.html").read_text()
    assert all(f"<th>{k}</th>" in html for k in every) and "<th>test_fraction</th>" in html
    assert "Validation accuracy" in html and "weights kept from epoch" in html


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"glassnet {gn.__version__}"
