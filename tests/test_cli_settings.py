"""The command line's structure and run settings, in process: one module per subcommand, all registered;
settings typed, checked and resolved in order (defaults, --config, options); config.json read back as written.
"""

from __future__ import annotations

import pkgutil
import re

import pytest

from glassnet.cli import build_parser, commands
from glassnet.cli.errors import UsageError
from glassnet.cli.settings import RunSettings, resolve_settings

# a run directory's config.json as runs wrote it before RunSettings existed: it must still resume
LEGACY_CONFIG = {
    "run": {"data": "t.csv", "dataset": None, "target": "kind", "task": "auto", "drop": [], "categorical": [],
            "missing": "impute", "scale_target": True, "test_fraction": 0.0, "run_dir": "r",
            "output": "/tmp/legacy_run/m.safetensors", "checkpoint_every": 1},
    "estimator": {"random_state": 0, "early_stopping": True, "hidden_layer_sizes": [4, 3], "max_iter": 2,
                  "beta_1": 0.8},
}


def test_every_command_module_is_registered_and_parsed():
    modules = {m.name for m in pkgutil.iter_modules(commands.__path__)}
    assert modules == {c.__name__.rsplit(".", 1)[1] for c in commands.COMMANDS}
    parser = build_parser()
    for module in modules:
        name = module.replace("_", "-")  # the lr_find module is the lr-find command
        args = parser.parse_args([name, *(["model", "data"] if name in ("predict", "evaluate", "explain", "attack") else
                                          ["x"] if name in ("inspect", "export", "report") else [])])
        assert args.command == name and args.run is getattr(commands, module).run


def test_legacy_config_reads_back_unchanged():
    settings = RunSettings.from_config(LEGACY_CONFIG)
    assert settings.data == "t.csv" and settings.checkpoint_every == 1 and settings.test_fraction == 0.0
    assert settings.estimator["hidden_layer_sizes"] == (4, 3) and settings.seed == 0
    # settings added since read back at their defaults (drop_missing_target), or as such runs were (no refit)
    assert settings.to_config() == {**LEGACY_CONFIG, "run": {**LEGACY_CONFIG["run"], "drop_missing_target": False,
                                                             "refit": False}}


def test_defaults_then_config_file_then_options(tmp_path):
    (tmp_path / "train.toml").write_text('target = "label"\ntest-fraction = 0.3\nhidden = [8]\nmax_iter = 5\n'
                                         'checkpoint_every = 2\n[estimator]\nalpha = 0.01\nseed = 4\n')
    args = build_parser().parse_args(["train", "data.csv", "--config", str(tmp_path / "train.toml"),
                                      "--epochs", "3", "--test-fraction", "0.1", "--drop", "id"])
    s = resolve_settings(args)
    assert (s.data, s.target, s.test_fraction, s.checkpoint_every, s.drop) == ("data.csv", "label", 0.1, 2, ["id"])
    assert s.task == "auto" and s.missing == "impute" and s.scale_target is True and s.output is None
    assert s.estimator == {"random_state": 4, "early_stopping": True, "validation_metric": "loss",
                           "validation_fraction": 0.2, "n_iter_no_change": "auto", "hidden_layer_sizes": (8,),
                           "max_iter": 3, "alpha": 0.01}
    assert s.seed == 4


@pytest.mark.parametrize("change, message", [
    ({"test_fraction": 1.0}, "--test-fraction must be a number in [0, 1), got 1.0"),
    ({"test_fraction": "0.2"}, "--test-fraction must be a number in [0, 1), got '0.2'"),
    ({"checkpoint_every": -1}, "--checkpoint-every must be a whole number of epochs"),
    ({"checkpoint_every": True}, "--checkpoint-every must be a whole number of epochs"),
    ({"drop": "id"}, "--drop must be a list of column names, got 'id'"),
    ({"task": "cluster"}, "--task must be auto, classification or regression, got 'cluster'"),
    ({"missing": "drop"}, "--missing must be impute or error, got 'drop'"),
    ({"scale_target": "yes"}, "--scale-target must be true or false"),
    ({"data": 3}, "data must be a string, got 3"),
    ({"data": "a.csv", "dataset": "iris"}, "either a data file or --dataset"),
])
def test_bad_settings_name_the_setting(change, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        RunSettings(**change)


def test_unknown_settings_in_config_json_are_refused():
    with pytest.raises(UsageError, match=r"unknown run settings \['epochs'\]"):
        RunSettings.from_config({"run": {**LEGACY_CONFIG["run"], "epochs": 3}, "estimator": {}})
