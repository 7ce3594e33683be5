"""Run directories under concurrent runs, kills and damage: one run per directory at a time, finishing that
--resume completes wherever a kill cut it, resume that checks what it resumes from, runs that learned nothing
refused, and outputs never replaced without --force."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

import glassnet as gn  # noqa: E402
from glassnet.cli import main  # noqa: E402
from glassnet.io.locks import FileLock  # noqa: E402
from test_cli import ENV  # noqa: E402

TRAIN = ["train", "data.csv", "--target", "label", "-q", "--hidden", "8"]


def glassnet(*args):
    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def error_line(capsys, code, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err and err[-1].startswith("glassnet: error:"), (code, err)
    for fragment in fragments:
        assert fragment in err[-1], err[-1]
    return err[-1]


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A directory with data.csv (two numeric features, a three-class label); the current directory."""
    rng = np.random.default_rng(0)
    n = 150
    a, b = rng.normal(size=n), rng.normal(size=n)
    label = np.where(a + b > 0.7, "high", np.where(a + b > -0.7, "mid", "low"))
    pd.DataFrame({"a": a, "b": b, "label": label}).to_csv(tmp_path / "data.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tensors(path):
    from safetensors.numpy import load_file

    return load_file(str(path))


def same_weights(a, b):
    ta, tb = tensors(a), tensors(b)
    return ta.keys() == tb.keys() and all(np.array_equal(ta[k], tb[k]) for k in ta)


def history(run):
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
            for line in (run / "history.jsonl").read_text().splitlines()]


def popen(args, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "glassnet", *map(str, args)], cwd=cwd, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


# ---------------------------------------------------------------- one run per directory

def test_a_run_directory_in_use_is_refused_naming_the_process_that_holds_it(work, capsys):
    assert glassnet(*TRAIN, "--epochs", "3", "--run-dir", "run") == 0
    lock = FileLock(work / "run" / ".glassnet.lock").acquire("process 4242 on elsewhere, started today: glassnet train")
    try:
        for args in ([*TRAIN, "--epochs", "3", "--run-dir", "run", "--force"], ["train", "--resume", "run",
                                                                                "--epochs", "5"]):
            error_line(capsys, glassnet(*args), "run directory run is in use by another glassnet run "
                                                "(process 4242 on elsewhere")
    finally:
        lock.release()
    assert glassnet("train", "--resume", "run", "--epochs", "5") == 0


def test_two_runs_started_at_once_in_one_directory_never_share_it(work):
    args = [*TRAIN, "--epochs", "150", "--tol", "0", "--n-iter-no-change", "1000", "--run-dir", "run"]
    runs = [popen(args, work) for _ in range(2)]
    results = [(r.communicate(timeout=300)[1], r.returncode)[::-1] for r in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    (loser,) = [err for code, err in results if code == 2]
    assert "is in use by another glassnet run (" in loser or "already exists and is not empty" in loser, loser
    assert [record["epoch"] for record in history(work / "run")] == list(range(1, 151))


def test_force_replaces_a_finished_run_as_a_whole_after_checking_every_destination(work, capsys):
    assert glassnet(*TRAIN, "--epochs", "3", "--run-dir", "run", "--checkpoint-every", "1") == 0
    (work / "run" / "notes.txt").write_text("kept only as long as the old run")
    before = (work / "run" / "model.safetensors").read_bytes()
    error_line(capsys, glassnet(*TRAIN, "--epochs", "4", "--run-dir", "run", "--force", "-o", "gone/m.safetensors"),
               "the directory gone does not exist")
    assert (work / "run" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in work.iterdir()) == ["data.csv", "run"]
    assert glassnet(*TRAIN, "--epochs", "4", "--run-dir", "run", "--force") == 0
    assert sorted(p.name for p in work.iterdir()) == ["data.csv", "run"]
    assert not (work / "run" / "notes.txt").exists() and len(history(work / "run")) == 4


def test_a_dangling_link_as_output_is_not_replaced_without_force(work, capsys):
    link = work / "model.safetensors"
    link.symlink_to(work / "elsewhere.safetensors")
    error_line(capsys, glassnet(*TRAIN, "--epochs", "2", "-o", link), "is a link to nothing; pass --force")
    assert link.is_symlink() and not link.exists() and not (work / "runs").exists()
    assert glassnet(*TRAIN, "--epochs", "2", "-o", link, "--force") == 0
    assert not link.is_symlink() and gn.load(link)[-1].n_iter_ in (1, 2)
    (work / "rows.csv").write_text("a,b\n0.1,0.2\n")
    (work / "p.csv").symlink_to(work / "nowhere.csv")
    error_line(capsys, glassnet("predict", link, "rows.csv", "-o", "p.csv"), "p.csv already exists")
    assert (work / "p.csv").is_symlink()


# ---------------------------------------------------------------- finishing, cut short anywhere

KILLED_AT = """
import os, sys
from glassnet.io import atomic
name, argv = sys.argv[1], sys.argv[2:]
publish = atomic._publish
def killed_before(tmp, path, overwrite):
    if path.name == name:
        os._exit(9)  # the process dies here, as under kill -9, just before this file gets its name
    publish(tmp, path, overwrite)
atomic._publish = killed_before
from glassnet.cli import main
sys.exit(main(argv))
"""


@pytest.mark.parametrize("solver, killed_before", [
    ("adam", "evaluation.json"), ("adam", "model.safetensors"), ("adam", "out.safetensors"),
    ("adam", "report.html"), ("lbfgs", "out.safetensors"), ("lbfgs", "report.html")])
def test_a_run_killed_while_finishing_is_completed_by_resume(work, capsys, solver, killed_before):
    args = [*TRAIN, "--epochs", "5", "--solver", solver]
    assert glassnet(*args, "--run-dir", "straight", "-o", "straight.safetensors") == 0
    capsys.readouterr()
    killed = subprocess.run([sys.executable, "-c", KILLED_AT, killed_before, *args, "--run-dir", "run", "-o",
                             "out.safetensors"], cwd=work, env=ENV, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 9, killed.stderr
    finishing = ["evaluation.json", "model.safetensors", "out.safetensors", "report.html"]  # in this order
    written = finishing[:finishing.index(killed_before)]
    assert [name for name in finishing if (work / name).exists() or (work / "run" / name).exists()] == written
    assert glassnet("train", "--resume", "run") == 0
    out, err = capsys.readouterr()
    assert "had finished training but not writing its results" in err and "model saved to" in out
    model = work / "run" / "model.safetensors"
    assert same_weights(model, work / "straight" / "model.safetensors")
    assert (work / "out.safetensors").read_bytes() == model.read_bytes()
    assert (work / "run" / "report.html").exists()
    error_line(capsys, glassnet("train", "--resume", "run"), "has already finished")


def test_runs_killed_at_random_moments_resume_to_the_uninterrupted_model(work, capsys):
    args = [*TRAIN, "--epochs", "120", "--tol", "0", "--n-iter-no-change", "1000", "--checkpoint-every", "1"]
    assert glassnet(*args, "--run-dir", "straight") == 0
    rng = np.random.default_rng(7)
    command = [*args, "--run-dir", "run", "-o", "out.safetensors"]
    log = work / "run" / "history.jsonl"
    for _ in range(4):
        logged = len(log.read_text().splitlines()) if log.exists() else 0
        process = popen(command, work)
        deadline = time.monotonic() + 120
        while process.poll() is None and not (log.exists() and len(log.read_text().splitlines()) > logged + 1):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 1.0))  # then killed at a random moment: training, checkpointing or finishing
        process.send_signal(signal.SIGKILL)
        process.communicate()
        command = ["train", "--resume", "run", "-q"]
    code = glassnet("train", "--resume", "run")
    assert code == 0 or "has already finished" in capsys.readouterr().err
    assert same_weights(work / "run" / "model.safetensors", work / "straight" / "model.safetensors")
    assert history(work / "run") == history(work / "straight")
    assert (work / "out.safetensors").read_bytes() == (work / "run" / "model.safetensors").read_bytes()
    leftovers = [p for p in (work / "run").iterdir() if p.name.endswith(".tmp")]
    for path in leftovers:  # as they look a minute after the kill
        os.utime(path, (time.time() - 60, time.time() - 60))
    glassnet("train", "--resume", "run")
    assert not [p for p in (work / "run").iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- resume checks what it resumes from

def test_resume_rebuilds_a_truncated_history_and_says_so(work, capsys):
    assert glassnet(*TRAIN, "--epochs", "9", "--run-dir", "straight") == 0
    assert glassnet(*TRAIN, "--epochs", "6", "--run-dir", "run") == 0
    log = work / "run" / "history.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:3]) + '{"epoch": 4, "lo')
    capsys.readouterr()
    assert glassnet("train", "--resume", "run", "--epochs", "9") == 0
    assert "held 3 of the 6 epochs in the checkpoint" in capsys.readouterr().err
    # every epoch is there once, in order, with the losses of the straight run (a rebuilt record is the
    # checkpoint's, which the monitor may have completed after the log line was written)
    losses = lambda run: [(r["epoch"], r["loss"], r.get("val_loss")) for r in history(run)]
    assert losses(work / "run") == losses(work / "straight")
    assert same_weights(work / "run" / "model.safetensors", work / "straight" / "model.safetensors")


def _forge_checkpoint(path, edit):
    from safetensors.numpy import save_file

    from test_hostile_files import header_of

    _, _, meta = header_of(path)
    edit(meta)
    text = json.dumps(meta)
    save_file(tensors(path), str(path), metadata={"glassnet": text,
                                                  "glassnet_sha256": hashlib.sha256(text.encode()).hexdigest()})


def test_resume_refuses_an_edited_or_damaged_checkpoint(work, capsys):
    assert glassnet(*TRAIN, "--epochs", "6", "--run-dir", "run", "--checkpoint-every", "2") == 0
    checkpoint = work / "run" / "checkpoint.safetensors"
    original = checkpoint.read_bytes()
    _forge_checkpoint(checkpoint, lambda m: m.update(epoch=4))  # checksums recomputed: the epochs disagree
    error_line(capsys, glassnet("train", "--resume", "run", "--epochs", "9"), "is inconsistent",
               "its metadata 4, its training loop 6")
    _forge_checkpoint(checkpoint, lambda m: m.update(finished="yes"))
    error_line(capsys, glassnet("train", "--resume", "run", "--epochs", "9"), "finished: expected true or false")
    damaged = bytearray(original)
    at = damaged.index(b'epoch\\": 6') + len(b'epoch\\": ')
    damaged[at] = ord("7")  # one bit: "6" to "7", the checksum kept, so the metadata no longer matches it
    checkpoint.write_bytes(bytes(damaged))
    error_line(capsys, glassnet("train", "--resume", "run", "--epochs", "9"), "corrupt")


# ---------------------------------------------------------------- runs that learned nothing

@pytest.fixture
def huge_target(work):
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=60), "y": rng.normal(size=60) * 1e30}).to_csv(work / "huge.csv", index=False)
    return ["train", "huge.csv", "--target", "y", "--no-scale-target", "-q", "--epochs", "3", "-o", "m.safetensors"]


@pytest.mark.parametrize("solver, unit", [("adam", "epoch"), ("lbfgs", "iteration")])
def test_a_run_without_one_finite_loss_fails_unless_kept(work, capsys, huge_target, solver, unit):
    error_line(capsys, glassnet(*huge_target, "--solver", solver, "--run-dir", "failed"),
               f"training failed: no {unit} ended with a finite loss", "--keep-diverged")
    assert not (work / "m.safetensors").exists() and not (work / "failed" / "model.safetensors").exists()
    if solver == "adam":
        assert glassnet(*huge_target, "--solver", solver, "--run-dir", "kept", "--keep-diverged") == 0
        assert "saved anyway (--keep-diverged)" in capsys.readouterr().err
        assert gn.load(work / "m.safetensors")[-1].n_iter_ == 0


# ---------------------------------------------------------------- labels that look like markup

def test_labels_with_math_markup_make_a_report(work, capsys):
    df = pd.read_csv(work / "data.csv")
    df["label"] = df["label"].map({"high": "$\\frac{$", "mid": "a_b^c$", "low": "$x$"})
    df.to_csv(work / "data.csv", index=False)
    assert glassnet(*TRAIN, "--epochs", "3", "--run-dir", "run") == 0
    assert "report skipped" not in capsys.readouterr().err
    assert (work / "run" / "report.html").exists() and (work / "run" / "confusion_matrix.png").exists()
