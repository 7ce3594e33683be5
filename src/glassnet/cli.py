"""The glassnet command line: train, predict, evaluate, inspect, export and report.

``glassnet train`` with no arguments trains a classifier on scikit-learn's bundled digits. A
training run lives in a run directory: config.json (settings), history.jsonl (one record per
epoch), checkpoint.safetensors, model.safetensors, evaluation.json, PNG plots and report.html.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import datasets, io
from .preprocessing import TASKS, LabelEncoder, Preprocessor, check_target, columns_of, infer_task


class UsageError(Exception):
    """A mistake in how glassnet was called: reported as one line, without a traceback."""


USER_ERRORS = (UsageError, ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
               PermissionError, ImportError)

# (flags, estimator parameter, argparse keywords): one option for every estimator setting
ESTIMATOR_OPTIONS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("--hidden-layer-sizes", "--hidden"), "hidden_layer_sizes", {"type": int, "nargs": "+", "metavar": "N"}),
    (("--activation",), "activation", {"metavar": "NAME", "help": "relu, tanh, logistic or identity"}),
    (("--solver", "--optimizer"), "solver", {"metavar": "NAME", "help": "adam, sgd, rmsprop, adamw or lbfgs"}),
    (("--learning-rate-init", "--lr"), "learning_rate_init", {"type": float, "metavar": "LR"}),
    (("--learning-rate",), "learning_rate", {"metavar": "SCHEDULE", "help": "sgd: constant, invscaling or adaptive"}),
    (("--max-iter", "--epochs"), "max_iter", {"type": int, "metavar": "N"}),
    (("--batch-size",), "batch_size", {"type": lambda s: s if s == "auto" else int(s), "metavar": "N|auto"}),
    (("--alpha", "--l2"), "alpha", {"type": float, "metavar": "A", "help": "L2 penalty"}),
    (("--l1",), "l1", {"type": float, "metavar": "A", "help": "L1 penalty"}),
    (("--dropout",), "dropout", {"type": float, "metavar": "P"}),
    (("--momentum",), "momentum", {"type": float, "metavar": "M"}),
    (("--early-stopping",), "early_stopping", {"action": argparse.BooleanOptionalAction,
                                               "help": "stop when the validation score stalls (default: on)"}),
    (("--validation-fraction",), "validation_fraction", {"type": float, "metavar": "F"}),
    (("--n-iter-no-change",), "n_iter_no_change", {"type": int, "metavar": "N"}),
    (("--tol",), "tol", {"type": float, "metavar": "T"}),
    (("--random-state", "--seed"), "random_state", {"type": int, "metavar": "SEED", "help": "default 0"}),
]
# where the command line departs from the estimators' defaults: reproducible runs, and a validation
# split so that the progress bar shows a validation metric and the best epoch's weights are kept
CLI_ESTIMATOR_DEFAULTS: dict[str, Any] = {"random_state": 0, "early_stopping": True}
ALIASES = {flag.lstrip("-").replace("-", "_"): param for flags, param, _ in ESTIMATOR_OPTIONS for flag in flags}
RUN_DEFAULTS: dict[str, Any] = {"data": None, "dataset": None, "target": "target", "task": "auto", "drop": [],
                                "categorical": [], "missing": "impute", "scale_target": True, "test_fraction": 0.2,
                                "run_dir": None, "output": None, "checkpoint_every": 0}


# ---------------------------------------------------------------- tables

def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as e:
        raise UsageError("reading and writing CSV or Parquet files needs pandas and pyarrow: "
                         "pip install 'glassnet[data]'") from e
    return pd


def _table_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz", ".zst", ".zip"):
        suffixes = suffixes[:-1]  # compressed CSV
    fmt = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise UsageError(f"{path}: unsupported file type {path.suffix or '(no suffix)'}; use .csv, .tsv or .parquet")
    return fmt


def read_table(path: str | Path) -> Any:
    """A pandas DataFrame from a CSV, TSV or Parquet file, with clear errors."""
    path = Path(path)
    fmt = _table_format(path)
    if not path.exists():
        raise UsageError(f"data file {path} does not exist")
    if not path.is_file():
        raise UsageError(f"{path} is not a file")
    pd = _pandas()
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except ImportError as e:
        raise UsageError(f"reading {path} needs pyarrow: pip install 'glassnet[data]'") from e
    except Exception as e:
        raise UsageError(f"could not read {path} as {fmt}: {e}") from e


def write_table(df: Any, path: str | Path | None, force: bool) -> None:
    """Write ``df`` as CSV/Parquet by suffix, or CSV to standard output when ``path`` is None."""
    if path is None:
        df.to_csv(sys.stdout, index=False)
        return
    path = Path(path)
    fmt = _table_format(path)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists; pass --force to replace it")
    if fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- settings

def _load_toml(path: str | Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path} is not valid TOML: {e}") from e


def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--param takes KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def resolve_settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, estimator parameters): defaults, then the --config file, then the command line."""
    run, params = dict(RUN_DEFAULTS), dict(CLI_ESTIMATOR_DEFAULTS)
    if args.config:
        config = _load_toml(args.config)
        tables = {k: v for k, v in config.items() if isinstance(v, dict)}
        if set(tables) - {"estimator"}:
            raise UsageError(f"{args.config}: unknown table(s) {sorted(set(tables) - {'estimator'})}; "
                             "only [estimator] is allowed")
        for key, value in config.items():
            key = key.replace("-", "_")
            if key == "estimator":
                params.update({ALIASES.get(k.replace("-", "_"), k.replace("-", "_")): v for k, v in value.items()})
            elif key in run:
                run[key] = value
            else:  # estimator settings may also sit at the top level
                params[ALIASES.get(key, key)] = value
    for key in run:
        if getattr(args, key, None) is not None:
            run[key] = getattr(args, key)
    for _, param, _ in ESTIMATOR_OPTIONS:
        if getattr(args, param) is not None:
            params[param] = getattr(args, param)
    params.update(_parse_param(p) for p in args.param or [])
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return run, params


# ---------------------------------------------------------------- data for a training run

@dataclass
class Job:
    """Everything a run trains and evaluates on, after splitting and preprocessing."""

    task: str
    name: str
    preprocessor: Preprocessor
    labels: LabelEncoder | None
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    target_scaling: dict[str, float] | None = None  # regression: y_train was (y - mean) / scale


def _load_source(run: dict[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """(feature columns, raw target, description of the source) for the run's data."""
    if run["data"] and run["dataset"]:
        raise UsageError("give either a data file or --dataset, not both")
    if run["data"]:
        path = Path(run["data"])
        df = read_table(path)
        target = run["target"]
        if target not in df.columns:
            raise UsageError(f"target column {target!r} is not in {path}; its columns are {list(map(str, df.columns))}"
                             "; choose one with --target")
        table = columns_of(df)
        source = {"file": str(path.resolve()), "sha256": _sha256_file(path), "rows": len(df), "target": target}
        name = path.stem
    else:
        name = run["dataset"] or datasets.DEFAULT
        ds = datasets.load(name)
        table = {n: ds.X[:, j] for j, n in enumerate(ds.feature_names)}
        table["target"] = ds.y
        target = "target"
        source = {"dataset": name, "rows": len(ds.y), "target": target}
    unknown = sorted(set(run["drop"]) - set(table))
    if unknown:
        raise UsageError(f"--drop: no columns {unknown} in the data")
    y = check_target(target, table.pop(target))
    for col in run["drop"]:
        table.pop(col)
    return table, y, {"name": name, **source}


def prepare(run: dict[str, Any], seed: int) -> tuple[Job, dict[str, Any]]:
    """Load, split and preprocess the run's data; the same settings always give the same Job."""
    from sklearn.model_selection import train_test_split

    table, y, source = _load_source(run)
    task = run["task"] if run["task"] != "auto" else infer_task(y)
    if task not in TASKS:
        raise UsageError(f"--task must be auto, classification or regression, got {task!r}")
    labels = LabelEncoder().fit(y) if task == "classification" else None
    if labels is not None:
        y = labels.transform(y)
    else:
        try:
            y = y.astype(np.float64)
        except ValueError as e:
            raise UsageError(f"regression needs a numeric target; column {source['target']!r} is not") from e
    frac = float(run["test_fraction"])
    if not 0.0 <= frac < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {frac}")
    rows = np.arange(len(y))
    if frac > 0:
        stratify = y if labels is not None and np.bincount(y).min() >= 2 else None
        train_rows, test_rows = train_test_split(rows, test_size=frac, random_state=seed, stratify=stratify)
    else:
        train_rows, test_rows = rows, rows[:0]
    pre = Preprocessor(missing=run["missing"], categorical=run["categorical"])
    pre.fit({k: v[train_rows] for k, v in table.items()})
    with warnings.catch_warnings():  # unseen categories in the held-out rows are expected, not news
        warnings.simplefilter("ignore", UserWarning)
        x_test = pre.transform({k: v[test_rows] for k, v in table.items()})
    x_train = pre.transform({k: v[train_rows] for k, v in table.items()})
    job = Job(task, source["name"], pre, labels, x_train, y[train_rows], x_test, y[test_rows])
    if labels is None and run["scale_target"]:
        mean, scale = float(job.y_train.mean()), float(job.y_train.std()) or 1.0
        job.y_train = (job.y_train - mean) / scale
        job.target_scaling = {"mean": mean, "scale": scale}
    return job, source


def fold_target_scaling(est: Any, scaling: dict[str, float] | None) -> None:
    """Fold the target standardization into the last layer, so the model predicts in the target's units."""
    if scaling is None or est.out_activation_ != "identity":
        return
    w, b = est.coefs_[-1], est.intercepts_[-1]
    est.coefs_[-1] = (w * scaling["scale"]).astype(w.dtype)
    est.intercepts_[-1] = (b * scaling["scale"] + scaling["mean"]).astype(b.dtype)
    est._restore_module()


def _estimator_class(task: str) -> type:
    import glassnet

    name = "MLPClassifier" if task == "classification" else "MLPRegressor"
    if not hasattr(glassnet, name):
        raise UsageError(f"this glassnet build has no {name}")
    return getattr(glassnet, name)


def make_estimator(task: str, params: dict[str, Any]) -> Any:
    """An unfitted estimator for ``task``, refusing unknown or invalid settings before training starts."""
    cls = _estimator_class(task)
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise UsageError(f"unknown estimator setting(s) {unknown}; {cls.__name__} takes {sorted(known)}")
    params = {k: tuple(v) if k == "hidden_layer_sizes" and isinstance(v, list) else v for k, v in params.items()}
    est = cls(**params)
    if hasattr(est, "_validate_params"):
        est._validate_params()
    return est


# ---------------------------------------------------------------- metrics

def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro F1, log-loss and the confusion matrix for class indices ``y``."""
    from sklearn import metrics

    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    return {"accuracy": float(metrics.accuracy_score(y, pred)),
            "f1_macro": float(metrics.f1_score(y, pred, average="macro", labels=range(k), zero_division=0)),
            "log_loss": float(metrics.log_loss(y, np.clip(proba, 1e-15, 1.0), labels=range(k))),
            "confusion_matrix": metrics.confusion_matrix(y, pred, labels=range(k)).tolist()}


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """R², MAE and RMSE."""
    from sklearn import metrics

    return {"r2": float(metrics.r2_score(y, pred)), "mae": float(metrics.mean_absolute_error(y, pred)),
            "rmse": float(np.sqrt(metrics.mean_squared_error(y, pred)))}


def _metric_line(metrics: dict[str, Any], prefix: str) -> str:
    return prefix + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))


def _full_proba(est: Any, x: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba over all ``n_classes`` (a class absent from the training rows gets 0)."""
    proba = np.asarray(est.predict_proba(x), dtype=np.float64)
    full = np.zeros((len(x), n_classes))
    full[:, np.asarray(est.classes_, dtype=np.int64)] = proba
    return full


# ---------------------------------------------------------------- training

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
        self.log.close()


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
        path.write_text("".join(line + "\n" for line in lines))


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model, log every epoch, checkpoint, evaluate on held-out rows, save and report."""
    state, start_epoch = None, 0
    if args.resume:
        given = [k for k in (*RUN_DEFAULTS, *(p for _, p, _ in ESTIMATOR_OPTIONS), "config", "param")
                 if getattr(args, k, None) not in (None, [])]
        if given:
            raise UsageError(f"--resume takes every setting from the run directory; drop {given}")
        run_dir = Path(args.resume)
        config, state, start_epoch = _read_resume(run_dir)
        run, params = config["run"], config["estimator"]
        if "file" in config["data"]:  # paths as resolved when the run started, whatever the directory now
            run = {**run, "data": config["data"]["file"]}
    else:
        run, params = resolve_settings(args)
        run_dir = None
    job, source = prepare(run, seed=int(params.get("random_state") or 0))
    if args.resume and source.get("sha256") != config["data"].get("sha256"):
        raise UsageError(f"the data file {source.get('file')} changed since the run started")
    est = make_estimator(job.task, params)
    if run["checkpoint_every"] and est.solver == "lbfgs":
        raise UsageError("--checkpoint-every needs a stochastic solver; L-BFGS cannot be checkpointed")
    output = Path(run["output"]) if run["output"] else None
    if output is not None and output.exists() and not args.force:
        raise UsageError(f"{output} already exists; pass --force to replace it")
    if run_dir is None:
        run_dir = _new_run_dir(run["run_dir"], job.name, args.force)
        if output is not None:
            run = {**run, "output": str(output.resolve())}
        config = {"run": run, "estimator": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
                  "data": source, "task": job.task, "estimator_class": type(est).__name__}
        (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (run_dir / "history.jsonl").write_text("")
    else:
        _truncate_history(run_dir / "history.jsonl", start_epoch)
    if not args.quiet:
        what = f"{len(job.labels.classes)} classes" if job.labels else "regression"
        print(f"training {type(est).__name__} on {job.name}: {len(job.y_train)} training rows, "
              f"{len(job.y_test)} held out, {job.x_train.shape[1]} features, {what}", file=sys.stderr)
    est = train(est, job, run_dir, state, start_epoch, int(run["checkpoint_every"] or 0), args.quiet)
    fold_target_scaling(est, job.target_scaling)
    if not args.quiet and est.n_iter_ < est.max_iter:
        why = "the validation score" if est.early_stopping else "the training loss"
        print(f"stopped after {est.n_iter_} epochs: {why} stopped improving", file=sys.stderr)
    finish(est, job, run_dir, config, output, args.force, args.quiet)
    return 0


def train(est: Any, job: Job, run_dir: Path, state: Any, start_epoch: int, every: int, quiet: bool) -> Any:
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
        metrics = classification_metrics(job.y_test, _full_proba(est, job.x_test, len(job.labels.classes)))
        return {"task": job.task, "labels": job.labels.classes, "metrics": metrics,
                "confusion_matrix": metrics["confusion_matrix"]}
    pred = np.asarray(est.predict(job.x_test), dtype=np.float64).ravel()
    return {"task": job.task, "metrics": regression_metrics(job.y_test, pred),
            "y_true": job.y_test[:2000].tolist(), "y_pred": pred[:2000].tolist()}


def finish(est: Any, job: Job, run_dir: Path, config: dict[str, Any], output: Path | None, force: bool,
           quiet: bool) -> None:
    """Evaluate on the held-out rows, save the model (run directory and --output) and build the report."""
    from . import report

    evaluation = _evaluate_job(est, job)
    (run_dir / "evaluation.json").write_text(json.dumps(evaluation) + "\n")
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
        print(_metric_line(evaluation["metrics"], "held-out "))
    try:
        html = report.build(run_dir)
    except ImportError as e:
        warnings.warn(f"report skipped: {e}", UserWarning, stacklevel=1)
        html = None
    if not quiet:
        print(f"model saved to {output or path}")
        if html is not None:
            print(f"report: {html}")


# ---------------------------------------------------------------- using a saved model

class SavedModel:
    """A loaded estimator file with its preprocessing, labels and task."""

    def __init__(self, path: str | Path) -> None:
        obj, meta = io.load_with_metadata(path)
        if meta["kind"] != "estimator":
            raise UsageError(f"{path} holds a bare network ({meta['class']}), not a trained estimator")
        self.est, self.meta = obj, meta
        self.task = "classification" if meta["class"] == "MLPClassifier" else "regression"
        pre = meta.get("preprocessing")
        self.preprocessor = Preprocessor.from_dict(pre) if pre else None
        labels = meta.get("labels")
        self.labels = LabelEncoder.from_dict({"classes": labels}) if labels else None
        self.target = meta.get("target", "target")

    def features(self, df: Any) -> np.ndarray:
        """The model's input matrix for table ``df`` (preprocessed as in training)."""
        if self.preprocessor is not None:
            return self.preprocessor.transform(df)
        table = columns_of(df)
        table.pop(self.target, None)
        bad = [k for k, v in table.items() if v.dtype.kind != "f"]
        if bad:
            raise UsageError(f"this model has no stored preprocessing, so every column must be numeric; {bad} are not")
        return np.stack(list(table.values()), axis=1).astype(np.float32)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, one column per entry of :meth:`class_names`."""
        if self.labels is None:
            return np.asarray(self.est.predict_proba(x), dtype=np.float64)
        return _full_proba(self.est, x, len(self.labels.classes))

    def class_names(self) -> list[Any]:
        """The class labels in probability-column order."""
        return list(self.labels.classes) if self.labels else list(np.asarray(self.est.classes_).tolist())


def cmd_predict(args: argparse.Namespace) -> int:
    """Write predictions (and with --proba class probabilities) for a data file."""
    model = SavedModel(args.model)
    if args.output and Path(args.output).exists() and not args.force:
        raise UsageError(f"{args.output} already exists; pass --force to replace it")
    df = read_table(args.data)
    x = model.features(df)
    pd = _pandas()
    out = pd.DataFrame(index=range(len(x)))
    if model.task == "classification":
        proba = model.proba(x)
        out["prediction"] = np.asarray(model.class_names(), dtype=object)[proba.argmax(axis=1)]
        if args.proba:
            for j, name in enumerate(model.class_names()):
                out[f"proba_{name}"] = proba[:, j]
    else:
        if args.proba:
            raise UsageError("--proba applies to classifiers; this model is a regressor")
        pred = np.asarray(model.est.predict(x), dtype=np.float64)
        if pred.ndim == 1:
            out["prediction"] = pred
        else:
            for j in range(pred.shape[1]):
                out[f"prediction_{j}"] = pred[:, j]
    write_table(out, args.output, args.force)
    if args.output:
        print(f"{len(out)} predictions written to {args.output}", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score a model on a labelled data file."""
    model = SavedModel(args.model)
    df = read_table(args.data)
    target = args.target or model.target
    if target not in df.columns:
        raise UsageError(f"target column {target!r} is not in {args.data}; choose one with --target")
    y = check_target(target, df[target].to_numpy())
    x = model.features(df.drop(columns=[target]))
    if model.task == "classification":
        y_idx = (model.labels or LabelEncoder(model.class_names())).transform(y)
        metrics = classification_metrics(y_idx, model.proba(x))
    else:
        metrics = regression_metrics(y.astype(np.float64), np.asarray(model.est.predict(x), dtype=np.float64))
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(_metric_line(metrics, ""))
    if "confusion_matrix" in metrics:
        names = [str(c) for c in model.class_names()]
        width = max(6, *map(len, names)) + 1
        print("confusion matrix (rows: true, columns: predicted)")
        print(" " * width + "".join(n.rjust(width) for n in names))
        for name, row in zip(names, metrics["confusion_matrix"], strict=True):
            print(name.rjust(width) + "".join(str(v).rjust(width) for v in row))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Show what a model file holds, after verifying it."""
    obj, meta = io.load_with_metadata(args.model)
    if args.json:
        print(json.dumps({k: v for k, v in meta.items() if k not in ("content", "tensors")}, indent=2))
        return 0
    arch = meta.get("architecture", {})
    rows = [("file", f"{args.model} ({Path(args.model).stat().st_size:,} bytes)"),
            ("format", f"{meta['format']} v{meta['format_version']}, written by glassnet {meta['glassnet_version']}"),
            ("kind", f"{meta['kind']} {meta['class']}" + (f" ({meta['task']})" if meta.get("task") else ""))]
    if "sizes" in arch:
        rows.append(("architecture", " -> ".join(map(str, arch["sizes"])) +
                     f", {arch['activation']}, dropout {arch['dropout']}"))
    rows.append(("parameters", f"{arch.get('n_parameters', 0):,}"))
    if meta.get("labels"):
        rows.append(("labels", ", ".join(map(str, meta["labels"]))))
    if meta["kind"] == "estimator":
        defaults = type(obj)().get_params(deep=False)
        changed = {k: v for k, v in obj.get_params(deep=False).items() if repr(v) != repr(defaults.get(k))}
        rows.append(("settings", ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "defaults"))
        rows.append(("epochs", str(getattr(obj, "n_iter_", "?"))))
    data = meta.get("training", {}).get("data")
    if data:
        where = Path(data["file"]).name if "file" in data else f"built-in {data.get('dataset')}"
        rows.append(("data", f"{where}: {data.get('rows')} rows, target {data.get('target')!r}"))
    if meta.get("metrics"):
        rows.append(("metrics", _metric_line(meta["metrics"], "") + " (held-out rows)"))
    for name, value in rows:
        print(f"{name:<14}{value}")
    if meta.get("preprocessing"):
        print("preprocessing")
        lines = Preprocessor.from_dict(meta["preprocessing"]).summary().splitlines()
        for line in lines[:20]:
            print(f"  {line}")
        if len(lines) > 20:
            print(f"  ... and {len(lines) - 20} more columns (--json shows all)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a model file to ONNX."""
    from . import export_onnx

    if not args.onnx:
        raise UsageError("choose an export format: --onnx OUT.onnx")
    path = export_onnx.export_file(args.model, args.onnx, overwrite=args.force)
    print(f"ONNX model written to {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild the plots and HTML report of a run directory."""
    from . import report

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"run directory {run_dir} does not exist")
    print(f"report: {report.build(run_dir)}")
    return 0


# ---------------------------------------------------------------- parser and entry point

class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, pointing at --help, instead of the whole usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every subcommand."""
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback on errors")
    parser = _Parser(prog="glassnet", description=__doc__.splitlines()[0], parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", parents=[common], help="train a model on a CSV/Parquet file or a built-in data set",
                       description="Train an MLP. Without a data argument trains on the built-in digits data set.")
    p.add_argument("data", nargs="?", default=None, help="CSV, TSV or Parquet file")
    p.add_argument("--dataset", choices=datasets.NAMES, default=None, help="a built-in data set instead of a file")
    p.add_argument("--target", default=None, metavar="COL", help="target column (default: target)")
    p.add_argument("--task", choices=("auto", *TASKS), default=None, help="default: inferred from the target")
    p.add_argument("--drop", nargs="+", default=None, metavar="COL", help="columns to ignore (ids, leaks)")
    p.add_argument("--categorical", nargs="+", default=None, metavar="COL",
                   help="treat these numeric-looking columns as categories")
    p.add_argument("--missing", choices=("impute", "error"), default=None,
                   help="impute missing values with a flag column (default) or refuse them")
    p.add_argument("--scale-target", action=argparse.BooleanOptionalAction, default=None,
                   help="regression: train on the standardized target (default), folded back into the model")
    p.add_argument("--test-fraction", type=float, default=None, metavar="F",
                   help="rows held out for the final metric (0.2)")
    p.add_argument("--config", default=None, metavar="FILE", help="TOML file of settings (command line wins)")
    p.add_argument("--run-dir", default=None, metavar="DIR", help="run directory (default: runs/<time>-<data>)")
    p.add_argument("--output", "-o", default=None, metavar="MODEL", help="also save the model here (.safetensors)")
    p.add_argument("--force", action="store_true", help="replace an existing --output file or run directory")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N", help="checkpoint every N epochs")
    p.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    est = p.add_argument_group("estimator settings (scikit-learn's names, then short aliases)")
    for flags, param, kwargs in ESTIMATOR_OPTIONS:
        est.add_argument(*flags, dest=param, default=None, **kwargs)
    est.add_argument("--param", action="append", metavar="KEY=VALUE", help="any other estimator parameter")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", parents=[common], help="predict for a data file")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--output", "-o", default=None, help="CSV or Parquet file (default: CSV on standard output)")
    p.add_argument("--proba", action="store_true", help="add one probability column per class")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", parents=[common], help="score a model on a labelled data file")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--target", default=None, help="target column (default: the one used in training)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("inspect", parents=[common], help="show what a model file holds")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("export", parents=[common], help="export a model (ONNX)")
    p.add_argument("model")
    p.add_argument("--onnx", metavar="OUT", help="write an ONNX graph, preprocessing included")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", parents=[common], help="rebuild the plots and HTML report of a run directory")
    p.add_argument("run_dir")
    p.set_defaults(func=cmd_report)
    return parser


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"glassnet: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user mistakes exit with status 2 and one message (``--debug`` for the traceback)."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print("glassnet: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # the reader went away (glassnet predict ... | head): not an error
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as e:
            if debug:
                raise
            if isinstance(e, USER_ERRORS):
                print(f"glassnet: error: {e}", file=sys.stderr)
                return 2
            print(f"glassnet: internal error ({type(e).__name__}): {e}\n"
                  "run again with --debug to see the traceback", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
