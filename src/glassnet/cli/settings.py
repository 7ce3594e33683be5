"""Training settings for the command line: defaults, then a TOML --config file, then options and --param.

:class:`RunSettings` holds them typed and checked; a run directory's config.json is its JSON form.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import UsageError
from .preprocessing import MISSING_POLICIES, TASKS

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


def _label(name: str) -> str:
    """How the user names a setting: its option (--test-fraction), or ``data`` for the data file."""
    return name if name == "data" else "--" + name.replace("_", "-")


def _require(name: str, value: Any, ok: bool, what: str) -> None:
    if not ok:
        raise UsageError(f"{_label(name)} must be {what}, got {value!r}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class RunSettings:
    """Everything a training run is started with: its data, how the data is split and prepared, where the
    results go, and the estimator's parameters. Checked when made; config.json holds its JSON form.
    """

    data: str | None = None  # a CSV, TSV or Parquet file; None: a built-in data set
    dataset: str | None = None  # the built-in data set (None and no file: digits)
    target: str = "target"
    task: str = "auto"  # auto (inferred from the target), classification or regression
    drop: list[str] = field(default_factory=list)  # columns to ignore
    categorical: list[str] = field(default_factory=list)  # numeric-looking columns to treat as categories
    missing: str = "impute"  # impute (with a flag column) or error
    scale_target: bool = True  # regression: train on the standardized target
    test_fraction: float = 0.2  # rows held out for the final metric
    run_dir: str | None = None  # None: runs/<time>-<data>
    output: str | None = None  # a model file to save besides the run directory's
    checkpoint_every: int = 0  # epochs between checkpoints; 0: none
    estimator: dict[str, Any] = field(default_factory=lambda: dict(CLI_ESTIMATOR_DEFAULTS))

    def __post_init__(self) -> None:
        for name in ("data", "dataset", "run_dir", "output"):
            value = getattr(self, name)
            _require(name, value, value is None or isinstance(value, str), "a string")
        for name in ("target", "task", "missing"):
            _require(name, getattr(self, name), isinstance(getattr(self, name), str), "a string")
        for name in ("drop", "categorical"):
            value = getattr(self, name)
            _require(name, value, isinstance(value, (list, tuple)) and all(isinstance(c, str) for c in value),
                     "a list of column names")
            setattr(self, name, list(value))
        if self.data and self.dataset:
            raise UsageError("give either a data file or --dataset, not both")
        _require("task", self.task, self.task in ("auto", *TASKS), "auto, " + " or ".join(TASKS))
        _require("missing", self.missing, self.missing in MISSING_POLICIES, " or ".join(MISSING_POLICIES))
        _require("scale_target", self.scale_target, isinstance(self.scale_target, bool), "true or false")
        frac = self.test_fraction
        _require("test_fraction", frac, (_is_int(frac) or isinstance(frac, float)) and 0.0 <= frac < 1.0,
                 "a number in [0, 1)")
        self.test_fraction = float(frac)
        every = self.checkpoint_every
        _require("checkpoint_every", every, _is_int(every) and every >= 0, "a whole number of epochs, 0 for none")
        _require("estimator", self.estimator, isinstance(self.estimator, dict), "a table of estimator parameters")
        if isinstance(self.estimator.get("hidden_layer_sizes"), list):
            self.estimator = {**self.estimator, "hidden_layer_sizes": tuple(self.estimator["hidden_layer_sizes"])}

    @property
    def seed(self) -> int:
        """The estimator's random_state, which also seeds the held-out split (0 when None)."""
        return int(self.estimator.get("random_state") or 0)

    def to_config(self) -> dict[str, Any]:
        """The ``run`` and ``estimator`` entries of config.json (tuples become lists)."""
        return {"run": {name: getattr(self, name) for name in RUN_FIELDS},
                "estimator": {k: list(v) if isinstance(v, tuple) else v for k, v in self.estimator.items()}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RunSettings:
        """The settings a run's config.json was written with."""
        run = config.get("run", {})
        unknown = sorted(set(run) - set(RUN_FIELDS))
        if unknown:
            raise UsageError(f"config.json has unknown run settings {unknown}")
        return cls(**run, estimator=dict(config.get("estimator", {})))


RUN_FIELDS = [f.name for f in fields(RunSettings) if f.name != "estimator"]


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


def resolve_settings(args: argparse.Namespace) -> RunSettings:
    """The run's settings: defaults, then the --config file, then the command line."""
    run: dict[str, Any] = {}
    params = dict(CLI_ESTIMATOR_DEFAULTS)
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
            elif key in RUN_FIELDS:
                run[key] = value
            else:  # estimator settings may also sit at the top level
                params[ALIASES.get(key, key)] = value
    for key in RUN_FIELDS:
        if getattr(args, key, None) is not None:
            run[key] = getattr(args, key)
    for _, param, _ in ESTIMATOR_OPTIONS:
        if getattr(args, param) is not None:
            params[param] = getattr(args, param)
    params.update(_parse_param(p) for p in args.param or [])
    return RunSettings(**run, estimator=params)


def settings_given(args: argparse.Namespace) -> list[str]:
    """The settings named on the command line, the config file and --param included (none may go with --resume)."""
    return [k for k in (*RUN_FIELDS, *(p for _, p, _ in ESTIMATOR_OPTIONS), "config", "param")
            if getattr(args, k, None) not in (None, [])]
