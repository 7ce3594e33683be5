"""A training run and its directory: config.json (every setting), history.jsonl (one record per epoch),
checkpoint.safetensors (the training state: every N epochs with --checkpoint-every, on Ctrl-C and at the end),
evaluation.json, model.safetensors, PNG plots and report.html.

A run holds a lock on its directory (``.glassnet.lock``, naming its process) from start to end: a second run,
or a resume, in the same directory is refused while the first lives. ``--resume DIR`` continues an interrupted
run, and with ``--epochs N`` trains a finished one on to N epochs in all. ``--force`` on an existing run
directory builds the new run beside it and swaps it in only once it has finished, so the old run survives a
failed or interrupted new one.

Finishing is one recoverable step. The final checkpoint, marked finished, is written first and says where the
model goes; then come evaluation.json, model.safetensors, the ``--output`` copy and the report, each written
atomically. A run killed anywhere in between is completed by ``--resume``, which rebuilds from the final
checkpoint whatever is missing and writes the same bytes the uninterrupted run would have.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from ..io.atomic import remove_stale_temporaries
from ..io.locks import FileLock, LockedError
from ..io.schema import Obj
from . import health, lr_auto
from .errors import UsageError
from .jobs import Job, fold_target_scaling, make_estimator, prepare, refit_estimator, refits
from .metrics import classification_metrics, full_proba, metric_line, regression_metrics
from .model_metadata import CHECKPOINT_METADATA
from .preprocessing import describe, output_columns
from .settings import RunSettings

INTERRUPTED = 130  # the exit status of a process stopped by Ctrl-C (128 + SIGINT)
LOCK = ".glassnet.lock"
CONFIG = Obj({"run": Obj(), "estimator": Obj(), "data": Obj()})


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


def _write_json(path: Path, data: Any) -> None:
    io.atomic_write(path, (json.dumps(data, indent=2, default=_jsonable) + "\n").encode())


def _json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, default=_jsonable)


class Interrupts:
    """Ctrl-C while training: the first stops training after the current epoch (the run stays resumable),
    a second stops it at once. Outside the main thread signals cannot be caught and nothing changes."""

    def __init__(self) -> None:
        self.count = 0
        self._installed = threading.current_thread() is threading.main_thread()
        self._previous: Any = None

    def __enter__(self) -> Interrupts:
        if self._installed:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        from tqdm import tqdm

        tqdm.write("glassnet: interrupted; stopping after this epoch (Ctrl-C again to stop at once)", file=sys.stderr)

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)


class EpochMonitor:
    """The per-epoch callback of a run: appends to history.jsonl, advances the bar, writes checkpoints,
    and stops training once Ctrl-C was pressed."""

    def __init__(self, run_dir: Path, every: int, bar: Any, epoch: int, interrupts: Interrupts,
                 log: str = "history.jsonl") -> None:
        self.run_dir, self.every, self.bar, self.epoch, self.interrupts = run_dir, every, bar, epoch, interrupts
        self.log = (run_dir / log).open("a")

    def __call__(self, est: Any, record: dict[str, Any]) -> bool:
        self.epoch += 1
        self.log.write(_json_line(record) + "\n")
        self.log.flush()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{record[k]:.4g}" for k in ("loss", "val_loss", "val_score")
                                  if isinstance(record.get(k), float)})
        if self.every and self.epoch % self.every == 0:  # after the log line, so a resume can trim the log
            save_checkpoint(self.run_dir, est, est.get_training_state(), self.epoch, finished=False)
        return self.interrupts.count > 0

    def close(self) -> None:
        """Close the history log."""
        self.log.close()


def save_checkpoint(run_dir: Path, est: Any, state: dict[str, Any], epoch: int, *, finished: bool,
                    output: Path | None = None, replace_output: bool = False) -> None:
    """The run's training state after ``epoch`` epochs; ``finished`` marks the state at the run's end, which
    also records where finishing writes the model (``output``, and whether it may replace a file there)."""
    metadata: dict[str, Any] = {"epoch": int(epoch), "finished": finished}
    if finished:
        metadata.update(output=None if output is None else str(output), replace_output=replace_output)
    io.save_checkpoint(run_dir / "checkpoint.safetensors", est, state, metadata=metadata)


# ---------------------------------------------------------------- locking a run directory

def _lock(run_dir: Path) -> FileLock:
    """Hold the lock of ``run_dir`` (an existing directory) for this process's life, or say who holds it."""
    note = (f"process {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}: "
            f"{' '.join(['glassnet', *sys.argv[1:]])[:300]}")
    try:
        return FileLock(run_dir / LOCK).acquire(note)
    except LockedError as e:
        raise UsageError(f"run directory {run_dir} is in use by another glassnet run ({e.holder or 'starting'}); "
                         "wait for it to end, or choose another --run-dir") from None
    except OSError as e:
        raise UsageError(f"cannot lock run directory {run_dir}: {e.strerror or e}") from None


def _contents(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.iterdir() if p.name != LOCK]


def _unused(run_dir: Path) -> bool:
    """True when no live process holds the lock of ``run_dir``."""
    try:
        FileLock(run_dir / LOCK).acquire("").release()
    except (LockedError, OSError):
        return False
    return True


def _remove_abandoned(run_dir: Path, staging_too: bool) -> None:
    """Delete what killed runs left beside ``run_dir`` (whose lock this process holds): old runs that a swap
    had moved aside and, with ``staging_too``, new runs that never finished. Only directories named as this
    module names them (``NAME.old-XXXXXXXX``, ``NAME.new-XXXXXXXX``) and that no live process holds are touched."""
    kinds = (".old-", ".new-") if staging_too else (".old-",)
    for sibling in run_dir.parent.iterdir():
        rest = sibling.name[len(run_dir.name):]
        if not sibling.name.startswith(run_dir.name) or rest[:5] not in kinds or len(rest) != 13 or \
                sibling.is_symlink() or not sibling.is_dir():
            continue
        inner = sibling / run_dir.name if rest.startswith(".old-") else sibling
        if not inner.is_dir() or _unused(inner):
            shutil.rmtree(sibling, ignore_errors=True)


# ---------------------------------------------------------------- starting and resuming

def start(settings: RunSettings, *, force: bool, quiet: bool, keep_diverged: bool = False,
          search: Callable[[Job, Path], dict[str, Any]] | None = None) -> int:
    """A fresh run: check everything, prepare the data, write config.json, train to the end; the exit status.

    ``search(job, run_dir)`` (glassnet tune), called once everything is checked and before training, chooses
    estimator settings that override ``settings``' and may write its own results into the run directory.
    """
    with np.errstate(over="ignore"):  # a column too large to standardize: said below, naming the column
        job, source = prepare(settings)
    est = _estimator(job, settings)
    _check_statistics(job, est.dtype)
    output, replace_output = _check_output(settings, force)
    lr_search = None
    if lr_auto.wanted(settings):  # --lr auto: the range test chooses the rate
        settings, lr_search = lr_auto.choose(settings, job, quiet=quiet)
        est = _estimator(job, settings)
    run_dir, staging, locks = _claim_run_dir(settings, job.name, force)
    try:
        if output is not None:
            settings = replace(settings, output=str(output.resolve()))
        build = staging or run_dir
        try:
            if search is not None:
                settings = replace(settings, estimator={**settings.estimator, **search(job, build)})
                est = _estimator(job, settings)
            params = {k: list(v) if isinstance(v, tuple) else v for k, v in est.get_params(deep=False).items()}
            if "class_weight" in params:  # by label, as given (the estimator has them by class index)
                params["class_weight"] = settings.estimator.get("class_weight")
            config = {**settings.to_config(), "estimator": params, "data": source, "task": job.task,
                      "estimator_class": type(est).__name__, **({"lr_find": lr_search} if lr_search else {})}
            _write_json(build / "config.json", config)
            (build / "history.jsonl").write_text("")
            finished = _train(est, job, build, settings, state=None, start_epoch=0, quiet=quiet,
                              keep_diverged=keep_diverged)
            if finished:
                _commit(est, build, output, replace_output)
                finished = _finish(est, job, build, settings, config, quiet=quiet, keep_diverged=keep_diverged)
            if not finished:
                if staging is not None:
                    print(f"glassnet: the run in {run_dir} is unchanged; the interrupted new one is in {staging} "
                          "(a later --force on the same directory removes it)", file=sys.stderr)
                return INTERRUPTED
        except BaseException:
            if staging is not None:  # the old run stays as it was
                shutil.rmtree(staging, ignore_errors=True)
            elif not _contents(run_dir):  # stopped before writing anything: leave no empty run behind
                (run_dir / LOCK).unlink(missing_ok=True)  # still locked by this process until it is released
                run_dir.rmdir()
            raise
        if staging is not None:
            _swap(staging, run_dir)
        _publish(run_dir, output, replace_output)
        return 0
    finally:
        for lock in locks:
            lock.release()


def resume(run_dir: Path, *, epochs: int | None, epochs_flag: str, force: bool, quiet: bool,
           keep_diverged: bool = False) -> int:
    """Continue the run in ``run_dir`` from its checkpoint, with the settings and data it started with; with
    ``epochs``, train on to that many epochs in all (a finished run too); complete a run whose finishing was
    cut short. Returns the exit status."""
    if not run_dir.is_dir():
        raise UsageError(f"run directory {run_dir} does not exist")
    lock = _lock(run_dir)
    try:
        _remove_abandoned(run_dir, staging_too=False)
        remove_stale_temporaries(run_dir, every_target=True)
        return _resume(run_dir, epochs=epochs, epochs_flag=epochs_flag, force=force, quiet=quiet,
                       keep_diverged=keep_diverged)
    finally:
        lock.release()


def _resume(run_dir: Path, *, epochs: int | None, epochs_flag: str, force: bool, quiet: bool,
            keep_diverged: bool) -> int:
    config = _read_config(run_dir)
    checkpoint = _read_checkpoint(run_dir)
    if checkpoint is None:
        return _complete_without_state(run_dir, config, epochs, force)
    state, meta = checkpoint
    done, finished = meta["epoch"], meta.get("finished", False)
    if finished and epochs is None:
        return _complete(run_dir, config, state, meta, force, quiet)
    if epochs is not None and epochs <= done:
        raise UsageError(f"{epochs_flag} {epochs}: the run in {run_dir} has already trained {done} epochs; "
                         "give a larger total")
    if epochs is not None:
        config["estimator"]["max_iter"] = epochs
        loop = state.get("loop", {})
        if loop.get("converged"):  # a run that stopped early trains on, with its patience anew
            loop["converged"] = False
            loop.get("plateau", {})["bad_epochs"] = 0
    settings, job = _prepare_again(run_dir, config)
    est = _estimator(job, settings)
    output, replace_output = _check_output(settings, force, replaceable=run_dir / "model.safetensors")
    _write_json(run_dir / "config.json", config)
    _repair_history(run_dir / "history.jsonl", state, done)
    if not _train(est, job, run_dir, settings, state=state, start_epoch=done, quiet=quiet,
                  keep_diverged=keep_diverged):
        return INTERRUPTED
    _commit(est, run_dir, output, replace_output)
    if not _finish(est, job, run_dir, settings, config, quiet=quiet, keep_diverged=keep_diverged):
        return INTERRUPTED
    _publish(run_dir, output, replace_output)
    return 0


def _prepare_again(run_dir: Path, config: dict[str, Any]) -> tuple[RunSettings, Job]:
    """The run's settings and data as it started, refusing data that changed since."""
    settings = RunSettings.from_config(config)
    if "file" in config["data"] and config["data"]["file"] != "-":  # the path as resolved when the run started
        settings = replace(settings, data=config["data"]["file"])
    with np.errstate(over="ignore"):
        job, source = prepare(settings)
    if source.get("sha256") != config["data"].get("sha256"):
        where = "standard input" if source.get("file") == "-" else f"the data file {source.get('file')}"
        raise UsageError(f"{where} changed since the run in {run_dir} started")
    return settings, job


def _estimator(job: Job, settings: RunSettings) -> Any:
    """The estimator to fit, refusing settings that would fail only once training has started."""
    est = make_estimator(job, settings)
    if settings.checkpoint_every and est.solver == "lbfgs":
        raise UsageError("--checkpoint-every needs a stochastic solver; L-BFGS cannot be checkpointed")
    if est.early_stopping and est.solver != "lbfgs":
        n_val, n = math.ceil(est.validation_fraction * len(job.y_train)), len(job.y_train)
        if n_val < 2:
            raise UsageError(f"{settings.label('validation_fraction')} {est.validation_fraction} leaves {n_val} of "
                             f"the {n} training rows for validation; early stopping needs at least 2 (raise it, "
                             "or pass --no-early-stopping)")
    return est


def _check_statistics(job: Job, dtype: str) -> None:
    """Refuse, naming the column, a feature whose values are too large to train on: a mean or spread that is not
    a finite number (its variance overflows), or standardized values beyond what ``dtype`` holds."""
    for column in describe(job.preprocessor):
        for key in ("mean", "scale"):
            value = column.get(key)
            if value is not None and not math.isfinite(value):
                raise UsageError(f"column {column['name']!r}: its values are too large to standardize (the {key} "
                                 f"is {value}); rescale the column (divide it by a power of ten) or drop it")
    with np.errstate(over="ignore"):
        too_large = ~np.isfinite(job.x_train.astype(dtype)).all(axis=0)
    if too_large.any():
        name = output_columns(job.preprocessor)[int(np.flatnonzero(too_large)[0])]
        raise UsageError(f"column {name!r}: its values are too large to standardize (beyond {dtype} once "
                         "standardized); rescale the column (divide it by a power of ten) or drop it")
    scaling = job.target_scaling or {}
    if not all(math.isfinite(v) for v in scaling.values()):
        raise UsageError("the target's values are too large to standardize; rescale it, or pass --no-scale-target")


def _check_output(settings: RunSettings, force: bool, replaceable: Path | None = None) -> tuple[Path | None, bool]:
    """(the --output path, whether finishing may replace a file there), refusing what would fail only after
    training. A file with the same bytes as ``replaceable`` (the run's own model, when a run is trained on) is
    replaced without --force; so is nothing else, a dangling link included."""
    if not settings.output:
        return None, False
    output, label = Path(settings.output), settings.label("output")
    if output.is_dir():
        raise UsageError(f"{label} {output} is a directory; give a model file name such as "
                         f"{output / 'model.safetensors'}")
    if not output.parent.is_dir():
        raise UsageError(f"{label} {output}: the directory {output.parent} does not exist")
    ours = replaceable is not None and replaceable.is_file() and output.is_file() and \
        output.read_bytes() == replaceable.read_bytes()
    if os.path.lexists(output) and not force and not ours:
        what = "is a link to nothing" if not output.exists() else "already exists"
        raise UsageError(f"{output} {what}; pass --force to replace it")
    return output, force or ours


def _claim_run_dir(settings: RunSettings, name: str, force: bool) -> tuple[Path, Path | None, list[FileLock]]:
    """(the run directory, a new sibling to build the run in when --force replaces an existing run, else None,
    the locks held on them): every directory is created and locked before it is looked into."""
    if not settings.run_dir:
        base = Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
        base.parent.mkdir(parents=True, exist_ok=True)
        path, i = base, 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                path, i = base.with_name(f"{base.name}-{i}"), i + 1
        return path, None, [_lock(path)]
    path, label = Path(settings.run_dir), settings.label("run_dir")
    if os.path.lexists(path) and not path.is_dir():
        raise UsageError(f"{label} {path} is a file, not a directory")
    path.mkdir(parents=True, exist_ok=True)
    lock = _lock(path)
    try:
        _remove_abandoned(path, staging_too=force)
        remove_stale_temporaries(path, every_target=True)
        if not _contents(path):
            return path, None, [lock]
        if not force:
            raise UsageError(f"run directory {path} already exists and is not empty; choose another or pass --force")
        if not (path / "config.json").is_file():  # --force replaces a run, never a directory of other things
            raise UsageError(f"{label} {path} is not empty and holds no glassnet run (no config.json); "
                             "--force replaces only a run directory")
        staging = Path(tempfile.mkdtemp(prefix=f"{path.name}.new-", dir=path.parent))
        return path, staging, [lock, _lock(staging)]
    except BaseException:
        lock.release()
        raise


def _swap(new: Path, run_dir: Path) -> None:
    """Put the finished run ``new`` in the place of the old ``run_dir``, then delete the old one."""
    old = Path(tempfile.mkdtemp(prefix=f"{run_dir.name}.old-", dir=run_dir.parent))
    run_dir.rename(old / run_dir.name)
    try:
        new.rename(run_dir)
    except OSError:
        try:
            (old / run_dir.name).rename(run_dir)
        except OSError:  # another process made a new run_dir in between: keep both runs where they are
            raise UsageError(f"{run_dir} was created by another process while the finished run was being moved "
                             f"in; the new run is in {new}, the old one in {old / run_dir.name}") from None
        raise
    shutil.rmtree(old, ignore_errors=True)


def _read_config(run_dir: Path) -> dict[str, Any]:
    """config.json of a run directory, refusing one that is missing, not JSON or not a run's."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise UsageError(f"{run_dir} is not a run directory (no config.json)")
    try:
        config = json.loads(path.read_text())
        CONFIG.check(config, "")
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is damaged: {e}") from None
    return config


def _read_checkpoint(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(training state, metadata) of the run's checkpoint, None when it has none; refuses one whose metadata
    and training state disagree (an edited or damaged checkpoint)."""
    path = run_dir / "checkpoint.safetensors"
    if not path.exists():
        return None
    _, state, meta = io.load_checkpoint(path)
    try:
        CHECKPOINT_METADATA.check(meta, "")
    except io.ModelFileError as e:
        raise io.ModelFileError(f"{path}: {e}") from None
    loop, fitted = state.get("loop") or {}, state.get("fitted") or {}
    epochs = {"its metadata": meta["epoch"], "its training loop": loop.get("epoch"),
              "the estimator (n_iter_)": fitted.get("n_iter_"), "its history": len(fitted.get("history_") or [])}
    if len(set(epochs.values())) != 1:
        said = ", ".join(f"{who} {n}" for who, n in epochs.items())
        raise UsageError(f"{path} is inconsistent (edited or damaged?): the epochs it was taken after differ: {said}; "
                         "refusing to resume from it")
    return state, meta


def _repair_history(path: Path, state: dict[str, Any], epochs: int) -> None:
    """Make history.jsonl hold exactly the ``epochs`` records of the checkpoint. Later records (epochs after the
    checkpoint, a torn last line) are dropped; records missing or damaged (not JSON, or out of order) are rebuilt
    from the checkpoint's own history, with a warning saying so."""
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    kept = []
    for i, line in enumerate(lines[:epochs]):
        try:
            record = json.loads(line)
        except ValueError:
            break
        if not isinstance(record, dict) or record.get("epoch", i + 1) != i + 1:
            break
        kept.append(line)
    if len(kept) < epochs:
        warnings.warn(f"{path} held {len(kept)} of the {epochs} epochs in the checkpoint; rebuilt the others from "
                      "the checkpoint", UserWarning, stacklevel=2)
        kept += [_json_line(r) for r in state["fitted"]["history_"][len(kept):epochs]]
    if len(lines) != epochs or len(kept) != len(lines[:epochs]):
        io.atomic_write(path, "".join(line + "\n" for line in kept).encode())


# ---------------------------------------------------------------- training and finishing

def _train(est: Any, job: Job, run_dir: Path, settings: RunSettings, *, state: Any, start_epoch: int, quiet: bool,
           keep_diverged: bool) -> bool:
    """Fit from ``state`` (None: from scratch); False when Ctrl-C stopped training. A run that learned nothing
    (no epoch ended with a finite loss) is an error unless ``keep_diverged``."""
    if not quiet:
        what = f"{len(job.labels.classes)} classes" if job.labels else "regression"
        print(f"training {type(est).__name__} on {job.name}: {len(job.y_train)} training rows, "
              f"{len(job.y_test)} held out, {job.x_train.shape[1]} features, {what}", file=sys.stderr)
    interrupts = _fit(est, job, run_dir, state, start_epoch, settings.checkpoint_every, quiet)
    if interrupts:
        _report_interrupt(est, run_dir, interrupts)
        return False
    _check_trained(est, start_epoch, keep_diverged)
    return True


def _check_trained(est: Any, start_epoch: int, keep_diverged: bool) -> None:
    """Refuse (exit 2) a fit that ended without one epoch of finite loss: its weights are the initial ones, or
    worse. With ``keep_diverged`` it is saved anyway, with a warning."""
    new_losses = list(getattr(est, "loss_curve_", None) or [])[start_epoch:]
    if est.n_iter_ > start_epoch and any(math.isfinite(v) for v in new_losses):
        return
    unit = "iteration" if est.solver == "lbfgs" else "epoch"
    problem = f"training failed: no {unit} ended with a finite loss, so the model learned nothing"
    if keep_diverged:
        warnings.warn(f"{problem}; saved anyway (--keep-diverged)", UserWarning, stacklevel=2)
        return
    raise UsageError(f"{problem}. Lower the learning rate (--lr), scale the data, or pass --keep-diverged to "
                     "save the model anyway")


def _commit(est: Any, run_dir: Path, output: Path | None, replace_output: bool) -> None:
    """The final training state, marked finished, with where finishing writes the model: from here on
    ``--resume`` can complete the run. (L-BFGS keeps no state: its model file is the commit.)"""
    if est.solver != "lbfgs":
        save_checkpoint(run_dir, est, est.get_training_state(), est.n_iter_, finished=True, output=output,
                        replace_output=replace_output)


def _finish(selection: Any, job: Job, run_dir: Path, settings: RunSettings, config: dict[str, Any], *, quiet: bool,
            keep_diverged: bool) -> bool:
    """From the finished fit ``selection``: train anew on all training rows when the run refits, then evaluate on
    the held-out rows and write evaluation.json and model.safetensors (the pipeline). False when Ctrl-C stopped
    the training on all rows (the final checkpoint holds the selection: a resume trains it again)."""
    from .report import kept_epoch, why_stopped

    early = selection.early_stopping and selection.solver != "lbfgs"
    kept = kept_epoch(selection.history_, early, selection.validation_metric, selection.tol)
    stopped = why_stopped(selection, kept)
    est, refit = selection, None
    guarded = bool(selection.history_) and "nonfinite" in selection.history_[-1]  # the NaN guard stopped it
    if refits(selection, settings, len(job.y_train)) and not guarded:  # the epoch count chosen: all rows train
        refit = {"epochs": max(kept, 1), "rows": len(job.y_train)}
        if not quiet:
            print(f"{stopped}\ntraining anew on all {refit['rows']} training rows for {refit['epochs']} epochs",
                  file=sys.stderr)
        stopped += f"; then trained anew on all {refit['rows']} training rows for {refit['epochs']} epochs"
        est = _train_on_all_rows(selection, job, run_dir, refit["epochs"], quiet)
        if est is None:
            return False
        _check_trained(est, 0, keep_diverged)
    elif not quiet:
        print(stopped + (f"; kept the weights of epoch {kept}" if kept < est.n_iter_ else ""), file=sys.stderr)
    fold_target_scaling(est, job.target_scaling)
    found = [f.to_dict() for f in health.findings(selection)]  # the run with the validation rows, its epochs logged
    evaluation = {**_evaluate_job(est, job), "kept_epoch": kept, "stopped": stopped, "refit": refit,
                  "target_scaling": job.target_scaling, "health": found}
    _write_json(run_dir / "evaluation.json", evaluation)
    metadata = {"task": job.task, "target": config["data"]["target"],
                "labels": job.labels.classes if job.labels else None,
                "feature_names": job.feature_names(),
                # the valid range of each input feature, for glassnet attack
                "input_range": {"min": job.x_train.min(axis=0).tolist(), "max": job.x_train.max(axis=0).tolist()},
                "training": {"data": config["data"], "settings": config["run"], "estimator": config["estimator"],
                             "epochs": int(getattr(est, "n_iter_", 0)), "kept_epoch": kept, "stopped": stopped,
                             "refit": refit, "target_scaling": job.target_scaling, "health": found,
                             # the final checkpoint this model was made from: --resume sees a model left stale
                             "checkpoint_epoch": None if selection.solver == "lbfgs" else int(selection.n_iter_)},
                "metrics": evaluation["metrics"]}
    io.save(job.model(est), run_dir / "model.safetensors", metadata=metadata, overwrite=True)
    return True


def _complete(run_dir: Path, config: dict[str, Any], state: dict[str, Any], meta: dict[str, Any], force: bool,
              quiet: bool) -> int:
    """A finished run: write what its finishing did not (the model, the --output copy, the report), or say that
    it has finished."""
    done = meta["epoch"]
    model = run_dir / "model.safetensors"
    output = meta["output"] if "output" in meta else config["run"].get("output")  # older checkpoints: the config's
    output = Path(output) if output else None
    missing = [] if _model_checkpoint_epoch(model) == done else [model]
    missing += [p for p in (output, run_dir / "report.html") if p is not None and not os.path.lexists(p)]
    if not missing:
        raise UsageError(f"the run in {run_dir} has already finished after {done} epochs; "
                         "--epochs N trains it on to N epochs in all")
    print(f"glassnet: the run in {run_dir} had finished training but not writing its results; writing "
          f"{', '.join(p.name for p in missing)}", file=sys.stderr)
    if model in missing:  # rebuilt from the final state: fit(resume=...) of a finished fit trains no epoch
        settings, job = _prepare_again(run_dir, config)
        est = _estimator(job, settings)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Stochastic Optimizer: Maximum iterations")
            est.fit(job.x_train, job.y_train, resume=state)
        if est.n_iter_ != done:
            raise UsageError(f"the final checkpoint of {run_dir} does not reproduce its run; train it again")
        if not _finish(est, job, run_dir, settings, config, quiet=quiet, keep_diverged=True):
            return INTERRUPTED
    _publish(run_dir, output, meta.get("replace_output", False) or force)
    return 0


def _complete_without_state(run_dir: Path, config: dict[str, Any], epochs: int | None, force: bool) -> int:
    """A run with no checkpoint: an L-BFGS run (its model file marks it finished) or one killed before any."""
    model = run_dir / "model.safetensors"
    if not model.exists():
        raise UsageError(f"{run_dir} has no checkpoint to resume from; train with --checkpoint-every N")
    output = Path(config["run"]["output"]) if config["run"].get("output") else None
    missing = [p for p in (output, run_dir / "report.html") if p is not None and not os.path.lexists(p)]
    if epochs is not None or not missing:
        raise UsageError(f"the run in {run_dir} has already finished and kept no training state to train on")
    print(f"glassnet: the run in {run_dir} had finished training but not writing its results; writing "
          f"{', '.join(p.name for p in missing)}", file=sys.stderr)
    _publish(run_dir, output, force)
    return 0


def _model_checkpoint_epoch(model: Path) -> int | None:
    """The epoch of the final checkpoint the run's model file was made from; None when there is no model file
    (or it is damaged)."""
    if not model.exists():
        return None
    try:
        training = io.read_file(model)[1].get("training", {})
    except io.ModelFileError:
        return None
    epoch = training.get("checkpoint_epoch", training.get("epochs"))  # files before refits: the same count
    return epoch if isinstance(epoch, int) else None


def _train_on_all_rows(est: Any, job: Job, run_dir: Path, epochs: int, quiet: bool) -> Any | None:
    """A fresh estimator with ``est``'s settings trained ``epochs`` epochs on all training rows, its epochs logged to
    refit.jsonl; None when Ctrl-C stopped it (a resume trains it again from the start: it is short)."""
    est = refit_estimator(est, epochs)
    (run_dir / "refit.jsonl").write_text("")
    if _fit(est, job, run_dir, None, 0, 0, quiet, log="refit.jsonl"):
        print(f"glassnet: interrupted; continue with: glassnet train --resume {run_dir} "
              "(the training on all rows starts again)", file=sys.stderr)
        return None
    return est


def _fit(est: Any, job: Job, run_dir: Path, state: Any, start_epoch: int, every: int, quiet: bool,
         log: str = "history.jsonl") -> int:
    """Fit with a progress bar, the JSON-lines log ``log`` and checkpoints as callbacks; returns how often Ctrl-C
    was pressed (0: training ran to its end)."""
    from tqdm import tqdm

    bar = None if quiet else tqdm(total=est.max_iter, initial=start_epoch, unit="epoch", dynamic_ncols=True,
                                  desc="training" if log == "history.jsonl" else "all rows", file=sys.stderr)
    with Interrupts() as interrupts, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Training interrupted by user")  # said below, in the command's words
        warnings.filterwarnings("ignore", "Stochastic Optimizer: Maximum iterations")  # said by why_stopped
        if est.monitor:  # a diverging run: the NaN guard says what went wrong, NumPy's overflow warnings add nothing
            for what in ("overflow encountered", "invalid value encountered"):
                warnings.filterwarnings("ignore", what, RuntimeWarning)
        monitor = EpochMonitor(run_dir, every, bar, start_epoch, interrupts, log)
        try:
            est.fit(job.x_train, job.y_train, callbacks=[monitor], resume=state)
        except KeyboardInterrupt:  # a second Ctrl-C outside the fit loop's own epochs
            interrupts.count = max(interrupts.count, 2)
        finally:
            monitor.close()
            if bar is not None:
                bar.close()
    return interrupts.count


def _report_interrupt(est: Any, run_dir: Path, count: int) -> None:
    """After Ctrl-C: checkpoint the last whole epoch (one Ctrl-C) and say how to continue."""
    again = f"continue with: glassnet train --resume {run_dir}"
    if count == 1 and est.solver == "lbfgs":
        print("glassnet: interrupted; L-BFGS training cannot be resumed", file=sys.stderr)
    elif count == 1:
        save_checkpoint(run_dir, est, est.get_training_state(), est.n_iter_, finished=False)
        print(f"glassnet: interrupted after {est.n_iter_} epochs; {again}", file=sys.stderr)
    elif (run_dir / "checkpoint.safetensors").exists():  # stopped mid-epoch: only the last checkpoint holds
        epoch = io.load_checkpoint(run_dir / "checkpoint.safetensors")[2]["epoch"]
        print(f"glassnet: interrupted at once; {again} (from epoch {epoch})", file=sys.stderr)
    else:
        print("glassnet: interrupted at once, before any checkpoint: nothing to resume", file=sys.stderr)


def _evaluate_job(est: Any, job: Job) -> dict[str, Any]:
    if len(job.y_test) == 0:
        return {"task": job.task, "metrics": {}}
    if job.labels is not None:
        metrics = classification_metrics(job.y_test, full_proba(est, job.x_test, len(job.labels.classes)))
        return {"task": job.task, "labels": job.labels.classes, "metrics": metrics,
                "confusion_matrix": metrics["confusion_matrix"]}
    pred = np.asarray(est.predict(job.x_test), dtype=np.float64).ravel()
    return {"task": job.task, "metrics": regression_metrics(job.y_test, pred),
            "y_true": job.y_test[:2000].tolist(), "y_pred": pred[:2000].tolist()}


def _copy_output(model: Path, output: Path, replace_output: bool) -> None:
    """The --output copy: the run's model file byte for byte. A different file there is replaced only when
    allowed; otherwise the name is claimed atomically, so a file made there meanwhile is never overwritten."""
    blob = model.read_bytes()
    if output.is_file() and output.read_bytes() == blob:
        return
    try:
        io.atomic_write(output, blob, overwrite=replace_output)
    except FileExistsError:
        raise UsageError(f"{output} already exists (made while the run trained?); the model is in {model}; "
                         "pass --force to replace it") from None


def _publish(run_dir: Path, output: Path | None, replace_output: bool) -> None:
    """Write the --output copy, build the report and print the results (--quiet hides progress, not results)."""
    from . import report

    model = run_dir / "model.safetensors"
    if output is not None:
        _copy_output(model, output, replace_output)
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    if evaluation.get("metrics"):
        print(metric_line(evaluation["metrics"], "held-out "))
    for line in health.lines(health.from_dicts(evaluation.get("health") or [])):
        print(line)
    try:
        html = report.build(run_dir)
    except Exception as e:  # the model is saved: a report that cannot be drawn is a warning, not a failure
        warnings.warn(f"report skipped: {e}; `glassnet report {run_dir}` tries again", UserWarning, stacklevel=1)
        html = None
    print(f"model saved to {output or model}")
    if html is not None:
        print(f"report: {html}")
