"""Hyperparameter search: scikit-learn's searches in batches with a time budget (glassnet.distributed), where
their trials run (loky with BLAS threads per worker, Dask, Ray), the search space and settings of
``glassnet tune``, its leaderboard, and the command itself (slow): better than the defaults, the same leaderboard
whatever the number of workers or the backend."""

import csv
import importlib.util
import json
import sys
import warnings

import numpy as np
import pytest
from sklearn.model_selection import RandomizedSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline

import glassnet as gn
from glassnet.distributed import HalvingSearch, RandomSearch, blas_threads_per_worker, search_backend
from glassnet.distributed.search import batch_size

pd = pytest.importorskip("pandas")
from glassnet.cli import main  # noqa: E402
from glassnet.cli.errors import UsageError  # noqa: E402
from glassnet.cli.settings import MLPRegressor, RunSettings  # noqa: E402
from glassnet.cli.tuning import (  # noqa: E402
    DEFAULT_SPACE,
    TuneSettings,
    cv_splitter,
    leaderboard,
    leaderboard_csv,
    leaderboard_text,
    parse_duration,
    search_pipeline,
    search_space,
)

SPACE = {"learning_rate_init": [1e-3, 1e-2, 3e-2], "hidden_layer_sizes": [(4,), (8,)]}


def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32), y


def small_search(cls=RandomSearch, **kwargs):
    """A search of a few candidates on iris, 3 folds, a few epochs each."""
    space = {f"model__{k}": v for k, v in SPACE.items()}
    pipe = Pipeline([("model", gn.MLPClassifier(max_iter=5, random_state=0))])
    budget = {"n_iter": 4} if cls is RandomSearch else {"resource": "model__max_iter", "max_resources": 9,
                                                         "min_resources": "exhaust", "n_candidates": 6}
    return cls(pipe, space, cv=StratifiedKFold(3, shuffle=True, random_state=0), random_state=0, refit=False,
               **{**budget, **kwargs})


def fit(search):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return search.fit(*iris())


# ---------------------------------------------------------------- the searches

def test_batches_fill_every_worker_evenly():
    assert batch_size(1, 3) == 1
    assert batch_size(2, 3) == 2  # 6 fits on 2 workers
    assert batch_size(4, 2) == 2
    assert batch_size(16, 5) == 16
    assert all(batch_size(w, k) * k % w == 0 for w in range(1, 9) for k in range(2, 7))


def test_random_search_in_batches_is_scikit_learns():
    ours = fit(small_search())
    theirs = small_search().get_params(deep=False)
    del theirs["time_budget"], theirs["progress"]
    theirs = fit(RandomizedSearchCV(**theirs))
    assert ours.cv_results_["params"] == theirs.cv_results_["params"]
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])
    assert ours.budget_spent_ is False


def test_progress_is_reported_after_every_batch():
    seen = []
    fit(small_search(progress=lambda results: seen.append(len(results["params"]))))
    assert seen == [1, 2, 3, 4]  # one worker: one candidate a batch


def test_time_budget_stops_launching_trials():
    search = fit(small_search(n_iter=10, time_budget=1e-9))
    assert search.budget_spent_ is True
    assert len(search.cv_results_["params"]) == 1  # the first batch always runs: there is something to choose
    assert search.best_params_ == search.cv_results_["params"][0]


def test_halving_gives_the_best_candidates_more_epochs_and_keeps_its_budget():
    search = fit(small_search(HalvingSearch))
    assert search.n_resources_ == [3, 9] and search.n_candidates_ == [6, 2]
    assert search.cv_results_["params"][search.best_index_]["model__max_iter"] == 9
    cut = fit(small_search(HalvingSearch, time_budget=1e-9))
    assert cut.budget_spent_ is True and len(cut.cv_results_["params"]) == 1


def test_search_parameters_are_checked():
    with pytest.raises(ValueError, match="time_budget"):
        fit(small_search(time_budget=-1))


# ---------------------------------------------------------------- backends

def test_blas_threads_share_out_the_cores():
    from joblib import cpu_count

    assert blas_threads_per_worker(1) == cpu_count()
    assert blas_threads_per_worker(cpu_count() * 2) == 1
    assert blas_threads_per_worker(2, 3) == 3


def test_backend_mistakes_are_named():
    X, y = iris()
    with pytest.raises(ValueError, match="unknown backend 'spark'"), search_backend("spark", X=X, y=y):
        pass
    with pytest.raises(ValueError, match="dask and ray backends"), search_backend("loky", X=X, y=y, address="x:1"):
        pass
    with pytest.raises(ValueError, match="one per task slot"), search_backend("dask", X=X, y=y, blas_threads=2):
        pass


@pytest.mark.parametrize("module, extra", [("distributed", "dask"), ("ray", "ray")])
def test_a_missing_engine_says_which_extra_to_install(monkeypatch, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if it were not installed
    X, y = iris()
    with pytest.raises(ImportError, match=rf"pip install 'glassnet\[{extra}\]'"), \
            search_backend(extra, X=X, y=y, address="127.0.0.1:1"):
        pass


def _blas_threads():
    from threadpoolctl import threadpool_info

    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


@pytest.mark.slow
def test_loky_workers_never_oversubscribe_the_cores():
    from joblib import Parallel, cpu_count, delayed

    X, y = iris()
    with search_backend("loky", X=X, y=y, n_jobs=2) as session:
        threads = Parallel()(delayed(_blas_threads)() for _ in range(4))
    assert session.n_workers == 2 and session.blas_threads == max(1, cpu_count() // 2)
    assert set(threads) == {session.blas_threads}
    with search_backend("loky", X=X, y=y, n_jobs=1, blas_threads=1):  # alone, in this process
        assert _blas_threads() == 1


# ---------------------------------------------------------------- glassnet tune's settings and space

def args(**given):
    import argparse

    return argparse.Namespace(**{name: None for name in ("trials", "cv", "halving", "time_budget", "n_jobs",
                                                          "backend", "scheduler", "blas_threads")} | given)


def test_tune_settings_come_from_defaults_then_config_then_command_line():
    tune = TuneSettings.resolve(args(trials=7), {"trials": 50, "cv": 5, "time-budget": "2m", "address": "h:1",
                                                 "backend": "dask"}, "tune.toml")
    assert (tune.trials, tune.cv, tune.time_budget, tune.scheduler, tune.backend) == (7, 5, 120.0, "h:1", "dask")
    assert TuneSettings.resolve(args(), {}, "").trials == 20


@pytest.mark.parametrize("given, table, message", [
    ({"trials": 0}, {}, "--trials must be a whole number of at least 1, got 0"),
    ({"cv": 1}, {}, "--cv must be a whole number of folds, at least 2"),
    ({"n_jobs": 0}, {}, "--n-jobs must be a whole number of workers"),
    ({}, {"cv": "3"}, "cv in [search] of tune.toml must be"),
    ({}, {"trails": 5}, "unknown setting 'trails' in [search] of tune.toml; did you mean 'trials'?"),
    ({}, {"time_budget": "soon"}, "time_budget in [search] of tune.toml must be seconds"),
    ({"scheduler": "tcp://h:8786"}, {}, "--scheduler needs --backend dask or ray"),
    ({"backend": "ray", "blas_threads": 2}, {}, "--blas-threads applies to --backend loky"),
])
def test_tune_settings_mistakes_name_the_option(given, table, message):
    with pytest.raises(UsageError) as e:
        TuneSettings.resolve(args(**given), table, "tune.toml")
    assert message in str(e.value)


def test_durations():
    assert [parse_duration(t) for t in ("90", "90s", "1.5m", "2h", ".5")] == [90, 90, 90, 7200, 0.5]


def test_space_leaves_out_fixed_settings_and_takes_the_config_files():
    fixed = RunSettings(estimator={"learning_rate_init": 0.01}, labels={"learning_rate_init": "--lr"})
    space = search_space(fixed, {"epochs": {"integers": [10, 50]}, "dropout": [0.0, 0.1]}, "tune.toml", MLPRegressor)
    assert "learning_rate_init" not in space and space["max_iter"] == {"integers": [10, 50]}
    assert space["dropout"] == [0.0, 0.1] and space["alpha"] == DEFAULT_SPACE["alpha"]


@pytest.mark.parametrize("overrides, message", [
    ({"lr": [0.1]}, "learning_rate_init is both fixed (--lr) and searched (lr in [search.space] of tune.toml)"),
    ({"dropout": 0.2}, "dropout in [search.space] of tune.toml: give a list of values"),
    ({"alpha": {"loguniform": [0, 1]}}, "(0 < low < high)"),
    ({"dropout": {"uniform": [0.0, 1.5]}}, "dropout in [search.space] of tune.toml"),
    ({"solver": ["adam", "adamm"]}, "solver in [search.space] of tune.toml must be a str among"),
    ({"colour": ["red"]}, "unknown estimator setting(s) ['colour']"),
])
def test_space_mistakes_are_named(overrides, message):
    fixed = RunSettings(estimator={"learning_rate_init": 0.01}, labels={"learning_rate_init": "--lr"})
    with pytest.raises(UsageError) as e:
        search_space(fixed, overrides, "tune.toml", MLPRegressor)
    assert message in str(e.value)


def test_each_fold_fits_its_own_preprocessing():
    from glassnet.cli.jobs import make_estimator, prepare

    settings = RunSettings(dataset="iris")
    job, _ = prepare(settings)
    fold = job.train_frame.iloc[:40]
    pipeline = search_pipeline(job, make_estimator(job, settings))
    assert [name for name, _ in pipeline.steps] == ["columns", "features", "model"]
    scaler = pipeline[:-1].fit(fold).named_steps["features"].named_transformers_["numeric"]["scale"]
    np.testing.assert_allclose(scaler.mean_, fold.mean().to_numpy())  # the fold's means, not the whole table's
    assert not np.allclose(scaler.mean_, job.train_frame.mean().to_numpy())


def test_leaderboard_best_first_with_every_fold():
    results = {"params": [{"model__alpha": 0.1}, {"model__alpha": 0.2}, {"model__alpha": 0.3}],
               "mean_test_score": [0.5, np.nan, 0.9], "std_test_score": [0.1, np.nan, 0.0],
               "split0_test_score": [0.4, np.nan, 0.9], "split1_test_score": [0.6, np.nan, 0.9],
               "mean_fit_time": [1.0, 2.0, 3.0]}
    rows = leaderboard(results, 2, ["alpha"])
    assert [(r["rank"], r["alpha"]) for r in rows] == [(1, 0.3), (2, 0.1), (3, 0.2)]  # a failed trial ranks last
    assert leaderboard_csv(rows).decode().splitlines()[:2] == [
        "rank,score,score_std,fold_1,fold_2,fit_seconds,alpha", "1,0.9,0.0,0.9,0.9,3.0,0.3"]
    assert leaderboard_text(rows, "accuracy", top=1).splitlines() == [
        "rank  accuracy         fit s  alpha", "1     0.9000 ± 0.0000  3.00   0.3"]


# ---------------------------------------------------------------- the command (slow)

def tune(*options):
    """Run glassnet tune in this process; the exit status."""
    try:
        return main(["tune", *map(str, options)])
    except SystemExit as e:
        return e.code


def trials(run_dir):
    """search.csv's rows without their timings, which are the only thing allowed to differ between runs."""
    with (run_dir / "search.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "fit_seconds"} for row in csv.DictReader(f)]


FAST = ["--dataset", "iris", "--trials", 4, "--cv", 3, "--epochs", 30, "--quiet"]


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    """The search.csv of a small search on one worker, which every other way of running it must reproduce."""
    run_dir = tmp_path_factory.mktemp("tune") / "one"
    assert tune(*FAST, "--run-dir", run_dir, "--n-jobs", 1) == 0
    return trials(run_dir)


@pytest.mark.slow
def test_tune_finds_a_configuration_at_least_as_good_as_the_defaults(tmp_path, capsys):
    from glassnet.cli.jobs import make_estimator, prepare

    run_dir = tmp_path / "run"
    assert tune("--dataset", "wine", "--trials", 6, "--cv", 3, "--n-jobs", 2, "--run-dir", run_dir, "--quiet") == 0
    out = capsys.readouterr().out
    assert "search: 6 trials × 3 folds" in out and "rank  accuracy" in out
    best = float(trials(run_dir)[0]["score"])
    settings = RunSettings(dataset="wine")
    job, _ = prepare(settings)
    defaults = search_pipeline(job, make_estimator(job, settings))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = cross_val_score(defaults, job.train_frame, job.y_train, cv=cv_splitter(job.task, 3, 0)).mean()
    assert best >= baseline, (best, baseline)
    summary = json.loads((run_dir / "search.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    for name, value in summary["best"].items():  # the model file is the best configuration, refit
        assert config["estimator"][name] == value
    assert gn.load(run_dir / "model.safetensors")[-1].hidden_layer_sizes == tuple(summary["best"]["hidden_layer_sizes"])
    page = (run_dir / "report.html").read_text()
    assert "Hyperparameter search" in page and (run_dir / "search_scores.png").is_file()


@pytest.mark.slow
def test_the_same_seed_gives_the_same_leaderboard_on_two_workers(tmp_path, one_worker):
    assert tune(*FAST, "--run-dir", tmp_path / "two", "--n-jobs", 2) == 0
    assert trials(tmp_path / "two") == one_worker
    assert json.loads((tmp_path / "two" / "search.json").read_text())["backend"].startswith("loky, 2 workers")


@pytest.fixture(scope="module")
def dask_cluster():
    """A Dask cluster of two worker processes on this machine, started and stopped here."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.mark.slow
def test_dask_workers_get_the_data_once_and_one_blas_thread(dask_cluster):
    from joblib.parallel import get_active_backend

    X, y = iris()
    with search_backend("dask", X=X, y=y, address=dask_cluster.scheduler_address) as session:
        backend, _ = get_active_backend()
        assert set(backend.data_futures) == {id(session.X), id(session.y)}  # trials refer to these, not the data
        holders = backend.client.who_has(list(backend.data_futures.values()))
        assert [len(workers) for workers in holders.values()] == [2, 2]  # on both workers before any trial
        assert set(backend.client.run(_blas_threads).values()) == {1}
    assert (session.n_workers, session.blas_threads) == (2, None)


@pytest.mark.slow
def test_a_dask_cluster_runs_the_search(tmp_path, one_worker, dask_cluster):
    assert tune(*FAST, "--run-dir", tmp_path / "dask", "--backend", "dask", "--scheduler",
                dask_cluster.scheduler_address) == 0
    assert trials(tmp_path / "dask") == one_worker
    assert json.loads((tmp_path / "dask" / "search.json").read_text())["backend"] == "dask, 2 workers"


@pytest.mark.slow
def test_a_local_ray_runs_the_search(tmp_path, one_worker):
    pytest.importorskip("ray")
    from joblib import Parallel, delayed

    X, y = iris()
    with search_backend("ray", X=X, y=y, n_jobs=2) as session:  # a local Ray, started and stopped
        np.testing.assert_array_equal(session.X.ravel(), np.arange(len(y)))  # trials get row numbers...
        (_, rows), = session.steps
        np.testing.assert_array_equal(rows.transform(session.X[5:7]), X[5:7])  # ...and read the stored table
        assert set(Parallel()(delayed(_blas_threads)() for _ in range(4))) == {1}
    assert tune(*FAST, "--run-dir", tmp_path / "ray", "--backend", "ray", "--n-jobs", 2) == 0
    assert trials(tmp_path / "ray") == one_worker
    assert json.loads((tmp_path / "ray" / "search.json").read_text())["backend"] == "ray, 2 workers"


@pytest.mark.slow
def test_halving_and_the_time_budget_from_the_config_file(tmp_path):
    (tmp_path / "tune.toml").write_text('epochs = 27\n[search]\ntrials = 9\nhalving = true\n'
                                        '[search.space]\nlr = {loguniform = [1e-3, 1e-1]}\nhidden = [[8], [16]]\n')
    run_dir = tmp_path / "run"
    assert tune("--dataset", "iris", "--config", tmp_path / "tune.toml", "--run-dir", run_dir, "--quiet") == 0
    rows = trials(run_dir)
    assert sorted({int(r["epochs"]) for r in rows}) == [3, 9, 27] and rows[0]["epochs"] == "27"
    assert json.loads((run_dir / "config.json").read_text())["estimator"]["max_iter"] == 27
    cut = tmp_path / "cut"
    assert tune("--dataset", "iris", "--config", tmp_path / "tune.toml", "--run-dir", cut, "--quiet",
                "--time-budget", "0.001") == 0
    summary = json.loads((cut / "search.json").read_text())
    assert summary["budget_spent"] is True and summary["evaluated"] < 9 + 3 + 1


@pytest.mark.slow
def test_tune_mistakes_are_caught_before_the_search(tmp_path, capsys):
    (tmp_path / "taken.safetensors").write_bytes(b"x")
    (tmp_path / "space.toml").write_text("[search.space]\nepochs = [5, 10]\n")
    for options, message in [
        ([*FAST, "--output", tmp_path / "taken.safetensors"], "already exists; pass --force"),
        (["--dataset", "iris", "--halving", "--config", tmp_path / "space.toml"], "max_iter cannot also be searched"),
        ([*FAST, "--epochs", 5, "--config", tmp_path / "space.toml"], "max_iter is both fixed (--epochs) and searched"),
    ] + ([([*FAST, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler")]
          if importlib.util.find_spec("distributed") else []):
        code = tune(*options, "--run-dir", tmp_path / "run")
        err = capsys.readouterr().err
        assert code == 2 and message in err, (options, err)
        assert not (tmp_path / "run").exists()
