"""A training run and its directory: config.json, history.jsonl (one record per epoch), checkpoint.safetensors,
model.safetensors, evaluation.json, PNG plots and report.html; a run checkpointed with --checkpoint-every resumes.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import io
from .errors import UsageError
from .jobs import Job, fold_target_scaling, make_estimator, prepare
from .metrics import classification_metrics, full_proba, metric_line, regression_metrics
from .settings import RunSettings


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"{type(v).__name__} is not JSON serializable")


class EpochMonitor:
    """The per-epoch callback of a run: appends to history.jsonl, advances the bar, writes checkpoints."""

    def __init__(self, run_dir: Path, every: int, bar: Any, epoch: int) -> None:
        self.run_dir, self.every, self.bar, self.epoch = run_dir, every, bar, epoch
        self.log = (run_dir / "history.jsonl").open("a")

    def __call__(self, est: Any, record: dict[str, Any]) -> bool:
        self.epoch += 1
        self.log.write(json.dumps(record, default=_jsonable) + "\n")
        self.log.flush()
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({k: f"{record[k]:.4g}" for k in ("loss", "val_score")
                                  if isinstance(record.get(k), float)})
        if self.every and self.epoch % self.every == 0:  # after the log line, so a resume can trim the log
            io.save_checkpoint(self.run_dir / "checkpoint.safetensors", est, est.get_training_state(),
                               metadata={"epoch": self.epoch})
        return False

    def close(self) -> None:
        """Close the history log."""
        self.log.close()


# ---------------------------------------------------------------- starting and resuming

def start(settings: RunSettings, *, force: bool, quiet: bool) -> None:
    """A fresh run: prepare the data, create the run directory and its config.json, then train to the end."""
    job, source = prepare(settings)
    est, output = _estimator_and_output(job, settings, force)
    run_dir = _new_run_dir(settings.run_dir, job.name, force)
    if output is not None:
        settings = replace(settings, output=str(output.resolve()))
    config = {**settings.to_config(), "data": source, "task": job.task, "estimator_class": type(est).__name__}
    io.atomic_write(run_dir / "config.json", (json.dumps(config, indent=2) + "\n").encode())
    (run_dir / "history.jsonl").write_text("")
    _train(est, job, run_dir, settings, config, output, state=None, start_epoch=0, force=force, quiet=quiet)


def resume(run_dir: Path, *, force: bool, quiet: bool) -> None:
    """Continue the run in ``run_dir`` from its last checkpoint, with the settings and data it started with."""
    config, state, start_epoch = _read_resume(run_dir)
    settings = RunSettings.from_config(config)
    if "file" in config["data"]:  # paths as resolved when the run started, whatever the directory now
        settings = replace(settings, data=config["data"]["file"])
    job, source = prepare(settings)
    if source.get("sha256") != config["data"].get("sha256"):
        raise UsageError(f"the data file {source.get('file')} changed since the run started")
    est, output = _estimator_and_output(job, settings, force)
    _truncate_history(run_dir / "history.jsonl", start_epoch)
    _train(est, job, run_dir, settings, config, output, state=state, start_epoch=start_epoch, force=force,
           quiet=quiet)


def _estimator_and_output(job: Job, settings: RunSettings, force: bool) -> tuple[Any, Path | None]:
    """The estimator to fit and the --output path, refusing what would fail only after training."""
    est = make_estimator(job.task, settings.estimator)
    if settings.checkpoint_every and est.solver == "lbfgs":
        raise UsageError("--checkpoint-every needs a stochastic solver; L-BFGS cannot be checkpointed")
    output = Path(settings.output) if settings.output else None
    if output is not None and output.exists() and not force:
        raise UsageError(f"{output} already exists; pass --force to replace it")
    return est, output


def _new_run_dir(run_dir: str | None, name: str, force: bool) -> Path:
    if run_dir:
        path = Path(run_dir)
        if path.exists() and any(path.iterdir()) and not force:
            raise UsageError(f"run directory {path} already exists and is not empty; choose another or pass --force")
    else:
        base = Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
        path, i = base, 1
        while path.exists():
            path, i = base.with_name(f"{base.name}-{i}"), i + 1
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_resume(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], int]:
    if not (run_dir / "config.json").is_file():
        raise UsageError(f"{run_dir} is not a run directory (no config.json)")
    if (run_dir / "model.safetensors").exists():
        raise UsageError(f"the run in {run_dir} has already finished")
    checkpoint = run_dir / "checkpoint.safetensors"
    if not checkpoint.exists():
        raise UsageError(f"{run_dir} has no checkpoint to resume from; train with --checkpoint-every N")
    config = json.loads((run_dir / "config.json").read_text())
    _, state, meta = io.load_checkpoint(checkpoint)
    return config, state, int(meta["epoch"])


def _truncate_history(path: Path, epochs: int) -> None:
    """Keep only the first ``epochs`` complete records (later ones were never checkpointed)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.endswith("}")][:epochs]
        io.atomic_write(path, "".join(line + "\n" for line in lines).encode())


# ---------------------------------------------------------------- training and finishing

def _train(est: Any, job: Job, run_dir: Path, settings: RunSettings, config: dict[str, Any], output: Path | None,
           *, state: Any, start_epoch: int, force: bool, quiet: bool) -> None:
    """Fit from ``state`` (None: from scratch), fold the target scaling back in, then finish the run."""
    if not quiet:
        what = f"{len(job.labels.classes)} classes" if job.labels else "regression"
        print(f"training {type(est).__name__} on {job.name}: {len(job.y_train)} training rows, "
              f"{len(job.y_test)} held out, {job.x_train.shape[1]} features, {what}", file=sys.stderr)
    est = _fit(est, job, run_dir, state, start_epoch, settings.checkpoint_every, quiet)
    fold_target_scaling(est, job.target_scaling)
    if not quiet and est.n_iter_ < est.max_iter:
        why = "the validation score" if est.early_stopping else "the training loss"
        print(f"stopped after {est.n_iter_} epochs: {why} stopped improving", file=sys.stderr)
    _finish(est, job, run_dir, config, output, force, quiet)


def _fit(est: Any, job: Job, run_dir: Path, state: Any, start_epoch: int, every: int, quiet: bool) -> Any:
    """Fit with a progress bar, the JSON-lines log and checkpoints as callbacks."""
    from tqdm import tqdm

    bar = None if quiet else tqdm(total=est.max_iter, initial=start_epoch, unit="epoch", desc="training",
                                  dynamic_ncols=True, file=sys.stderr)
    monitor = EpochMonitor(run_dir, every, bar, start_epoch)
    try:
        est.fit(job.x_train, job.y_train, callbacks=[monitor], resume=state)
    finally:
        monitor.close()
        if bar is not None:
            bar.close()
    return est


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


def _finish(est: Any, job: Job, run_dir: Path, config: dict[str, Any], output: Path | None, force: bool,
            quiet: bool) -> None:
    """Evaluate on the held-out rows, save the model (run directory and --output) and build the report."""
    from . import report

    evaluation = _evaluate_job(est, job)
    io.atomic_write(run_dir / "evaluation.json", (json.dumps(evaluation) + "\n").encode())
    metadata = {"task": job.task, "target": config["data"]["target"],
                "preprocessing": job.preprocessor.to_dict(),
                "labels": job.labels.classes if job.labels else None,
                "feature_names": job.preprocessor.feature_names_out,
                "training": {"data": config["data"], "settings": config["run"], "estimator": config["estimator"],
                             "epochs": int(getattr(est, "n_iter_", 0)), "target_scaling": job.target_scaling},
                "metrics": evaluation["metrics"]}
    path = io.save(est, run_dir / "model.safetensors", metadata=metadata)
    if output is not None:
        io.save(est, output, overwrite=force, metadata=metadata)
    if evaluation["metrics"]:
        print(metric_line(evaluation["metrics"], "held-out "))
    try:
        html = report.build(run_dir)
    except ImportError as e:
        warnings.warn(f"report skipped: {e}", UserWarning, stacklevel=1)
        html = None
    if not quiet:
        print(f"model saved to {output or path}")
        if html is not None:
            print(f"report: {html}")
