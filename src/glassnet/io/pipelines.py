"""scikit-learn pipelines in model files: Pipeline, ColumnTransformer and the common transformers, without pickle.

Each transformer is stored as its class's public name (``sklearn.preprocessing.StandardScaler``) and its state,
the attributes pickle would store, every value plain data (numbers, strings, arrays, lists, dicts, slices,
dtypes) or another stored object; glassnet's estimators keep their own content (parameters and fitted weights).
Loading builds only the classes of :func:`allowed_classes`, so a file cannot name code to run: anything else is
refused with its name, and so is a transformer that holds a function (a FunctionTransformer is stored only
as the identity, which a fitted ColumnTransformer uses for "passthrough").
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .estimators import estimator_classes, estimator_content, restore_estimator
from .file_format import ModelFileError
from .plain_data import Encoder, decode


def allowed_classes() -> dict[str, type]:
    """The classes a pipeline file may name, by public name: scikit-learn's common transformers and glassnet's."""
    from sklearn import compose, impute, pipeline, preprocessing

    from ..estimators import TableColumns

    public = {
        "sklearn.pipeline": [pipeline.Pipeline, pipeline.FeatureUnion],
        "sklearn.compose": [compose.ColumnTransformer, compose.make_column_selector],
        "sklearn.impute": [impute.SimpleImputer, impute.MissingIndicator],
        "sklearn.preprocessing": [preprocessing.StandardScaler, preprocessing.MinMaxScaler, preprocessing.MaxAbsScaler,
                                  preprocessing.RobustScaler, preprocessing.Normalizer, preprocessing.Binarizer,
                                  preprocessing.PolynomialFeatures, preprocessing.QuantileTransformer,
                                  preprocessing.PowerTransformer, preprocessing.OneHotEncoder,
                                  preprocessing.OrdinalEncoder,
                                  preprocessing.FunctionTransformer],  # without functions: see _functions
        "glassnet.estimators": [TableColumns],
    }
    return {f"{module}.{cls.__name__}": cls for module, classes in public.items() for cls in classes}


def _functions(obj: Any) -> list[str]:
    """The functions a FunctionTransformer holds: none is allowed (a file holds no code), which leaves the identity
    that a fitted ColumnTransformer puts in place of "passthrough"."""
    if type(obj).__name__ != "FunctionTransformer":
        return []
    held = {name: getattr(obj, name, None) for name in ("func", "inverse_func")}
    return [f"{name}={f!r}" for name, f in held.items() if f is not None]


def is_pipeline(obj: Any) -> bool:
    """True for an instance of one of the scikit-learn classes a pipeline file can hold."""
    return type(obj) in allowed_classes().values()


def final_estimator(obj: Any) -> Any:
    """The glassnet estimator a pipeline ends in (the object itself when it is not a pipeline), or None."""
    while hasattr(obj, "steps"):
        obj = obj.steps[-1][1]
    return obj if type(obj) in estimator_classes().values() else None


def pipeline_content(obj: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON content, tensors) of a fitted pipeline or transformer; TypeError names what cannot be stored."""
    import sklearn

    enc = Encoder(objects=_encode_object)
    return {"object": _encode_object(obj, "", enc), "sklearn_version": sklearn.__version__}, enc.tensors


def _encode_object(obj: Any, path: str, enc: Encoder) -> dict[str, Any]:
    where = f" (at {path.lstrip('.')})" if path else ""
    if type(obj) in estimator_classes().values():
        if not hasattr(obj, "module_"):
            raise ValueError(f"{type(obj).__name__}{where} is not fitted yet; fit the pipeline before saving it")
        return {"$object": f"glassnet.{type(obj).__name__}", **estimator_content(obj, enc, f"{path}.")}
    names = {cls: name for name, cls in allowed_classes().items()}
    if type(obj) not in names:
        raise TypeError(f"cannot save {type(obj).__module__}.{type(obj).__qualname__}{where}: glassnet's model files "
                        f"hold only these scikit-learn and glassnet classes: {sorted(names.values())}")
    if _functions(obj):
        raise TypeError(f"cannot save a FunctionTransformer with a function{where} ({', '.join(_functions(obj))}): "
                        "a model file holds no code")
    state = obj.__getstate__() if hasattr(obj, "__getstate__") else vars(obj)
    state = {k: v for k, v in (state or {}).items() if k != "_sklearn_version"}
    return {"$object": names[type(obj)], "state": enc.encode(state, path)}


def restore_pipeline(content: dict[str, Any], tensors: dict[str, np.ndarray]) -> Any:
    """The pipeline or transformer a pipeline file's ``content`` describes, built from allowed classes only."""
    import sklearn

    saved = content.get("sklearn_version")
    if saved != sklearn.__version__:
        warnings.warn(f"the pipeline was saved with scikit-learn {saved}, this is {sklearn.__version__}; "
                      "check its predictions", UserWarning, stacklevel=4)
    return decode(content.get("object"), tensors, objects=lambda node, tree: _build_object(node, tree, tensors))


def _build_object(node: dict[str, Any], tree: Any, tensors: dict[str, np.ndarray]) -> Any:
    name = node["$object"]
    if isinstance(name, str) and name.startswith("glassnet.") and name[9:] in estimator_classes():
        return restore_estimator(name[9:], node, tensors)
    classes = allowed_classes()
    if name not in classes:
        raise ModelFileError(f"the model file names the type {name!r}, which glassnet does not load; "
                             f"it loads only {sorted(classes)}")
    state = tree(node.get("state"))
    if not isinstance(state, dict) or not all(isinstance(k, str) and k.isidentifier() and not k.startswith("__")
                                              for k in state):
        raise ModelFileError(f"malformed state of a {name} in the model file")
    obj = classes[name].__new__(classes[name])
    if hasattr(obj, "__setstate__"):  # scikit-learn's: the versions were compared once, for the whole file
        obj.__setstate__({**state, "_sklearn_version": _sklearn_version()})
    else:
        vars(obj).update(state)
    if _functions(obj):
        raise ModelFileError(f"the model file gives a FunctionTransformer a function ({', '.join(_functions(obj))})")
    if hasattr(type(obj), "_parameter_constraints"):
        try:
            obj._validate_params()
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"invalid {name} parameters in the model file: {e}") from e
    return obj


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__
