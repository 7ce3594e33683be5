"""Fitted MLPClassifier/MLPRegressor in model files: constructor parameters and fitted attributes.

Only glassnet's own estimator classes can be built, only with parameters their constructor knows
(validated as ``fit`` would), and only with the fitted attributes the class declares. A classifier the command
line fitted on label indices is given the labels as its classes (:func:`name_classes`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .file_format import ModelFileError
from .plain_data import Encoder, decode


def estimator_classes() -> dict[str, type]:
    """glassnet's estimator classes by name: the only classes an estimator file may name."""
    import glassnet

    return {name: getattr(glassnet, name) for name in ("MLPClassifier", "MLPRegressor") if hasattr(glassnet, name)}


def is_estimator(obj: Any) -> bool:
    """True for an instance of one of glassnet's estimator classes."""
    return type(obj) in estimator_classes().values()


def _fitted_names(cls: type) -> tuple[str, ...]:
    """Every fitted attribute a file may hold: the required ones, then those set only by some fits."""
    return tuple(cls._fitted_attributes) + tuple(getattr(cls, "_optional_fitted_attributes", ()))


def estimator_content(est: Any, enc: Encoder, prefix: str = "") -> dict[str, Any]:
    """JSON content of a fitted estimator: its parameters and fitted attributes (arrays go to ``enc``, their
    names after ``prefix``)."""
    n_tensors = len(enc.tensors)
    params = enc.encode(est.get_params(deep=False), f"{prefix}params")
    if len(enc.tensors) > n_tensors:
        raise TypeError("estimator parameters must be plain values, not arrays")
    fitted = {name: getattr(est, name) for name in _fitted_names(type(est)) if hasattr(est, name)}
    return {"params": params, "fitted": enc.encode(fitted, prefix.rstrip("."))}


def new_estimator(cls_name: Any, params: Any) -> Any:
    """An unfitted estimator of class ``cls_name`` with ``params``, validated; ModelFileError otherwise."""
    classes = estimator_classes()
    if cls_name not in classes:
        raise ModelFileError(f"unknown estimator class {cls_name!r}; expected one of {sorted(classes)}")
    cls = classes[cls_name]
    if not isinstance(params, dict):
        raise ModelFileError("estimator parameters are not a mapping")
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ModelFileError(f"unknown {cls_name} parameters in model file: {unknown}")
    est = cls(**params)
    try:
        est._validate_params()
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"invalid {cls_name} parameters in model file: {e}") from e
    return est


def restore_estimator(cls_name: Any, content: dict[str, Any], tensors: dict[str, np.ndarray]) -> Any:
    """The fitted estimator an estimator file describes, its network rebuilt from the fitted weights."""
    est = new_estimator(cls_name, decode(content.get("params"), tensors))
    fitted = decode(content.get("fitted"), tensors)
    allowed = set(_fitted_names(type(est)))
    if not isinstance(fitted, dict) or not set(fitted) <= allowed:
        extra = sorted(set(fitted) - allowed) if isinstance(fitted, dict) else fitted
        raise ModelFileError(f"unexpected fitted attributes in model file: {extra}")
    missing = sorted(set(type(est)._fitted_attributes) - set(fitted))
    if missing:
        raise ModelFileError(f"model file lacks fitted attributes {missing}")
    for name, value in fitted.items():
        setattr(est, name, value)
    if est.device != "cpu":
        try:
            est._namespace()
        except ImportError:  # trained on a GPU, loaded where there is none: the weights are host arrays
            warnings.warn(f"the model was saved with device={est.device!r}, but CuPy is not available here; "
                          "it is loaded with device='cpu'", RuntimeWarning, stacklevel=4)
            est.device = "cpu"
    try:
        est._restore_module()
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise ModelFileError(f"model file is inconsistent: {e}") from e
    return est


def fractional(labels: list[Any]) -> bool:
    """True when some label is a fractional number: scikit-learn's classifiers refuse those as classes, so a
    classifier of such labels keeps label indices as its classes."""
    return any(isinstance(v, float) and not v.is_integer() for v in labels)


def name_classes(est: Any, labels: list[Any]) -> None:
    """Give a classifier fitted on label indices 0..K-1 the labels themselves as classes, so it predicts them.

    Labels of mixed kinds (numbers and text) become text, sorted as the command line sorts them; fractional
    numbers leave the classes as they are (see :func:`fractional`).
    """
    if fractional(labels):
        return
    if len({type(v) for v in labels}) > 1:
        labels = [str(v) for v in labels]
    try:
        classes = np.asarray(labels)[np.asarray(est.classes_, dtype=np.int64)]
    except (IndexError, ValueError, TypeError) as e:
        raise ModelFileError(f"the model's classes {est.classes_!r} are not indices of its labels {labels!r}") from e
    if classes.tolist() != sorted(classes.tolist()) or len(set(classes.tolist())) != len(classes):
        raise ModelFileError(f"the labels {labels!r} are not distinct and sorted")
    est.classes_ = classes
    est._restore_module()  # its label binarizer now maps outputs to the labels
