"""Looking inside models and training: gradient checks, diagnoses of failed training, the learning-rate range test,
explanations and attacks.

``diagnose`` and ``lr_find`` are loaded on first use (the range test needs the fit loop, which needs SciPy), and
so are ``explain`` (saliency, gradient × input, integrated gradients, permutation importance) and ``robust``
(FGSM, PGD, robust accuracy, adversarial training), ``gn.explain`` and ``gn.robust``: they need the batch
helpers (and so SciPy), which ``import glassnet`` does not load.
"""

import importlib

from .gradcheck import GradcheckError, gradcheck

_LAZY = {"diagnose": "diagnosis", "Finding": "diagnosis", "lr_find": "lr_finder", "LRFinderResult": "lr_finder"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'glassnet.inspect' has no attribute {name!r}")


__all__ = ["Finding", "GradcheckError", "LRFinderResult", "diagnose", "gradcheck", "lr_find"]
