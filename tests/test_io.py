"""Model files: round trips, atomic no-clobber writes, and refusal of pickles and corrupt files."""

import json
import pickle
import struct

import numpy as np
import pytest

import glassnet as gn
from glassnet import io, nn, optim
from glassnet.io import ModelFileError, plain_data

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _mlp(**kwargs):
    return nn.MLP([4, 8, 3], rng=0, **kwargs)


def _x():
    return np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)


def _header(path):
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return n, json.loads(blob[8:8 + n])


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "leaky_relu", "sigmoid"])
def test_mlp_round_trip_same_outputs(tmp_path, activation):
    model = _mlp(activation=activation, dropout=0.2).eval()
    path = gn.save(model, tmp_path / "m.safetensors")
    loaded = gn.load(path).eval()
    assert type(loaded) is nn.MLP and loaded.sizes == [4, 8, 3] and loaded.activation == activation
    np.testing.assert_array_equal(loaded(_x()).numpy(), model(_x()).numpy())


def test_sequential_and_linear_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(4, 6, rng=0), nn.LeakyReLU(0.2), nn.Linear(6, 2, bias=False, rng=1))
    loaded = gn.load(gn.save(model, tmp_path / "s.safetensors"))
    assert [type(m) for m in loaded.layers] == [nn.Linear, nn.LeakyReLU, nn.Linear]
    assert loaded.layers[1].negative_slope == 0.2 and loaded.layers[2].bias is None
    np.testing.assert_array_equal(loaded(_x()).numpy(), model(_x()).numpy())


def test_files_of_format_1_still_load():
    # written by glassnet 0.x before layers described themselves (commit 92e1b78): every built-in layer,
    # an MLP nested in a Sequential; the file's metadata holds an input and the outputs it gave then
    from pathlib import Path

    model, meta = io.load_with_metadata(Path(__file__).parent / "data" / "model_format1.safetensors")
    assert meta["format_version"] == 1
    assert [type(m).__name__ for m in model.layers] == ["MLP", "LeakyReLU", "Linear", "GELU", "Sigmoid", "Identity",
                                                        "Dropout", "ReLU", "Linear", "Tanh", "GELU"]
    x = np.asarray(meta["check"]["x"], dtype=np.float32)
    np.testing.assert_allclose(model.eval()(x).numpy(), np.asarray(meta["check"]["y"]), rtol=1e-6, atol=1e-7)


def test_frozen_layers_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(4, 6, rng=0), nn.Tanh(), nn.Linear(6, 3, rng=1))
    model.layers[0].requires_grad_(False)
    model.layers[2].bias.requires_grad = False
    path = gn.save(model, tmp_path / "f.safetensors")
    loaded, meta = io.load_with_metadata(path)
    assert meta["content"]["frozen"] == ["layers.0.weight", "layers.0.bias", "layers.2.bias"]
    assert [p.requires_grad for p in loaded.parameters()] == [False, False, True, False]
    np.testing.assert_array_equal(loaded(_x()).numpy(), model(_x()).numpy())
    before = loaded.state_dict()
    opt = optim.SGD([p for p in loaded.parameters() if p.requires_grad], lr=0.1)
    (loaded(_x()) ** 2).mean().backward()
    opt.step()
    after = loaded.state_dict()
    for name in meta["content"]["frozen"]:
        np.testing.assert_array_equal(after[name], before[name])
    assert not np.array_equal(after["layers.2.weight"], before["layers.2.weight"])


def test_loading_draws_no_random_numbers(tmp_path):
    path = gn.save(_mlp(dropout=0.1), tmp_path / "m.safetensors")
    state = gn.backend.get_rng().bit_generator.state
    gn.load(path)
    assert gn.backend.get_rng().bit_generator.state == state


def test_declared_sizes_are_checked_before_anything_is_allocated(tmp_path):
    # a hostile file declaring 4 TiB of weights is refused by comparing shapes, not by running out of memory
    path = gn.save(_mlp(), tmp_path / "m.safetensors")
    _rewrite_meta(path, lambda m: m["content"]["spec"].update(sizes=[4, 2**20, 2**20, 3]))
    with pytest.raises(ModelFileError, match=r"do not fit the architecture.*\(4, 1048576\)"):
        gn.load(path)


@pytest.mark.parametrize("frozen, message", [(["layers.7.weight"], "not parameters"), ("layers.0.weight", "not a list"),
                                             ([["x"]], "not parameters")])
def test_bad_frozen_lists_are_refused(tmp_path, frozen, message):
    path = gn.save(_mlp(), tmp_path / "m.safetensors")
    _rewrite_meta(path, lambda m: m["content"].update(frozen=frozen))
    with pytest.raises(ModelFileError, match=message):
        gn.load(path)


def test_float64_weights_keep_their_dtype(tmp_path):
    model = nn.MLP([4, 3], dtype="float64", rng=0)
    loaded = gn.load(gn.save(model, tmp_path / "m.safetensors"))
    assert loaded.parameters()[0].data.dtype == np.float64


def test_weights_readable_by_name_with_plain_safetensors(tmp_path):
    from safetensors.numpy import load_file

    model = _mlp()
    tensors = load_file(gn.save(model, tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(tensors["layers.0.weight"], model.layers[0].weight.numpy())


def test_transposed_and_strided_arrays_keep_element_order(tmp_path):
    # safetensors 0.8 writes non-C-contiguous arrays in memory order instead of logical order
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    tree = {"t": base.T, "s": base[:, ::2], "f": np.asfortranarray(base)}
    enc = plain_data.Encoder()
    meta = {"format": io.FORMAT, "format_version": 1, "kind": "module", "content": enc.encode(tree, "")}
    io.write_file(tmp_path / "x.safetensors", enc.tensors, meta)
    tensors, meta = io.read_file(tmp_path / "x.safetensors")
    out = plain_data.decode(meta["content"], tensors)
    for key, value in tree.items():
        np.testing.assert_array_equal(out[key], value)


def test_plain_data_round_trip(tmp_path):
    tree = {"ints": {0: np.arange(3), 1: [np.zeros((2, 2), np.float64), 2.5]}, "tup": (1, "a", None),
            "labels": np.array(["cat", "dog"]), "mixed": np.array(["a", 1], dtype=object), "scalar": np.float32(1.5),
            "$odd": True, "zero_d": np.array(3.0), "flags": np.array([True, False])}
    enc = plain_data.Encoder()
    content = enc.encode(tree, "")
    io.write_file(tmp_path / "p.safetensors", enc.tensors, {"format": io.FORMAT, "format_version": 1,
                                                            "kind": "checkpoint", "content": content})
    tensors, meta = io.read_file(tmp_path / "p.safetensors")
    out = plain_data.decode(meta["content"], tensors)
    assert set(out) == set(tree) and out["tup"] == (1, "a", None) and out["$odd"] is True
    np.testing.assert_array_equal(out["ints"][0], np.arange(3))
    assert out["ints"][1][1] == 2.5 and out["ints"][1][0].dtype == np.float64
    assert out["labels"].tolist() == ["cat", "dog"] and out["mixed"].dtype == object
    assert out["zero_d"].shape == () and out["flags"].dtype == bool


def test_unstorable_values_are_refused():
    with pytest.raises(TypeError, match="not plain data"):
        plain_data.Encoder().encode({"f": lambda: 0}, "")


def test_optimizer_state_round_trip(tmp_path):
    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        (model(_x()) ** 2).mean().backward()
        opt.step()
    enc = plain_data.Encoder()
    content = enc.encode(opt.state_dict(), "opt")
    io.write_file(tmp_path / "o.safetensors", enc.tensors, {"format": io.FORMAT, "format_version": 1,
                                                            "kind": "checkpoint", "content": content})
    tensors, meta = io.read_file(tmp_path / "o.safetensors")
    other = optim.Adam(_mlp().parameters(), lr=0.5)
    other.load_state_dict(plain_data.decode(meta["content"], tensors))
    assert other.t == 3 and other.lr == 0.01 and other.betas == (0.9, 0.999)
    for a, b in zip(other.state, opt.state, strict=True):
        np.testing.assert_array_equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_never_overwrites_without_permission(tmp_path):
    path = tmp_path / "m.safetensors"
    gn.save(_mlp(), path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        gn.save(nn.MLP([4, 3]), path)
    assert path.read_bytes() == before
    gn.save(nn.MLP([4, 3], rng=0), path, overwrite=True)
    assert gn.load(path).sizes == [4, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary files left


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    gn.save(_mlp(), path)
    before = path.read_bytes()

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(io.atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        gn.save(nn.MLP([4, 3]), path, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_metadata_is_stored_and_reserved_keys_refused(tmp_path):
    path = gn.save(_mlp(), tmp_path / "m.safetensors", metadata={"metrics": {"accuracy": 0.9}})
    _, meta = io.load_with_metadata(path)
    assert meta["metrics"] == {"accuracy": 0.9} and meta["format_version"] == io.FORMAT_VERSION
    assert meta["architecture"]["n_parameters"] == 4 * 8 + 8 + 8 * 3 + 3
    assert all(len(entry["sha256"]) == 64 for entry in meta["tensors"].values())
    with pytest.raises(ValueError, match="reserved"):
        gn.save(_mlp(), tmp_path / "n.safetensors", metadata={"kind": "x"})


def test_unsupported_objects_are_refused(tmp_path):
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="cannot save a Custom"):
        gn.save(Custom(), tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match=r"nn\.Module or a glassnet estimator"):
        gn.save({"w": np.zeros(3)}, tmp_path / "d.safetensors")


# ---------------------------------------------------------------- refusing bad files

def test_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match="pickle"):
        gn.load(path)
    assert not marker.exists()


def test_a_header_that_starts_like_a_pickle_is_read(tmp_path):
    # safetensors headers of 640, 896, 1152 or 1408 bytes begin with the bytes of a pickle's protocol mark
    for pad in range(400):
        path = gn.save(nn.Linear(2, 1, rng=0), tmp_path / "m.safetensors", overwrite=True, metadata={"pad": "x" * pad})
        if path.read_bytes()[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"):
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert isinstance(gn.load(path), nn.Linear)


def test_zip_and_garbage_and_empty_files_are_refused(tmp_path):
    for name, blob, message in [("z.safetensors", b"PK\x03\x04rest", "zip"),
                                ("g.safetensors", b"\xff" * 64, "not a glassnet model"),
                                ("e.safetensors", b"", "not a glassnet model")]:
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(ModelFileError, match=message):
            gn.load(tmp_path / name)
    with pytest.raises(ModelFileError, match="does not exist"):
        gn.load(tmp_path / "missing.safetensors")


def test_plain_safetensors_without_glassnet_metadata_is_refused(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.zeros(3, np.float32)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ModelFileError, match="no glassnet metadata"):
        gn.load(tmp_path / "plain.safetensors")


def test_flipped_byte_in_tensor_data_is_detected(tmp_path):
    path = gn.save(_mlp(), tmp_path / "m.safetensors")
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x40  # inside the last tensor's data: the format itself would not notice
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        gn.load(path)


def test_truncated_file_is_detected(tmp_path):
    path = gn.save(_mlp(), tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ModelFileError, match="corrupt"):
        gn.load(path)


def _rewrite_meta(path, edit):
    # a crafted file: the metadata edited and its checksum recomputed, as anyone who edits a file can
    import hashlib

    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    _, header = _header(path)
    meta = json.loads(header["__metadata__"]["glassnet"])
    edit(meta)
    text = json.dumps(meta)
    checksum = hashlib.sha256(text.encode()).hexdigest()
    save_file(tensors, str(path), metadata={"glassnet": text, "glassnet_sha256": checksum})


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(format_version=99), "newer than this glassnet"),
    (lambda m: m.update(kind="script"), "unknown kind"),
    (lambda m: m["content"]["spec"].update(type="os.system"), "unknown module type"),
    (lambda m: m["content"]["spec"].update(sizes=[4, 9, 3]), "do not fit the architecture"),
    (lambda m: m["tensors"]["layers.0.weight"].update(shape=[8, 4]), "table says"),
    (lambda m: m["tensors"].pop("layers.0.bias"), "tensor table does not match"),
])
def test_inconsistent_metadata_is_refused(tmp_path, edit, message):
    path = gn.save(_mlp(), tmp_path / "m.safetensors")
    _rewrite_meta(path, edit)
    with pytest.raises(ModelFileError, match=message):
        gn.load(path)


def test_checkpoint_is_not_loaded_as_a_model(tmp_path):
    path = gn.save(_mlp(), tmp_path / "m.safetensors")
    _rewrite_meta(path, lambda m: m.update(kind="checkpoint"))
    with pytest.raises(ModelFileError, match="checkpoint"):
        gn.load(path)


# ---------------------------------------------------------------- estimators

def _iris_like():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 4))
    y = np.array(["setosa", "versicolor", "virginica"])[np.argmax(x[:, :3], axis=1)]
    return x, y


@pytest.mark.parametrize("early_stopping", [False, True])
def test_classifier_round_trip(tmp_path, early_stopping):
    x, y = _iris_like()
    est = gn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, random_state=0, early_stopping=early_stopping,
                           dropout=0.1).fit(x, y)
    loaded = gn.load(gn.save(est, tmp_path / "c.safetensors"))
    assert type(loaded) is gn.MLPClassifier and loaded.get_params() == est.get_params()
    assert loaded.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(loaded.predict_proba(x), est.predict_proba(x))
    assert loaded.history_ == est.history_ and loaded.n_iter_ == est.n_iter_
    again = pickle.loads(pickle.dumps(loaded))  # estimator objects stay picklable
    np.testing.assert_array_equal(again.predict(x), est.predict(x))


def test_regressor_and_binary_round_trip(tmp_path):
    x, _ = _iris_like()
    reg = gn.MLPRegressor(hidden_layer_sizes=(6, 5), max_iter=10, random_state=0, dtype="float64").fit(x, x[:, 0])
    loaded = gn.load(gn.save(reg, tmp_path / "r.safetensors"))
    assert loaded.hidden_layer_sizes == (6, 5) and loaded.coefs_[0].dtype == np.float64
    np.testing.assert_array_equal(loaded.predict(x), reg.predict(x))
    clf = gn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(x, x[:, 0] > 0)
    np.testing.assert_array_equal(gn.load(gn.save(clf, tmp_path / "b.safetensors")).predict_proba(x),
                                  clf.predict_proba(x))


def test_gpu_trained_model_loads_on_the_cpu_without_cupy(tmp_path):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed: the model would load on the GPU")
    except ImportError:
        pass
    x, y = _iris_like()
    est = gn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(x, y)
    est.device = "cuda"  # as saved by a GPU fit: the file holds host arrays and the parameter
    path = gn.save(est, tmp_path / "gpu.safetensors")
    est.device = "cpu"
    with pytest.warns(RuntimeWarning, match="device='cuda'.*CuPy is not available.*device='cpu'"):
        loaded = gn.load(path)
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(x), est.predict_proba(x))


def test_unfitted_estimator_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        gn.save(gn.MLPRegressor(), tmp_path / "u.safetensors")


def test_checkpoint_resume_matches_uninterrupted_fit(tmp_path):
    x, y = _iris_like()
    params = dict(hidden_layer_sizes=(8,), max_iter=12, random_state=3, dropout=0.2, early_stopping=True,
                  n_iter_no_change=100)
    full = gn.MLPClassifier(**params).fit(x, y)
    path = tmp_path / "ckpt.safetensors"

    def stop_at_5(est, record):
        if record["epoch"] == 5:
            io.save_checkpoint(path, est, est.get_training_state(), metadata={"epoch": 5})
            return True
        return False

    gn.MLPClassifier(**params).fit(x, y, callbacks=[stop_at_5])
    est, state, meta = io.load_checkpoint(path)
    assert meta["epoch"] == 5 and est.get_params() == gn.MLPClassifier(**params).get_params()
    est.fit(x, y, resume=state)
    for a, b in zip(est.coefs_ + est.intercepts_, full.coefs_ + full.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ModelFileError, match="checkpoint"):
        gn.load(path)
    with pytest.raises(ModelFileError, match="not a training checkpoint"):
        io.load_checkpoint(gn.save(full, tmp_path / "m.safetensors"))


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update({"class": "Popen"}), "unknown estimator class"),
    (lambda m: m["content"]["params"].update(evil=1), r"unknown MLPRegressor parameters.*evil"),
    (lambda m: m["content"]["fitted"].update(__class__=1), "unexpected fitted attributes"),
    (lambda m: m["content"]["fitted"].pop("coefs_"), "lacks fitted attributes"),
    (lambda m: m["content"]["fitted"].update(n_features_in_=7), "inconsistent"),
    (lambda m: m["content"]["params"].update(dtype="os.system"), "invalid MLPRegressor parameters"),
])
def test_inconsistent_estimator_files_are_refused(tmp_path, edit, message):
    x, _ = _iris_like()
    reg = gn.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(x, x[:, 1])
    path = gn.save(reg, tmp_path / "r.safetensors")
    _rewrite_meta(path, edit)
    with pytest.raises(ModelFileError, match=message):
        gn.load(path)


# ---------------------------------------------------------------- ONNX export of files without preprocessing

@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Linear(4, 6, rng=0), nn.GELU(), nn.Linear(6, 5, rng=1), nn.GELU("tanh"),
                          nn.Linear(5, 2, rng=2), nn.LeakyReLU(0.1)),
    lambda: nn.Sequential(nn.Linear(4, 3, rng=0), nn.ELU(0.7), nn.Linear(3, 3, rng=1), nn.SiLU()),
    lambda: gn.MLPClassifier(hidden_layer_sizes=(5,), activation="tanh", max_iter=5, random_state=0)
    .fit(*_iris_like()),
    lambda: gn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    .fit(_iris_like()[0], _iris_like()[0][:, 0] > 0),
    lambda: gn.MLPRegressor(hidden_layer_sizes=(5,), activation="logistic", max_iter=5, random_state=0)
    .fit(_iris_like()[0], _iris_like()[0][:, :2]),
    lambda: gn.MLPRegressor(hidden_layer_sizes=(5,), loss="poisson", max_iter=5, random_state=0)
    .fit(_iris_like()[0], np.abs(_iris_like()[0][:, 0])),
])
def test_onnx_export_matches(tmp_path, make):
    ort = pytest.importorskip("onnxruntime")
    from glassnet.cli.onnx_export import export_file

    obj = make()
    out = export_file(gn.save(obj, tmp_path / "m.safetensors"), tmp_path / "m.onnx")
    x = _iris_like()[0][:7]
    results = ort.InferenceSession(str(out)).run(None, {"input": x.astype(np.float32)})
    if isinstance(obj, nn.Module):
        np.testing.assert_allclose(results[0], obj(x.astype(np.float32)).numpy(), atol=1e-6)
    elif hasattr(obj, "predict_proba"):
        np.testing.assert_allclose(results[0], obj.predict_proba(x), atol=1e-6)
        assert results[2].tolist() == [str(v) for v in obj.predict(x)]
    else:
        np.testing.assert_allclose(results[0].reshape(obj.predict(x).shape), obj.predict(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(FileExistsError):
        export_file(tmp_path / "m.safetensors", out)
