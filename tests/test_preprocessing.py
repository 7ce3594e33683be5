"""Preprocessing: standardization, one-hot encoding, missing values, labels, JSON round trips."""

import json
import warnings

import numpy as np
import pytest

from glassnet.cli import datasets
from glassnet.cli.preprocessing import LabelEncoder, Preprocessor, check_target, infer_task

pd = pytest.importorskip("pandas")


def _frame():
    return pd.DataFrame({"num": [1.0, 2.0, np.nan, 5.0], "cat": ["a", "b", None, "a"],
                         "flag": [True, False, True, True], "full": [0.0, 0.0, 0.0, 0.0]})


def test_standardize_one_hot_and_flags():
    pre = Preprocessor().fit(_frame())
    assert pre.feature_names_out == ["num", "flag", "full", "cat=a", "cat=b", "num__missing", "cat__missing"]
    x = pre.transform(_frame())
    assert x.dtype == np.float32 and x.shape == (4, 7)
    mean, std = np.mean([1, 2, 5]), np.std([1, 2, 5])
    np.testing.assert_allclose(x[:, 0], [(1 - mean) / std, (2 - mean) / std, 0.0, (5 - mean) / std], rtol=1e-6)
    np.testing.assert_array_equal(x[:, 2], 0.0)  # constant column: scale 1, not a division by zero
    np.testing.assert_array_equal(x[:, 3:5], [[1, 0], [0, 1], [0, 0], [1, 0]])
    np.testing.assert_array_equal(x[:, 5:], [[0, 0], [0, 0], [1, 1], [0, 0]])
    # the original column behind each output column: attributions are summed back by it
    assert pre.feature_columns == ["num", "flag", "full", "cat", "cat", "num", "cat"]


def test_unknown_category_gives_zeros_and_a_warning():
    pre = Preprocessor().fit(_frame())
    new = _frame().assign(cat=["c", "a", "b", "zzz"])
    with pytest.warns(UserWarning, match="not seen in training.*'cat': 2"):
        x = pre.transform(new)
    np.testing.assert_array_equal(x[:, 3:5], [[0, 0], [1, 0], [0, 1], [0, 0]])


def test_missing_policy_error_names_the_columns():
    with pytest.raises(ValueError, match=r"missing values in columns \['num', 'cat'\]"):
        Preprocessor(missing="error").fit(_frame())
    pre = Preprocessor(missing="error").fit(_frame().dropna())
    with pytest.raises(ValueError, match=r"\['num'\]"):
        pre.transform(_frame().fillna({"cat": "a"}))


def test_new_missing_values_are_imputed_with_a_warning():
    pre = Preprocessor().fit(_frame().dropna())
    with pytest.warns(UserWarning, match="had none in training"):
        x = pre.transform(_frame())
    assert np.isfinite(x).all()


def test_missing_columns_and_bad_values_are_named():
    pre = Preprocessor().fit(_frame())
    with pytest.raises(ValueError, match=r"lacks columns \['cat'\]"):
        pre.transform(_frame().drop(columns=["cat"]))
    with pytest.raises(ValueError, match="'num' was numeric in training"):
        pre.transform(_frame().astype({"num": object}).assign(num=["x", 1, 2, 3]))
    with pytest.raises(ValueError, match="all missing"):
        Preprocessor().fit(pd.DataFrame({"a": [np.nan, np.nan]}))
    with pytest.raises(ValueError, match="infinite"):
        Preprocessor().fit(pd.DataFrame({"a": [1.0, np.inf]}))
    with pytest.raises(ValueError, match="not fitted"):
        Preprocessor().transform(_frame())


def test_forced_categorical_and_integral_float_categories():
    df = pd.DataFrame({"zip": [10115, 80331, 10115]})
    pre = Preprocessor(categorical=["zip"]).fit(df)
    assert pre.feature_names_out == ["zip=10115", "zip=80331"]
    # the same codes read back as floats (a column with a gap) still match
    with pytest.warns(UserWarning, match="had none in training"):
        x = pre.transform(pd.DataFrame({"zip": [10115.0, np.nan, 80331.0]}))
    np.testing.assert_array_equal(x[:, :2], [[1, 0], [0, 0], [0, 1]])
    with pytest.raises(ValueError, match="not in the data"):
        Preprocessor(categorical=["nope"]).fit(df)


def test_json_round_trip_gives_identical_output():
    pre = Preprocessor().fit(_frame())
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(again.transform(_frame()), pre.transform(_frame()))
    assert "categorical, 2 categories (a, b), missing-value flag" in again.summary()


@pytest.mark.parametrize("bad", [None, {"type": "tabular", "version": 2, "columns": []},
                                 {"type": "tabular", "version": 1, "columns": [{"name": "a", "kind": "code"}]},
                                 {"type": "tabular", "version": 1,
                                  "columns": [{"name": "a", "kind": "numeric", "missing_flag": False,
                                               "mean": 0.0, "scale": 0.0}]}])
def test_invalid_descriptions_are_refused(bad):
    with pytest.raises(ValueError, match="invalid preprocessing"):
        Preprocessor.from_dict(bad)


def test_numpy_and_mapping_input():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert Preprocessor().fit(x).feature_names_out == ["x0", "x1"]
    pre = Preprocessor().fit({"a": np.array(["u", "v"]), "b": np.array([1, 2])})
    np.testing.assert_array_equal(pre.transform({"a": np.array(["v"]), "b": np.array([1])}), [[-1, 0, 1]])


def test_infer_task():
    assert infer_task(np.array(["a", "b", "a"])) == "classification"
    assert infer_task(np.array([True, False])) == "classification"
    assert infer_task(np.array([0, 1, 2, 1, 0, 2])) == "classification"
    assert infer_task(np.array([0.5, 1.2, 3.3])) == "regression"
    assert infer_task(datasets.load("diabetes").y) == "regression"
    assert infer_task(datasets.load("digits").y) == "classification"


def test_label_encoder_round_trip_and_unknown_labels():
    enc = LabelEncoder().fit(np.array(["dog", "cat", "dog", "emu"], dtype=object))
    assert enc.classes == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(enc.transform(["emu", "cat"]), [2, 0])
    assert enc.inverse_transform([1, 2]).tolist() == ["dog", "emu"]
    again = LabelEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    np.testing.assert_array_equal(again.transform(["dog"]), [1])
    with pytest.raises(ValueError, match=r"\['fox'\] were not seen"):
        enc.transform(["fox"])
    with pytest.raises(ValueError, match="at least two classes"):
        LabelEncoder().fit([1, 1])
    assert LabelEncoder().fit(np.array([2.0, 1.0])).classes == [1, 2]  # integral floats read as ints


def test_check_target_refuses_missing():
    with pytest.raises(ValueError, match="'price' has 1 missing"):
        check_target("price", np.array([1.0, np.nan]))


@pytest.mark.parametrize("name", datasets.NAMES)
def test_builtin_datasets(name):
    ds = datasets.load(name)
    assert ds.X.ndim == 2 and len(ds.X) == len(ds.y) == len(ds.frame())
    assert len(ds.feature_names) == ds.X.shape[1] and np.isfinite(ds.X).all()
    assert ds.task == ("regression" if name == "diabetes" else "classification")
    with pytest.raises(ValueError, match="unknown data set"):
        datasets.load("mnist")


def test_identifier_like_column_warns():
    ids = pd.DataFrame({"id": [f"row{i}" for i in range(120)], "v": np.arange(120.0)})
    with pytest.warns(UserWarning, match="'id' has 120 distinct values and looks like an identifier"):
        Preprocessor().fit(ids)


def test_no_rows_transform_to_an_empty_matrix():
    pre = Preprocessor().fit(_frame())
    x = pre.transform(_frame().head(0))
    assert x.shape == (0, len(pre.feature_names_out)) and x.dtype == np.float32
    header_only = pd.DataFrame({c: pd.Series([], dtype=object) for c in _frame().columns})  # as read from a CSV
    assert pre.transform(header_only).shape == (0, 7)


def _typo_frame(n=40, typos=("39,1", "4O.2")):
    values = [str(round(20 + 0.5 * i, 1)) for i in range(n)]
    values[3:3 + len(typos)] = typos
    return pd.DataFrame({"age": pd.Series(values, dtype=object), "city": ["x", "y"] * (n // 2)})


def test_a_numeric_column_with_a_few_typos_is_numeric_with_them_missing():
    with pytest.warns(UserWarning, match=r"column 'age': 2 of 40 values are not numbers \('39,1', '4O\.2'\); "
                                         r"the column is read as numeric.*--categorical age"):
        pre = Preprocessor().fit(_typo_frame())
    (age,) = [c for c in pre.columns if c["name"] == "age"]
    assert age["kind"] == "numeric" and age["missing_flag"]
    good = [20 + 0.5 * i for i in range(40) if i not in (3, 4)]
    assert age["mean"] == pytest.approx(np.mean(good))
    # at predict time a typo is missing too, with a warning naming it; many are an error
    with pytest.warns(UserWarning, match=r"'age': 1 of 40 values are not numbers \('2x'\); treated as missing"):
        x = pre.transform(_typo_frame(typos=("2x",)))
    assert x[3, pre.feature_names_out.index("age__missing")] == 1.0
    with pytest.raises(ValueError, match=r"'age' was numeric in training but 40 of 40 values are not numbers"):
        pre.transform(_typo_frame().assign(age="?"))


def test_text_columns_stay_text_and_typos_can_be_refused():
    mostly_text = _typo_frame(typos=("a", "b", "c", "d", "e"))  # 5 of 40: more than a tenth are not numbers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [c["kind"] for c in Preprocessor().fit(mostly_text).columns] == ["categorical", "categorical"]
        assert Preprocessor(categorical=["age"]).fit(_typo_frame()).columns[0]["kind"] == "categorical"
    with pytest.raises(ValueError, match=r"column 'age': 2 of 40 values are not numbers \('39,1', '4O\.2'\); fix"):
        Preprocessor(missing="error").fit(_typo_frame())
