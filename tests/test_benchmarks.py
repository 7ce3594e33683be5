"""Smoke tests of the benchmark suite: it runs on tiny sizes and writes valid JSON (no timing assertions)."""

import json

import numpy as np
import pytest
from benchmarks import nets
from benchmarks.suite import CASES, main

pytestmark = pytest.mark.slow

TINY = ["--quick", "--scale", "0.05", "--repeats", "1", "--threads", "1"]


def test_suite_runs_every_case_and_writes_json(tmp_path, capsys):
    path = tmp_path / "out" / "bench.json"
    assert main([*TINY, "--libs", "glassnet,numpy,floor", "--json", str(path)]) == 0
    doc = json.loads(path.read_text())
    assert doc["meta"]["versions"]["numpy"] == np.__version__
    assert {r["case"] for r in doc["rows"]} == set(CASES)
    timed = [r for r in doc["rows"] if r["case"] in ("mnist", "regression", "tiny", "sweep") and not r["error"]]
    assert {r["lib"] for r in timed} == {"glassnet", "numpy", "floor"}
    for r in timed:
        assert len(r["times"]) == 1 and r["median_s"] > 0 and r["samples_per_s"] > 0
    memory = [r for r in doc["rows"] if r["case"] == "memory"]
    assert memory and all(r["error"] is None and r["extra"]["rss_peak_bytes"] >= 0 for r in memory)
    assert any("floor/glassnet" in s["ratios"] for s in doc["summaries"])
    assert "== mnist:" in capsys.readouterr().out


def test_suite_with_torch(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "bench.json"
    main([*TINY, "--cases", "tiny,mnist", "--libs", "glassnet,torch,torch-floor", "--json", str(path)])
    rows = json.loads(path.read_text())["rows"]
    assert {(r["case"], r["lib"]) for r in rows if r["error"] is None and r["times"]} == {
        (c, lib) for c in ("tiny", "mnist") for lib in ("glassnet", "torch", "torch-floor")}


@pytest.mark.parametrize("sizes, loss", [([12, 8, 8, 3], "ce"), ([5, 6, 6, 1], "mse")])
def test_loops_train_identically(sizes, loss):
    # same data, same initial weights, same update rule: glassnet, torch and numpy end at the same weights
    import glassnet as gn

    p = nets.Problem(sizes, loss, n=96, batch=16)
    batches = p.epoch()
    model = nets.glassnet_loop(p, batches)()()
    ref = nets.numpy_loop(p, batches)()()
    ours = [m.weight.data for m in model.modules() if isinstance(m, gn.nn.Linear)]
    assert len(ours) == len(ref.w)
    for w, w_ref, (w0, _) in zip(ours, ref.w, p.weights, strict=True):
        assert not np.allclose(w_ref, w0)  # it trained
        np.testing.assert_allclose(w, w_ref, atol=1e-5)
    torch = pytest.importorskip("torch")
    tmodel = nets.torch_loop(p, batches)()()
    theirs = [m.weight.detach().numpy().T for m in tmodel if isinstance(m, torch.nn.Linear)]
    for w, w_ref in zip(theirs, ref.w, strict=True):
        np.testing.assert_allclose(w, w_ref, atol=1e-5)


def test_bad_options_are_named():
    with pytest.raises(SystemExit):
        main(["--cases", "mnist,nope"])
    with pytest.raises(SystemExit):
        main(["--threads", "0"])


def test_refuses_to_run_without_glassnet(monkeypatch, capsys):
    import benchmarks.suite as suite

    monkeypatch.setattr(suite, "optional_module", lambda name: None if name == "glassnet" else object())
    with pytest.raises(SystemExit):
        main(["--cases", "tiny"])
    assert "glassnet is not importable" in capsys.readouterr().err


def test_inspect_case_times_the_same_computation_in_both_libraries(tmp_path):
    pytest.importorskip("torch")
    from benchmarks import inspection

    path = tmp_path / "bench.json"
    main([*TINY, "--cases", "inspect", "--libs", "glassnet,torch", "--json", str(path)])
    rows = json.loads(path.read_text())["rows"]
    assert {(r["variant"], r["lib"]) for r in rows if r["error"] is None and r["times"]} == {
        (v, lib) for v in ("integrated-gradients", "pgd") for lib in ("glassnet", "torch")}
    x, y = inspection._digits(50)
    ours = inspection._glassnet("integrated-gradients", x, y)()()
    theirs, completeness = inspection._torch("integrated-gradients", x, y)()()
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=1e-6)
    assert float(completeness.abs().max()) < 1e-3
    for lib in (inspection._glassnet, inspection._torch):
        adv = np.asarray(lib("pgd", x, y)()())
        assert np.abs(adv - x).max() <= inspection.EPS + 1e-6 and adv.min() >= 0 and adv.max() <= 1
