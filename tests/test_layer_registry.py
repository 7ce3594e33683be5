"""The layer registry: specs of every built-in layer, a user's own layer saved, loaded and exported, and refusals."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import io, nn, optim
from glassnet.io import ModelFileError


@nn.register("TestScaleShift")
class ScaleShift(nn.Module):
    """y = x * scale + shift, per feature: a user's layer with parameters, a config and an ONNX form."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.scale = gn.Tensor(np.ones(n, np.float32), requires_grad=True)
        self.shift = gn.Tensor(np.zeros(n, np.float32), requires_grad=True)

    def config(self) -> dict:
        return {"n": self.n}

    def forward(self, x):
        return x * self.scale + self.shift

    def to_onnx(self, graph, x):
        scaled = graph.op("Mul", [x, graph.const(self.scale.numpy(), "scale")])
        return graph.op("Add", [scaled, graph.const(self.shift.numpy(), "shift")])


@nn.register("TestSquare")
class Square(nn.Module):
    """x ** 2: a user's layer without arguments and without an ONNX form."""

    def forward(self, x):
        return x * x


def _x():
    return np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)


def _trained_model():
    model = nn.Sequential(nn.Linear(4, 6, rng=0), ScaleShift(6), nn.Tanh(), nn.Linear(6, 2, rng=1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):  # move scale and shift away from their initial values
        opt.zero_grad()
        ((model(_x()) - 1.0) ** 2).mean().backward()
        opt.step()
    return model


BUILT_IN = [nn.Linear(3, 2, bias=False, init="he", dtype="float64", rng=0), nn.ReLU(), nn.LeakyReLU(0.3),
            nn.Sigmoid(), nn.Tanh(), nn.GELU("tanh"), nn.ELU(0.5), nn.SiLU(), nn.Identity(), nn.Dropout(0.25),
            nn.Sequential(nn.Linear(2, 2, rng=0), nn.ReLU()), nn.MLP([3, 5, 2], "tanh", 0.1, rng=0)]


@pytest.mark.parametrize("layer", BUILT_IN, ids=lambda m: type(m).__name__)
def test_every_built_in_layer_is_rebuilt_from_its_spec(layer):
    spec = nn.to_spec(layer)
    assert spec["type"] == type(layer).__name__ and json.loads(json.dumps(spec)) == spec
    rebuilt = nn.from_spec(spec)
    assert type(rebuilt) is type(layer) and nn.to_spec(rebuilt) == spec
    assert [(n, p.shape, p.dtype) for n, p in rebuilt.named_parameters()] == [
        (n, p.shape, p.dtype) for n, p in layer.named_parameters()]


def test_every_built_in_layer_is_registered_under_its_class_name():
    assert {"Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "ELU", "SiLU", "Identity", "Dropout",
            "Sequential", "MLP"} <= set(nn.registered())
    assert all(nn.layer_name(cls) == name for name, cls in nn.registered().items())


def test_user_layer_saves_loads_and_predicts_the_same(tmp_path):
    model = _trained_model()
    assert not np.array_equal(model.layers[1].scale.numpy(), np.ones(6))
    path = gn.save(model, tmp_path / "user.safetensors")
    loaded, meta = io.load_with_metadata(path)
    assert meta["content"]["spec"]["layers"][1] == {"type": "TestScaleShift", "n": 6}
    assert type(loaded.layers[1]) is ScaleShift
    np.testing.assert_array_equal(loaded(_x()).numpy(), model(_x()).numpy())
    square = gn.load(gn.save(nn.Sequential(Square(), nn.Linear(4, 1, rng=0)), tmp_path / "sq.safetensors"))
    np.testing.assert_array_equal(square(_x()).numpy(), (_x() ** 2) @ square.layers[1].weight.numpy()
                                  + square.layers[1].bias.numpy())


def _edit_first_layers_spec(path, layer, edit):
    """Rewrite a saved Sequential's spec of ``layers[layer]``, as another program might have written it."""
    from safetensors.numpy import load_file

    header = io.read_file(path)[1]
    edit(header["content"]["spec"]["layers"][layer])
    del header["tensors"]
    io.write_file(path, load_file(str(path)), header, overwrite=True)


def test_a_layer_name_not_registered_here_is_refused_with_how_to_register(tmp_path):
    path = gn.save(_trained_model(), tmp_path / "user.safetensors")
    _edit_first_layers_spec(path, 1, lambda spec: spec.update(type="SomeoneElsesLayer"))
    with pytest.raises(ModelFileError, match=r"unknown module type 'SomeoneElsesLayer'.*"
                                             r"@nn\.register\('SomeoneElsesLayer'\)"):
        gn.load(path)


def test_a_config_that_does_not_fit_names_the_layer(tmp_path):
    path = gn.save(nn.Sequential(ScaleShift(3)), tmp_path / "s.safetensors")
    _edit_first_layers_spec(path, 0, lambda spec: spec.update(width=3))
    with pytest.raises(ModelFileError, match=r"cannot build TestScaleShift from .*width"):
        gn.load(path)


def test_saving_unregistered_or_undescribed_layers_is_refused(tmp_path):
    class Plain(nn.Module):
        def forward(self, x):
            return x

    @nn.register("TestNoConfig")
    class NoConfig(nn.Module):
        def __init__(self, n: int) -> None:
            self.n = n

    with pytest.raises(TypeError, match=r"cannot save a Sequential: Plain is not a registered layer.*"
                                        r"@nn\.register\('Plain'\)"):
        gn.save(nn.Sequential(nn.ReLU(), Plain()), tmp_path / "p.safetensors")
    with pytest.raises(TypeError, match=r"NoConfig takes constructor arguments: define config\(\)"):
        gn.save(NoConfig(3), tmp_path / "n.safetensors")
    assert not (tmp_path / "p.safetensors").exists() and not (tmp_path / "n.safetensors").exists()


def test_register_refuses_clashes_and_non_layers():
    with pytest.raises(ValueError, match=r"already registered to glassnet\.nn\.layers\.Linear"):
        @nn.register("Linear")
        class Mine(nn.Module):
            pass

    with pytest.raises(ValueError, match="already registered as 'TestSquare'"):
        nn.register("TestSquareAgain")(Square)
    with pytest.raises(TypeError, match="Module subclasses"):
        nn.register("TestNotALayer")(dict)
    with pytest.raises(ValueError, match="identifier"):
        nn.register("not a name")
    assert nn.register("TestSquare")(Square) is Square  # registering again under its own name is harmless


def test_bad_specs_are_refused():
    for spec, message in [("Linear", "bad layer description"), ({"in_features": 3}, "bad layer description"),
                          ({"type": "Sequential", "layers": "ReLU"}, "cannot build Sequential"),
                          ({"type": "Sequential", "layers": [{"type": "Nope"}]}, "unknown module type 'Nope'"),
                          ({"type": "Linear", "in_features": 3, "out_features": 2, "dtype": "object"},
                           "unknown dtype 'object'")]:
        with pytest.raises(nn.SpecError, match=message):
            nn.from_spec(spec)


# ---------------------------------------------------------------- ONNX export through the layers' own to_onnx

def test_user_layer_with_an_onnx_form_exports(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from glassnet.cli.onnx_export import export_file

    model = _trained_model()
    out = export_file(gn.save(model, tmp_path / "user.safetensors"), tmp_path / "user.onnx")
    (result,) = ort.InferenceSession(str(out)).run(None, {"input": _x()})
    np.testing.assert_allclose(result, model(_x()).numpy(), rtol=1e-6, atol=1e-6)


def test_a_layer_without_an_onnx_form_gives_a_clear_error(tmp_path):
    pytest.importorskip("onnx")
    from glassnet.cli.onnx_export import export_file

    path = gn.save(nn.Sequential(nn.Linear(4, 3, rng=0), Square()), tmp_path / "sq.safetensors")
    with pytest.raises(ValueError, match=r"cannot export to ONNX: Square has no ONNX form: define to_onnx\(graph, x\)"):
        export_file(path, tmp_path / "sq.onnx")
    assert not (tmp_path / "sq.onnx").exists()
