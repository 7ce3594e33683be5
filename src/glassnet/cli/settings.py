"""Training settings for the command line: defaults, then a TOML --config file, then options and --param.

:class:`RunSettings` holds them typed and checked; a run directory's config.json is its JSON form.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..estimators import MLPClassifier, MLPRegressor
from .errors import UsageError
from .preprocessing import MISSING_POLICIES, TASKS


def _typed_flags(namespace: argparse.Namespace) -> dict[str, str]:
    """The flag typed for each option given ({"max_iter": "--epochs"}), so that errors name what the user typed."""
    if not hasattr(namespace, "typed_flags"):
        namespace.typed_flags = {}
    return namespace.typed_flags


class Remember(argparse.Action):
    """Stores an option's value and remembers which of its flags was typed."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        setattr(namespace, self.dest, values)
        _typed_flags(namespace)[self.dest] = option_string


class RememberSwitch(argparse.BooleanOptionalAction):
    """A --flag/--no-flag switch that remembers which of its flags was typed."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        super().__call__(parser, namespace, values, option_string)
        _typed_flags(namespace)[self.dest] = option_string


def patience(text: str) -> int | str:
    """--n-iter-no-change: a whole number of epochs or ``auto``."""
    return text if text == "auto" else batch_size(text)


def class_weight(text: str) -> str | dict[str, Any]:
    """--class-weight: ``balanced``, ``none`` or a JSON object of weights by class label."""
    if text in ("balanced", "none"):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be balanced, none or a JSON object such as '{{\"yes\": 5}}', "
                                         f"got {text!r}")
    return value


def batch_size(text: str) -> int | str:
    """--batch-size: a whole number or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number or auto, got {text!r}") from None


def learning_rate(text: str) -> float | str:
    """--lr: a positive number, or ``auto`` for the learning-rate range test's suggestion."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or auto, got {text!r}") from None


PATIENCE_STEPS, MIN_PATIENCE = 500, 10  # n_iter_no_change="auto": epochs worth 500 optimizer steps, at least 10
REFIT_ROWS = 2000  # refit="auto" trains anew on all rows when there are fewer training rows than this
# the settings that may be "auto" on the command line; the estimator is checked with their class default
AUTO_PARAMS = ("n_iter_no_change", "learning_rate_init")  # learning_rate_init: the range test (cli.lr_auto)

# (flags, estimator parameter, argparse keywords): one option for every estimator setting
ESTIMATOR_OPTIONS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("--hidden-layer-sizes", "--hidden"), "hidden_layer_sizes",
     {"type": int, "nargs": "+", "metavar": "N", "help": "widths of the hidden layers"}),
    (("--activation",), "activation", {"metavar": "NAME", "help": "relu, tanh, logistic or identity"}),
    (("--solver", "--optimizer"), "solver", {"metavar": "NAME", "help": "adam, sgd, rmsprop, adamw or lbfgs"}),
    (("--learning-rate-init", "--lr"), "learning_rate_init",
     {"type": learning_rate, "metavar": "LR|auto",
      "help": "initial learning rate; auto: the learning-rate range test's suggestion (glassnet lr-find)"}),
    (("--learning-rate",), "learning_rate", {"metavar": "SCHEDULE", "help": "sgd: constant, invscaling or adaptive"}),
    (("--max-iter", "--epochs"), "max_iter", {"type": int, "metavar": "N", "help": "most epochs to train"}),
    (("--batch-size",), "batch_size",
     {"type": batch_size, "metavar": "N|auto", "help": "rows per mini-batch; auto: min(200, rows)"}),
    (("--alpha", "--l2"), "alpha", {"type": float, "metavar": "A", "help": "L2 penalty"}),
    (("--l1",), "l1", {"type": float, "metavar": "A", "help": "L1 penalty"}),
    (("--dropout",), "dropout", {"type": float, "metavar": "P", "help": "dropout rate of the hidden units"}),
    (("--momentum",), "momentum", {"type": float, "metavar": "M", "help": "sgd momentum"}),
    (("--early-stopping",), "early_stopping",
     {"action": RememberSwitch, "help": "stop when the validation metric stalls and keep the best epoch's weights"}),
    (("--validation-metric",), "validation_metric",
     {"choices": ("loss", "score"), "help": "what early stopping watches: the validation loss, or the score "
                                            "(accuracy or R², scikit-learn's rule)"}),
    (("--validation-fraction",), "validation_fraction",
     {"type": float, "metavar": "F", "help": "training rows set aside for early stopping"}),
    (("--n-iter-no-change", "--patience"), "n_iter_no_change",
     {"type": patience, "metavar": "N|auto",
      "help": f"epochs without improvement before stopping; auto: {PATIENCE_STEPS} optimizer steps' worth, at least "
              f"{MIN_PATIENCE} epochs"}),
    (("--tol",), "tol", {"type": float, "metavar": "T", "help": "smallest improvement that counts"}),
    (("--random-state", "--seed"), "random_state",
     {"type": int, "metavar": "SEED", "help": "seeds the weights, batches and splits"}),
    (("--class-weight",), "class_weight",
     {"type": class_weight, "metavar": "balanced|none|JSON",
      "help": "classification: weigh each row by its class, balanced (n_rows / (n_classes * class count)) or "
              "by label, '{\"yes\": 5}'"}),
]
# where the command line departs from the estimators' defaults: reproducible runs, and early stopping that
# trains well on small data too: it watches the validation loss (accuracy on a few dozen rows stalls long
# before the model has learnt), on a fifth of the rows, with a patience counted in optimizer steps (auto:
# resolved by jobs.make_estimator from the data), for up to 1000 epochs
CLI_ESTIMATOR_DEFAULTS: dict[str, Any] = {"random_state": 0, "early_stopping": True, "validation_metric": "loss",
                                          "validation_fraction": 0.2, "n_iter_no_change": "auto", "max_iter": 1000}
ALIASES = {flag.lstrip("-").replace("-", "_"): param for flags, param, _ in ESTIMATOR_OPTIONS for flag in flags}
FLAGS = {param: flags[0] for flags, param, _ in ESTIMATOR_OPTIONS}


def estimator_defaults() -> dict[str, Any]:
    """Every estimator parameter's value when the command line is not told otherwise."""
    return {**MLPClassifier().get_params(deep=False), **CLI_ESTIMATOR_DEFAULTS}


def shown(value: Any) -> str:
    """A default as the help shows it: ``64 32`` for a tuple, on/off for a switch."""
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value)) or "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _label(name: str) -> str:
    """How the user names a setting: its option (--test-fraction), or ``data`` for the data file."""
    return name if name == "data" else "--" + name.replace("_", "-")


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
    drop_missing_target: bool = False  # train without the rows whose target is missing (instead of refusing them)
    # after early stopping has chosen the epoch count, train anew on all training rows (validation rows included)
    # for that many epochs; auto: when there are fewer than REFIT_ROWS training rows
    refit: bool | str = "auto"
    estimator: dict[str, Any] = field(default_factory=lambda: dict(CLI_ESTIMATOR_DEFAULTS))
    # how the user named each setting (--epochs, "--param max_iter", "epochs in train.toml"); not saved
    labels: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def label(self, name: str) -> str:
        """How the user named setting ``name`` (a run setting or an estimator parameter), for error messages."""
        if name in self.labels:
            return self.labels[name]
        return FLAGS[name] if name in FLAGS else _label(name)

    def _require(self, name: str, ok: bool, what: str) -> None:
        if not ok:
            raise UsageError(f"{self.label(name)} must be {what}, got {getattr(self, name)!r}")

    def __post_init__(self) -> None:
        require = self._require
        for name in ("data", "dataset", "run_dir", "output"):
            require(name, getattr(self, name) is None or isinstance(getattr(self, name), str), "a string")
        for name in ("target", "task", "missing"):
            require(name, isinstance(getattr(self, name), str), "a string")
        for name in ("drop", "categorical"):
            value = getattr(self, name)
            require(name, isinstance(value, (list, tuple)) and all(isinstance(c, str) for c in value),
                    "a list of column names")
            setattr(self, name, list(value))
        if self.data and self.dataset:
            raise UsageError("give either a data file or --dataset, not both")
        require("task", self.task in ("auto", *TASKS), "auto, " + " or ".join(TASKS))
        require("missing", self.missing in MISSING_POLICIES, " or ".join(MISSING_POLICIES))
        for name in ("scale_target", "drop_missing_target"):
            require(name, isinstance(getattr(self, name), bool), "true or false")
        require("refit", isinstance(self.refit, bool) or self.refit == "auto", "true, false or auto")
        frac = self.test_fraction
        require("test_fraction", (_is_int(frac) or isinstance(frac, float)) and 0.0 <= frac < 1.0,
                "a number in [0, 1)")
        self.test_fraction = float(frac)
        every = self.checkpoint_every
        require("checkpoint_every", _is_int(every) and every >= 0, "a whole number of epochs, 0 for none")
        require("estimator", isinstance(self.estimator, dict), "a table of estimator parameters")
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
        """The settings a run's config.json was written with (a run from before ``refit`` existed did not refit)."""
        run = {"refit": False, **config.get("run", {})}
        unknown = sorted(set(run) - set(RUN_FIELDS))
        if unknown:
            raise UsageError(f"config.json has unknown run settings {unknown}")
        return cls(**run, estimator=dict(config.get("estimator", {})))


RUN_FIELDS = [f.name for f in fields(RunSettings) if f.name not in ("estimator", "labels")]


def load_toml(path: str | Path) -> dict[str, Any]:
    """A TOML settings file's contents, or a UsageError naming the file."""
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
    """KEY=VALUE: the value read as JSON or a Python literal (``(8, 8)``, ``True``), else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--param takes KEY=VALUE, got {text!r}")
    for parse in (json.loads, ast.literal_eval):
        try:
            return key.strip(), parse(value)
        except (ValueError, SyntaxError):
            pass
    return key.strip(), value


def resolve_settings(args: argparse.Namespace, extra_tables: tuple[str, ...] = ()) -> RunSettings:
    """The run's settings: defaults, then the --config file, then the command line. ``extra_tables`` are the
    --config tables that the command reads itself (``[search]`` for glassnet tune)."""
    run: dict[str, Any] = {}
    params = dict(CLI_ESTIMATOR_DEFAULTS)
    labels: dict[str, str] = {}
    if args.config:
        config = load_toml(args.config)
        tables = {k: v for k, v in config.items() if isinstance(v, dict)}
        allowed = ["estimator", *extra_tables]
        if set(tables) - set(allowed):
            names = " and ".join(f"[{t}]" for t in allowed)
            raise UsageError(f"{args.config}: unknown table(s) {sorted(set(tables) - set(allowed))}; "
                             f"only {names} {'is' if len(allowed) == 1 else 'are'} allowed")
        entries = [(k, v, False) for k, v in config.items() if k not in allowed]
        entries += [(k, v, True) for k, v in config.get("estimator", {}).items()]
        for key, value, in_estimator in entries:
            name = key.replace("-", "_")
            if name in RUN_FIELDS and not in_estimator:
                run[name] = value
            else:  # estimator settings may also sit at the top level
                name = ALIASES.get(name, name)
                params[name] = value
            labels[name] = f"{key} in {Path(args.config).name}"
    typed = getattr(args, "typed_flags", {})
    for key in RUN_FIELDS:
        if getattr(args, key, None) is not None:
            run[key] = getattr(args, key)
            labels[key] = typed.get(key, _label(key))
    for _, param, _ in ESTIMATOR_OPTIONS:
        if getattr(args, param) is not None:
            params[param] = getattr(args, param)
            labels[param] = typed.get(param, FLAGS[param])
    for text in args.param or []:
        key, value = _parse_param(text)
        params[ALIASES.get(key, key)] = value
        labels[ALIASES.get(key, key)] = f"--param {key}"
    if params.get("class_weight") == "none":  # the command line's and TOML's word for None
        params["class_weight"] = None
    settings = RunSettings(**run, estimator=params, labels=labels)
    # checked before any data is read: the shared parameters against the regressor's (the classifier's and
    # `loss`), class_weight against the classifier's; make_estimator checks them again for the data's task
    check_estimator_params(MLPRegressor, {k: v for k, v in params.items() if k != "class_weight"}, settings)
    check_estimator_params(MLPClassifier, {k: v for k, v in params.items() if k == "class_weight"}, settings)
    return settings



def settings_given(args: argparse.Namespace) -> list[str]:
    """The settings named on the command line, the config file and --param included (none may go with --resume)."""
    return [k for k in (*RUN_FIELDS, *(p for _, p, _ in ESTIMATOR_OPTIONS), "config", "param")
            if getattr(args, k, None) not in (None, [])]


def check_estimator_params(cls: type, params: dict[str, Any], settings: RunSettings) -> dict[str, Any]:
    """``params`` checked against ``cls``'s: unknown keys with a "did you mean", bad values naming the flag typed."""
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        names = [*known, *ALIASES, *RUN_FIELDS]
        close = difflib.get_close_matches(unknown[0], names, n=1)
        if close:
            name = close[0]
            hint = f"did you mean {_label(name) if name in RUN_FIELDS else ALIASES.get(name, name)!r}?"
        else:
            hint = f"{cls.__name__} takes {sorted(known)}"
        where = ", ".join(settings.label(k) for k in unknown)
        raise UsageError(f"unknown estimator setting(s) {unknown} ({where}); {hint}")
    params = {k: tuple(v) if k == "hidden_layer_sizes" and isinstance(v, list) else v for k, v in params.items()}
    try:  # an "auto" setting is resolved from the data later; its class default stands in for it here
        cls(**{k: known[k] if k in AUTO_PARAMS and v == "auto" else v for k, v in params.items()})._validate_params()
    except ValueError as e:  # scikit-learn's InvalidParameterError names the parameter, not the flag
        match = re.match(r"The '(\w+)' parameter of \w+ must be (.*)\. Got (.*) instead\.$", str(e), re.DOTALL)
        if match is None:
            raise UsageError(str(e)) from e
        name, what, got = match.groups()
        label = settings.label(name)
        label = label if name in label else f"{label} ({name})"
        raise UsageError(f"{label} must be {what}, got {got}") from e
    return params


ESTIMATOR_CLASSES = {"classification": MLPClassifier, "regression": MLPRegressor}
