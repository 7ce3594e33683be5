"""Training settings for the command line: defaults, then a TOML --config file, then options and --param.

The run settings (data, split, run directory) and the estimator parameters are resolved separately.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .errors import UsageError

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


def settings_given(args: argparse.Namespace) -> list[str]:
    """The settings named on the command line, the config file and --param included (none may go with --resume)."""
    return [k for k in (*RUN_DEFAULTS, *(p for _, p, _ in ESTIMATOR_OPTIONS), "config", "param")
            if getattr(args, k, None) not in (None, [])]
