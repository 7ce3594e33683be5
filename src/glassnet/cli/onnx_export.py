"""ONNX export: a model file's network with its output head, and a pipeline's scikit-learn transformers before it.

A pipeline (what the command line trains) is converted by skl2onnx, scikit-learn's ONNX converters, with two
converters registered here: glassnet's estimators, whose network each layer writes itself (``Module.to_onnx``),
and MissingIndicator, which skl2onnx lacks. The graph starts after the pipeline's TableColumns: it has one input
per table column, named as the column, of shape [N, 1] — float32 for a numeric column (NaN where missing),
string for a categorical one ("" where missing; whole numbers written without ".0") — in the order
:func:`input_columns` gives (the numeric columns, then the categorical ones). Outputs: ``label`` (the class) and
``probabilities`` (one column per class, in the order of the model's ``classes_``) for a classifier,
``prediction`` for a regressor. The graph's metadata repeats the inputs and the labels.

A bare estimator or network has one input, ``input`` (float32, [N, features]); its outputs are
``probabilities``, ``label_index`` and ``label`` for a classifier, ``prediction`` for a regressor, ``output``
for a network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import io, nn
from ..estimators import MLPClassifier, MLPRegressor, TableColumns
from ..io.pipelines import final_estimator, is_pipeline
from .model_metadata import load_model

OPSET = 17
ML_OPSET = 3


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as e:
        raise ImportError("ONNX export needs onnx: pip install 'glassnet[onnx]'") from e
    return onnx


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.onnx = _onnx()
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: Any, hint: str = "c", dtype: Any = np.float32) -> str:
        name = self.name(hint)
        self._add_const(name, np.asarray(value, dtype=dtype))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, domain: str = "", **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.node(op_type, inputs, out, domain, **attrs)
        return out

    def node(self, op_type: str, inputs: list[str], output: str, domain: str = "", **attrs: Any) -> None:
        """A node writing the named ``output``."""
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [output], domain=domain or None, **attrs))

    def _add_const(self, name: str, value: np.ndarray) -> None:
        if value.dtype.kind in "OU":
            self.inits.append(self.onnx.helper.make_tensor(name, self.onnx.TensorProto.STRING, value.shape,
                                                           [str(v).encode() for v in value.ravel()]))
        else:
            self.inits.append(self.onnx.numpy_helper.from_array(value, name))


class _ConverterGraph(_Graph):
    """The same graph-building calls, writing into an skl2onnx converter's scope and container."""

    def __init__(self, scope: Any, container: Any) -> None:
        super().__init__()
        self.scope, self.container = scope, container

    def name(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def node(self, op_type: str, inputs: list[str], output: str, domain: str = "", **attrs: Any) -> None:
        self.container.add_node(op_type, inputs, [output], op_domain=domain,
                                name=self.scope.get_unique_operator_name(op_type), **attrs)

    def _add_const(self, name: str, value: np.ndarray) -> None:
        super()._add_const(name, value)
        tensor = self.inits.pop()
        if value.dtype.kind in "OU":
            self.container.add_initializer(name, tensor.data_type, list(value.shape), list(tensor.string_data))
        else:
            self.container.add_initializer(name, tensor.data_type, list(value.shape), tensor)


def _network(g: _Graph, module: nn.Module, x: str) -> str:
    """The module's ONNX nodes after input ``x``: each layer adds its own (``Module.to_onnx``)."""
    try:
        return module.to_onnx(g, x)
    except NotImplementedError as e:  # a layer without an ONNX form: a user's mistake, not a bug
        raise ValueError(f"cannot export to ONNX: {e}") from e


def _probabilities(g: _Graph, est: Any, logits: str) -> str:
    """Class probabilities from a classifier's logits: softmax, or for one logistic output [1 - p, p]."""
    if est.out_activation_ == "logistic" and est.n_outputs_ > 1:
        raise ValueError("ONNX export of multi-label classifiers is not supported")
    if est.out_activation_ == "logistic":  # binary: one logit for the second class
        p1 = g.op("Sigmoid", [logits])
        return g.op("Concat", [g.op("Sub", [g.const([[1.0]]), p1]), p1], axis=1)
    return g.op("Softmax", [logits], axis=1)


def _prediction(g: _Graph, est: Any, out: str) -> str:
    """A regressor's prediction from the network's output (exp for Poisson regression)."""
    return g.op("Exp", [out]) if est.out_activation_ == "exp" else out


# ---------------------------------------------------------------- a bare network or estimator

def _head(g: _Graph, est: Any, logits: str, labels: list[Any] | None) -> list[Any]:
    """Output nodes for a classifier (probabilities over every label, label index and text)."""
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    classes = np.asarray(est.classes_)
    names = list(labels) if labels else classes.tolist()
    proba = _probabilities(g, est, logits)
    if labels and classes.tolist() != list(range(len(labels))):  # labels absent from training get probability 0
        scatter = np.zeros((len(classes), len(labels)), np.float32)
        scatter[np.arange(len(classes)), classes.astype(np.int64)] = 1.0
        proba = g.op("MatMul", [proba, g.const(scatter, "scatter")])
    g.node("Identity", [proba], "probabilities")
    g.node("ArgMax", ["probabilities"], "label_index", axis=1, keepdims=0)
    g.node("LabelEncoder", ["label_index"], "label", domain="ai.onnx.ml", keys_int64s=list(range(len(names))),
           values_strings=[str(v) for v in names], default_string="")
    return [helper.make_tensor_value_info("probabilities", tp.FLOAT, ["N", len(names)]),
            helper.make_tensor_value_info("label_index", tp.INT64, ["N"]),
            helper.make_tensor_value_info("label", tp.STRING, ["N"])]


def _bare_to_onnx(obj: Any, metadata: dict[str, Any]) -> Any:
    """The ONNX graph of an nn.Module or a bare fitted estimator: one float input, ``input``."""
    g = _Graph()
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    module = obj if isinstance(obj, nn.Module) else obj.module_
    n_in = module.sizes[0] if hasattr(module, "sizes") else int(getattr(obj, "n_features_in_", 0)) or None
    inputs = [helper.make_tensor_value_info("input", tp.FLOAT, ["N", n_in])]
    out = _network(g, module, "input")
    props = {"producer": "glassnet", "inputs": json.dumps([{"name": "input", "type": "float32",
                                                             "shape": ["N", n_in]}])}
    if isinstance(obj, nn.Module):
        g.node("Identity", [out], "output")
        outputs = [helper.make_tensor_value_info("output", tp.FLOAT, ["N", None])]
    elif hasattr(obj, "predict_proba"):
        outputs = _head(g, obj, out, metadata.get("labels"))
        props["labels"] = json.dumps(metadata.get("labels") or np.asarray(obj.classes_).tolist())
    else:
        g.node("Identity", [_prediction(g, obj, out)], "prediction")
        outputs = [helper.make_tensor_value_info("prediction", tp.FLOAT, ["N", None])]
    graph = helper.make_graph(g.nodes, "glassnet", inputs, outputs, g.inits)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    model = helper.make_model(graph, producer_name="glassnet", opset_imports=opsets)
    model.ir_version = 8
    helper.set_model_props(model, props)
    return model


# ---------------------------------------------------------------- a pipeline, through skl2onnx

def _convert_classifier(scope: Any, operator: Any, container: Any) -> None:
    est, g = operator.raw_operator, _ConverterGraph(scope, container)
    proba = _probabilities(g, est, _network(g, est.module_, operator.inputs[0].full_name))
    g.node("Identity", [proba], operator.outputs[1].full_name)
    classes = np.asarray(est.classes_)
    classes = classes.astype(object) if classes.dtype.kind in "OU" else classes.astype(np.int64)
    index = g.op("ArgMax", [proba], axis=1, keepdims=0)
    g.node("Gather", [g.const(classes, "classes", classes.dtype), index], operator.outputs[0].full_name, axis=0)


def _convert_regressor(scope: Any, operator: Any, container: Any) -> None:
    est, g = operator.raw_operator, _ConverterGraph(scope, container)
    out = _prediction(g, est, _network(g, est.module_, operator.inputs[0].full_name))
    g.node("Identity", [out], operator.outputs[0].full_name)


def _regressor_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, operator.raw_operator.n_outputs_])


def _convert_missing_indicator(scope: Any, operator: Any, container: Any) -> None:
    """One 0/1 column per flagged feature: NaN in a float input, "" in a text one."""
    from skl2onnx.common.data_types import StringTensorType

    g, x = _ConverterGraph(scope, container), operator.inputs[0]
    if isinstance(x.type, StringTensorType):  # "" -> 1, anything else -> 0
        missing = g.op("LabelEncoder", [x.full_name], domain="ai.onnx.ml", keys_strings=[""], values_int64s=[1],
                       default_int64=0)
    else:
        missing = g.op("IsNaN", [x.full_name])
    flags = g.op("Cast", [missing], to=g.onnx.TensorProto.FLOAT)
    features = np.asarray(operator.raw_operator.features_, dtype=np.int64)
    g.node("Gather", [flags, g.const(features, "features", np.int64)], operator.outputs[0].full_name, axis=1)


def _missing_indicator_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = FloatTensorType([n, len(operator.raw_operator.features_)])


def _register_converters() -> None:
    """Teach skl2onnx glassnet's estimators and scikit-learn's MissingIndicator."""
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    from sklearn.impute import MissingIndicator

    update_registered_converter(MLPClassifier, "GlassnetMLPClassifier", calculate_linear_classifier_output_shapes,
                                _convert_classifier, options={"zipmap": [True, False], "nocl": [False]})
    update_registered_converter(MLPRegressor, "GlassnetMLPRegressor", _regressor_shape, _convert_regressor)
    update_registered_converter(MissingIndicator, "GlassnetMissingIndicator", _missing_indicator_shape,
                                _convert_missing_indicator)


def input_columns(obj: Any) -> list[dict[str, Any]]:
    """The ONNX graph's inputs for a model, in order: name, element type, shape and how a missing value is passed."""
    first = obj.steps[0][1] if hasattr(obj, "steps") else None
    if isinstance(first, TableColumns):
        return [*({"name": c, "type": "float32", "shape": ["N", 1], "missing": "NaN"} for c in first.numeric),
                *({"name": c, "type": "string", "shape": ["N", 1], "missing": '""'} for c in first.categorical)]
    names = getattr(obj, "feature_names_in_", None)
    if hasattr(obj, "steps") and names is not None:
        return [{"name": str(c), "type": "float32", "shape": ["N", 1], "missing": "NaN"} for c in names]
    module = obj if isinstance(obj, nn.Module) else getattr(final_estimator(obj), "module_", None)
    n_in = getattr(module, "sizes", [getattr(obj, "n_features_in_", None)])[0]
    return [{"name": "input", "type": "float32", "shape": ["N", n_in], "missing": "NaN"}]


def _pipeline_to_onnx(obj: Any, metadata: dict[str, Any], initial_types: list[Any] | None) -> Any:
    """The ONNX graph of a fitted scikit-learn pipeline, from after its TableColumns to its estimator's outputs."""
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    except ImportError as e:
        raise ImportError("ONNX export of a pipeline needs skl2onnx: pip install 'glassnet[onnx]'") from e
    _register_converters()
    inputs = input_columns(obj)
    if initial_types is None:
        initial_types = [(c["name"], (StringTensorType if c["type"] == "string" else FloatTensorType)(
            [None, c["shape"][1]])) for c in inputs]
    steps = obj.steps[1:] if isinstance(obj.steps[0][1], TableColumns) else obj.steps
    model = obj if len(steps) == len(obj.steps) else type(obj)(steps)
    est = final_estimator(obj)
    if est is None:
        final_types = None
    elif hasattr(est, "predict_proba"):
        text = np.asarray(est.classes_).dtype.kind in "OU"
        final_types = [("label", (StringTensorType if text else Int64TensorType)([None])),
                       ("probabilities", FloatTensorType([None, len(est.classes_)]))]
    else:
        final_types = [("prediction", FloatTensorType([None, est.n_outputs_]))]
    options = {id(est): {"zipmap": False}} if est is not None and hasattr(est, "predict_proba") else None
    onx = convert_sklearn(model, initial_types=initial_types, final_types=final_types, options=options,
                          target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET})
    props = {"producer": "glassnet", "inputs": json.dumps(inputs)}
    if est is not None and hasattr(est, "predict_proba"):  # the probabilities' columns, and what they name
        props["classes"] = json.dumps(np.asarray(est.classes_).tolist())
        props["labels"] = json.dumps(metadata.get("labels") or np.asarray(est.classes_).tolist())
    _onnx().helper.set_model_props(onx, props)
    return onx


def to_onnx(obj: Any, metadata: dict[str, Any] | None = None, *, initial_types: list[Any] | None = None) -> Any:
    """An ONNX ModelProto for an nn.Module, a fitted estimator or a fitted pipeline (with its file ``metadata``).

    ``initial_types`` (skl2onnx's ``[(name, type), ...]``) overrides the inputs of a pipeline that does not start
    with TableColumns and was fitted on text columns.
    """
    onnx = _onnx()
    if is_pipeline(obj):
        model = _pipeline_to_onnx(obj, metadata or {}, initial_types)
    else:
        model = _bare_to_onnx(obj, metadata or {})
    onnx.checker.check_model(model, full_check=True)
    return model


def export_file(model_path: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Load a glassnet model file and write its ONNX graph to ``out`` (atomically, never clobbering)."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"ONNX output {out} should end in .onnx")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    obj, meta = load_model(model_path)  # every part checked, as predict and inspect check it
    model = to_onnx(obj, meta)
    return io.atomic_write(out, model.SerializeToString())


def onnx_inputs(table: Any, model: Any) -> dict[str, np.ndarray]:
    """The exported graph's inputs for a table (a pandas DataFrame), read as the model reads it.

    ``model`` is the pipeline, or the glassnet model file it was exported from.
    """
    if not hasattr(model, "steps"):
        model = io.load(model)
    first = model.steps[0][1]
    if not isinstance(first, TableColumns):
        return {c["name"]: table[[c["name"]]].to_numpy(np.float32) for c in input_columns(model)}
    columns = first.transform(table)
    feeds = {name: columns[[name]].to_numpy(np.float32) for name in first.numeric}
    feeds.update({name: columns[[name]].to_numpy(object) for name in first.categorical})
    return feeds
