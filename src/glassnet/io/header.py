"""What a model file's JSON header may hold, checked against the file's tensor table before any data is read.

``check_header(meta, table)`` takes the parsed glassnet metadata and the tensor table of the safetensors
header (``{name: (dtype, shape)}``). The fields below must have their types, ranges and sizes; every
``{"$array": name}`` of an estimator's fitted attributes must be a tensor of the right kind and rank; and an
estimator's weight shapes must chain from ``n_features_in_`` to ``n_outputs_``, with as many classes as its
output head needs. A module's layer description is checked by building it without weights (``io.modules``).
Keys not named here pass unchecked, so that newer writers may add them; to check a new field, add it to
``HEADER``, ``CONTENT`` or ``FITTED``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .errors import ModelFileError
from .schema import ANY, Bool, Either, Int, List, Nullable, Num, Obj, Schema, Str, describe

KINDS = ("module", "estimator", "checkpoint")
TENSOR_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64")
MAX_LAYERS = 10_000  # layers of an estimator's network; more is a hostile file, not a model
MAX_TENSORS = 1_000_000
MAX_DIMS = 32
# the output heads each estimator class trains (its _validate_input): a file may name no other
OUTPUT_HEADS = {"MLPClassifier": ("softmax", "logistic"), "MLPRegressor": ("identity", "exp")}

Table = dict[str, tuple[str, tuple[int, ...]]]


class TensorRef(Schema):
    """``{"$array": name}`` naming a tensor of the table (``ctx``) whose dtype kind is one of ``kinds`` (NumPy's
    letters), with ``ndim`` dimensions, none of them zero when ``nonempty``."""

    def __init__(self, kinds: str, ndim: int | None = None, *, nonempty: bool = False) -> None:
        self.kinds, self.ndim, self.nonempty = kinds, ndim, nonempty
        rank = f"{ndim}-D " if ndim is not None else ""
        self.what = f"a {'non-empty ' if nonempty else ''}{rank}tensor of kind {kinds!r}"

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        if not (isinstance(value, dict) and set(value) == {"$array"} and isinstance(value["$array"], str)):
            self.fail(value, where)
        name = value["$array"]
        if name not in ctx:
            raise ModelFileError(f"{where}: refers to tensor {describe(name)}, which the file does not contain")
        dtype, shape = ctx[name]
        if np.dtype(dtype).kind not in self.kinds or (self.ndim is not None and len(shape) != self.ndim) or \
                (self.nonempty and 0 in shape):
            raise ModelFileError(f"{where}: expected {self.what}, got tensor {name!r}, {dtype}{list(shape)}")


SCALAR = Either(Str(), Num(finite=False), Bool())
LIST_ARRAY = Obj({"$list_array": List(SCALAR), "dtype": Str(max_len=4)}, extra=None)  # io.plain_data's text arrays

TABLE_ENTRY = Obj({"dtype": Str(TENSOR_DTYPES), "shape": List(Int(min=0), max_len=MAX_DIMS),
                   "sha256": Str(pattern="[0-9a-f]{64}")})
ARCHITECTURE = Obj(optional={"type": Str(max_len=200), "sizes": List(Int(min=1), max_len=MAX_LAYERS + 1),
                             "activation": Str(max_len=200), "dropout": Num(0, 1), "dtype": Str(max_len=20),
                             "n_parameters": Int(min=0)})

# an estimator's fitted attributes, as io.plain_data stores them (arrays as {"$array": name})
FITTED: dict[str, Schema] = {
    "coefs_": List(TensorRef("f", 2, nonempty=True), min_len=1, max_len=MAX_LAYERS),
    "intercepts_": List(TensorRef("f", 1, nonempty=True), min_len=1, max_len=MAX_LAYERS),
    "n_layers_": Int(min=2, max=MAX_LAYERS + 1),
    "n_outputs_": Int(min=1),
    "out_activation_": Str(tuple(dict.fromkeys(itertools.chain(*OUTPUT_HEADS.values())))),
    "n_features_in_": Int(min=1),
    "loss_": Nullable(Num(finite=False)),
    "best_loss_": Nullable(Num(finite=False)),
    "loss_curve_": List(Num(finite=False)),
    "validation_scores_": Nullable(List(Nullable(Num(finite=False)))),
    "best_validation_score_": Nullable(Num(finite=False)),
    "n_iter_": Int(min=0),
    "t_": Num(min=0),
    "history_": Nullable(List(Obj())),
    "classes_": Either(TensorRef("biuf", 1, nonempty=True), LIST_ARRAY),
    "feature_names_in_": Either(LIST_ARRAY, TensorRef("biuf", 1)),
}

# by kind; keys are optional here, where read_file serves any content: io.models names those it needs
CONTENT: dict[str, Schema] = {
    # the layer spec is checked by building it (nn.from_spec under skip_init); here only its size is capped
    "module": Obj(optional={"spec": Obj(optional={"sizes": List(Int(min=0), max_len=MAX_LAYERS + 1),
                                                  "layers": List(max_len=MAX_LAYERS)})}),
    "estimator": Obj(optional={"params": Obj(), "fitted": Obj(optional=FITTED)}),
    "checkpoint": Obj(optional={"params": Obj(), "state": Obj(optional={"fitted": Obj(optional=FITTED)})}),
}

HEADER = Obj({"format": Str(), "format_version": Int(min=1), "kind": Str(KINDS), "content": Obj(),
              "tensors": Obj(extra=TABLE_ENTRY, max_keys=MAX_TENSORS)},
             {"glassnet_version": Str(max_len=100), "class": Str(max_len=200), "architecture": ARCHITECTURE},
             extra=ANY)


def check_header(meta: Any, table: Table) -> None:
    """Check the glassnet metadata ``meta`` against the schema and the file's tensor ``table``; ModelFileError
    names the first field that does not fit."""
    HEADER.check(meta, "", table)
    CONTENT[meta["kind"]].check(meta["content"], "content", table)
    content = meta["content"]
    if meta["kind"] == "estimator" and "fitted" in content:
        check_fitted(content["fitted"], meta.get("class"), table, "content.fitted")
    if meta["kind"] == "checkpoint" and "fitted" in content.get("state", {}):
        check_fitted(content["state"]["fitted"], meta.get("class"), table, "content.state.fitted")


def _shape(ref: dict[str, str], table: Table) -> tuple[int, ...]:
    return tuple(table[ref["$array"]][1])


def _n_items(value: Any, table: Table) -> int:
    return len(value["$list_array"]) if "$list_array" in value else _shape(value, table)[0]


def check_fitted(fitted: dict[str, Any], cls: Any, table: Table, where: str) -> None:
    """An estimator's weights chain from ``n_features_in_`` through its layers to ``n_outputs_``, and its head and
    classes fit its class. Checked only when every attribute involved is there (io.estimators names missing ones)."""
    needed = ("coefs_", "intercepts_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_")
    if not all(name in fitted for name in needed):
        return
    coefs = [_shape(ref, table) for ref in fitted["coefs_"]]
    biases = [_shape(ref, table) for ref in fitted["intercepts_"]]
    sizes = [fitted["n_features_in_"]] + [shape[1] for shape in coefs]
    if coefs != list(itertools.pairwise(sizes)) or biases != [(n,) for n in sizes[1:]]:
        raise ModelFileError(f"{where}: inconsistent model file: weight shapes {coefs[:5]} and bias shapes "
                             f"{biases[:5]} do not chain from n_features_in_ {fitted['n_features_in_']}")
    if fitted["n_layers_"] != len(coefs) + 1 or fitted["n_outputs_"] != sizes[-1]:
        raise ModelFileError(f"{where}: inconsistent model file: {len(coefs)} weight matrices ending in "
                             f"{sizes[-1]} outputs, but n_layers_ {fitted['n_layers_']} and n_outputs_ "
                             f"{fitted['n_outputs_']}")
    head, outputs = fitted["out_activation_"], fitted["n_outputs_"]
    if cls in OUTPUT_HEADS and head not in OUTPUT_HEADS[cls]:
        raise ModelFileError(f"{where}.out_activation_: {cls} has no output head {head!r}; expected one of "
                             f"{list(OUTPUT_HEADS[cls])}")
    if cls == "MLPClassifier" and "classes_" in fitted:
        k = _n_items(fitted["classes_"], table)
        fits = k == outputs if head == "softmax" or outputs > 1 else k == 2
        if not fits or k < 2:
            raise ModelFileError(f"{where}.classes_: inconsistent model file: {k} classes for {outputs} "
                                 f"{head} outputs")
