"""Hostile model files, tables and options: every one is refused with one clear error, within bounded memory,
and nothing a user saved is lost. Crafted files are built here, as an attacker would: metadata edited and
every checksum recomputed (``forge``), or bytes changed without recomputing them (``flip``)."""

import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import glassnet as gn
from glassnet import io, nn
from glassnet.io import ModelFileError
from glassnet.io.atomic import remove_stale_temporaries
from glassnet.io.locks import try_lock

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SRC = str(Path(gn.__file__).resolve().parents[1])
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memory caps are read from /proc (Linux)")


# ---------------------------------------------------------------- helpers: crafting files, capping memory

def header_of(path):
    """(header length, the safetensors header, the glassnet metadata) of a model file."""
    blob = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    return n, header, json.loads(header["__metadata__"]["glassnet"])


KEEP = object()


def forge(path, edit_meta=None, edit_tensors=None, replace_meta=KEEP):
    """Rewrite a model file as someone who edits it on purpose would: tensors and metadata changed, then every
    checksum recomputed, so that only glassnet's other checks stand between the file and the user."""
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    _, _, meta = header_of(path)
    if edit_tensors:
        edit_tensors(tensors)
    meta["tensors"] = {k: {"dtype": v.dtype.name, "shape": list(v.shape), "sha256": io.file_format.sha256(v)}
                       for k, v in tensors.items()}
    if edit_meta:
        edit_meta(meta)
    text = json.dumps(meta if replace_meta is KEEP else replace_meta)
    save_file(tensors, str(path), metadata={"glassnet": text, "glassnet_sha256": hashlib.sha256(text.encode())
                                            .hexdigest()})
    return path


def capped_python(code, *, cap_mb, cwd=None, timeout=300):
    """Run ``code`` in a fresh Python whose address space may grow by at most ``cap_mb`` MiB beyond what its
    imports took (RLIMIT_AS): a load that allocates by a file's claims rather than its size fails with
    MemoryError instead of passing."""
    preamble = textwrap.dedent(f"""
        import resource, sys, warnings
        warnings.simplefilter("ignore")
        import numpy, sklearn.neural_network, glassnet, glassnet.io, glassnet.cli
        def _size():
            for line in open("/proc/self/status"):
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (_size() + {cap_mb} * 2**20, resource.RLIM_INFINITY))
    """)
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", preamble + textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


LOAD_ALL = """
    from glassnet.cli import main
    for path in PATHS:
        try:
            glassnet.load(path)
            print("loaded", path)
        except glassnet.io.ModelFileError as e:
            print("refused", path, str(e)[:300].replace(chr(10), " "))
"""


def load_all(paths, then=""):
    """Code that loads each of ``paths``, printing "loaded" or "refused" with the error, then runs ``then``."""
    return f"""
    PATHS = {[str(p) for p in paths]!r}
    """ + LOAD_ALL + then


def _mlp():
    return nn.MLP([4, 8, 3], rng=0)


def _iris_like(n=90):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    y = np.array(["setosa", "versicolor", "virginica"])[np.argmax(x[:, :3], axis=1)]
    return x, y


@pytest.fixture(scope="module")
def classifier():
    x, y = _iris_like()
    return gn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0).fit(x, y)


LABELS = ["setosa", "versicolor", "virginica"]


def _cli_like_metadata():
    """The keys glassnet train writes beside a pipeline of 4 numeric input columns and 3 classes."""
    return {"task": "classification", "target": "species", "labels": list(LABELS),
            "feature_names": [f"numeric__x{j}" for j in range(4)],
            "input_range": {"min": [-3.0] * 4, "max": [3.0] * 4},
            "training": {"data": {"file": "/data/iris.csv", "rows": 90, "target": "species"}, "epochs": 30,
                         "kept_epoch": 30, "settings": {"seed": 0}},
            "metrics": {"accuracy": 0.9}}


@pytest.fixture()
def cli_model(tmp_path):
    """A model file as glassnet train writes it: the preprocessing pipeline, then a classifier of the labels."""
    pd = pytest.importorskip("pandas")
    from sklearn.pipeline import Pipeline

    from glassnet.cli.preprocessing import fit_preprocessor
    from glassnet.io.estimators import name_classes

    x, y = _iris_like()
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(4)])
    pre = fit_preprocessor(frame)
    est = gn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0)
    est.fit(pre.transform(frame), np.searchsorted(LABELS, y))
    name_classes(est, LABELS)
    return gn.save(Pipeline([*pre.steps, ("mlp", est)]), tmp_path / "iris.safetensors",
                   metadata=_cli_like_metadata())


@pytest.fixture()
def v1_model(tmp_path):
    """A command-line model file of the format before pipelines: a classifier of class indices, with the labels
    and the preprocessing (a mean and a scale per column) in the metadata."""
    x, y = _iris_like()
    est = gn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0).fit(x, np.searchsorted(LABELS, y))
    columns = [{"name": f"x{j}", "missing_flag": False, "kind": "numeric", "mean": 0.5, "scale": 1.78}
               for j in range(4)]
    meta = {**_cli_like_metadata(), "feature_names": [f"x{j}" for j in range(4)],
            "preprocessing": {"type": "tabular", "version": 1, "missing": "impute", "columns": columns}}
    return gn.save(est, tmp_path / "iris_v1.safetensors", metadata=meta)


def estimator_node(meta):
    """The JSON node of the glassnet estimator in a file's metadata (alone, or inside a pipeline)."""
    nodes = [meta["content"]]
    while nodes:
        node = nodes.pop()
        if isinstance(node, dict) and "fitted" in node:
            return node
        nodes += list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
    raise AssertionError("no estimator in the file")


def fitted(meta):
    return estimator_node(meta)["fitted"]


@pytest.fixture()
def table(tmp_path):
    """A CSV of 300 rows with the columns the CLI-like model reads."""
    pd = pytest.importorskip("pandas")
    x, _ = _iris_like(300)
    path = tmp_path / "rows.csv"
    pd.DataFrame(x, columns=[f"x{j}" for j in range(4)]).to_csv(path, index=False)
    return path


def run_cli(*args):
    from glassnet.cli import main

    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def one_line_error(capsys, code, *fragments):
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and len(err) < 2000, (code, err[:3000])
    for fragment in fragments:
        assert fragment in err, err
    return err


# ---------------------------------------------------------------- bounded work for any file

@pytest.mark.slow
@LINUX
def test_declared_sizes_far_beyond_the_file_are_refused_within_a_memory_cap(tmp_path, table):
    # a 1 kB file whose layer description says 30000 x 30000 (or 10^9 x 10^9) weights: the description is
    # checked against the file's tensor table before anything is built or allocated
    paths = []
    for sizes in ([30000, 30000], [10**9, 10**9]):
        path = tmp_path / f"m{sizes[0]}.safetensors"
        gn.save(nn.MLP([4, 3], rng=0), path)
        forge(path, lambda m, s=sizes: m["content"]["spec"].update(sizes=s))
        assert path.stat().st_size < 1100
        paths.append(path)
    result = capped_python(load_all(paths, f"""
    for path in PATHS:
        for args in (["inspect", path], ["predict", path, {str(table)!r}]):
            print("exit", main(args))
    """), cap_mb=256)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("refused") == 2 and "do not fit the architecture" in result.stdout
    assert result.stdout.count("exit 2") == 4 and "MemoryError" not in result.stdout + result.stderr


@pytest.mark.slow
@LINUX
def test_huge_non_model_files_are_refused_from_their_first_bytes(tmp_path):
    # sparse files: 6 GiB and 30 GiB of which only the header is ever read
    garbage = tmp_path / "video.safetensors"
    with garbage.open("wb") as f:
        f.write(struct.pack("<Q", 2000) + b"{" + b"x" * 1999)
        f.truncate(6 << 30)
    huge = tmp_path / "huge.safetensors"
    with huge.open("wb") as f:
        f.write(struct.pack("<Q", 10**9))
        f.truncate(30 << 30)
    extended = gn.save(_mlp(), tmp_path / "extended.safetensors")  # a real model, its data grown to 6 GiB
    with extended.open("r+b") as f:
        f.truncate(6 << 30)
    if any(p.stat().st_blocks * 512 > 2**30 for p in (garbage, huge, extended)):
        pytest.skip("this file system does not keep sparse files")
    result = capped_python(load_all([garbage, huge, extended]), cap_mb=128)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("refused") == 3, result.stdout
    assert "declare" in result.stdout and "not a glassnet model file" in result.stdout


@pytest.mark.slow
@LINUX
def test_preprocessing_wider_than_the_network_is_refused_before_any_row_is_predicted(tmp_path, v1_model, table):
    # 2,000,000 categories in a 20 MB header would cost 16 MB per row predicted
    def many_categories(meta):
        meta["preprocessing"]["columns"][0] = {"name": "x0", "missing_flag": False, "kind": "categorical",
                                               "categories": [str(i) for i in range(2_000_000)]}
    forge(v1_model, many_categories)
    result = capped_python(f"""
    from glassnet.cli import main
    print("exit", main(["predict", {str(v1_model)!r}, {str(table)!r}]))
    """, cap_mb=512)
    assert "exit 2" in result.stdout, result.stderr[-3000:]
    assert "preprocessing" in result.stderr and "MemoryError" not in result.stderr


@pytest.mark.parametrize("fixture", ["cli_model", "v1_model"])
def test_preprocessing_whose_width_differs_from_the_network_is_refused(request, table, capsys, fixture):
    path = request.getfixturevalue(fixture)
    if fixture == "v1_model":
        forge(path, lambda m: m["preprocessing"]["columns"].pop())
    else:  # the missing-value indicator flags a column that had no missing values: one more feature
        def flag_one(tensors):
            (name,) = [k for k in tensors if k.endswith("transformers_.2.1.features_")]
            tensors[name] = np.array([0])
        forge(path, edit_tensors=flag_one)
    with pytest.raises(ModelFileError, match="preprocessing"):
        from glassnet.cli.model_metadata import load_model

        load_model(path)
    one_line_error(capsys, run_cli("predict", path, table), "inconsistent model file", "preprocessing gives 5" if
                   fixture == "cli_model" else "preprocessing gives 3")


def _column_transformer(meta):
    """The fitted state of the ColumnTransformer in a command-line pipeline file's metadata."""
    return meta["content"]["object"]["state"]["steps"][1]["$tuple"][1]["state"]


def test_loading_draws_no_random_numbers_for_any_kind_of_model(tmp_path, classifier):
    for obj in (_mlp(), classifier):
        path = gn.save(obj, tmp_path / f"{type(obj).__name__}.safetensors")
        state = gn.backend.get_rng().bit_generator.state
        gn.load(path)
        assert gn.backend.get_rng().bit_generator.state == state


# ---------------------------------------------------------------- integrity of everything in the file

def _flip(path, old, new):
    """Change one byte of the header, where ``old`` is written, into ``new`` (one flipped bit), checksums kept."""
    blob = bytearray(path.read_bytes())
    at = blob.index(old)
    assert sum(bin(a ^ b).count("1") for a, b in zip(old, new, strict=True)) == 1
    blob[at:at + len(old)] = new
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("fixture, old, new", [("cli_model", b"setosa", b"retosa"), ("v1_model", b"1.78", b"9.78"),
                                               ("cli_model", b"iris.csv", b"iris.csw")],
                         ids=["label", "scale", "data file"])
def test_one_flipped_bit_in_the_metadata_is_refused(request, table, capsys, fixture, old, new):
    path = request.getfixturevalue(fixture)
    _flip(path, old, new)
    with pytest.raises(ModelFileError, match="metadata does not match the metadata checksum"):
        gn.load(path)
    one_line_error(capsys, run_cli("predict", path, table), "corrupt")


def test_every_flipped_bit_of_a_small_file_is_refused_or_harmless(tmp_path):
    path = gn.save(nn.MLP([2, 3, 2], rng=0), tmp_path / "m.safetensors")
    blob = path.read_bytes()
    x = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    expected = gn.load(path).eval()(x).numpy()
    rng = np.random.default_rng(0)
    for bit in rng.choice(len(blob) * 8, size=400, replace=False):
        changed = bytearray(blob)
        changed[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(changed))
        try:
            model = gn.load(path)
        except ModelFileError:
            continue
        np.testing.assert_array_equal(model.eval()(x).numpy(), expected)  # a flip in JSON whitespace or padding


def test_a_trusted_hash_checks_the_whole_file(cli_model, table, capsys):
    good = hashlib.sha256(cli_model.read_bytes()).hexdigest()
    assert io.file_sha256(cli_model) == good
    assert gn.load(cli_model, sha256=good.upper())[-1].n_features_in_ == 4
    with pytest.raises(ModelFileError, match=f"its SHA-256 is {good}, expected {'0' * 64}"):
        gn.load(cli_model, sha256="0" * 64)
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        gn.load(cli_model, sha256="abc")
    assert run_cli("predict", cli_model, table, "--expect-sha256", good) == 0
    capsys.readouterr()
    one_line_error(capsys, run_cli("predict", cli_model, table, "--expect-sha256", "1" * 64), "not the file expected")
    one_line_error(capsys, run_cli("inspect", cli_model, "--expect-sha256", "1" * 64), "not the file expected")


def test_non_finite_weights_are_refused_at_load_and_never_saved(tmp_path, classifier):
    path = gn.save(classifier, tmp_path / "c.safetensors")
    forge(path, edit_tensors=lambda t: t["coefs_.0"].__setitem__((0, 0), np.nan))
    with pytest.raises(ModelFileError, match=r"'coefs_\.0' holds NaN or infinite values"):
        gn.load(path)
    model = _mlp()
    model.layers[0].weight.data[1, 1] = np.inf
    with pytest.raises(ValueError, match="holds NaN or infinite values"):
        gn.save(model, tmp_path / "inf.safetensors")
    assert not (tmp_path / "inf.safetensors").exists()


def test_files_of_format_1_without_a_metadata_checksum_still_load_and_format_2_needs_one(tmp_path):
    path = gn.save(_mlp(), tmp_path / "m.safetensors")
    assert header_of(path)[2]["format_version"] == io.FORMAT_VERSION == 2
    from safetensors.numpy import load_file, save_file

    tensors, meta = load_file(str(path)), header_of(path)[2]
    save_file(tensors, str(path), metadata={"glassnet": json.dumps(meta)})
    with pytest.raises(ModelFileError, match="metadata checksum is missing"):
        gn.load(path)
    meta["format_version"] = 1
    save_file(tensors, str(path), metadata={"glassnet": json.dumps(meta)})
    assert gn.load(path).sizes == [4, 8, 3]


# malformed but parseable metadata, its checksum recomputed: one error naming the field, never an internal error
MALFORMED = {
    "content is a list": (lambda m: m.update(content=[]), "content: expected an object"),
    "fitted is a string": (lambda m: estimator_node(m).update(fitted="abc"), "fitted: expected an object"),
    "n_features_in_ infinite": (lambda m: fitted(m).update(n_features_in_=float("inf")),
                                "n_features_in_: expected an integer >= 1, got Infinity"),
    "n_features_in_ a string": (lambda m: fitted(m).update(n_features_in_="4"),
                                "n_features_in_: expected an integer >= 1, got '4'"),
    "n_features_in_ wrong": (lambda m: fitted(m).update(n_features_in_=5), "do not chain"),
    "out_activation_ evil": (lambda m: fitted(m).update(out_activation_="evil"), "out_activation_"),
    "wrong head": (lambda m: fitted(m).update(out_activation_="identity"), "no output head"),
    "fewer layers": (lambda m: fitted(m).update(n_layers_=2), "inconsistent"),
    "coefs_ not tensors": (lambda m: fitted(m).update(coefs_=[[1.0]]), "coefs_[0]: expected"),
    "tensor missing": (lambda m: fitted(m)["coefs_"][0].update({"$array": "nope"}), "which the file does not contain"),
    "classes_ too few": (lambda m: fitted(m).update(classes_={"$list_array": ["a", "b"], "dtype": "O"}),
                         "2 classes for 3 softmax outputs"),
    "labels too short": (lambda m: m.update(labels=["setosa", "versicolor"]), "are not among its 2 labels"),
    "labels a string": (lambda m: m.update(labels="setosa"), "labels: expected"),
    "labels repeated": (lambda m: m.update(labels=["setosa", "setosa", "virginica"]), "not distinct"),
    "preprocessing a list": (lambda m: m.update(preprocessing=[1, 2]), "preprocessing: expected"),
    "input range a list": (lambda m: m.update(input_range=[0, 1]), "input_range: expected"),
    "input range too short": (lambda m: m.update(input_range={"min": [0, 0], "max": [1, 1]}), "2 minima"),
    "kept_epoch mistyped": (lambda m: m["training"].update(kept_epoch="last"), "training.kept_epoch"),
    "data file mistyped": (lambda m: m["training"]["data"].update(file=3), "training.data.file"),
    "architecture sizes": (lambda m: m["architecture"].update(sizes="4-5-3"), "architecture.sizes"),
    "format_version text": (lambda m: m.update(format_version="2"), "invalid format version"),
    "task wrong": (lambda m: m.update(task="regression"), "does not do regression"),
    "table dtype": (lambda m: next(iter(m["tensors"].values())).update(dtype="evil"), "the table says"),
    "scaler state": (lambda m: _column_transformer(m)["transformers_"][0]["$tuple"][1]["state"]["steps"][0]["$tuple"]
                     [1]["state"].update(scale_="big"), "its preprocessing fails on a row"),
}
# the same, in a file of the format before pipelines, where the preprocessing is metadata
MALFORMED_V1 = {
    "n_features_in_ a string": (lambda m: fitted(m).update(n_features_in_="4"), "n_features_in_: expected"),
    "scale infinite": (lambda m: m["preprocessing"]["columns"][0].update(scale=float("inf")),
                       "preprocessing.columns[0].scale: expected a finite number"),
    "kind unknown": (lambda m: m["preprocessing"]["columns"][0].update(kind="evil"), "columns[0].kind"),
    "labels too short": (lambda m: m.update(labels=["setosa", "versicolor"]), "are not indices of its labels"),
    "preprocessing a list": (lambda m: m.update(preprocessing=[1, 2]), "preprocessing: expected"),
}


@pytest.mark.parametrize("fixture, case", [*(("cli_model", case) for case in MALFORMED),
                                           *(("v1_model", case) for case in MALFORMED_V1)])
def test_malformed_metadata_gives_one_clear_error(request, table, capsys, fixture, case):
    path = request.getfixturevalue(fixture)
    edit, message = (MALFORMED if fixture == "cli_model" else MALFORMED_V1)[case]
    forge(path, edit)
    from glassnet.cli.model_metadata import load_model

    with pytest.raises(ModelFileError, match=re.escape(message)):
        load_model(path)
    for args in (("inspect", path), ("predict", path, table)):
        one_line_error(capsys, run_cli(*args), str(path))


def test_metadata_that_is_not_an_object_is_not_a_model(tmp_path):
    for meta in ([1, 2], "glassnet-model", None):
        path = gn.save(_mlp(), tmp_path / "m.safetensors", overwrite=True)
        forge(path, replace_meta=meta)
        with pytest.raises(ModelFileError, match="not a glassnet model file"):
            gn.load(path)


def test_duplicate_keys_and_a_tensor_layout_with_gaps_are_refused(tmp_path):
    path = gn.save(_mlp(), tmp_path / "m.safetensors")
    n, header, _ = header_of(path)
    blob = path.read_bytes()
    text = blob[8:8 + n].decode()
    doubled = text.replace('"__metadata__"', '"__metadata__":{"glassnet":"{}"},"__metadata__"', 1).encode()
    path.write_bytes(struct.pack("<Q", len(doubled)) + doubled + blob[8 + n:])
    with pytest.raises(ModelFileError, match="not a glassnet model file"):
        gn.load(path)
    # two tensors declared over the same bytes
    name, entry = next((k, v) for k, v in header.items() if k != "__metadata__" and v["data_offsets"][0] > 0)
    header[name] = {**entry, "data_offsets": [0, entry["data_offsets"][1] - entry["data_offsets"][0]]}
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n:])
    with pytest.raises(ModelFileError, match="do not tile the file"):
        gn.load(path)


def test_an_absurd_layer_description_gives_a_short_error(tmp_path, capsys):
    path = gn.save(nn.MLP([4, 3], rng=0), tmp_path / "m.safetensors")
    forge(path, lambda m: m["content"]["spec"].update(sizes=[4] + [1] * 200_000 + [3]))
    with pytest.raises(ModelFileError, match=r"content\.spec\.sizes: expected a list of 0 to 10001 items, got a "
                                             "list of 200002 items"):
        gn.load(path)
    one_line_error(capsys, run_cli("inspect", path), "content.spec.sizes")
    # within the cap, a description that does not fit the weights is refused in one line of bounded length
    forge(path, lambda m: m["content"]["spec"].update(sizes=[4] + [1] * 5_000 + [3]))
    with pytest.raises(ModelFileError, match="more characters") as info:
        gn.load(path)
    assert len(str(info.value)) < 1100
    one_line_error(capsys, run_cli("inspect", path), "weights do not fit the architecture")


# ---------------------------------------------------------------- writes: concurrency, kills, errors

WRITER = """
import sys, time
from pathlib import Path
import glassnet as gn
folder, me, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
model = gn.nn.MLP([64, 256, 8], rng=me)
for r in range(rounds):
    (folder / f"ready-{r}-{me}").touch()
    while not (folder / f"go-{r}").exists():
        time.sleep(0.0002)
    try:
        gn.save(model, folder / f"m{r}.safetensors")
        print(r, "saved", flush=True)
    except FileExistsError:
        print(r, "refused", flush=True)
"""


def _python(code, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_two_processes_saving_to_one_name_without_overwrite_never_both_succeed(tmp_path):
    rounds = 20
    writers = [_python(WRITER, tmp_path, me, rounds) for me in (1, 2)]
    for r in range(rounds):
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready-{r}-{me}").exists() for me in (1, 2)):
            assert time.monotonic() < deadline and all(w.poll() is None for w in writers), \
                [w.communicate() for w in writers]
            time.sleep(0.0005)
        (tmp_path / f"go-{r}").touch()
    outputs = [w.communicate(timeout=120) for w in writers]
    assert all(w.returncode == 0 for w in writers), outputs
    results = [dict(line.split() for line in out.splitlines()) for out, _ in outputs]
    for r in range(rounds):
        assert sorted(result[str(r)] for result in results) == ["refused", "saved"], r
        winner = 1 if results[0][str(r)] == "saved" else 2
        np.testing.assert_array_equal(gn.load(tmp_path / f"m{r}.safetensors").layers[0].weight.numpy(),
                                      nn.MLP([64, 256, 8], rng=winner).layers[0].weight.numpy())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_dangling_link_is_not_replaced_without_overwrite(tmp_path):
    link = tmp_path / "m.safetensors"
    link.symlink_to(tmp_path / "gone.safetensors")
    with pytest.raises(FileExistsError, match="already exists"):
        gn.save(_mlp(), link)
    assert link.is_symlink() and not link.exists()
    gn.save(_mlp(), link, overwrite=True)
    assert gn.load(link).sizes == [4, 8, 3]


def _temporaries(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp"))


def test_stale_temporary_files_are_removed_only_when_no_live_writer_holds_them(tmp_path):
    target = tmp_path / "m.safetensors"
    killed, live, young = (tmp_path / f".m.safetensors.{tag}.tmp" for tag in ("killed00", "livewrit", "youngwri"))
    mine = [tmp_path / ".m.safetensors.tmp", tmp_path / "notes.tmp", tmp_path / ".other.safetensors.abcdefgh.tmp"]
    for path in (killed, live, young, *mine):
        path.write_bytes(b"partial")
    old = time.time() - 60
    for path in (killed, live, *mine):
        os.utime(path, (old, old))
    fd = os.open(live, os.O_RDONLY)  # a writer in this process still holds it
    try:
        assert try_lock(fd)
        gn.save(_mlp(), target)
        assert _temporaries(tmp_path) == sorted([live.name, young.name, *(p.name for p in mine)])
    finally:
        os.close(fd)
    assert remove_stale_temporaries(target) == [live]
    assert young.exists() and all(p.exists() for p in mine)


def test_write_errors_name_the_target_not_the_temporary_file(tmp_path):
    # a file-size limit (which binds root too) makes the write fail half way, as a full disk would
    target = tmp_path / "big.safetensors"
    code = f"""
import resource, signal
import glassnet as gn
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.RLIM_INFINITY))
try:
    gn.save(gn.nn.MLP([64, 256, 8], rng=0), {str(target)!r})
except OSError as e:
    print(type(e).__name__, e)
"""
    out, err = _python(code).communicate(timeout=120)
    assert str(target) in out and "File too large" in out and ".tmp" not in out, (out, err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_permission_errors_name_the_target(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=r"readonly/m\.safetensors'$"):
            gn.save(_mlp(), folder / "m.safetensors")
    finally:
        folder.chmod(0o755)


KILLED_WRITER = """
import sys
import numpy as np
import glassnet as gn
path = sys.argv[1]
models = [gn.nn.MLP([512, 1024, 512], rng=seed) for seed in (1, 2)]
print("ready", flush=True)
i = 0
while True:
    gn.save(models[i % 2], path, overwrite=True)
    i += 1
"""


@pytest.mark.slow
def test_writes_killed_at_random_moments_leave_a_whole_file_and_their_leftovers_are_removed(tmp_path):
    path = tmp_path / "m.safetensors"
    expected = [nn.MLP([512, 1024, 512], rng=seed).layers[0].weight.numpy() for seed in (1, 2)]
    rng = np.random.default_rng(11)
    for _ in range(8):
        writer = _python(KILLED_WRITER, path)
        assert writer.stdout.readline().strip() == "ready", writer.communicate()
        time.sleep(rng.uniform(0.05, 1.0))
        writer.kill()
        writer.communicate()
        if path.exists():  # the file in place is one of the two models, whole
            weight = gn.load(path).layers[0].weight.numpy()
            assert any(np.array_equal(weight, e) for e in expected)
        # at most the one write that was killed left its temporary file; the next writer removes it once it is
        # a few seconds old (here: made to look a minute old)
        assert len(_temporaries(tmp_path)) <= 1
        for name in _temporaries(tmp_path):
            os.utime(tmp_path / name, (time.time() - 60, time.time() - 60))
    gn.save(_mlp(), path, overwrite=True)
    assert _temporaries(tmp_path) == []


# ---------------------------------------------------------------- hostile tables and options

def test_duplicate_column_names_are_refused(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from glassnet.cli.errors import UsageError
    from glassnet.cli.tables import read_table

    (tmp_path / "d.csv").write_text("a,b,a,target\n1,2,3,x\n4,5,6,y\n")
    with pytest.raises(UsageError, match=r"duplicate column names \['a'\]"):
        read_table(tmp_path / "d.csv")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["a", "a"]), tmp_path / "d.parquet")
    with pytest.raises(UsageError, match="duplicate column names"):
        read_table(tmp_path / "d.parquet")
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(tmp_path / "ok.csv", index=False)
    assert list(read_table(tmp_path / "ok.csv").columns) == ["a", "b"]


def test_parquet_decimals_are_numbers(tmp_path):
    pytest.importorskip("pyarrow")
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from glassnet.cli.preprocessing import column_kinds
    from glassnet.cli.tables import read_table

    values = [decimal.Decimal("1.50"), None, decimal.Decimal("2.25"), decimal.Decimal("-3.125")]
    pq.write_table(pa.table({"price": pa.array(values, pa.decimal128(10, 3)), "n": [1, 2, 3, 4]}), tmp_path / "d.pq")
    df = read_table(tmp_path / "d.pq")
    assert df["price"].dtype == np.float64 and df["price"].isna().tolist() == [False, True, False, False]
    assert column_kinds(df) == (["price", "n"], [])


def test_one_word_in_a_numeric_column_is_a_missing_value_with_a_warning():
    from glassnet.cli.preprocessing import column_kinds

    column = np.array([str(v) for v in np.linspace(0, 1, 19)] + ["abc"], dtype=object)
    with pytest.warns(UserWarning, match=r"column 'a': 1 of 20 values are not numbers \('abc'\)"):
        assert column_kinds({"a": column}) == (["a"], [])


def test_confusion_matrix_labels_are_plain_text(tmp_path):
    pytest.importorskip("matplotlib")
    from glassnet.cli.report import plot_confusion

    labels = ["$\\frac{$", "a_b^c", "$x$"]
    path = plot_confusion([[1, 0, 0], [0, 2, 0], [0, 0, 3]], labels, tmp_path / "cm.png")
    assert path.stat().st_size > 1000


@pytest.fixture()
def small_csv(tmp_path, monkeypatch):
    """A directory holding small.csv (a, b numeric, y a class), the current directory of the test."""
    rng = np.random.default_rng(0)
    rows = ["a,b,y"] + [f"{rng.normal()},{rng.normal()},{'pq'[i % 2]}" for i in range(40)]
    (tmp_path / "small.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("column, message", [
    ("a", "column 'a': its values are too large to standardize"),
    ("y", "target column 'y' has 1 infinite values (rows [3])"),
])
def test_features_too_large_and_infinite_targets_are_refused_naming_the_column(small_csv, capsys, column, message):
    rows = (small_csv / "small.csv").read_text().splitlines()
    header, body = rows[0], [r.split(",") for r in rows[1:]]
    for i, row in enumerate(body):
        if column == "a":
            row[0] = f"{float(row[0]) * 1e200}"
        elif i == 3:
            row[2] = "inf"
        elif column == "y":
            row[2] = f"{i * 0.37}"
    (small_csv / "small.csv").write_text("\n".join([header] + [",".join(r) for r in body]) + "\n")
    one_line_error(capsys, run_cli("train", "small.csv", "--target", "y", "-q", "--run-dir", "r"), message)
    assert not (small_csv / "r").exists() or not (small_csv / "r" / "model.safetensors").exists()


def test_option_and_run_directory_mistakes_give_one_line(small_csv, capsys):
    one_line_error(capsys, run_cli("train", "small.csv", "--target", "y", "--checkpoint-every", "-1"),
                   "--checkpoint-every must be a whole number of epochs")
    (small_csv / "run").mkdir()
    (small_csv / "run" / "config.json").write_text("{not json")
    one_line_error(capsys, run_cli("train", "--resume", "run"), f"{Path('run') / 'config.json'} is damaged")
    (small_csv / "run" / "config.json").write_text("[]")
    one_line_error(capsys, run_cli("train", "--resume", "run"), "is damaged", "expected an object")
