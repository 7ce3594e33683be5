"""The command line's defaults train well: ``glassnet train`` with no options against scikit-learn's MLP
(max_iter=1000) in a standard pipeline on the same split; why training stopped; class weights by label."""

import json
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

from glassnet.cli import datasets, main  # noqa: E402
from glassnet.cli.jobs import prepare  # noqa: E402
from glassnet.cli.settings import RunSettings  # noqa: E402

DATA = Path(__file__).parent / "data"
SEEDS = (0, 1, 2)  # --seed k draws both the held-out split and the initial weights; scikit-learn gets the same k
# (built-in data set or table in tests/data, target, options); the small ones, for time (the report covers all)
CASES = [
    ("wine", None, []),
    ("cars.csv", "Miles_per_Gallon", ["--drop", "Name", "--drop-missing-target"]),
    ("diabetes", None, []),
    ("anes96.csv", "vote", ["--task", "classification"]),
]


def glassnet(*args):
    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def _run(tmp_path, name, target, options, seed, *extra):
    data = ["--dataset", name] if target is None else [DATA / name, "--target", target]
    run_dir = tmp_path / f"{name}-{seed}-{len(extra)}"
    assert glassnet("train", *data, *options, "--seed", seed, "-q", "--run-dir", run_dir, *extra) == 0
    return json.loads((run_dir / "evaluation.json").read_text())


def _sklearn_score(name, target, options, seed):
    """scikit-learn's MLPClassifier/MLPRegressor (max_iter=1000, random_state=seed) after imputing, scaling and
    one-hot encoding (a regression's target standardized too), on the rows the command line trains and tests on."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if target is None:
        table, target, settings = datasets.load(name).frame(), "target", RunSettings(dataset=name)
    else:
        table = pd.read_csv(DATA / name)
        table = table[table[target].notna()].reset_index(drop=True)
        drop = options[options.index("--drop") + 1:options.index("--drop") + 2] if "--drop" in options else []
        table = table.drop(columns=drop)
        settings = RunSettings(data=str(DATA / name), target=target, drop=drop, drop_missing_target=True,
                               task="classification" if "classification" in options else "auto")
    settings.estimator["random_state"] = seed
    job, _ = prepare(settings)
    train, test = job.rows
    x, y = table.drop(columns=[target]), table[target].to_numpy()
    numeric = [c for c in x if pd.api.types.is_numeric_dtype(x[c])]
    text = [c for c in x if c not in numeric]
    prep = ColumnTransformer([("numbers", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
                              ("text", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                                     OneHotEncoder(handle_unknown="ignore")), text)])
    if job.task == "classification":
        model = make_pipeline(prep, MLPClassifier(max_iter=1000, random_state=seed))
        return accuracy_score(y[test], model.fit(x.iloc[train], y[train]).predict(x.iloc[test]))
    model = make_pipeline(prep, TransformedTargetRegressor(MLPRegressor(max_iter=1000, random_state=seed),
                                                           transformer=StandardScaler()))
    return r2_score(y[test], model.fit(x.iloc[train], y[train].astype(float)).predict(x.iloc[test]))


@pytest.mark.parametrize(("name", "target", "options"), CASES, ids=[c[0] for c in CASES])
def test_the_defaults_reach_scikit_learns_mlp(tmp_path, name, target, options):
    ours = [_run(tmp_path, name, target, options, seed)["metrics"] for seed in SEEDS]
    ours = [m.get("accuracy", m.get("r2")) for m in ours]
    theirs = [_sklearn_score(name, target, options, seed) for seed in SEEDS]
    assert np.mean(ours) >= np.mean(theirs) - 0.01, (ours, theirs)


def test_the_end_of_training_says_why_it_stopped_and_small_tables_train_anew_on_all_rows(tmp_path, capsys):
    evaluation = _run(tmp_path, "circles", None, ["--epochs", "60"], 0)
    assert evaluation["stopped"].startswith("reached the most epochs (60) with the validation loss still falling by ")
    assert evaluation["refit"] == {"epochs": evaluation["kept_epoch"], "rows": 800}
    run_dir = tmp_path / "circles-0-0"
    assert len((run_dir / "refit.jsonl").read_text().splitlines()) == evaluation["kept_epoch"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["estimator"]["n_iter_no_change"] == 125  # 500 optimizer steps: 4 batches of 160 rows an epoch
    assert config["estimator"]["validation_metric"] == "loss" and config["run"]["refit"] == "auto"

    capsys.readouterr()
    assert glassnet("train", "--dataset", "circles", "--epochs", "400", "--patience", "3", "--no-refit",
                    "--run-dir", tmp_path / "short") == 0
    err = capsys.readouterr().err
    evaluation = json.loads((tmp_path / "short" / "evaluation.json").read_text())
    assert evaluation["refit"] is None and not (tmp_path / "short" / "refit.jsonl").exists()
    assert "the validation loss had not improved for 4 epochs (patience 3)" in err
    assert f"best at epoch {evaluation['kept_epoch']}; kept the weights of epoch {evaluation['kept_epoch']}" in err


def test_class_weights_by_label_and_their_mistakes(tmp_path, capsys):
    table = [DATA / "seattle_weather.csv", "--target", "weather", "--drop", "date", "-q", "--epochs", "5"]
    assert glassnet("train", *table, "--class-weight", '{"snow": 4, "fog": 2.5}', "--run-dir", tmp_path / "w") == 0
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    assert config["estimator"]["class_weight"] == {"snow": 4, "fog": 2.5}  # as given: by label
    from glassnet import load

    assert load(tmp_path / "w" / "model.safetensors")[-1].class_weight == {"snow": 4, "fog": 2.5}
    capsys.readouterr()
    assert glassnet("train", *table, "--class-weight", '{"hail": 2}', "--run-dir", tmp_path / "x") == 2
    assert "--class-weight: no class 'hail' in the target" in capsys.readouterr().err
    assert glassnet("train", DATA / "cars.csv", "--target", "Miles_per_Gallon", "--drop-missing-target",
                    "--class-weight", "balanced", "--run-dir", tmp_path / "y") == 2
    assert "--class-weight applies to classification" in capsys.readouterr().err
    assert glassnet("train", *table, "--class-weight", "heavy") == 2
    assert "must be balanced, none or a JSON object" in capsys.readouterr().err


def test_balanced_class_weights_raise_macro_f1_on_an_imbalanced_table(tmp_path):
    plain = _run(tmp_path, "seattle_weather.csv", "weather", ["--drop", "date"], 0)
    balanced = _run(tmp_path, "seattle_weather.csv", "weather", ["--drop", "date"], 0, "--class-weight", "balanced")
    assert balanced["metrics"]["f1_macro"] > plain["metrics"]["f1_macro"] + 0.05, (plain, balanced)
