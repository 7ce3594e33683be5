"""ONNX export: the network, its output head and (for tabular models) the preprocessing, as one graph.

Inputs of a model trained on a table: ``numeric`` (float32, one column per numeric feature in
training order, NaN for missing) and ``categorical`` (string, one column per categorical feature,
"" for missing; integral numbers written without ".0"). Outputs: ``probabilities`` and
``label_index`` (plus ``label`` as text) for classifiers, ``prediction`` for regressors, ``output``
for a bare network. Column names and labels are in the graph's metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import io, nn
from .preprocessing import Preprocessor, category_text, columns_of, missing_mask

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
        self.inits.append(self.onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, domain: str = "", **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out], domain=domain or None, **attrs))
        return out


def _network(g: _Graph, module: nn.Module, x: str) -> str:
    """The module's ONNX nodes after input ``x``: each layer adds its own (``Module.to_onnx``)."""
    try:
        return module.to_onnx(g, x)
    except NotImplementedError as e:  # a layer without an ONNX form: a user's mistake, not a bug
        raise ValueError(f"cannot export to ONNX: {e}") from e


def _preprocessing(g: _Graph, pre: Preprocessor) -> tuple[list[Any], str]:
    """Graph inputs and the preprocessed feature matrix, in the Preprocessor's output order."""
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    numeric = [c for c in pre.columns if c["kind"] == "numeric"]
    categorical = [c for c in pre.columns if c["kind"] == "categorical"]
    inputs, parts, flags = [], [], {}
    if numeric:
        inputs.append(helper.make_tensor_value_info("numeric", tp.FLOAT, ["N", len(numeric)]))
        mean = g.const([c["mean"] for c in numeric], "mean")
        isnan = g.op("IsNaN", ["numeric"])
        filled = g.op("Where", [isnan, mean, "numeric"])
        parts.append(g.op("Div", [g.op("Sub", [filled, mean]), g.const([c["scale"] for c in numeric], "scale")]))
        nan_float = g.op("Cast", [isnan], to=tp.FLOAT)
        for j, c in enumerate(numeric):
            if c["missing_flag"]:
                flags[c["name"]] = g.op("Gather", [nan_float, g.const([j], "idx", np.int64)], axis=1)
    if categorical:
        inputs.append(helper.make_tensor_value_info("categorical", tp.STRING, ["N", len(categorical)]))
        for j, c in enumerate(categorical):
            column = g.op("Gather", ["categorical", g.const(j, "idx", np.int64)], axis=1)  # (N,)
            k = len(c["categories"])
            # "" is an extra last category: its column is the missing-value flag; unknowns give all zeros
            onehot = g.op("OneHotEncoder", [column], domain="ai.onnx.ml", cats_strings=[*c["categories"], ""],
                          zeros=1)
            onehot = g.op("Cast", [onehot], to=tp.FLOAT)
            parts.append(g.op("Slice", [onehot, g.const([0], "s", np.int64), g.const([k], "e", np.int64),
                                        g.const([1], "a", np.int64)]))
            if c["missing_flag"]:
                flags[c["name"]] = g.op("Slice", [onehot, g.const([k], "s", np.int64),
                                                  g.const([k + 1], "e", np.int64), g.const([1], "a", np.int64)])
    parts += [flags[c["name"]] for c in pre.columns if c["missing_flag"]]
    return inputs, parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=1)


def _head(g: _Graph, est: Any, logits: str, labels: list[Any] | None) -> list[Any]:
    """Output nodes for a classifier (probabilities over every label, label index and text)."""
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    classes = np.asarray(est.classes_)
    names = list(labels) if labels else classes.tolist()
    if est.out_activation_ == "logistic" and est.n_outputs_ > 1:
        raise ValueError("ONNX export of multi-label classifiers is not supported")
    if est.out_activation_ == "logistic":  # binary: one logit for the second class
        p1 = g.op("Sigmoid", [logits])
        proba = g.op("Concat", [g.op("Sub", [g.const([[1.0]]), p1]), p1], axis=1)
    else:
        proba = g.op("Softmax", [logits], axis=1)
    if labels and classes.tolist() != list(range(len(labels))):  # labels absent from training get probability 0
        scatter = np.zeros((len(classes), len(labels)), np.float32)
        scatter[np.arange(len(classes)), classes.astype(np.int64)] = 1.0
        proba = g.op("MatMul", [proba, g.const(scatter, "scatter")])
    g.nodes.append(g.onnx.helper.make_node("Identity", [proba], ["probabilities"]))
    g.nodes.append(g.onnx.helper.make_node("ArgMax", ["probabilities"], ["label_index"], axis=1, keepdims=0))
    g.nodes.append(g.onnx.helper.make_node("LabelEncoder", ["label_index"], ["label"], domain="ai.onnx.ml",
                                           keys_int64s=list(range(len(names))),
                                           values_strings=[str(v) for v in names], default_string=""))
    return [helper.make_tensor_value_info("probabilities", tp.FLOAT, ["N", len(names)]),
            helper.make_tensor_value_info("label_index", tp.INT64, ["N"]),
            helper.make_tensor_value_info("label", tp.STRING, ["N"])]


def to_onnx(obj: Any, metadata: dict[str, Any] | None = None) -> Any:
    """An ONNX ModelProto for an nn.Module or fitted estimator (with its file ``metadata``, if any)."""
    g = _Graph()
    helper, tp = g.onnx.helper, g.onnx.TensorProto
    metadata = metadata or {}
    module = obj if isinstance(obj, nn.Module) else obj.module_
    pre = Preprocessor.from_dict(metadata["preprocessing"]) if metadata.get("preprocessing") else None
    n_in = module.sizes[0] if hasattr(module, "sizes") else int(getattr(obj, "n_features_in_", 0)) or None
    if pre is not None:
        inputs, x = _preprocessing(g, pre)
    else:
        inputs, x = [helper.make_tensor_value_info("input", tp.FLOAT, ["N", n_in])], "input"
    out = _network(g, module, x)
    props = {"producer": "glassnet"}
    if isinstance(obj, nn.Module):
        g.nodes.append(helper.make_node("Identity", [out], ["output"]))
        outputs = [helper.make_tensor_value_info("output", tp.FLOAT, ["N", None])]
    elif hasattr(obj, "predict_proba"):
        outputs = _head(g, obj, out, metadata.get("labels"))
        props["labels"] = json.dumps(metadata.get("labels") or np.asarray(obj.classes_).tolist())
    else:
        out = g.op("Exp", [out]) if obj.out_activation_ == "exp" else out  # Poisson regression
        g.nodes.append(helper.make_node("Identity", [out], ["prediction"]))
        outputs = [helper.make_tensor_value_info("prediction", tp.FLOAT, ["N", None])]
    if pre is not None:
        props["numeric_columns"] = json.dumps([c["name"] for c in pre.columns if c["kind"] == "numeric"])
        props["categorical_columns"] = json.dumps([c["name"] for c in pre.columns if c["kind"] == "categorical"])
    graph = helper.make_graph(g.nodes, "glassnet", inputs, outputs, g.inits)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    model = helper.make_model(graph, producer_name="glassnet", opset_imports=opsets)
    model.ir_version = 8
    helper.set_model_props(model, props)
    g.onnx.checker.check_model(model, full_check=True)
    return model


def export_file(model_path: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Load a glassnet model file and write its ONNX graph to ``out`` (atomically, never clobbering)."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"ONNX output {out} should end in .onnx")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass --force to replace it")
    obj, meta = io.load_with_metadata(model_path)
    model = to_onnx(obj, meta)
    return io.atomic_write(out, model.SerializeToString())


def onnx_inputs(table: Any, metadata: dict[str, Any] | str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``numeric``/``categorical`` input arrays for a table, in the exported graph's layout.

    ``metadata`` is the glassnet model file the graph was exported from, or its metadata.
    """
    if not isinstance(metadata, dict):
        metadata = io.read_file(metadata)[1]
    pre = Preprocessor.from_dict(metadata["preprocessing"])
    cols = columns_of(table)
    feeds = {}
    numeric = [c["name"] for c in pre.columns if c["kind"] == "numeric"]
    categorical = [c["name"] for c in pre.columns if c["kind"] == "categorical"]
    if numeric:
        feeds["numeric"] = np.stack([cols[n].astype(np.float32) for n in numeric], axis=1)
    texts = []
    for name in categorical:
        values, mask = cols[name], missing_mask(cols[name])
        texts.append(np.array(["" if m else category_text(v) for v, m in zip(values, mask, strict=True)], dtype=object))
    if texts:
        feeds["categorical"] = np.stack(texts, axis=1)
    return feeds
