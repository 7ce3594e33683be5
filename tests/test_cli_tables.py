"""Data files as people have them: semicolons and decimal commas, Latin-1 text, tabs or bars in a .csv, CSV on
standard input; predictions carry the rows' identifiers (--id)."""

import subprocess
from io import StringIO

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from glassnet.cli import main  # noqa: E402
from glassnet.cli.tables import read_table  # noqa: E402


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame({"id": [f"row-{i}" for i in range(n)], "size": rng.normal(10, 3, n).round(3),
                         "town": rng.choice(["Köln", "Zürich", "Malmö"], n),
                         "kind": rng.choice(["ja", "nein"], n)})


@pytest.mark.parametrize("how", [dict(sep=";", decimal=",", encoding="latin-1"), dict(sep=";"), dict(sep="\t"),
                                 dict(sep="|", encoding="latin-1")])
def test_delimiters_decimal_commas_and_latin1_read_like_a_plain_csv(frame, tmp_path, how):
    frame.to_csv(tmp_path / "plain.csv", index=False)
    frame.to_csv(tmp_path / "other.csv", index=False, **how)
    pd.testing.assert_frame_equal(read_table(tmp_path / "other.csv"), read_table(tmp_path / "plain.csv"))
    frame.head(0).to_csv(tmp_path / "header.csv", index=False, **how)
    assert list(read_table(tmp_path / "header.csv").columns) == list(frame.columns)


@pytest.mark.slow
def test_predict_from_standard_input_with_ids(frame, tmp_path, monkeypatch, capsys):
    from test_cli import COMMAND, ENV

    frame.to_csv(tmp_path / "eu.csv", index=False, sep=";", decimal=",", encoding="latin-1")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "eu.csv", "--target", "kind", "--drop", "id", "--epochs", "5", "--hidden", "4", "-q",
                 "--run-dir", "r", "-o", "m.safetensors"]) == 0
    assert main(["predict", "m.safetensors", "eu.csv", "-o", "p.csv"]) == 0
    from_file = pd.read_csv(tmp_path / "p.csv")
    capsys.readouterr()
    piped = subprocess.run([*COMMAND, "predict", "m.safetensors", "-", "--id", "id", "town"], cwd=tmp_path,
                           input=(tmp_path / "eu.csv").read_bytes(), capture_output=True, env=ENV, timeout=120)
    assert piped.returncode == 0, piped.stderr
    out = pd.read_csv(StringIO(piped.stdout.decode()))
    assert list(out.columns) == ["id", "town", "prediction"]
    assert out["id"].tolist() == frame["id"].tolist() and out["town"].tolist() == frame["town"].tolist()
    assert out["prediction"].tolist() == from_file["prediction"].tolist()
    assert main(["predict", "m.safetensors", "eu.csv", "--id", "key"]) == 2
    assert "--id: no columns ['key'] in eu.csv" in capsys.readouterr().err
