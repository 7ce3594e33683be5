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
import math
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
MAX_OUTPUTS = 1_000_000  # features a transformer of a pipeline may make per row
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
    "estimator": Obj(optional={"params": Obj(), "fitted": Obj(optional=FITTED),
                               "object": Obj({"$object": Str(max_len=200)})}),  # a pipeline (io.pipelines)
    "checkpoint": Obj(optional={"params": Obj(), "state": Obj(optional={"fitted": Obj(optional=FITTED)})}),
}

# the preprocessing of command-line files written before they held pipelines (io.tabular_v1 builds it)
MAX_COLUMNS = 100_000
MAX_CATEGORIES = 1_000_000
TABULAR_V1 = Obj({"type": Str(("tabular",)), "version": Int(1, 1),
                  "columns": List(Obj({"name": Str(max_len=10_000), "kind": Str(("numeric", "categorical")),
                                       "missing_flag": Bool()},
                                      {"mean": Num(), "scale": Num(), "categories": List(Str(max_len=10_000),
                                                                                         max_len=MAX_CATEGORIES)}),
                                  min_len=1, max_len=MAX_COLUMNS)},
                 {"missing": Str(("impute", "error"))})

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
    if meta["kind"] == "estimator" and "object" in content:  # a pipeline: the glassnet estimators inside it
        for node, where in _estimator_nodes(content["object"], "content.object"):
            Obj(optional={"params": Obj(), "fitted": Obj(optional=FITTED)}).check(node, where, table)
            if "fitted" in node:
                check_fitted(node["fitted"], node["$object"][len("glassnet."):], table, f"{where}.fitted")
        for node, where in _nodes(content["object"], "content.object", _is_transformer):
            TRANSFORMERS[node["$object"]](node.get("state"), f"{where}.state")
    if meta["kind"] == "checkpoint" and "fitted" in content.get("state", {}):
        check_fitted(content["state"]["fitted"], meta.get("class"), table, "content.state.fitted")
    pre = meta.get("preprocessing")
    if meta["kind"] == "estimator" and isinstance(pre, dict) and pre.get("type") == "tabular":
        TABULAR_V1.check(pre, "preprocessing")
        _check_tabular_width(pre, content.get("fitted", {}))


def _is_estimator(node: dict[str, Any]) -> bool:
    name = node.get("$object")
    return isinstance(name, str) and name.startswith("glassnet.") and name[len("glassnet."):] in OUTPUT_HEADS


def _is_transformer(node: dict[str, Any]) -> bool:
    return isinstance(node.get("$object"), str) and node["$object"] in TRANSFORMERS


def _estimator_nodes(tree: Any, where: str) -> list[tuple[dict[str, Any], str]]:
    """The (node, place) of every glassnet estimator in a pipeline's JSON tree (``{"$object": "glassnet.X"}``)."""
    return _nodes(tree, where, _is_estimator)


def _nodes(tree: Any, where: str, wanted: Any) -> list[tuple[dict[str, Any], str]]:
    """The (node, place) of every object of a pipeline's JSON tree for which ``wanted(node)`` is true."""
    found, stack = [], [(tree, where)]
    while stack:  # iterative: a deep tree must not overflow the stack
        node, place = stack.pop()
        if isinstance(node, dict):
            if wanted(node):
                found.append((node, place))
            stack += [(v, f"{place}.{k}") for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, f"{place}[{i}]") for i, v in enumerate(node)]
    return found


def _check_polynomial(state: Any, where: str) -> None:
    """A PolynomialFeatures makes at most MAX_OUTPUTS features (C(n + degree, degree) bounds their count): its
    feature names and its output are made by enumerating them."""
    if not isinstance(state, dict):
        return
    degree, n = state.get("degree"), state.get("n_features_in_")
    top = degree["$tuple"][-1] if isinstance(degree, dict) and isinstance(degree.get("$tuple"), list) and \
        degree["$tuple"] else degree
    if not (isinstance(top, int) and isinstance(n, int)):
        return
    if top > 64 or n < 0 or top < 0 or math.comb(n + top, top) > MAX_OUTPUTS:
        raise ModelFileError(f"{where}: a PolynomialFeatures of degree {top} over {n} features makes more than "
                             f"{MAX_OUTPUTS:,} features")


NAMES = List(Str(max_len=10_000), max_len=MAX_COLUMNS)
# glassnet's first step of a command-line pipeline: its settings and fitted attributes (estimators.TableColumns)
TABLE_COLUMNS = Obj({"numeric": NAMES, "categorical": NAMES, "missing": Str(("impute", "error"))},
                    {"categories_": Obj(extra=List(Str(max_len=10_000), max_len=MAX_CATEGORIES), max_keys=MAX_COLUMNS),
                     "missing_in_fit_": NAMES, "feature_names_in_": LIST_ARRAY, "n_features_in_": Int(min=0)})


def _check_table_columns(state: Any, where: str) -> None:
    """A TableColumns' state fits its schema, fitted attributes all there or none, a category list per column."""
    TABLE_COLUMNS.check(state, where)
    fitted = [name for name in ("categories_", "missing_in_fit_") if name in state]
    if len(fitted) == 1 or (fitted and set(state["categories_"]) != set(state["categorical"])):
        raise ModelFileError(f"{where}: a TableColumns whose fitted attributes do not match its columns")


OBJECT = Obj({"$object": Str(max_len=200)})
PASSTHROUGH = Either(OBJECT, Str(("passthrough", "drop")))


def _tuples(size: int, *, min_len: int = 0) -> Schema:
    return List(Obj({"$tuple": List(min_len=size, max_len=size)}, extra=None), min_len=min_len)


def _check_steps(key: str, size: int, min_len: int) -> Any:
    """A check that ``state[key]`` lists (name, object, ...) tuples, as a Pipeline's steps or a ColumnTransformer's
    transformers: its final estimator and transformers are found by position."""
    def check(state: Any, where: str) -> None:
        Obj(optional={key: _tuples(size, min_len=min_len)}).check(state, where)
        for i, item in enumerate(state.get(key, []) if isinstance(state, dict) else []):
            Str(max_len=10_000).check(item["$tuple"][0], f"{where}.{key}[{i}][0]")
            (PASSTHROUGH if key != "steps" or i < len(state[key]) - 1 else Either(OBJECT, Str(("passthrough",))))\
                .check(item["$tuple"][1], f"{where}.{key}[{i}][1]")
    return check


def _check_column_transformer(state: Any, where: str) -> None:
    for key in ("transformers", "transformers_"):
        _check_steps(key, 3, 0)(state, where)


# checks of the fitted state of the scikit-learn objects a pipeline may hold, by the name the file gives them
TRANSFORMERS: dict[str, Any] = {"sklearn.pipeline.Pipeline": _check_steps("steps", 2, 1),
                                "sklearn.pipeline.FeatureUnion": _check_steps("transformer_list", 2, 1),
                                "sklearn.compose.ColumnTransformer": _check_column_transformer,
                                "sklearn.preprocessing.PolynomialFeatures": _check_polynomial,
                                "glassnet.estimators.TableColumns": _check_table_columns}


def _check_tabular_width(pre: dict[str, Any], fitted: Any) -> None:
    """The older format's preprocessing gives as many features as the network takes: counted, not made."""
    width = sum(1 if c["kind"] == "numeric" else len(c.get("categories", [])) for c in pre["columns"]) + \
        sum(c["missing_flag"] for c in pre["columns"])
    n_in = fitted.get("n_features_in_") if isinstance(fitted, dict) else None
    if isinstance(n_in, int) and width != n_in:
        raise ModelFileError(f"preprocessing: inconsistent model file: its preprocessing gives {width} features, "
                             f"its network takes {n_in}")


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
