"""Preprocessing: the pipeline the command line fits (standardization, one-hot encoding, missing values), its
first step TableColumns, labels, and the description kept by older model files."""

import json
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.cli import datasets
from glassnet.cli.preprocessing import LabelEncoder, check_target, describe, fit_preprocessor, infer_task, summary
from glassnet.estimators import TableColumns
from glassnet.io import ModelFileError
from glassnet.io.tabular_v1 import tabular_pipeline

pd = pytest.importorskip("pandas")


def _frame():
    return pd.DataFrame({"num": [1.0, 2.0, np.nan, 5.0], "cat": ["a", "b", None, "a"],
                         "flag": [True, False, True, True], "full": [0.0, 0.0, 0.0, 0.0]})


def _column(pre, x, name):
    return x[:, pre.get_feature_names_out().tolist().index(name)]


def test_standardize_one_hot_and_flags():
    pre = fit_preprocessor(_frame())
    assert pre.get_feature_names_out().tolist() == [
        "numeric__num", "numeric__flag", "numeric__full", "categorical__cat_", "categorical__cat_a",
        "categorical__cat_b", "missing__missingindicator_num"]
    x = pre.transform(_frame())
    assert x.shape == (4, 7)
    mean, std = np.mean([1, 2, 5]), np.std([1, 2, 5])
    np.testing.assert_allclose(x[:, 0], [(1 - mean) / std, (2 - mean) / std, 0.0, (5 - mean) / std], rtol=1e-12)
    np.testing.assert_array_equal(x[:, 2], 0.0)  # constant column: scale 1, not a division by zero
    np.testing.assert_array_equal(x[:, 4:6], [[1, 0], [0, 1], [0, 0], [1, 0]])
    np.testing.assert_array_equal(x[:, 3], [0, 0, 1, 0])  # a missing category is the category "": its own flag
    np.testing.assert_array_equal(x[:, 6], [0, 0, 1, 0])
    assert [(c["name"], c["kind"], c["missing_flag"]) for c in describe(pre)] == [
        ("num", "numeric", True), ("flag", "numeric", False), ("full", "numeric", False), ("cat", "categorical", True)]


def test_unknown_category_gives_zeros_and_a_warning():
    pre = fit_preprocessor(_frame())
    new = _frame().assign(cat=["c", "a", "b", "zzz"])
    with pytest.warns(UserWarning, match="not seen in training.*'cat': 2"):
        x = pre.transform(new)
    np.testing.assert_array_equal(x[:, 3:6], [[0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])


def test_missing_policy_error_names_the_columns():
    with pytest.raises(ValueError, match=r"missing values in columns \['num', 'cat'\]"):
        fit_preprocessor(_frame(), missing="error")
    pre = fit_preprocessor(_frame().dropna(), missing="error")
    with pytest.raises(ValueError, match=r"\['num'\]"):
        pre.transform(_frame().fillna({"cat": "a"}))


def test_new_missing_values_are_imputed_with_a_warning():
    pre = fit_preprocessor(_frame().dropna())
    with pytest.warns(UserWarning, match=r"columns \['num', 'cat'\], which had none in training"):
        x = pre.transform(_frame())
    assert np.isfinite(x).all()
    assert x[2, 0] == 0.0 and (x[2, 3:] == 0).all()  # the mean, standardized; no category


def test_missing_columns_and_bad_values_are_named():
    pre = fit_preprocessor(_frame())
    with pytest.raises(ValueError, match=r"lacks columns \['cat'\]"):
        pre.transform(_frame().drop(columns=["cat"]))
    with pytest.raises(ValueError, match="'num' was numeric in training"):
        pre.transform(_frame().astype({"num": object}).assign(num=["x", 1, 2, 3]))
    with pytest.raises(ValueError, match="all missing"):
        fit_preprocessor(pd.DataFrame({"a": [np.nan, np.nan]}))
    with pytest.raises(ValueError, match="infinite"):
        fit_preprocessor(pd.DataFrame({"a": [1.0, np.inf]}))
    with pytest.raises(ValueError, match="duplicate column names"):
        pre.transform(pd.concat([_frame(), _frame()[["cat"]]], axis=1))


def test_forced_categorical_and_integral_float_categories():
    df = pd.DataFrame({"zip": [10115, 80331, 10115]})
    pre = fit_preprocessor(df, categorical=["zip"])
    assert pre.get_feature_names_out().tolist() == ["categorical__zip_10115", "categorical__zip_80331"]
    # the same codes read back as floats (a column with a gap) still match
    with pytest.warns(UserWarning, match="had none in training"):
        x = pre.transform(pd.DataFrame({"zip": [10115.0, np.nan, 80331.0]}))
    np.testing.assert_array_equal(x, [[1, 0], [0, 0], [0, 1]])
    with pytest.raises(ValueError, match="not in the data"):
        fit_preprocessor(df, categorical=["nope"])


def test_model_file_round_trip_gives_identical_output(tmp_path):
    pre = fit_preprocessor(_frame())
    again = gn.load(gn.save(pre, tmp_path / "pre.safetensors"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(again.transform(_frame()), pre.transform(_frame()))
    assert "cat: categorical, 2 categories (a, b), missing-value flag" in summary(again)
    assert "num: numeric, mean 2.667, scale 1.7, missing-value flag" in summary(again)


def _tabular_v1(**change):
    columns = [{"name": "a", "kind": "numeric", "missing_flag": True, "mean": 1.0, "scale": 2.0},
               {"name": "c", "kind": "categorical", "missing_flag": True, "categories": ["u", "v"]},
               {"name": "b", "kind": "numeric", "missing_flag": False, "mean": -1.0, "scale": 0.5}]
    return {"type": "tabular", "version": 1, "missing": "impute", "columns": columns, **change}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_old_descriptions_become_the_pipeline_they_describe():
    est = gn.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(np.zeros((4, 6)), np.ones(4))
    pipe = tabular_pipeline(est, {"preprocessing": _tabular_v1()})
    table = pd.DataFrame({"a": [3.0, np.nan], "b": [0.0, 1.0], "c": ["v", None]})
    # the old layout: the numbers in column order, the one-hot block, then the flags in column order
    np.testing.assert_array_equal(pipe[:-1].transform(table), [[1.0, 2.0, 0, 1, 0, 0], [0.0, 4.0, 0, 0, 1, 1]])
    assert summary(pipe).splitlines()[0] == "a: numeric, mean 1, scale 2, missing-value flag"


@pytest.mark.parametrize("bad", [{"version": 2}, {"columns": []}, {"columns": [{"name": "a", "kind": "code"}]},
                                 {"columns": [{"name": "a", "kind": "numeric", "missing_flag": False,
                                               "mean": 0.0, "scale": 0.0}]}])
def test_invalid_descriptions_are_refused(bad):
    with pytest.raises(ModelFileError, match="invalid preprocessing"):
        tabular_pipeline(None, {"preprocessing": _tabular_v1(**bad)})


def test_numpy_and_mapping_input():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert fit_preprocessor(x).get_feature_names_out().tolist() == ["numeric__x0", "numeric__x1"]
    pre = fit_preprocessor({"a": np.array(["u", "v"]), "b": np.array([1, 2])})
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
        fit_preprocessor(ids)


def test_no_rows_are_read_and_checked_like_any_others():
    table = fit_preprocessor(_frame())[0]
    assert table.transform(_frame().head(0)).shape == (0, 4)
    header_only = pd.DataFrame({c: pd.Series([], dtype=object) for c in _frame().columns})  # as read from a CSV
    assert list(table.transform(header_only).columns) == ["num", "flag", "full", "cat"]
    with pytest.raises(ValueError, match=r"lacks columns \['cat'\]"):
        table.transform(header_only.drop(columns=["cat"]))


def _typo_frame(n=40, typos=("39,1", "4O.2")):
    values = [str(round(20 + 0.5 * i, 1)) for i in range(n)]
    values[3:3 + len(typos)] = typos
    return pd.DataFrame({"age": pd.Series(values, dtype=object), "city": ["x", "y"] * (n // 2)})


def test_a_numeric_column_with_a_few_typos_is_numeric_with_them_missing():
    with pytest.warns(UserWarning, match=r"column 'age': 2 of 40 values are not numbers \('39,1', '4O\.2'\); "
                                         r"the column is read as numeric.*--categorical age"):
        pre = fit_preprocessor(_typo_frame())
    (age,) = [c for c in describe(pre) if c["name"] == "age"]
    assert age["kind"] == "numeric" and age["missing_flag"]
    good = [20 + 0.5 * i for i in range(40) if i not in (3, 4)]
    assert age["mean"] == pytest.approx(np.mean(good))
    # at predict time a typo is missing too, with a warning naming it; many are an error
    with pytest.warns(UserWarning, match=r"'age': 1 of 40 values are not numbers \('2x'\); treated as missing"):
        x = pre.transform(_typo_frame(typos=("2x",)))
    assert _column(pre, x, "missing__missingindicator_age")[3] == 1.0
    with pytest.raises(ValueError, match=r"'age' was numeric in training but 40 of 40 values are not numbers"):
        pre.transform(_typo_frame().assign(age="?"))


def test_text_columns_stay_text_and_typos_can_be_refused():
    mostly_text = _typo_frame(typos=("a", "b", "c", "d", "e"))  # 5 of 40: more than a tenth are not numbers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [c["kind"] for c in describe(fit_preprocessor(mostly_text))] == ["categorical", "categorical"]
        assert describe(fit_preprocessor(_typo_frame(), categorical=["age"]))[0]["kind"] == "categorical"
    with pytest.raises(ValueError, match=r"column 'age': 2 of 40 values are not numbers \('39,1', '4O\.2'\); fix"):
        fit_preprocessor(_typo_frame(), missing="error")


def test_table_columns_is_a_scikit_learn_transformer():
    from sklearn.base import clone

    table = TableColumns(["num"], ["cat"]).fit(_frame())
    assert table.categories_ == {"cat": ["a", "b"]} and table.missing_in_fit_ == ["num", "cat"]
    assert table.get_feature_names_out().tolist() == ["num", "cat"]
    out = table.transform(_frame())
    assert out["cat"].tolist() == ["a", "b", "", "a"] and np.isnan(out["num"][2])
    assert clone(table).get_params() == {"numeric": ["num"], "categorical": ["cat"], "missing": "impute"}
    with pytest.raises(ValueError, match="missing"):
        TableColumns(["num"], [], missing="drop").fit(_frame())
