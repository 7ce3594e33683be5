"""What the command line keeps in a model file's metadata, and the checks of it before a model is used.

``glassnet train`` saves a pipeline (the preprocessing, then the network) with, in the metadata, its task,
target, labels, feature names, input range, training record and metrics. :func:`load_model` loads a file
(``io`` checks the format, the checksums, the network, and a file of the older format's preprocessing) and
then checks these keys against the schema below and against the model: the preprocessing and the input range
must have as many features as the network takes, and every class of the network must have a label. A key the
schema does not name passes unchecked; to check a new one, add it to ``FIELDS``.
"""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

import numpy as np

from .. import io
from ..estimators import TableColumns
from ..io.estimators import fractional
from ..io.header import SCALAR
from ..io.pipelines import final_estimator
from ..io.schema import ANY, Bool, Int, List, Nullable, Num, Obj, Schema, Str
from .preprocessing import TASKS

MAX_FEATURES = 1_000_000  # the network's inputs: each costs a float per row predicted
MAX_LABELS = 1_000_000
MAX_NAME = 10_000

# one finding of the training's health check (inspect.diagnosis.Finding)
FINDING = Obj({"kind": Str(max_len=100), "layer": Nullable(Int(min=0)), "epoch": Nullable(Int(min=0)),
               "message": Str(max_len=MAX_NAME)}, {"evidence": Obj(), "suggestion": Str(max_len=MAX_NAME)}, extra=None)
TRAINING = Obj(optional={
    "data": Obj(optional={"file": Str(), "dataset": Str(), "name": Str(), "target": Str(), "sha256": Str(),
                          "rows": Int(min=0), "rows_dropped": Int(min=0)}),
    "settings": Obj(), "estimator": Obj(), "epochs": Int(min=0), "kept_epoch": Int(min=0), "stopped": Str(),
    "refit": Nullable(Obj({"epochs": Int(min=0), "rows": Int(min=0)})), "checkpoint_epoch": Nullable(Int(min=0)),
    "health": List(FINDING),
    "target_scaling": Nullable(Obj({"mean": Num(), "scale": Num()}))})
FIELDS: dict[str, Schema] = {
    "task": Str(TASKS),
    "target": Str(max_len=MAX_NAME),
    "labels": Nullable(List(SCALAR, min_len=2, max_len=MAX_LABELS)),
    "preprocessing": Nullable(Obj()),  # files before pipelines: its contents are io.header's TABULAR_V1
    "feature_names": Nullable(List(Str(max_len=MAX_NAME), max_len=MAX_FEATURES)),
    "input_range": Nullable(Obj({"min": List(Num(), max_len=MAX_FEATURES), "max": List(Num(), max_len=MAX_FEATURES)})),
    "training": TRAINING,
    "metrics": Obj(extra=ANY),
}
MODEL_METADATA = Obj(optional=FIELDS)
# a run's training checkpoint: the epoch it was taken after, whether the run had finished, what finishing writes
CHECKPOINT_METADATA = Obj({"epoch": Int(min=0)}, {"finished": Bool(), "output": Nullable(Str()),
                                                  "replace_output": Bool()})


def check_model(meta: dict[str, Any], model: Any) -> None:
    """The command line's keys of ``meta`` fit their schema and the loaded ``model``; ModelFileError otherwise."""
    MODEL_METADATA.check(meta, "")
    est = final_estimator(model)
    if est is None:
        return
    classifier = type(est).__name__ == "MLPClassifier"
    if meta.get("task") not in (None, "classification" if classifier else "regression"):
        raise io.ModelFileError(f"task: a {type(est).__name__} does not do {meta['task']}")
    n_in = est.n_features_in_
    if hasattr(model, "steps") and len(model.steps) > 1:
        width = _preprocessing_width(model[:-1])
        if width != n_in:
            raise io.ModelFileError(f"inconsistent model file: its preprocessing gives {width} features, its "
                                    f"network takes {n_in}")
    if n_in > MAX_FEATURES:
        raise io.ModelFileError(f"the network takes {n_in:,} features, more than the {MAX_FEATURES:,} allowed")
    bounds = meta.get("input_range")
    if bounds and not len(bounds["min"]) == len(bounds["max"]) == n_in:
        raise io.ModelFileError(f"inconsistent model file: input_range has {len(bounds['min'])} minima and "
                                f"{len(bounds['max'])} maxima for {n_in} input features")
    labels = meta.get("labels")
    if labels and not classifier:
        raise io.ModelFileError("labels: a regressor has no class labels")
    if labels:
        _check_labels(labels, np.asarray(est.classes_).tolist())


def _preprocessing_width(pre: Any) -> int:
    """How many features the pipeline ``pre`` makes per row. A command-line pipeline (TableColumns first) is run on
    a row of training-like values (0 for numbers, each column's first category) and, unless it refuses them, a row
    of missing values, which also shows that its fitted state holds together; any other is asked for the names
    of its output columns."""
    table = pre.steps[0][1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not isinstance(table, TableColumns):
                return len(pre.get_feature_names_out())
            import pandas as pd

            rows = {**{name: [0.0, np.nan] for name in table.numeric},
                    **{name: pd.Series([(list(table.categories_.get(name, [])) or [""])[0], None], dtype=object)
                       for name in table.categorical}}
            probe = pd.DataFrame(rows).iloc[:1 if table.missing == "error" else 2]  # a missing value, if allowed
            return int(np.shape(pre.transform(probe))[1])
    except Exception as e:  # a transformer whose fitted state does not hold together
        raise io.ModelFileError(f"inconsistent model file: its preprocessing fails on a row of training-like values "
                                f"({type(e).__name__}: {io.errors.shorten(str(e), 300)})") from None


def _check_labels(labels: list[Any], classes: list[Any]) -> None:
    """Every class of the network has its label (as predict finds it: the label, or its text, or for fractional
    labels its index)."""
    if len({(type(v), v) for v in labels}) != len(labels):
        raise io.ModelFileError("labels: the class labels are not distinct")
    if fractional(labels):
        found = [isinstance(c, int) and 0 <= c < len(labels) for c in classes]
    else:
        texts = {str(v) for v in labels}
        found = [c in labels or str(c) in texts for c in classes]
    if not all(found) or len(set(map(str, classes))) != len(classes):
        raise io.ModelFileError(f"inconsistent model file: the network's classes {classes[:10]} are not among its "
                                f"{len(labels)} labels")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The MODEL argument of the commands that read a model file, and its trusted-hash check."""
    parser.add_argument("model", help="a glassnet model file (.safetensors)")
    parser.add_argument("--expect-sha256", default=None, metavar="HEX",
                        help="refuse the model file unless its SHA-256 (as sha256sum prints it) is this one")


def load_model(path: str | os.PathLike, *, sha256: str | None = None) -> tuple[Any, dict[str, Any]]:
    """(model, metadata) of a model file, every part checked; ``sha256``: the hash the whole file must have."""
    try:
        model, meta = io.load_with_metadata(path, sha256=sha256)
        check_model(meta, model)
    except io.ModelFileError as e:  # every error names the file
        raise (e if str(path) in str(e) else io.ModelFileError(f"{path}: {e}")) from None
    return model, meta
