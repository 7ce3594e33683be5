"""Looking inside models and training: gradient checks, explanations and attacks.

``explain`` (saliency, gradient × input, integrated gradients, permutation importance) and ``robust`` (FGSM,
PGD, robust accuracy, adversarial training) are ``gn.explain`` and ``gn.robust``, loaded on first use: they
need the batch helpers (and so SciPy), which ``import glassnet`` does not load.
"""

from .gradcheck import GradcheckError, gradcheck

__all__ = ["GradcheckError", "gradcheck"]
