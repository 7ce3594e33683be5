"""``glassnet explain`` and ``glassnet attack`` end to end: tables, per-column attributions, heat maps, accuracy
against eps, and the report sections."""

import json

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]
pytest.importorskip("pyarrow")

from glassnet.cli import datasets  # noqa: E402
from test_cli import cli, cli_many, ok  # noqa: E402


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A digits model trained by the command line, in its run directory, and a table of rows to explain."""
    work = tmp_path_factory.mktemp("inspect")
    ok(cli("train", "--dataset", "digits", "--run-dir", "run", "--hidden", "32", "--max-iter", "40", "--quiet",
           cwd=work))
    datasets.load("digits").frame().sample(n=300, random_state=1).to_csv(work / "rows.csv", index=False)
    return work


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A model of numeric, categorical and partly missing columns, saved outside its run directory."""
    work = tmp_path_factory.mktemp("inspect_table")
    rng = np.random.default_rng(0)
    n = 300
    a, b = rng.normal(size=n), rng.uniform(0, 10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    score = a + 0.3 * b + np.where(color == "red", 1.5, 0.0)
    label = np.where(score > 2.5, "high", np.where(score > 0.5, "mid", "low"))
    a[rng.random(n) < 0.1] = np.nan
    df = pd.DataFrame({"a": a, "b": b, "color": color, "noise": rng.normal(size=n), "label": label,
                       "price": 10 * score})
    df.to_csv(work / "data.csv", index=False)
    ok(cli("train", "data.csv", "--target", "label", "--drop", "price", "--run-dir", "run", "--output",
           "model.safetensors", "--hidden", "16", "--max-iter", "60", "--quiet", cwd=work))
    ok(cli("train", "data.csv", "--target", "price", "--drop", "label", "--run-dir", "reg", "--output",
           "price.safetensors", "--hidden", "8", "--max-iter", "10", "--quiet", cwd=work))
    return work


def test_explain_digits_ranks_pixels_and_draws_heat_maps(digits):
    result = ok(cli("explain", "run/model.safetensors", "rows.csv", "--top", "5", cwd=digits))
    out = result.stdout
    assert "integrated gradients, 50 Gauss-Legendre steps" in out and "completeness:" in out
    assert "summed back to each original column" in out and "permutation" in out
    assert out.count("pixel_") == 5 and "... and 59 more columns" in out
    found = json.loads((digits / "run" / "explain.json").read_text())
    assert len(found["columns"]) == 64 and found["rows"] == 300
    assert found["completeness_error"]["overall"] < 0.01
    shares = [c["share"] for c in found["columns"]]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)
    heat = found["heatmaps"]
    assert heat["shape"] == [8, 8] and set(heat["classes"]) <= {str(i) for i in range(10)}
    assert sum(c["rows"] for c in heat["classes"].values()) == 300
    assert np.asarray(heat["classes"]["0"]["values"]).shape == (8, 8)
    run = digits / "run"
    assert (run / "explain_heatmaps.png").read_bytes()[:4] == b"\x89PNG"
    html = (run / "report.html").read_text()
    assert "<h2>Explanations</h2>" in html and "Confusion matrix" in html  # added to the training report


def test_attack_digits_reports_accuracy_falling_with_eps(digits):
    result = ok(cli("attack", "run/model.safetensors", "rows.csv", "--eps", "0.05,0.5,0.2", cwd=digits))
    assert "PGD (10 steps) on 300 rows" in result.stdout and "range of the training data" in result.stdout
    assert "checks passed" in result.stdout
    found = json.loads((digits / "run" / "attack.json").read_text())
    accuracy = found["accuracy"]
    assert list(accuracy) == ["0.0", "0.05", "0.2", "0.5"] and accuracy["0.0"] == found["clean_accuracy"]
    values = list(accuracy.values())
    assert values == sorted(values, reverse=True) and values[-1] < values[0]
    assert all(accuracy[e] <= found["fgsm_accuracy"][e] for e in accuracy) and found["problems"] == []
    html = (digits / "run" / "report.html").read_text()
    assert "<h2>Robustness</h2>" in html and "<h2>Explanations</h2>" in html


def test_explain_and_attack_a_table_model_per_original_column(table):
    explained, attacked, as_json = cli_many([
        ("explain", "model.safetensors", "data.csv", "--repeats", "3"),
        ("attack", "model.safetensors", "data.csv", "--eps", "0.1,0.3", "--attack", "fgsm"),
        ("explain", "model.safetensors", "data.csv", "--method", "saliency", "--json", "--run-dir", "sal"),
    ], cwd=table)
    ok(explained), ok(attacked), ok(as_json)
    found = json.loads((table / "model-report" / "explain.json").read_text())
    columns = {c["column"]: c for c in found["columns"]}
    assert set(columns) == {"a", "b", "color", "noise"}  # one-hot block and missing flag summed into their columns
    assert found["heatmaps"] is None
    assert columns["noise"]["mean_abs"] < max(columns[c]["mean_abs"] for c in ("a", "b", "color"))
    assert all("permutation" in c for c in found["columns"])
    report = (table / "model-report" / "report.html").read_text()
    assert "<h2>Explanations</h2>" in report and "<h2>Robustness</h2>" in report
    attack = json.loads((table / "model-report" / "attack.json").read_text())
    assert attack["attack"] == "fgsm" and attack["fgsm_accuracy"] is None and "FGSM on 300 rows" in attacked.stdout
    printed = json.loads(as_json.stdout)
    assert printed["method"] == "saliency" and (table / "sal" / "report.html").exists()


def test_mistakes_are_one_line_errors(table):
    regressor, no_target, no_data, bad_eps = cli_many([
        ("attack", "price.safetensors", "data.csv"),
        ("attack", "model.safetensors", "data.csv", "--target", "nope"),
        ("explain", "model.safetensors"),
        ("attack", "model.safetensors", "data.csv", "--eps", "0.1,x"),
    ], cwd=table)
    assert regressor.returncode == 2 and "attacks need a classifier" in regressor.stderr
    assert no_target.returncode == 2 and "'nope' is not in data.csv" in no_target.stderr
    assert no_data.returncode == 2 and "give a data file or --dataset" in no_data.stderr
    assert bad_eps.returncode == 2 and "--eps" in bad_eps.stderr
    regression = ok(cli("explain", "price.safetensors", "data.csv", "--repeats", "2", cwd=table))
    assert "explaining the prediction" in regression.stdout and "drop in score" in regression.stdout
