"""The training report: which epoch's weights are kept, plots named and in the target's units, nothing cut
off at the images' edges, and report.html as a real browser renders it (headless Chromium, where installed)."""

import json
import math
import shutil
import subprocess

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

from glassnet.cli import main  # noqa: E402
from glassnet.cli.report import history_plots, kept_epoch, read_history  # noqa: E402


def test_kept_epoch_is_the_last_best_validation_score_with_early_stopping():
    history = [{"val_score": v} for v in (0.5, 0.7, float("nan"), 0.7, 0.6)]
    assert kept_epoch(history, early_stopping=True) == 4  # a tie keeps the later weights, as the fit loop does
    assert kept_epoch(history, early_stopping=False) == 5
    assert kept_epoch([{"val_score": None}] * 3, early_stopping=True) == 3


def test_kept_epoch_is_the_first_lowest_validation_loss_when_early_stopping_watches_the_loss():
    history = [{"val_loss": v, "val_score": s} for v, s in ((0.9, 0.5), (0.4, 0.6), (float("nan"), 0.9), (0.4, 0.9),
                                                             (0.5, 1.0))]
    assert kept_epoch(history, early_stopping=True, metric="loss") == 2  # a tie is no improvement of the loss
    assert kept_epoch(history, early_stopping=False, metric="loss") == 5


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A regression run and a two-class run with long labels, trained in this process."""
    path = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 3))
    price = 1000 + 300 * x[:, 0] - 200 * x[:, 1] + 20 * rng.normal(size=240)
    kind = np.where(x[:, 2] > 0, "a rather long class name", "another long class name")
    pd.DataFrame({"u": x[:, 0], "v": x[:, 1], "w": x[:, 2], "price": price, "kind": kind}).to_csv(
        path / "t.csv", index=False)
    common = ["--hidden", "16", "--lr", "0.01", "--epochs", "40", "-q"]
    assert main(["train", str(path / "t.csv"), "--target", "price", "--drop", "kind", "--run-dir",
                 str(path / "reg"), *common]) == 0
    assert main(["train", str(path / "t.csv"), "--target", "kind", "--drop", "price", "--run-dir",
                 str(path / "cls"), *common]) == 0
    return path


def test_plots_name_the_metric_mark_the_kept_epoch_and_show_regression_loss_in_target_units(runs):
    for name, metric in (("reg", "R²"), ("cls", "accuracy")):
        run = runs / name
        history = read_history(run / "history.jsonl")
        evaluation = json.loads((run / "evaluation.json").read_text())
        assert evaluation["kept_epoch"] == kept_epoch(history, early_stopping=True, metric="loss")
        html = (run / "report.html").read_text()
        assert f"Validation {metric}" in html and f"<td>{evaluation['kept_epoch']}</td>" in html
    evaluation = json.loads((runs / "reg" / "evaluation.json").read_text())
    history = read_history(runs / "reg" / "history.jsonl")
    scale = evaluation["target_scaling"]["scale"]
    assert scale > 100  # the target was standardized: its loss is on another scale than the target
    plots = history_plots(history, task="regression", kept=evaluation["kept_epoch"], target_scale=scale)
    assert plots["loss"]["title"] == "Loss as RMSE, in the target's units" and plots["loss"]["kept"] > 0
    validation = dict(plots["loss"]["series"]["validation"])[evaluation["kept_epoch"]]
    held_out = evaluation["metrics"]["rmse"]  # other rows, the same units: the same order of magnitude
    assert held_out / 3 < validation < held_out * 3
    assert "Loss as RMSE, in the target&#x27;s units" in (runs / "reg" / "report.html").read_text()
    assert math.isclose(validation, math.sqrt(2 * history[evaluation["kept_epoch"] - 1]["val_loss"]) * scale)


def test_no_plot_is_cut_off_at_its_edges(runs):
    import matplotlib.image

    pngs = sorted((runs / "reg").glob("*.png")) + sorted((runs / "cls").glob("*.png"))
    assert len(pngs) >= 10
    for png in pngs:
        image = matplotlib.image.imread(png)[..., :3]
        edges = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
        assert (edges > 0.99).all(), f"{png.name}: something is drawn on the image's edge (a cut-off title or label)"


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
PROBE = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    images: [...document.images].map(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0),
    tables: [...document.querySelectorAll("table")].map(t => t.rows.length),
    overflow: document.documentElement.scrollWidth > window.innerWidth});
  document.body.appendChild(out);
});
</script>"""


def _render(html_path):
    """What headless Chromium made of the page: which images rendered, the tables' row counts, any overflow."""
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--window-size=1280,1000", "--dump-dom", html_path.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(dom.split('<pre id="probe">', 1)[1].split("</pre>", 1)[0].replace("&quot;", '"'))


@pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium browser (apt-get install chromium)")
@pytest.mark.parametrize("name", ["reg", "cls"])
def test_report_renders_in_a_browser(runs, name, tmp_path):
    html = (runs / name / "report.html").read_text()
    (tmp_path / "page.html").write_text(html.replace("</body>", PROBE + "</body>"))
    page = _render(tmp_path / "page.html")
    assert len(page["images"]) >= 6 and all(page["images"]), page
    assert len(page["tables"]) == 5 and min(page["tables"]) >= 2 and not page["overflow"], page
    # the probe can tell: an image whose data is broken does not render
    broken = html.replace("data:image/png;base64,iVBOR", "data:image/png;base64,xxxxx", 1)
    (tmp_path / "broken.html").write_text(broken.replace("</body>", PROBE + "</body>"))
    assert not all(_render(tmp_path / "broken.html")["images"])
