"""scikit-learn pipelines in model files: round trips of every allowed transformer, a pipeline on a raw table
ending in a glassnet estimator, and refusal of functions and of types a file names that glassnet does not load."""

import json
import warnings

import numpy as np
import pytest
from sklearn import compose, impute, pipeline, preprocessing

import glassnet as gn
from glassnet import io
from glassnet.io import ModelFileError
from glassnet.io.pipelines import allowed_classes
from test_io import _rewrite_meta

pd = pytest.importorskip("pandas")
pytestmark = [pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
              pytest.mark.filterwarnings("ignore:For backward compatibility, 'str' dtypes")]  # pandas 3, object columns


def _x():
    x = np.random.default_rng(0).normal(size=(40, 3))
    x[[2, 7], 1] = np.nan
    return x


def _table(n=60):
    rng = np.random.default_rng(1)
    a = rng.normal(size=n)
    a[::9] = np.nan
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    color[::7] = None
    return pd.DataFrame({"a": a, "b": rng.uniform(0, 10, n), "color": color, "size": rng.choice(["S", "M"], n)})


NUMERIC = [preprocessing.StandardScaler(), preprocessing.MinMaxScaler(), preprocessing.MaxAbsScaler(),
           preprocessing.RobustScaler(), preprocessing.Normalizer(), preprocessing.Binarizer(),
           preprocessing.PolynomialFeatures(2), preprocessing.QuantileTransformer(n_quantiles=10),
           preprocessing.PowerTransformer(), preprocessing.OrdinalEncoder(), preprocessing.OneHotEncoder()]


@pytest.mark.parametrize("transformer", NUMERIC, ids=lambda t: type(t).__name__)
def test_every_allowed_transformer_round_trips(tmp_path, transformer):
    x = np.nan_to_num(_x()).round(0)  # few values: the encoders make few categories
    transformer.fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = gn.load(gn.save(transformer, tmp_path / "t.safetensors"))
    assert type(loaded) is type(transformer) and repr(loaded.get_params()) == repr(transformer.get_params())
    out, expected = loaded.transform(x), transformer.transform(x)
    np.testing.assert_array_equal(out.toarray() if hasattr(out, "toarray") else out,
                                  expected.toarray() if hasattr(expected, "toarray") else expected)


def test_imputers_with_their_indicators_round_trip(tmp_path):
    union = pipeline.FeatureUnion([("mean", impute.SimpleImputer(add_indicator=True)),
                                   ("flags", impute.MissingIndicator(features="all"))]).fit(_x())
    loaded = gn.load(gn.save(union, tmp_path / "u.safetensors"))
    np.testing.assert_array_equal(loaded.transform(_x()), union.transform(_x()))
    assert type(loaded.transformer_list[0][1].indicator_) is impute.MissingIndicator


def _table_pipeline(est):
    features = compose.ColumnTransformer([
        ("numbers", pipeline.make_pipeline(impute.SimpleImputer(), preprocessing.StandardScaler()), ["a", "b"]),
        ("texts", pipeline.make_pipeline(impute.SimpleImputer(strategy="constant", fill_value="?"),
                                         preprocessing.OneHotEncoder(handle_unknown="ignore")),
         compose.make_column_selector(dtype_include=object))])
    return pipeline.Pipeline([("features", features), ("mlp", est)])


@pytest.mark.parametrize("est", [gn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0),
                                 gn.MLPRegressor(hidden_layer_sizes=(5,), max_iter=20, random_state=0)],
                         ids=["classifier", "regressor"])
def test_a_pipeline_on_a_raw_table_ending_in_an_estimator_round_trips(tmp_path, est):
    table = _table()
    y = np.where(table["b"] > 5, "big", "small") if hasattr(est, "predict_proba") else table["b"] * 2
    model = _table_pipeline(est).fit(table, y)
    path = gn.save(model, tmp_path / "p.safetensors", metadata={"note": "raw table"})
    loaded, meta = io.load_with_metadata(path)
    assert meta["class"] == "Pipeline" and meta["note"] == "raw table"
    assert meta["architecture"]["sizes"] == [8, 5, 1]  # a, b, four colours ("?" for missing), two sizes
    np.testing.assert_array_equal(loaded.predict(table), model.predict(table))
    if hasattr(est, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(table), model.predict_proba(table))
        assert loaded.predict(table.head(3)).tolist() == model.predict(table.head(3)).tolist()
    assert loaded[-1].n_iter_ == model[-1].n_iter_ and loaded.feature_names_in_.tolist() == list(table.columns)


def test_functions_and_unknown_classes_are_refused_with_their_names(tmp_path):
    with_function = pipeline.make_pipeline(preprocessing.FunctionTransformer(np.log1p), preprocessing.StandardScaler())
    with_function.fit(np.abs(_x()))
    with pytest.raises(TypeError, match=r"cannot save a FunctionTransformer with a function \(at steps\.0\.1\) "
                                        r"\(func=<ufunc 'log1p'>\)"):
        gn.save(with_function, tmp_path / "f.safetensors")
    odd = pipeline.make_pipeline(preprocessing.SplineTransformer()).fit(_x()[:, :1] * 0 + np.arange(40)[:, None])
    with pytest.raises(TypeError, match=r"cannot save sklearn\.preprocessing\._polynomial\.SplineTransformer "
                                        r"\(at steps\.0\.1\): glassnet's model files hold only these"):
        gn.save(odd, tmp_path / "s.safetensors")
    scaler = preprocessing.StandardScaler().fit(_x())
    scaler.hook = print  # a function hidden in a transformer's state
    with pytest.raises(TypeError, match=r"cannot save builtins\.builtin_function_or_method \(at hook\)"):
        gn.save(scaler, tmp_path / "h.safetensors")
    with pytest.raises(ValueError, match="not fitted"):
        gn.save(pipeline.make_pipeline(preprocessing.StandardScaler()), tmp_path / "u.safetensors")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["object"].update({"$object": "builtins.eval"}), r"names the type 'builtins\.eval', which glassnet "
                                                                  "does not load"),
    (lambda c: c["object"]["state"]["steps"][0]["$tuple"][1].update({"$object": "os.system"}), "'os.system'"),
    (lambda c: c["object"]["state"].update(__class__="x"), "malformed state of a sklearn.pipeline.Pipeline"),
    (lambda c: c["object"]["state"]["steps"][0]["$tuple"][1].update(
        {"$object": "sklearn.preprocessing.FunctionTransformer", "state": {"func": {"$type": "str"}}}),
     "gives a FunctionTransformer a function"),
    (lambda c: c["object"]["state"]["steps"][0]["$tuple"][1]["state"].update(with_mean="yes"),
     "invalid sklearn.preprocessing.StandardScaler parameters"),
    (lambda c: c["object"]["state"]["steps"][0]["$tuple"][1]["state"].update(mean_={"$array": "nope"}),
     "does not contain"),
    (lambda c: c["object"]["state"]["steps"][0]["$tuple"][1]["state"].update(dtype_={"$dtype": "V8"}),
     "malformed metadata"),
])
def test_files_naming_what_glassnet_does_not_load_are_refused(tmp_path, edit, message):
    path = gn.save(pipeline.make_pipeline(preprocessing.StandardScaler()).fit(_x()), tmp_path / "p.safetensors")
    _rewrite_meta(path, lambda meta: edit(meta["content"]))
    with pytest.raises(ModelFileError, match=message):
        gn.load(path)


def test_a_pipeline_from_another_scikit_learn_version_warns(tmp_path):
    path = gn.save(preprocessing.StandardScaler().fit(_x()), tmp_path / "s.safetensors")
    _rewrite_meta(path, lambda meta: meta["content"].update(sklearn_version="0.24.0"))
    with pytest.warns(UserWarning, match=r"saved with scikit-learn 0\.24\.0"):
        gn.load(path)


def test_the_allow_list_names_public_classes_that_exist():
    for name, cls in allowed_classes().items():
        module, _, attr = name.rpartition(".")
        assert getattr(__import__(module, fromlist=[attr]), attr) is cls


def test_types_and_dtypes_in_a_state_are_named_not_pickled(tmp_path):
    selector = compose.make_column_selector(dtype_include=[np.number, object], dtype_exclude=bool)
    texts = np.array([["a"], ["b"]], dtype=object)
    encoder = preprocessing.OneHotEncoder(dtype=np.float32).fit(texts)
    imputer = impute.SimpleImputer(strategy="most_frequent").fit(texts)  # its state holds the dtype it saw
    path = gn.save(pipeline.FeatureUnion([("e", encoder), ("i", imputer)]), tmp_path / "e.safetensors")
    content = json.dumps(io.read_file(path)[1]["content"])
    assert '{"$scalar_type": "<f4"}' in content and '{"$dtype": "|O"}' in content
    assert gn.load(path).transformer_list[0][1].dtype is np.float32
    ct = compose.ColumnTransformer([("s", "passthrough", selector)]).fit(_table()[["a", "b", "color"]])
    assert type(ct.transformers_[0][1]) is preprocessing.FunctionTransformer  # the identity, for "passthrough"
    loaded = gn.load(gn.save(ct, tmp_path / "c.safetensors")).transformers[0][2]
    assert loaded.dtype_include == [np.number, object] and loaded.dtype_exclude is bool
