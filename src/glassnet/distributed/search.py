"""Random search and successive halving that stop launching trials when a time budget is spent and report
their progress as they go.

They are scikit-learn's ``RandomizedSearchCV`` and ``HalvingRandomSearchCV`` with one change, made through
the searches' own extension point (``_run_search``): candidates are evaluated a few at a time, as many as
keep every worker busy, so that between two batches the search can look at the clock and report what it
has found. Sampling, cross-validation, scoring, ``cv_results_`` and the choice of the best candidate are
scikit-learn's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from numbers import Real
from typing import Any, ClassVar

import numpy as np
from joblib import effective_n_jobs
from sklearn.experimental import enable_halving_search_cv  # noqa: F401  (HalvingRandomSearchCV is experimental)
from sklearn.model_selection import HalvingRandomSearchCV, RandomizedSearchCV
from sklearn.utils._param_validation import Interval


class BudgetSpentError(Exception):
    """Raised between two batches of candidates once the search's time budget is spent."""


def batch_size(n_workers: int, n_splits: int) -> int:
    """Candidates per batch: the fewest whose fits (candidates × folds) fill every worker evenly."""
    return math.lcm(max(n_workers, 1), n_splits) // n_splits


class _Budgeted:
    """What both searches add to scikit-learn's: batches, a time budget and a progress report."""

    _extra_constraints: ClassVar[dict[str, list[Any]]] = {
        "time_budget": [Interval(Real, 0, None, closed="neither"), None],
        "progress": [callable, None],
    }

    def _run_search(self, evaluate_candidates: Callable, *, callback_ctx: Any = None) -> None:
        start = time.monotonic()
        batch = batch_size(effective_n_jobs(self.n_jobs), self.n_splits_)
        evaluated = 0
        self.budget_spent_ = False

        def evaluate(candidate_params: Any, cv: Any = None, more_results: dict | None = None,
                     callback_ctx: Any = None) -> dict[str, Any]:
            nonlocal evaluated
            candidates = list(candidate_params)
            results: dict[str, Any] = {}
            for first in range(0, len(candidates), batch):
                if evaluated and self.time_budget is not None and time.monotonic() - start >= self.time_budget:
                    raise BudgetSpentError
                part = slice(first, first + batch)
                more = {key: values[part] for key, values in more_results.items()} if more_results else None
                results = evaluate_candidates(candidates[part], cv, more_results=more)
                evaluated += len(candidates[part])
                if self.progress is not None:
                    self.progress(results)
            return results

        try:  # scikit-learn 1.9 passes a callback context on; older versions have none
            super()._run_search(evaluate, **({} if callback_ctx is None else {"callback_ctx": callback_ctx}))
        except BudgetSpentError:
            self.budget_spent_ = True


class RandomSearch(_Budgeted, RandomizedSearchCV):
    """scikit-learn's ``RandomizedSearchCV``, evaluating as many candidates at a time as keep the workers busy:
    it stops launching trials once ``time_budget`` seconds have passed (the trials running then finish) and calls
    ``progress(cv_results)`` after each batch (scikit-learn sends the search with every task, so ``progress``
    must pickle, cheaply). ``budget_spent_`` says whether the budget cut the search short.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {**RandomizedSearchCV._parameter_constraints,
                                                              **_Budgeted._extra_constraints}

    def __init__(self, estimator: Any, param_distributions: Any, *, n_iter: int = 10, scoring: Any = None,
                 n_jobs: int | None = None, refit: Any = True, cv: Any = None, verbose: int = 0,
                 pre_dispatch: Any = "2*n_jobs", random_state: Any = None, error_score: Any = np.nan,
                 return_train_score: bool = False, time_budget: float | None = None,
                 progress: Callable | None = None) -> None:
        super().__init__(estimator, param_distributions, n_iter=n_iter, scoring=scoring, n_jobs=n_jobs, refit=refit,
                         cv=cv, verbose=verbose, pre_dispatch=pre_dispatch, random_state=random_state,
                         error_score=error_score, return_train_score=return_train_score)
        self.time_budget = time_budget
        self.progress = progress


class HalvingSearch(_Budgeted, HalvingRandomSearchCV):
    """scikit-learn's ``HalvingRandomSearchCV`` (successive halving: every candidate gets a small resource, the
    best third three times as much, and so on), with :class:`RandomSearch`'s batches, time budget and progress.
    A budget spent mid-round leaves the best of the candidates that round evaluated.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {**HalvingRandomSearchCV._parameter_constraints,
                                                              **_Budgeted._extra_constraints}

    def __init__(self, estimator: Any, param_distributions: Any, *, n_candidates: Any = "exhaust", factor: float = 3,
                 resource: str = "n_samples", max_resources: Any = "auto", min_resources: Any = "smallest",
                 aggressive_elimination: bool = False, cv: Any = 5, scoring: Any = None, refit: Any = True,
                 error_score: Any = np.nan, return_train_score: bool = True, random_state: Any = None,
                 n_jobs: int | None = None, verbose: int = 0, time_budget: float | None = None,
                 progress: Callable | None = None) -> None:
        super().__init__(estimator, param_distributions, n_candidates=n_candidates, factor=factor, resource=resource,
                         max_resources=max_resources, min_resources=min_resources,
                         aggressive_elimination=aggressive_elimination, cv=cv, scoring=scoring, refit=refit,
                         error_score=error_score, return_train_score=return_train_score, random_state=random_state,
                         n_jobs=n_jobs, verbose=verbose)
        self.time_budget = time_budget
        self.progress = progress
