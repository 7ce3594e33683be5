"""Looking inside models and training: gradient checks (diagnosis, LR range test, explanations and attacks follow)."""

from .gradcheck import GradcheckError, gradcheck

__all__ = ["GradcheckError", "gradcheck"]
