"""ONNX export of pipelines through skl2onnx, compared with the pipeline itself in onnxruntime on a table of numbers,
text and missing values; old command-line files export the same way."""

import json
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli.preprocessing import fit_preprocessor

pd = pytest.importorskip("pandas")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")
from glassnet.cli.onnx_export import export_file, input_columns, onnx_inputs, to_onnx  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
DATA = Path(__file__).parent / "data"


def _table(n=120, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.uniform(0, 10, n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    code = rng.choice([7, 11, 13], size=n).astype(float)
    a[rng.random(n) < 0.1] = np.nan
    color[rng.random(n) < 0.1] = None
    table = pd.DataFrame({"a": a, "b": b, "color": color, "code": code})
    score = np.nan_to_num(a) + 0.3 * b + np.where(color == "red", 1.5, 0.0)
    return table, score


def _new_rows():
    table, _ = _table(30, seed=1)
    table = table.astype({"color": object})
    table.loc[0, "color"] = "purple"  # unseen in training
    table.loc[1, "b"] = np.nan  # missing where training had none
    table.loc[2, "code"] = 99.0
    return table


def _pipeline(est):
    """What the command line trains: its preprocessing of the table, then the estimator."""
    from sklearn.base import is_classifier
    from sklearn.pipeline import Pipeline

    table, score = _table()
    y = np.where(score > 2.5, "high", np.where(score > 0.5, "mid", "low")) if is_classifier(est) else np.abs(score)
    pre = fit_preprocessor(table, categorical=["code"])
    return Pipeline([*pre.steps, ("mlp", est.fit(pre.transform(table), y))])


def _run(model, table):
    session = ort.InferenceSession(to_onnx(model).SerializeToString())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the unseen category, said by TableColumns
        return session, session.run(None, onnx_inputs(table, model))


def test_a_classifier_pipeline_matches_onnxruntime():
    model = _pipeline(gn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0))
    session, (labels, proba) = _run(model, _new_rows())
    assert [(i.name, i.type, i.shape) for i in session.get_inputs()] == [
        ("a", "tensor(float)", [None, 1]), ("b", "tensor(float)", [None, 1]), ("color", "tensor(string)", [None, 1]),
        ("code", "tensor(string)", [None, 1])]
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        np.testing.assert_allclose(proba, model.predict_proba(_new_rows()), atol=1e-5)
        assert labels.tolist() == model.predict(_new_rows()).tolist()
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["high", "low", "mid"] and json.loads(meta["inputs"]) == input_columns(model)
    assert input_columns(model)[2] == {"name": "color", "type": "string", "shape": ["N", 1], "missing": '""'}


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_a_regressor_pipeline_matches_onnxruntime(loss):
    model = _pipeline(gn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, loss=loss, random_state=0))
    session, (prediction,) = _run(model, _new_rows())
    assert [o.name for o in session.get_outputs()] == ["prediction"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        np.testing.assert_allclose(prediction.ravel(), model.predict(_new_rows()), rtol=1e-5, atol=1e-4)


def test_binary_and_integer_labels_and_a_pipeline_fitted_on_an_array():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.random.default_rng(0).normal(size=(80, 3))
    for y in (x[:, 0] > 0, np.where(x[:, 1] > 0, 3, 7)):
        model = make_pipeline(StandardScaler(), gn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=30,
                                                                 random_state=0)).fit(x, y)
        session = ort.InferenceSession(to_onnx(model).SerializeToString())
        assert [(i.name, i.shape) for i in session.get_inputs()] == [("input", [None, 3])]
        labels, proba = session.run(None, {"input": x.astype(np.float32)})
        np.testing.assert_allclose(proba, model.predict_proba(x), atol=1e-5)
        assert labels.tolist() == np.asarray(model.predict(x), dtype=np.int64).tolist()


@pytest.mark.parametrize("name", ["cli_classifier_v1", "cli_regressor_v1"])
def test_files_written_before_pipelines_export_the_same_way(tmp_path, name):
    out = export_file(DATA / f"{name}.safetensors", tmp_path / "m.onnx")
    model = gn.load(DATA / f"{name}.safetensors")
    table = pd.read_csv(StringIO(json.loads((DATA / "cli_models_v1.json").read_text())["table"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        outputs = ort.InferenceSession(str(out)).run(None, onnx_inputs(table, DATA / f"{name}.safetensors"))
        if len(outputs) == 2:
            np.testing.assert_allclose(outputs[1], model.predict_proba(table), atol=1e-5)
            assert outputs[0].tolist() == model.predict(table).tolist()
        else:
            np.testing.assert_allclose(outputs[0].ravel(), model.predict(table), rtol=1e-5, atol=1e-4)
