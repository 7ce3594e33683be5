"""Autograd semantics: graph reuse, deep graphs, accumulation, no_grad, dtypes and error messages."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import glassnet as gn
from conftest import npy, to_xp


def leaf(xp, value, dtype: str = "float64") -> gn.Tensor:
    return gn.Tensor(to_xp(xp, value, dtype), requires_grad=True)


def test_reused_node_gradients_add_up(xp) -> None:
    a = leaf(xp, [1.0, -2.0, 3.0])
    b = a + a
    c = b + b
    c.sum().backward()
    np.testing.assert_array_equal(npy(a.grad), [4.0, 4.0, 4.0])


def test_reused_node_with_products(xp) -> None:
    # f = (a*a) * (a*a) = a^4, df/da = 4 a^3, through a node used twice
    a = leaf(xp, [0.5, -1.5])
    sq = a * a
    (sq * sq).sum().backward()
    np.testing.assert_allclose(npy(a.grad), 4 * np.array([0.5, -1.5]) ** 3)


def test_diamond_graph(xp) -> None:
    a = leaf(xp, [2.0])
    b, c = a * 3.0, a.exp()
    (b * c).sum().backward()
    np.testing.assert_allclose(npy(a.grad), 3 * np.exp(2.0) + 6 * np.exp(2.0))


def test_chain_of_10000_ops_has_no_recursion_error(xp) -> None:
    a = leaf(xp, [1.0, 2.0])
    y = a
    for _ in range(10_000):
        y = y + 1.0
    y.sum().backward()
    np.testing.assert_array_equal(npy(a.grad), [1.0, 1.0])
    np.testing.assert_array_equal(npy(y), [10_001.0, 10_002.0])


def test_repeated_backward_accumulates_into_leaves_only(xp) -> None:
    a = leaf(xp, [1.0, 2.0])
    h = a * a
    loss = h.sum()
    loss.backward()
    loss.backward()
    np.testing.assert_array_equal(npy(a.grad), 2 * 2 * np.array([1.0, 2.0]))
    assert h.grad is None and loss.grad is None  # intermediate nodes never store a gradient
    a.zero_grad()
    loss.backward()
    np.testing.assert_array_equal(npy(a.grad), 2 * np.array([1.0, 2.0]))


def test_backward_gradient_is_not_aliased_with_caller_or_other_leaves(xp) -> None:
    a, b = leaf(xp, [1.0, 2.0]), leaf(xp, [3.0, 4.0])
    out = a + b
    g = to_xp(xp, [1.0, 1.0])
    out.backward(g)
    a.grad[0] = 100.0  # writing one leaf's gradient must not touch the other's or the caller's
    np.testing.assert_array_equal(npy(b.grad), [1.0, 1.0])
    np.testing.assert_array_equal(npy(g), [1.0, 1.0])


def test_backward_with_explicit_gradient(xp) -> None:
    a = leaf(xp, [[1.0, 2.0], [3.0, 4.0]])
    (a * 2.0).backward(to_xp(xp, [[1.0, 0.0], [0.5, 2.0]]))
    np.testing.assert_array_equal(npy(a.grad), [[2.0, 0.0], [1.0, 4.0]])


def test_backward_on_non_scalar_without_gradient_raises(xp) -> None:
    a = leaf(xp, [1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"non-scalar.*\(2,\).*gradient"):
        (a * 2.0).backward()


def test_backward_with_wrong_gradient_shape_raises(xp) -> None:
    a = leaf(xp, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (a * 2.0).backward(to_xp(xp, [1.0, 1.0, 1.0]))


def test_backward_without_requires_grad_raises(xp) -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        gn.Tensor(to_xp(xp, [1.0])).sum().backward()


def test_no_grad_records_nothing(xp) -> None:
    a = leaf(xp, [1.0, 2.0])
    with gn.no_grad():
        b = a * 2.0
        assert not gn.autograd.is_grad_enabled()
    assert gn.autograd.is_grad_enabled()
    assert not b.requires_grad and b._parents == ()
    c = a * 2.0
    assert c.requires_grad


def test_no_grad_restores_state_after_an_exception() -> None:
    with pytest.raises(KeyError), gn.no_grad():
        raise KeyError("boom")
    assert gn.autograd.is_grad_enabled()


def test_constants_do_not_get_gradients(xp) -> None:
    a = leaf(xp, [1.0, 2.0])
    c = gn.Tensor(to_xp(xp, [3.0, 4.0]))
    (a * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(npy(a.grad), [3.0, 4.0])


def test_detach_item_numpy(xp) -> None:
    a = leaf(xp, [[1.5, 2.0]])
    d = (a * 2.0).detach()
    assert not d.requires_grad and d._parents == ()
    assert isinstance(d.numpy(), np.ndarray)
    np.testing.assert_array_equal(d.numpy(), [[3.0, 4.0]])
    s = a.sum()
    assert isinstance(s.item(), float) and s.item() == 3.5
    with pytest.raises(ValueError, match=r"one element.*\(1, 2\)"):
        a.item()


def test_data_and_grad_stay_in_the_input_namespace(xp) -> None:
    a = leaf(xp, [1.0, 2.0])
    (a * a).sum().backward()
    assert gn.backend.namespace(a.data) is gn.backend.namespace(to_xp(xp, [0.0]))
    assert gn.backend.namespace(a.grad) is gn.backend.namespace(a.data)


def test_dtype_rules(xp) -> None:
    assert gn.Tensor([1.0, 2.0]).dtype == np.float32
    assert gn.Tensor(3).dtype == np.float32
    assert gn.Tensor(2.5).dtype == np.float32
    assert gn.Tensor(np.arange(3)).dtype == np.float32  # integers become the default float
    assert gn.Tensor(np.zeros(3, dtype=np.float64)).dtype == np.float64
    scalar = gn.Tensor(np.float32(2.0))  # a NumPy scalar becomes a 0-d array of its dtype
    assert isinstance(scalar.data, np.ndarray) and scalar.shape == () and scalar.dtype == np.float32
    assert gn.Tensor(np.float64(2.0)).dtype == np.float64
    assert gn.Tensor(np.ones(2), dtype="float32").dtype == np.float32
    assert gn.Tensor(to_xp(xp, [1.0]), dtype="float32").dtype == xp.float32
    assert gn.Tensor(to_xp(xp, [1.0], "float64")).dtype == xp.float64
    assert gn.Tensor(to_xp(xp, [1.0], "float32")).dtype == xp.float32
    assert gn.Tensor(xp.asarray([1, 2])).dtype == xp.float32
    # operations keep the dtype; Python scalars do not promote float32 to float64
    x = gn.Tensor(to_xp(xp, [1.0], "float32"), requires_grad=True)
    y = (x * 2.5 + 1) / 3.0 - 0.5
    assert y.dtype == xp.float32
    y.sum().backward()
    assert x.grad.dtype == xp.float32


def test_requires_grad_on_integer_dtype_is_refused(xp) -> None:
    with pytest.raises(TypeError, match="floating point"):
        gn.Tensor(xp.asarray([1, 2]), requires_grad=True, dtype=xp.int64)


def test_broadcast_error_names_both_shapes(xp) -> None:
    a, b = gn.Tensor(to_xp(xp, np.ones((2, 3)))), gn.Tensor(to_xp(xp, np.ones((4,))))
    for op in (lambda: a + b, lambda: a - b, lambda: a * b, lambda: a / b):
        with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
            op()


def test_matmul_error_names_both_shapes(xp) -> None:
    a, b = gn.Tensor(to_xp(xp, np.ones((2, 3)))), gn.Tensor(to_xp(xp, np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\) and \(4, 5\)"):
        a @ b


def test_reshape_error_names_both_shapes(xp) -> None:
    a = gn.Tensor(to_xp(xp, np.ones((2, 3))))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        a.reshape(4, 2)


def test_reflected_operators_with_plain_arrays() -> None:
    a = gn.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    m = np.array([[1.0, 0.0], [1.0, 1.0]])
    out = (m @ a) + (m - a) * (2.0 / a) + m * a
    assert isinstance(out, gn.Tensor)
    out.sum().backward()
    assert a.grad.shape == (2, 2)


def test_integer_row_index_accumulates_repeated_rows(xp) -> None:
    a = leaf(xp, np.arange(6.0).reshape(3, 2))
    rows = a[xp.asarray([0, 2, 0])]
    np.testing.assert_array_equal(npy(rows), [[0, 1], [4, 5], [0, 1]])
    rows.sum().backward()
    np.testing.assert_array_equal(npy(a.grad), [[2, 2], [0, 0], [1, 1]])


def test_negative_and_scalar_indices(xp) -> None:
    a = leaf(xp, np.arange(6.0).reshape(3, 2))
    picked = a[xp.asarray([-1, 0])]
    np.testing.assert_array_equal(npy(picked), [[4, 5], [0, 1]])
    second = a[np.int64(1)]  # a NumPy integer is one plain position, like a Python int
    assert second.shape == (2,)
    (picked.sum() + second.sum() + a[-1].sum()).backward()
    np.testing.assert_array_equal(npy(a.grad), [[1, 1], [1, 1], [2, 2]])


def test_row_index_from_another_namespace(xp) -> None:
    a = leaf(xp, np.arange(6.0).reshape(3, 2))
    a[np.array([2, 2])].sum().backward()
    np.testing.assert_array_equal(npy(a.grad), [[0, 0], [0, 0], [2, 2]])


def test_float_row_index_is_refused(xp) -> None:
    a = gn.Tensor(to_xp(xp, np.ones((3, 2))))
    with pytest.raises(TypeError, match="integers"):
        a[to_xp(xp, [0.0, 1.0])]


def test_properties_and_repr(xp) -> None:
    a = gn.Tensor(to_xp(xp, np.ones((2, 3))), requires_grad=True)
    assert a.shape == (2, 3) and a.ndim == 2 and a.size == 6 and len(a) == 2
    assert "requires_grad=True" in repr(a)


def test_tensor_copies_and_pickles_as_a_leaf(xp) -> None:
    a = leaf(xp, [1.0, 2.0, 3.0])
    h = a * 2.0
    for clone in (copy.deepcopy(a), pickle.loads(pickle.dumps(a)), copy.deepcopy(h)):
        assert clone.requires_grad and clone._parents == () and clone.xp is a.xp
        clone.data[0] = 5.0
        (clone * clone).sum().backward()
        assert clone.grad is not None
    assert npy(a)[0] == 1.0 and a.grad is None


def test_reflected_power_with_plain_arrays_and_numbers() -> None:
    b = gn.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    out = np.array([3.0, 0.5]) ** b + 2.0 ** b
    assert isinstance(out, gn.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(npy(b.grad), [3.0 * np.log(3.0) + 2.0 * np.log(2.0), 0.25 * np.log(0.5) + 4 * np.log(2)])


def test_where_takes_a_condition_from_a_list_or_another_namespace(xp) -> None:
    a, b = leaf(xp, [1.0, 2.0, 3.0]), leaf(xp, [-1.0, -2.0, -3.0])
    for cond in ([True, False, True], np.array([True, False, True])):
        np.testing.assert_array_equal(npy(gn.where(cond, a, b)), [1.0, -2.0, 3.0])
    gn.where([False, True, True], a, 0.0).sum().backward()
    np.testing.assert_array_equal(npy(a.grad), [0.0, 1.0, 1.0])


def test_argmax_and_argmin_are_integer_arrays_outside_the_graph(xp) -> None:
    a = leaf(xp, [[1.0, 5.0, 5.0], [7.0, -1.0, 7.0]])
    for got, want in ((a.argmax(axis=1), [1, 0]), (a.argmin(axis=1), [0, 1]), (a.argmax(), 3)):
        assert not isinstance(got, gn.Tensor)
        assert xp.isdtype(got.dtype, "integral")  # ties go to the first index
        np.testing.assert_array_equal(npy(got), want)
    assert a.argmax(axis=0, keepdims=True).shape == (1, 3)


def test_float32_stays_float32_through_new_primitives(xp) -> None:
    x = leaf(xp, [[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]], "float32")
    y = leaf(xp, [[1.5, 0.5, 2.5], [0.5, 1.0, 2.0]], "float32")
    import glassnet.functional as F

    outputs = [y ** x, 2.0 ** x, y.sqrt(), x.square(), x.clip(-1.0, 1.0), gn.maximum(x, y), gn.minimum(x, 0.0),
               gn.where(xp.asarray(np.array([True, False, True])), x, y), gn.concatenate([x, y]), gn.stack([x, y]),
               x.max(axis=0), x.min(), x.logsumexp(axis=1), x.var(correction=1), x.std(axis=0), F.softplus(x),
               F.log_sigmoid(x), F.elu(x), F.silu(x)]
    for out in outputs:
        assert out.dtype == xp.float32
        grads = out._backward(xp.ones_like(out.data))
        assert all(g.dtype == xp.float32 for g in grads if g is not None)


def test_bad_input_to_new_primitives_names_the_problem(xp) -> None:
    import glassnet.functional as F

    a = gn.Tensor(to_xp(xp, np.ones((2, 3))))
    with pytest.raises(ValueError, match="clip: give min, max or both"):
        a.clip()
    with pytest.raises(ValueError, match=r"clip: min \(2.0\) is greater than max \(1.0\)"):
        a.clamp(2.0, 1.0)
    with pytest.raises(TypeError, match="clip: min and max must be numbers or None"):
        a.clip(max=a)
    with pytest.raises(ValueError, match=r"var: correction=2 leaves 0 degrees of freedom for 2"):
        a.var(axis=0, correction=2)
    with pytest.raises(ValueError, match=r"axis 2 is out of range.*\(2, 3\)"):
        a.var(axis=2)
    with pytest.raises((ValueError, IndexError), match="axis 2"):
        a.max(axis=2)
    with pytest.raises(TypeError, match="where: condition must be a boolean array"):
        gn.where(a, a, a)
    with pytest.raises(ValueError, match=r"where: shapes \(2, 3\) and \(2, 3\) and \(2,\)"):
        gn.where(xp.asarray(np.array([True, False])), a, a)
    with pytest.raises(ValueError, match=r"maximum: shapes \(2, 3\) and \(4,\)"):
        gn.maximum(a, to_xp(xp, np.ones(4)))
    with pytest.raises(ValueError, match=r"concatenate: cannot join shapes \(2, 3\), \(2, 2\) along axis 0"):
        gn.concatenate([a, gn.Tensor(to_xp(xp, np.ones((2, 2))))])
    with pytest.raises(ValueError, match=r"stack: cannot stack shapes \(2, 3\), \(3, 2\)"):
        gn.stack([a, gn.Tensor(to_xp(xp, np.ones((3, 2))))])
    with pytest.raises(ValueError, match="at least one tensor"):
        gn.concatenate([])
    with pytest.raises(ValueError, match="softplus: beta must be positive"):
        F.softplus(a, beta=0.0)


def test_one_tensor_in_several_inputs_of_a_primitive(xp) -> None:
    # each input slot sends its own gradient and the leaf adds them up (maximum(a, a): two halves of a tie)
    a = leaf(xp, [1.0, 0.5, 3.0])
    cond = xp.asarray(np.array([True, False, True]))
    out = gn.concatenate([a, a * 2.0]).sum() + gn.stack([a, a]).sum() + gn.maximum(a, a).sum()
    (out + gn.where(cond, a, a).sum() + (a ** a).sum()).backward()
    x = np.array([1.0, 0.5, 3.0])
    np.testing.assert_allclose(npy(a.grad), 3.0 + 2.0 + 1.0 + 1.0 + x ** x * (1.0 + np.log(x)))


# ---- PyTorch's spellings: dim= beside axis=, keepdim= beside keepdims= ------------------------------
REDUCTIONS = ["sum", "mean", "max", "min", "logsumexp", "var", "std", "argmax", "argmin"]
DIFFERENTIABLE = REDUCTIONS[:-2]


AXES = [(1, False), (-1, True), (None, False), (None, True), ((0, 2), True)]


@pytest.mark.parametrize(("method", "axis", "keep"), [(m, a, k) for m in REDUCTIONS for a, k in AXES
                                                      if not (m.startswith("arg") and isinstance(a, tuple))])
def test_reductions_take_dim_and_keepdim(xp, method, axis, keep) -> None:
    values = np.random.default_rng(3).normal(size=(2, 3, 4))
    spellings = [{"axis": axis, "keepdims": keep}, {"dim": axis, "keepdim": keep},
                 {"dim": axis, "keepdims": keep}, {"axis": axis, "keepdim": keep}]
    results, grads = [], []
    for kwargs in spellings:
        x = leaf(xp, values)
        out = getattr(x, method)(**kwargs)
        if method in DIFFERENTIABLE:
            (out * out).sum().backward()
            grads.append(npy(x.grad))
        results.append(npy(out))
    assert results[0].shape == np.sum(values, axis=axis, keepdims=keep).shape
    for got in results[1:]:
        np.testing.assert_array_equal(got, results[0])
    for got in grads[1:]:
        np.testing.assert_array_equal(got, grads[0])


@pytest.mark.parametrize("method", REDUCTIONS)
def test_reductions_refuse_both_spellings_at_once(xp, method) -> None:
    x = leaf(xp, np.ones((2, 3)))
    with pytest.raises(TypeError, match=rf"{method}: got both axis=0 and dim=1; give one"):
        getattr(x, method)(axis=0, dim=1)
    with pytest.raises(TypeError, match=rf"{method}: got both keepdims and keepdim; give one"):
        getattr(x, method)(axis=0, keepdims=True, keepdim=True)


@pytest.mark.parametrize("join", ["concatenate", "stack"])
def test_joins_take_dim(xp, join) -> None:
    a, b = np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3)
    for axis in (0, 1, -1):
        want = getattr(gn, join)([leaf(xp, a), leaf(xp, b)], axis=axis)
        got = getattr(gn, join)([leaf(xp, a), leaf(xp, b)], dim=axis)
        np.testing.assert_array_equal(npy(got), npy(want))
    with pytest.raises(TypeError, match=rf"{join}: got both axis=1 and dim=1"):
        getattr(gn, join)([leaf(xp, a), leaf(xp, b)], axis=1, dim=1)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_takes_dim(xp, name) -> None:
    import glassnet.functional as F

    values = np.random.default_rng(4).normal(size=(3, 4))
    for axis in (0, 1, -1):
        x, y = leaf(xp, values), leaf(xp, values)
        got, want = getattr(F, name)(x, dim=axis), getattr(F, name)(y, axis=axis)
        np.testing.assert_array_equal(npy(got), npy(want))
        (got * got).sum().backward()
        (want * want).sum().backward()
        np.testing.assert_array_equal(npy(x.grad), npy(y.grad))
    with pytest.raises(TypeError, match=rf"{name}: got both axis=0 and dim=0"):
        getattr(F, name)(leaf(xp, values), 0, dim=0)
