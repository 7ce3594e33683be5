"""What the command line keeps in a model file's metadata, and the checks of it before a model is used.

``glassnet train`` saves, beside the network, its task, target, preprocessing, labels, feature names, input
range, training record and metrics. :func:`load_model` loads a file (``io`` checks the format, the checksums
and the network) and then checks these keys against the schema below and against the network: the
preprocessing and the input range must have as many features as the network takes, and every class of the
network must have a label. A key the schema does not name passes unchecked; to check a new one, add it to
``FIELDS``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import io
from ..io.header import SCALAR
from ..io.schema import ANY, Bool, Int, List, Nullable, Num, Obj, Schema, Str
from .preprocessing import TASKS, Preprocessor

MAX_COLUMNS = 100_000
MAX_CATEGORIES = 1_000_000  # in one column
MAX_FEATURES = 1_000_000  # the preprocessing's output: a wider one costs that many floats per row predicted
MAX_LABELS = 1_000_000
MAX_NAME = 10_000

COLUMN = Obj({"name": Str(max_len=MAX_NAME), "kind": Str(max_len=100)},
             {"missing_flag": Bool(), "mean": Num(), "scale": Num(min=0),
              "categories": List(Str(max_len=MAX_NAME), max_len=MAX_CATEGORIES)})
PREPROCESSING = Obj({"type": Str(max_len=100), "version": Int(min=1), "columns": List(COLUMN, min_len=1,
                                                                                       max_len=MAX_COLUMNS)},
                    {"missing": Str(max_len=100)})
TRAINING = Obj(optional={
    "data": Obj(optional={"file": Str(), "dataset": Str(), "name": Str(), "target": Str(), "sha256": Str(),
                          "rows": Int(min=0), "rows_dropped": Int(min=0)}),
    "settings": Obj(), "estimator": Obj(), "epochs": Int(min=0), "kept_epoch": Int(min=0),
    "target_scaling": Nullable(Obj({"mean": Num(), "scale": Num()}))})
FIELDS: dict[str, Schema] = {
    "task": Str(TASKS),
    "target": Str(max_len=MAX_NAME),
    "preprocessing": Nullable(PREPROCESSING),
    "labels": Nullable(List(SCALAR, min_len=2, max_len=MAX_LABELS)),
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
    if meta["kind"] != "estimator":
        return
    classifier = meta["class"] == "MLPClassifier"
    if meta.get("task") not in (None, "classification" if classifier else "regression"):
        raise io.ModelFileError(f"task: a {meta['class']} does not do {meta['task']}")
    if meta.get("preprocessing"):
        try:
            width = _width(Preprocessor.from_dict(meta["preprocessing"]))
        except ValueError as e:
            raise io.ModelFileError(f"preprocessing: {e}") from None
        if width > MAX_FEATURES:
            raise io.ModelFileError(f"preprocessing: {width:,} features, more than the {MAX_FEATURES:,} allowed")
        if width != model.n_features_in_:
            raise io.ModelFileError(f"inconsistent model file: its preprocessing gives {width} features, its "
                                    f"network takes {model.n_features_in_}")
    bounds = meta.get("input_range")
    if bounds and not len(bounds["min"]) == len(bounds["max"]) == model.n_features_in_:
        raise io.ModelFileError(f"inconsistent model file: input_range has {len(bounds['min'])} minima and "
                                f"{len(bounds['max'])} maxima for {model.n_features_in_} input features")
    labels = meta.get("labels")
    if labels and not classifier:
        raise io.ModelFileError("labels: a regressor has no class labels")
    if labels:
        if len({(type(v), v) for v in labels}) != len(labels):
            raise io.ModelFileError("labels: the class labels are not distinct")
        classes = np.asarray(model.classes_)
        if classes.dtype.kind not in "iu" or len(np.unique(classes)) != len(classes) or \
                classes.min() < 0 or classes.max() >= len(labels):
            raise io.ModelFileError(f"inconsistent model file: {len(labels)} labels for the network's classes "
                                    f"{classes[:10].tolist()}")


def _width(pre: Preprocessor) -> int:
    """The number of features ``pre`` makes per row, counted without making them."""
    per_kind = {"numeric": lambda c: 1, "categorical": lambda c: len(c["categories"])}
    if all(c["kind"] in per_kind for c in pre.columns):
        return sum(per_kind[c["kind"]](c) + bool(c.get("missing_flag")) for c in pre.columns)
    return len(pre.feature_names_out)


def load_model(path: str | os.PathLike, *, sha256: str | None = None) -> tuple[Any, dict[str, Any]]:
    """(model, metadata) of a model file, every part checked; ``sha256``: the hash the whole file must have."""
    model, meta = io.load_with_metadata(path, sha256=sha256)
    try:
        check_model(meta, model)
    except io.ModelFileError as e:
        raise io.ModelFileError(f"{path}: {e}") from None
    return model, meta
