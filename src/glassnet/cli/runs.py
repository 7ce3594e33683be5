"""A training run and its directory: config.json (every setting), history.jsonl (one record per epoch),
checkpoint.safetensors (the training state: every N epochs with --checkpoint-every, on Ctrl-C and at the end),
model.safetensors, evaluation.json, PNG plots and report.html.

``--resume DIR`` continues an interrupted run, and with ``--epochs N`` trains a finished one on to N epochs.
``--force`` on an existing run directory builds the new run beside it and swaps it in only once it has
finished, so the old run survives a failed or interrupted new one.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
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
from . import health, lr_auto
from .errors import UsageError
from .jobs import Job, fold_target_scaling, make_estimator, prepare, refit_estimator, refits
from .metrics import classification_metrics, full_proba, metric_line, regression_metrics
from .settings import RunSettings

INTERRUPTED = 130  # the exit status of a process stopped by Ctrl-C (128 + SIGINT)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


def _write_json(path: Path, data: Any) -> None:
    io.atomic_write(path, (json.dumps(data, indent=2, default=_jsonable) + "\n").encode())


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
        self.log.write(json.dumps(record, default=_jsonable) + "\n")
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


def save_checkpoint(run_dir: Path, est: Any, state: dict[str, Any], epoch: int, *, finished: bool) -> None:
    """The run's training state after ``epoch`` epochs; ``finished`` marks the state at the run's end."""
    io.save_checkpoint(run_dir / "checkpoint.safetensors", est, state,
                       metadata={"epoch": int(epoch), "finished": finished})


# ---------------------------------------------------------------- starting and resuming

def start(settings: RunSettings, *, force: bool, quiet: bool,
          search: Callable[[Job, Path], dict[str, Any]] | None = None) -> int:
    """A fresh run: check everything, prepare the data, write config.json, train to the end; the exit status.

    ``search(job, run_dir)`` (glassnet tune), called once everything is checked and before training, chooses
    estimator settings that override ``settings``' and may write its own results into the run directory.
    """
    job, source = prepare(settings)
    est = _estimator(job, settings)
    output = _check_output(settings, force)
    lr_search = None
    if lr_auto.wanted(settings):  # --lr auto: the range test chooses the rate
        settings, lr_search = lr_auto.choose(settings, job, quiet=quiet)
        est = _estimator(job, settings)
    run_dir, staging = _new_run_dir(settings, job.name, force)
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
        finished = _train(est, job, build, settings, config, state=None, start_epoch=0, quiet=quiet)
    except BaseException:
        if staging is not None:  # the old run stays as it was
            shutil.rmtree(staging, ignore_errors=True)
        elif not any(run_dir.iterdir()):  # stopped before writing anything: leave no empty run behind
            run_dir.rmdir()
        raise
    if finished is None:
        if staging is not None:
            print(f"glassnet: the run in {run_dir} is unchanged; the interrupted new one is in {staging}",
                  file=sys.stderr)
        return INTERRUPTED
    if staging is not None:
        _swap(staging, run_dir)
    _publish(est, run_dir, output, finished)
    return 0


def resume(run_dir: Path, *, epochs: int | None, epochs_flag: str, force: bool, quiet: bool) -> int:
    """Continue the run in ``run_dir`` from its checkpoint, with the settings and data it started with; with
    ``epochs``, train on to that many epochs in all (a finished run too). Returns the exit status."""
    config, state, done, finished = _read_resume(run_dir)
    if finished and epochs is None:
        raise UsageError(f"the run in {run_dir} has already finished after {done} epochs; "
                         "--epochs N trains it on to N epochs in all")
    if epochs is not None and epochs <= done:
        raise UsageError(f"{epochs_flag} {epochs}: the run in {run_dir} has already trained {done} epochs; "
                         "give a larger total")
    if epochs is not None:
        config["estimator"]["max_iter"] = epochs
        loop = state.get("loop", {})
        if loop.get("converged"):  # a run that stopped early trains on, with its patience anew
            loop["converged"] = False
            loop.get("plateau", {})["bad_epochs"] = 0
    settings = RunSettings.from_config(config)
    if "file" in config["data"] and config["data"]["file"] != "-":  # the path as resolved when the run started
        settings = replace(settings, data=config["data"]["file"])
    job, source = prepare(settings)
    if source.get("sha256") != config["data"].get("sha256"):
        where = "standard input" if source.get("file") == "-" else f"the data file {source.get('file')}"
        raise UsageError(f"{where} changed since the run started")
    est = _estimator(job, settings)
    output = _check_output(settings, force, replaceable=run_dir / "model.safetensors")
    _write_json(run_dir / "config.json", config)
    _truncate_history(run_dir / "history.jsonl", done)
    finished = _train(est, job, run_dir, settings, config, state=state, start_epoch=done, quiet=quiet)
    if finished is None:
        return INTERRUPTED
    _publish(est, run_dir, output, finished)
    return 0


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


def _check_output(settings: RunSettings, force: bool, replaceable: Path | None = None) -> Path | None:
    """The --output path, refusing what would fail only after training. A file with the same bytes as
    ``replaceable`` (the run's own model, when a run is trained on) is replaced without --force."""
    if not settings.output:
        return None
    output, label = Path(settings.output), settings.label("output")
    if output.is_dir():
        raise UsageError(f"{label} {output} is a directory; give a model file name such as "
                         f"{output / 'model.safetensors'}")
    if not output.parent.is_dir():
        raise UsageError(f"{label} {output}: the directory {output.parent} does not exist")
    ours = replaceable is not None and replaceable.is_file() and output.is_file() and \
        output.read_bytes() == replaceable.read_bytes()
    if output.exists() and not force and not ours:
        raise UsageError(f"{output} already exists; pass --force to replace it")
    return output


def _new_run_dir(settings: RunSettings, name: str, force: bool) -> tuple[Path, Path | None]:
    """(the run directory, a new sibling to build the run in when --force replaces an existing run, else None)."""
    if not settings.run_dir:
        base = Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
        path, i = base, 1
        while path.exists():
            path, i = base.with_name(f"{base.name}-{i}"), i + 1
        path.mkdir(parents=True)
        return path, None
    path, label = Path(settings.run_dir), settings.label("run_dir")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{label} {path} is a file, not a directory")
    if not path.exists() or not any(path.iterdir()):
        path.mkdir(parents=True, exist_ok=True)
        return path, None
    if not force:
        raise UsageError(f"run directory {path} already exists and is not empty; choose another or pass --force")
    if not (path / "config.json").is_file():  # --force replaces a run, never a directory of other things
        raise UsageError(f"{label} {path} is not empty and holds no glassnet run (no config.json); "
                         "--force replaces only a run directory")
    return path, Path(tempfile.mkdtemp(prefix=f"{path.name}.new-", dir=path.parent))


def _swap(new: Path, run_dir: Path) -> None:
    """Put the finished run ``new`` in the place of the old ``run_dir``, then delete the old one."""
    old = Path(tempfile.mkdtemp(prefix=f"{run_dir.name}.old-", dir=run_dir.parent))
    run_dir.rename(old / run_dir.name)
    try:
        new.rename(run_dir)
    except OSError:
        (old / run_dir.name).rename(run_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _read_resume(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], int, bool]:
    """(config.json, training state, epochs done, whether the run had finished) of a run directory."""
    if not (run_dir / "config.json").is_file():
        raise UsageError(f"{run_dir} is not a run directory (no config.json)")
    checkpoint, model = run_dir / "checkpoint.safetensors", run_dir / "model.safetensors"
    if not checkpoint.exists():
        if model.exists():
            raise UsageError(f"the run in {run_dir} has already finished and kept no training state to train on")
        raise UsageError(f"{run_dir} has no checkpoint to resume from; train with --checkpoint-every N")
    config = json.loads((run_dir / "config.json").read_text())
    _, state, meta = io.load_checkpoint(checkpoint)
    return config, state, int(meta["epoch"]), bool(meta.get("finished", model.exists()))


def _truncate_history(path: Path, epochs: int) -> None:
    """Keep only the first ``epochs`` complete records (later ones were never checkpointed)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.endswith("}")][:epochs]
        io.atomic_write(path, "".join(line + "\n" for line in lines).encode())


# ---------------------------------------------------------------- training and finishing

def _train(est: Any, job: Job, run_dir: Path, settings: RunSettings, config: dict[str, Any], *, state: Any,
           start_epoch: int, quiet: bool) -> dict[str, Any] | None:
    """Fit from ``state`` (None: from scratch), then evaluate and save the model, the final training state and
    evaluation.json in ``run_dir``; returns the model's metadata, or None when Ctrl-C stopped training."""
    from .report import kept_epoch, why_stopped

    if not quiet:
        what = f"{len(job.labels.classes)} classes" if job.labels else "regression"
        print(f"training {type(est).__name__} on {job.name}: {len(job.y_train)} training rows, "
              f"{len(job.y_test)} held out, {job.x_train.shape[1]} features, {what}", file=sys.stderr)
    interrupts = _fit(est, job, run_dir, state, start_epoch, settings.checkpoint_every, quiet)
    if interrupts:
        _report_interrupt(est, run_dir, interrupts)
        return None
    selection, final_state = est, est.get_training_state() if est.solver != "lbfgs" else None
    kept = kept_epoch(est.history_, est.early_stopping and est.solver != "lbfgs", est.validation_metric, est.tol)
    stopped = why_stopped(est, kept)
    refit = None
    guarded = bool(est.history_) and "nonfinite" in est.history_[-1]  # the NaN guard stopped it: nothing to redo
    if refits(est, settings, len(job.y_train)) and not guarded:  # the epoch count chosen, the validation rows join
        save_checkpoint(run_dir, est, final_state, est.n_iter_, finished=False)  # Ctrl-C below resumes from here
        refit = {"epochs": max(kept, 1), "rows": len(job.y_train)}
        if not quiet:
            print(f"{stopped}\ntraining anew on all {refit['rows']} training rows for {refit['epochs']} epochs",
                  file=sys.stderr)
        stopped += f"; then trained anew on all {refit['rows']} training rows for {refit['epochs']} epochs"
        est = _train_on_all_rows(est, job, run_dir, refit["epochs"], quiet)
        if est is None:
            return None
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
                             "refit": refit, "target_scaling": job.target_scaling, "health": found},
                "metrics": evaluation["metrics"]}
    io.save(job.model(est), run_dir / "model.safetensors", metadata=metadata, overwrite=True)
    if final_state is not None:  # the selection's state: training on resumes it, then trains anew on all rows
        save_checkpoint(run_dir, selection, final_state, selection.n_iter_, finished=True)
    return metadata


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


def _publish(est: Any, run_dir: Path, output: Path | None, metadata: dict[str, Any]) -> None:
    """Save the --output copy, build the report and print the results (--quiet hides progress, not results)."""
    from . import report

    if output is not None:  # checked before training: absent, --force, or the run's own earlier model
        io.atomic_write(output, (run_dir / "model.safetensors").read_bytes())
    if metadata["metrics"]:
        print(metric_line(metadata["metrics"], "held-out "))
    for line in health.lines(health.from_dicts(metadata["training"]["health"])):
        print(line)
    try:
        html = report.build(run_dir)
    except ImportError as e:
        warnings.warn(f"report skipped: {e}", UserWarning, stacklevel=1)
        html = None
    print(f"model saved to {output or run_dir / 'model.safetensors'}")
    if html is not None:
        print(f"report: {html}")
