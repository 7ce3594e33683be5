"""Running work on more than one process: hyperparameter searches on this machine's cores or an existing Dask
or Ray cluster, through joblib's backends.

``search`` holds scikit-learn's random search and successive halving with a time budget and a progress report;
``backends`` sets up where their trials run (worker processes, BLAS threads per worker, the data sent once);
``stored`` keeps a table in Ray's object store. Dask and Ray are optional (``glassnet[dask]``, ``glassnet[ray]``).
"""

from .backends import BACKENDS, Session, blas_threads_per_worker, search_backend
from .search import HalvingSearch, RandomSearch

__all__ = ["BACKENDS", "HalvingSearch", "RandomSearch", "Session", "blas_threads_per_worker", "search_backend"]
