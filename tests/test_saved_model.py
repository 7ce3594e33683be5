"""Command-line model files: old files keep loading and predicting what they predicted when they were written."""

import json
import warnings
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

from glassnet.cli.saved_model import SavedModel

pd = pytest.importorskip("pandas")

DATA = Path(__file__).parent / "data"
OLD = json.loads((DATA / "cli_models_v1.json").read_text())


@pytest.mark.parametrize("name", ["cli_classifier_v1", "cli_regressor_v1"])
def test_files_written_before_pipelines_predict_the_same(name):
    model = SavedModel(DATA / f"{name}.safetensors")
    table = pd.read_csv(StringIO(OLD["table"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.predictions(table, proba=model.task == "classification")
    expected = OLD["predictions"][name]
    assert list(out.columns) == list(expected)
    for column, values in expected.items():
        if isinstance(values[0], str):
            assert out[column].tolist() == values
        else:  # those files rounded the features to float32 before the network's float64 forward pass; no longer
            np.testing.assert_allclose(out[column], values, rtol=1e-5, atol=1e-5)
    messages = " | ".join(str(w.message) for w in caught)
    assert "'age': 3 of 30 values are not numbers ('2x', '39,1', '4O.2'); treated as missing" in messages
    assert "'color': 1" in messages and "columns ['b'], which had none in training" in messages


@pytest.mark.parametrize("name", ["cli_classifier_v1", "cli_regressor_v1"])
def test_files_written_before_pipelines_load_as_pipelines_on_the_raw_table(name):
    from sklearn.pipeline import Pipeline

    import glassnet as gn
    from glassnet.estimators import TableColumns

    model = gn.load(DATA / f"{name}.safetensors")
    assert type(model) is Pipeline and [n for n, _ in model.steps] == ["columns", "features", "mlp"]
    assert isinstance(model[0], TableColumns) and sorted(model.feature_names_in_) == ["a", "age", "b", "color", "zip"]
    table = pd.read_csv(StringIO(OLD["table"]))
    expected = OLD["predictions"][name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predicted = model.predict(table)
    assert any("not seen in training" in str(w.message) for w in caught)
    if name == "cli_classifier_v1":
        assert model.classes_.tolist() == ["high", "low", "mid"] and predicted.tolist() == expected["prediction"]
    else:
        np.testing.assert_allclose(predicted, expected["prediction"], rtol=1e-5, atol=1e-5)
