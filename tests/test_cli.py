"""End-to-end tests of the installed ``glassnet`` command, run in subprocesses."""

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]
pytest.importorskip("pyarrow")

import glassnet as gn  # noqa: E402

COMMAND = [shutil.which("glassnet")] if shutil.which("glassnet") else [sys.executable, "-m", "glassnet"]
FAST = ["--max-iter", "15", "--hidden", "16", "--quiet"]
# the commands run the glassnet under test (this process's), not whichever copy is installed
ENV = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning",
       "PYTHONPATH": os.pathsep.join([str(Path(gn.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}


def cli(*args, cwd, timeout=180):
    return subprocess.run([*COMMAND, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=ENV)


def cli_many(commands, cwd):
    """Run independent commands side by side (each start-up imports scikit-learn, which is slow)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda args: cli(*args, cwd=cwd), commands))


def ok(result):
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory with a table of numeric, categorical and missing values (CSV and Parquet)."""
    path = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.normal(size=n), rng.uniform(0, 10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    score = a + 0.3 * b + np.where(color == "red", 1.5, 0.0)
    label = np.where(score > 2.5, "high", np.where(score > 0.5, "mid", "low"))
    a[rng.random(n) < 0.1] = np.nan
    color[rng.random(n) < 0.1] = None
    df = pd.DataFrame({"a": a, "b": b, "color": color, "label": label, "price": 10 * score + rng.normal(size=n)})
    df.to_csv(path / "data.csv", index=False)
    df.drop(columns=["label"]).to_parquet(path / "reg.parquet")
    new = df.drop(columns=["label", "price"]).head(20).copy()
    new.loc[0, "color"] = "purple"  # a category never seen in training
    new.to_csv(path / "new.csv", index=False)
    return path


@pytest.fixture(scope="module")
def trained(work):
    result = ok(cli("train", "data.csv", "--target", "label", "--drop", "price", "--run-dir", "run",
                    "--output", "model.safetensors", "--checkpoint-every", "5", "--max-iter", "15", "--hidden", "16",
                    cwd=work))
    return work, result


def test_train_progress_log_checkpoint_model_and_report(trained):
    work, result = trained
    assert "epoch" in result.stderr and "loss=" in result.stderr and "val_score=" in result.stderr  # tqdm bar
    assert "held-out accuracy" in result.stdout and "model saved to model.safetensors" in result.stdout
    run = work / "run"
    est = gn.load(run / "model.safetensors")[-1]  # a pipeline: preprocessing, then the estimator
    records = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, est.n_iter_ + 1))
    assert {"loss", "val_score", "lr", "grad_norm", "weight_norm"} <= set(records[0])
    assert (run / "checkpoint.safetensors").exists() and (run / "config.json").exists()
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "Confusion matrix" in html
    for png in ("loss.png", "learning_rate.png", "grad_norm.png", "confusion_matrix.png"):
        assert (run / png).read_bytes()[:4] == b"\x89PNG"
    assert (work / "model.safetensors").read_bytes() == (run / "model.safetensors").read_bytes()


def test_predict_evaluate_inspect_export(trained):
    work, _ = trained
    predict, predict_all, evaluate, inspect, export = cli_many([
        ("predict", "model.safetensors", "new.csv", "--proba", "-o", "pred.csv"),
        ("predict", "model.safetensors", "data.csv"),
        ("evaluate", "model.safetensors", "data.csv", "--json"),
        ("inspect", "model.safetensors"),
        ("export", "model.safetensors", "--onnx", "model.onnx")], work)
    for r in (predict, predict_all, evaluate, inspect, export):
        ok(r)
    model = gn.load(work / "model.safetensors")  # the object predict and evaluate use, on the raw table
    assert model.classes_.tolist() == ["high", "low", "mid"]
    data, new = pd.read_csv(work / "data.csv"), pd.read_csv(work / "new.csv")

    pred = pd.read_csv(work / "pred.csv")
    assert list(pred.columns) == ["prediction", "proba_high", "proba_low", "proba_mid"]
    with pytest.warns(UserWarning, match="not seen in training"):
        proba = model.predict_proba(new)
    np.testing.assert_allclose(pred[["proba_high", "proba_low", "proba_mid"]].to_numpy(), proba, rtol=1e-9)
    assert pred["prediction"].tolist() == np.array(["high", "low", "mid"])[proba.argmax(1)].tolist()
    with pytest.warns(UserWarning, match="not seen in training"):
        assert model.predict(new).tolist() == pred["prediction"].tolist()
    assert "'color': 1" in predict.stderr  # the unseen category is reported, not fatal

    from sklearn.metrics import accuracy_score

    all_pred = pd.read_csv(StringIO(predict_all.stdout))["prediction"]
    metrics = json.loads(evaluate.stdout)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(data["label"], all_pred))
    assert set(metrics) == {"accuracy", "f1_macro", "log_loss", "confusion_matrix"}
    assert np.sum(metrics["confusion_matrix"]) == len(data)

    assert "7 -> 16 -> 3" in inspect.stdout and "labels        high, low, mid" in inspect.stdout
    assert "color: categorical, 3 categories" in inspect.stdout and "missing-value flag" in inspect.stdout
    assert 'color                 string, missing as ""' in inspect.stdout

    ort = pytest.importorskip("onnxruntime")
    from glassnet.cli.onnx_export import onnx_inputs

    session = ort.InferenceSession(str(work / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == ["a", "b", "color"]
    labels, probabilities = session.run(None, onnx_inputs(data, model))
    np.testing.assert_allclose(probabilities, model.predict_proba(data), atol=1e-5)
    assert labels.tolist() == all_pred.tolist()


def test_regression_on_parquet_with_onnx(work):
    ok(cli("train", "reg.parquet", "--target", "price", "--run-dir", "reg_run", "--output", "reg.safetensors",
           "--max-iter", "60", "--lr", "0.01", "--hidden", "16", "--quiet", cwd=work))
    predict, evaluate, export = cli_many([("predict", "reg.safetensors", "reg.parquet", "-o", "out.parquet"),
                                          ("evaluate", "reg.safetensors", "reg.parquet"),
                                          ("export", "reg.safetensors", "--onnx", "reg.onnx")], work)
    for r in (predict, evaluate, export):
        ok(r)
    df = pd.read_parquet(work / "reg.parquet")
    model = gn.load(work / "reg.safetensors")
    expected = model.predict(df)
    np.testing.assert_allclose(pd.read_parquet(work / "out.parquet")["prediction"], expected, rtol=1e-12)
    r2 = float(evaluate.stdout.split()[1])
    assert r2 > 0.5  # the target (about 10 * a linear score) is learned in its own units
    assert (work / "reg_run" / "predicted_vs_actual.png").exists()
    ort = pytest.importorskip("onnxruntime")
    from glassnet.cli.onnx_export import onnx_inputs

    (out,) = ort.InferenceSession(str(work / "reg.onnx")).run(None, onnx_inputs(df, work / "reg.safetensors"))
    np.testing.assert_allclose(out.ravel(), expected, rtol=1e-4, atol=1e-3)


def test_readme_first_command(tmp_path):
    result = ok(cli("train", cwd=tmp_path))  # no arguments: the built-in digits
    assert "MLPClassifier on digits" in result.stderr and "epoch" in result.stderr and "val_score=" in result.stderr
    accuracy = float(result.stdout.split("held-out accuracy")[1].split()[0])
    assert accuracy > 0.9
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "model.safetensors").exists() and (run / "report.html").exists()


def test_python_m_glassnet_lists_every_subcommand(tmp_path):
    from glassnet.cli.commands import COMMANDS

    r = subprocess.run([sys.executable, "-m", "glassnet", "--help"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=ENV)
    assert r.returncode == 0, r.stderr
    listed = {line.split()[0] for line in r.stdout.splitlines() if line.startswith("    ")}
    assert listed == {c.__name__.rsplit(".", 1)[1].replace("_", "-") for c in COMMANDS}  # lr_find: lr-find


def test_config_file_and_command_line_precedence(work):
    (work / "train.toml").write_text('target = "label"\ndrop = ["price"]\nhidden = [8]\nmax_iter = 5\n'
                                     '[estimator]\nalpha = 0.01\n')
    ok(cli("train", "data.csv", "--config", "train.toml", "--epochs", "3", "--run-dir", "cfg", "-q", cwd=work))
    est = gn.load(work / "cfg" / "model.safetensors")[-1]
    assert est.hidden_layer_sizes == (8,) and est.max_iter == 3 and est.alpha == 0.01 and est.n_iter_ <= 3


@pytest.fixture(scope="module")
def bad_files(trained):
    work, _ = trained
    (work / "data.xlsx").write_text("not really")
    (work / "bad.toml").write_text("target = \n")
    (work / "no_b.csv").write_text(pd.read_csv(work / "new.csv").drop(columns=["b"]).to_csv(index=False))
    (work / "odd_labels.csv").write_text(pd.read_csv(work / "data.csv").assign(label="huge").to_csv(index=False))
    blob = bytearray((work / "model.safetensors").read_bytes())
    blob[-5] ^= 0x01
    (work / "corrupt.safetensors").write_bytes(bytes(blob))
    return work


TRAIN = ("train", "data.csv", "--target", "label", "--drop", "price", *FAST)


def _assert_one_line(args, code, stderr, message):
    lines = stderr.strip().splitlines()
    assert code == 2, (args, stderr)
    assert len(lines) == 1 and lines[0].startswith("glassnet") and message in lines[0], (args, stderr)
    assert "Traceback" not in stderr


def test_user_errors_exit_2_with_one_line(bad_files):
    work = bad_files
    cases = [
        (("train", "missing.csv"), "data file missing.csv does not exist"),
        (("train", "data.csv", "--target", "nope"), "target column 'nope' is not in data.csv"),
        (("train", "data.xlsx"), "unsupported file type .xlsx"),
        ((*TRAIN, "--lr", "-1"), "learning_rate_init"),
        (("predict", "corrupt.safetensors", "new.csv"), "checksum mismatch"),
    ]
    results = cli_many([args for args, _ in cases], work)
    for (args, message), r in zip(cases, results, strict=True):
        _assert_one_line(args, r.returncode, r.stderr, message)


@pytest.mark.parametrize("args, message", [
    ((*TRAIN, "--activation", "swish"), "activation"),
    ((*TRAIN, "--output", "model.safetensors"), "model.safetensors already exists; pass --force"),
    ((*TRAIN, "--param", "nope=1"), "unknown estimator setting(s) ['nope']"),
    (("train", "--config", "bad.toml"), "bad.toml is not valid TOML"),
    (("train", "--resume", "."), "is not a run directory"),
    (("train", "--resume", "run"), "has already finished"),
    (("train", "data.csv", "--dataset", "iris"), "either a data file or --dataset"),
    (("predict", "data.csv", "new.csv"), "not a glassnet model file"),
    (("predict", "model.safetensors", "no_b.csv"), "lacks columns ['b']"),
    (("predict", "model.safetensors", "new.csv", "-o", "data.csv"), "data.csv already exists"),
    (("evaluate", "model.safetensors", "odd_labels.csv"), "labels ['huge'] were not seen in training"),
    (("inspect", "nothing.safetensors"), "model file nothing.safetensors does not exist"),
    (("export", "model.safetensors", "--onnx", "model.txt"), "should end in .onnx"),
])
def test_more_user_errors_in_process(bad_files, monkeypatch, capsys, args, message):
    # the same entry point as the command, called in this process to keep the suite fast
    from glassnet.cli import main

    monkeypatch.chdir(bad_files)
    before = (bad_files / "model.safetensors").read_bytes()
    code = main(list(args))
    _assert_one_line(args, code, capsys.readouterr().err, message)
    assert (bad_files / "model.safetensors").read_bytes() == before  # never overwritten without --force


def test_option_type_errors_are_one_line(capsys):
    from glassnet.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--lr", "abc"])
    _assert_one_line("--lr abc", exit_info.value.code, capsys.readouterr().err, "must be a number or auto, got 'abc'")


def test_debug_shows_the_traceback(trained):
    work, _ = trained
    r = cli("inspect", "missing.safetensors", "--debug", cwd=work)
    assert r.returncode != 0 and "Traceback" in r.stderr and "ModelFileError" in r.stderr


def test_pickle_payload_is_refused_without_running(work):
    marker = work / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (work / "evil.safetensors").write_bytes(pickle.dumps(Evil()))
    r = cli("predict", "evil.safetensors", "new.csv", cwd=work)
    assert r.returncode == 2 and "is a pickle file" in r.stderr and "Traceback" not in r.stderr
    assert not marker.exists()


def test_report_is_rebuilt(trained):
    work, _ = trained
    run = work / "run"
    for name in ("report.html", "loss.png"):
        (run / name).unlink()
    result = ok(cli("report", "run", cwd=work))
    assert "report.html" in result.stdout and (run / "loss.png").exists()
    assert "data:image/png;base64," in (run / "report.html").read_text()


def test_sigkill_and_resume_gives_the_uninterrupted_model(work):
    args = ["train", "data.csv", "--target", "label", "--drop", "price", "--max-iter", "100", "--hidden", "16",
            "--dropout", "0.1", "--tol", "0", "--n-iter-no-change", "1000", "--checkpoint-every", "4", "--quiet"]
    full = subprocess.Popen([*COMMAND, *args, "--run-dir", "full"], cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=ENV)
    victim = subprocess.Popen([*COMMAND, *args, "--run-dir", "killed"], cwd=work, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=ENV)
    log = work / "killed" / "history.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and len(log.read_text().splitlines()) >= 8) and time.monotonic() < deadline:
        time.sleep(0.002)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (work / "killed" / "model.safetensors").exists(), "the run finished before it could be killed"
    assert full.wait(timeout=180) == 0, full.stderr.read()
    ok(cli("train", "--resume", "killed", "--quiet", cwd=work))

    from safetensors.numpy import load_file

    a, b = load_file(work / "full" / "model.safetensors"), load_file(work / "killed" / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    drop_time = lambda line: {k: v for k, v in json.loads(line).items() if k != "wall_time"}
    full_log = [drop_time(x) for x in (work / "full" / "history.jsonl").read_text().splitlines()]
    resumed_log = [drop_time(x) for x in log.read_text().splitlines()]
    assert resumed_log == full_log and len(full_log) == 100


def test_predict_and_evaluate_a_model_saved_from_python(tmp_path, monkeypatch, capsys):
    from glassnet.cli import main

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = np.where(x[:, 0] > 0, "yes", "no")
    est = gn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0).fit(x, y)
    gn.save(est, tmp_path / "py.safetensors")
    pd.DataFrame(x, columns=["u", "v", "w"]).assign(target=y).to_csv(tmp_path / "t.csv", index=False)
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "py.safetensors", "t.csv", "-o", "p.csv"]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["prediction"].tolist() == est.predict(x).tolist()
    assert main(["evaluate", "py.safetensors", "t.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(est.score(x, y))
