"""nn modules: parameter discovery and order, state dicts, train/eval, Dropout, MLP structure and init."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

import glassnet as gn
import glassnet.functional as F
from conftest import npy, to_xp
from glassnet import nn


def test_named_parameters_in_a_stable_order(xp) -> None:
    model = nn.MLP([3, 4, 5, 2], dropout=0.2, xp=xp, rng=0)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias",
                     "layers.6.weight", "layers.6.bias"]
    assert names == [name for name, _ in nn.MLP([3, 4, 5, 2], dropout=0.2, xp=xp, rng=1).named_parameters()]
    assert [p.shape for p in model.parameters()] == [(3, 4), (4,), (4, 5), (5,), (5, 2), (2,)]
    assert all(gn.backend.namespace(p.data) is gn.backend.namespace(to_xp(xp, [0.0])) for p in model.parameters())


def test_nested_modules_are_found() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            self.encoder = nn.Linear(3, 4, rng=0)
            self.blocks = [nn.Linear(4, 4, rng=1), nn.ReLU(), nn.Linear(4, 2, bias=False, rng=2)]
            self.scale = gn.Tensor(np.ones(2), requires_grad=True)
            self.constant = gn.Tensor(np.ones(2))  # no gradient: not a parameter

        def forward(self, x):
            h = self.encoder(x)
            for block in self.blocks:
                h = block(h)
            return h * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "encoder.weight", "encoder.bias", "blocks.0.weight", "blocks.0.bias", "blocks.2.weight"]
    assert len(list(net.modules())) == 5


def test_shared_parameters_are_listed_once() -> None:
    shared = nn.Linear(4, 4, rng=0)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert [n for n, _ in model.named_parameters()] == ["layers.0.weight", "layers.0.bias"]
    assert model.state_dict().keys() == {"layers.0.weight", "layers.0.bias"}


def test_state_dict_round_trip(xp) -> None:
    a, b = nn.MLP([3, 4, 2], xp=xp, rng=0), nn.MLP([3, 4, 2], xp=xp, rng=1)
    sd = a.state_dict()
    assert all(type(v) is np.ndarray for v in sd.values())
    b.load_state_dict(sd)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb
        np.testing.assert_array_equal(npy(pa), npy(pb))
    sd["layers.0.weight"][...] = 7.0  # the state dict is a copy
    assert not np.any(npy(a.layers[0].weight) == 7.0)


def test_load_state_dict_keeps_parameter_objects(xp) -> None:
    model = nn.MLP([3, 4, 2], xp=xp, rng=0)
    before = [(p, p.data) for p in model.parameters()]
    model.load_state_dict(nn.MLP([3, 4, 2], xp=xp, rng=1).state_dict())
    assert all(p is q and p.data is d for (p, d), q in zip(before, model.parameters(), strict=True))


def test_load_state_dict_reports_every_problem_at_once() -> None:
    model = nn.MLP([3, 4, 2], rng=0)
    sd = model.state_dict()
    del sd["layers.0.bias"]
    sd["layers.2.weight"] = np.zeros((5, 2))
    sd["layers.9.weight"] = np.zeros(1)
    with pytest.raises(ValueError) as err:
        model.load_state_dict(sd)
    message = str(err.value)
    assert "missing" in message and "layers.0.bias" in message
    assert "unexpected" in message and "layers.9.weight" in message
    assert "mis-shaped" in message and "layers.2.weight" in message and "(4, 2)" in message and "(5, 2)" in message
    before = model.state_dict()
    with pytest.raises(ValueError):
        model.load_state_dict(sd)
    for k, v in model.state_dict().items():  # nothing was half-loaded
        np.testing.assert_array_equal(v, before[k])


def test_train_and_eval_switch_every_submodule() -> None:
    model = nn.MLP([3, 4, 4, 2], dropout=0.5, rng=0)
    assert model.training
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_clears_parameter_gradients(xp) -> None:
    model = nn.MLP([3, 4, 2], xp=xp, rng=0)
    F.mse_loss(model(to_xp(xp, np.ones((5, 3)), "float32")), to_xp(xp, np.zeros((5, 2)), "float32")).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# ---- Dropout ---------------------------------------------------------------------------------
def test_dropout_inverted_scaling(xp) -> None:
    drop = nn.Dropout(0.25, rng=0)
    x = to_xp(xp, np.ones((200, 50)), "float32")
    out = npy(drop(x))
    np.testing.assert_allclose(np.unique(out), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((out == 0).mean() - 0.25) < 0.02
    assert abs(out.mean() - 1.0) < 0.03  # the expected value is unchanged


def test_dropout_is_identity_in_eval(xp) -> None:
    drop = nn.Dropout(0.5, rng=0).eval()
    x = gn.Tensor(to_xp(xp, np.arange(12.0).reshape(3, 4)), requires_grad=True)
    assert drop(x) is x


def test_dropout_gradient_uses_the_same_mask(xp) -> None:
    x = gn.Tensor(to_xp(xp, np.ones((10, 10))), requires_grad=True)
    out = nn.Dropout(0.5, rng=3)(x)
    out.sum().backward()
    np.testing.assert_array_equal(npy(x.grad), npy(out))


def test_dropout_masks_are_reproducible_and_new_each_step(xp) -> None:
    x = to_xp(xp, np.ones((8, 8)), "float32")
    a, b = nn.Dropout(0.5, rng=42), nn.Dropout(0.5, rng=42)
    first_a, first_b = npy(a(x)), npy(b(x))
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(first_a, npy(a(x)))
    gen = np.random.default_rng(5)
    assert not np.array_equal(npy(F.dropout(x, 0.5, rng=gen)), npy(F.dropout(x, 0.5, rng=gen)))
    np.testing.assert_array_equal(npy(F.dropout(x, 0.5, rng=9)), npy(F.dropout(x, 0.5, rng=9)))


def test_manual_seed_makes_default_dropout_and_init_reproducible() -> None:
    gn.manual_seed(11)
    w1, d1 = npy(nn.Linear(4, 4).weight), npy(F.dropout(np.ones((4, 4)), 0.5))
    gn.manual_seed(11)
    w2, d2 = npy(nn.Linear(4, 4).weight), npy(F.dropout(np.ones((4, 4)), 0.5))
    np.testing.assert_array_equal(w1, w2)
    np.testing.assert_array_equal(d1, d2)


def test_manual_seed_reaches_layers_built_before_it() -> None:
    model = nn.MLP([4, 16, 2], dropout=0.5)  # draws from the default generator
    x = np.ones((8, 4), dtype=np.float32)
    gn.manual_seed(3)
    first = npy(model(x))
    gn.manual_seed(3)
    np.testing.assert_array_equal(first, npy(model(x)))


def test_dropout_bad_probability() -> None:
    for p in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError, match="probability"):
            nn.Dropout(p)


# ---- MLP and Linear --------------------------------------------------------------------------
def test_mlp_structure() -> None:
    model = nn.MLP([3, 5, 5, 2], activation="tanh", dropout=0.1, rng=0)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    assert [(m.in_features, m.out_features) for m in model.layers if isinstance(m, nn.Linear)] == [
        (3, 5), (5, 5), (5, 2)]
    assert [type(m).__name__ for m in nn.MLP([3, 2], rng=0).layers] == ["Linear"]
    assert model(np.ones((7, 3), dtype=np.float32)).shape == (7, 2)
    assert "Linear(in_features=3, out_features=5, bias=True)" in repr(model)


def test_mlp_fused_linear_relu_equals_the_layers_one_by_one(xp) -> None:
    model = nn.MLP([3, 6, 5, 2], xp=xp, rng=0)
    x = gn.Tensor(to_xp(xp, np.random.default_rng(1).normal(size=(8, 3))), requires_grad=True)
    fused = model(x)  # MLP.forward runs each Linear + ReLU as one node
    fused.sum().backward()
    fused_grads = [npy(p.grad) for p in model.parameters()] + [npy(x.grad)]
    model.zero_grad()
    x.grad = None
    plain = nn.Sequential(*model.layers)(x)
    plain.sum().backward()
    np.testing.assert_allclose(npy(fused.data), npy(plain.data), rtol=1e-6)
    for got, want in zip(fused_grads, [npy(p.grad) for p in model.parameters()] + [npy(x.grad)], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="activation"):
        F.linear(x, model.layers[0].weight, activation="tanh")


@pytest.mark.parametrize(("activation", "init"), [("relu", "he"), ("leaky_relu", "he"), ("tanh", "glorot"),
                                                  ("sigmoid", "glorot")])
def test_mlp_initialization_bounds(activation, init) -> None:
    fan_in, fan_out = 128, 96
    model = nn.MLP([fan_in, fan_out, 10], activation=activation, rng=0)
    hidden, last = model.layers[0], model.layers[-1]
    bound = math.sqrt(6.0 / fan_in) if init == "he" else math.sqrt(6.0 / (fan_in + fan_out))
    w = npy(hidden.weight)
    assert hidden.init == init and last.init == "glorot"
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound  # U(-bound, bound), fully used
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert np.all(npy(hidden.bias) == 0)


def test_mlp_dtype_and_seed(xp) -> None:
    a = nn.MLP([3, 4, 2], dtype="float64", xp=xp, rng=3)
    b = nn.MLP([3, 4, 2], dtype="float64", xp=xp, rng=3)
    assert all(p.dtype == xp.float64 for p in a.parameters())
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(npy(pa), npy(pb))
    assert nn.MLP([3, 4, 2], xp=xp, rng=0).layers[0].weight.dtype == xp.float32


def test_mlp_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least"):
        nn.MLP([3])
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([3, 2], activation="swish")


def test_linear_forward_and_errors(xp) -> None:
    layer = nn.Linear(3, 2, xp=xp, rng=0)
    assert layer.weight.shape == (3, 2) and layer.bias.shape == (2,)
    x = to_xp(xp, np.ones((4, 3)), "float32")
    want = np.ones((4, 3)) @ npy(layer.weight) + npy(layer.bias)
    np.testing.assert_allclose(npy(layer(x)), want, rtol=1e-6)
    assert nn.Linear(3, 2, bias=False, rng=0).bias is None
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(3, 2\)"):
        layer(to_xp(xp, np.ones((4, 5)), "float32"))
    with pytest.raises(ValueError, match="positive"):
        nn.Linear(0, 2)
    with pytest.raises(ValueError, match="unknown init"):
        nn.Linear(3, 2, init="orthogonal")


def test_reset_parameters_redraws_in_place() -> None:
    layer = nn.Linear(5, 4, rng=0)
    weight = layer.weight.data
    before = np.array(weight)
    layer.bias.data[...] = 3.0
    layer.reset_parameters(rng=1)
    assert layer.weight.data is weight and not np.array_equal(before, weight)
    assert np.all(layer.bias.data == 0)


@pytest.mark.parametrize("name", sorted(nn.ACTIVATIONS))
def test_activation_modules_match_functional(xp, name) -> None:
    x = to_xp(xp, np.linspace(-3, 3, 12).reshape(3, 4))
    module = nn.ACTIVATIONS[name]()
    fn = {"relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": F.sigmoid, "logistic": F.sigmoid,
          "tanh": F.tanh, "gelu": F.gelu, "elu": F.elu, "silu": F.silu, "identity": F.identity}[name]
    np.testing.assert_array_equal(npy(module(x)), npy(fn(x)))


def test_sequential() -> None:
    seq = nn.Sequential(nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU)
    assert seq(np.ones((4, 2), dtype=np.float32)).shape == (4, 1)
    with pytest.raises(TypeError, match="Modules"):
        nn.Sequential(nn.ReLU(), F.relu)


def test_models_copy_and_pickle(xp) -> None:
    model = nn.MLP([3, 4, 2], dropout=0.2, xp=xp, rng=0)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        for p, q in zip(model.parameters(), clone.parameters(), strict=True):
            assert p is not q
            np.testing.assert_array_equal(npy(p), npy(q))
        clone.eval()
        out = clone(to_xp(xp, np.ones((2, 3)), "float32"))
        out.sum().backward()
        assert all(p.grad is not None for p in clone.parameters())
        assert all(p.grad is None for p in model.parameters())


# ---- frozen parameters and building without initialization ----------------------------------
def test_frozen_parameters_stay_parameters() -> None:
    model = nn.MLP([3, 4, 2], rng=0)
    model.layers[0].weight.requires_grad = False
    names = ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert [n for n, _ in model.named_parameters()] == names
    assert list(model.state_dict()) == names and len(model.parameters()) == 4
    other = nn.MLP([3, 4, 2], rng=1).requires_grad_(False)  # every parameter frozen
    assert not any(p.requires_grad for p in other.parameters())
    other.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(npy(other.layers[0].weight), npy(model.layers[0].weight))


def test_register_parameter_keeps_a_tensor_that_starts_frozen() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            self.register_parameter("table", gn.Tensor(np.ones((2, 3))))  # frozen from the start
            self.constant = gn.Tensor(np.ones(2))  # assigned without gradients: not a parameter
            self.scale = gn.Tensor(np.ones(2), requires_grad=True)

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["table", "scale"]
    with pytest.raises(TypeError, match="must be a Tensor"):
        net.register_parameter("w", np.ones(2))


def test_training_leaves_a_frozen_layer_unchanged(xp) -> None:
    model = nn.MLP([3, 6, 2], xp=xp, rng=0)  # the first Linear + ReLU runs as one fused node
    model.layers[0].requires_grad_(False)
    frozen = [npy(p).copy() for p in model.layers[0].parameters()]
    trained = [npy(p).copy() for p in model.layers[2].parameters()]
    assert len(frozen) == 2 and len(model.parameters()) == 4
    opt = gn.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x, y = to_xp(xp, np.random.default_rng(0).normal(size=(8, 3)), "float32"), to_xp(xp, np.ones((8, 2)), "float32")
    for _ in range(5):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    for before, p in zip(frozen, model.layers[0].parameters(), strict=True):
        np.testing.assert_array_equal(npy(p), before)
        assert p.grad is None
    assert all(not np.array_equal(npy(p), before) for before, p in zip(trained, model.layers[2].parameters(),
                                                                       strict=True))


def test_skip_init_draws_nothing_and_allocates_nothing() -> None:
    rng_state = gn.backend.get_rng().bit_generator.state
    with nn.init.skip_init():
        assert nn.init.skipping()
        model = nn.MLP([2**20, 2**20, 3], dropout=0.5)  # 4 TiB of float32 if it were allocated
    assert not nn.init.skipping()
    assert gn.backend.get_rng().bit_generator.state == rng_state  # no random draw
    weight = model.layers[0].weight.data
    assert weight.shape == (2**20, 2**20) and weight.strides == (0, 0) and not weight.flags.writeable
    with nn.init.skip_init():
        small = nn.MLP([3, 4, 2], dtype="float64")
    source = nn.MLP([3, 4, 2], dtype="float64", rng=0)
    small.load_state_dict(source.state_dict(), assign=True)
    for p, q in zip(small.parameters(), source.parameters(), strict=True):
        assert p.data.flags.writeable and p.data.dtype == np.float64 and p.data is not q.data
        np.testing.assert_array_equal(p.data, q.data)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(npy(small(x)), npy(source(x)))


def test_linear_refuses_bad_sizes_and_dtypes() -> None:
    with pytest.raises(TypeError):
        nn.Linear(2.5, 3)
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        nn.Linear(2, 3, dtype="int8")


def test_loss_modules_match_functional() -> None:
    pred, target = np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 1.0]])
    assert nn.MSELoss()(pred, target).item() == F.mse_loss(pred, target).item()
    assert nn.CrossEntropyLoss()(pred, np.array([1, 0])).item() == F.cross_entropy(pred, np.array([1, 0])).item()


def test_cross_entropy_loss_module_passes_weight_and_smoothing() -> None:
    pred = gn.Tensor(np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]]), requires_grad=True)
    y, w = np.array([1, 2]), np.array([0.5, 2.0, 1.0])
    module = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)
    assert module(pred, y).item() == F.cross_entropy(pred, y, weight=w, label_smoothing=0.1).item()
    assert module(pred, y).item() != F.cross_entropy(pred, y).item()
