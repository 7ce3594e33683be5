"""Batch sources: arrays of any namespace, sparse matrices, memmaps and iterables, each shuffled its own way."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import glassnet.functional as F
from conftest import to_xp
from glassnet import nn, optim
from glassnet.data import ArraySource, Batch, BatchSource, IterableSource, as_source
from glassnet.train import fit

_rng = np.random.default_rng(0)
X = _rng.normal(size=(23, 4)).astype(np.float32)
X[X < 0.3] = 0.0  # mostly zeros, as sparse data is
Y = _rng.integers(0, 3, size=23)
W = np.linspace(0.5, 1.5, 23)


def collect(source, seed=0, epochs=1):
    rng = np.random.default_rng(seed)
    return [list(source.batches(rng)) for _ in range(epochs)]


def rows_of(batches):
    return np.concatenate([np.asarray(b.x) for b in batches])


def test_array_source_draws_the_permutation_and_slices_of_before():
    """rng.permutation(n), then consecutive slices of batch_size: the order the estimators' fingerprints rely on."""
    (batches,) = collect(ArraySource(X, Y, W, batch_size=5), seed=3)
    order = np.random.default_rng(3).permutation(23)
    assert [len(b.x) for b in batches] == [5, 5, 5, 5, 3]
    for i, b in enumerate(batches):
        idx = order[5 * i:5 * i + 5]
        np.testing.assert_array_equal(b.x, X[idx])
        np.testing.assert_array_equal(b.y, Y[idx])
        np.testing.assert_array_equal(b.sample_weight, W[idx])


def test_array_source_without_shuffling_gives_views_in_order():
    (batches,) = collect(ArraySource(X, Y, batch_size=10, shuffle=False))
    np.testing.assert_array_equal(rows_of(batches), X)
    assert batches[0].x.base is X and batches[0].sample_weight is None


def test_shuffling_changes_the_order_and_is_reproducible_from_the_seed():
    source = ArraySource(X, Y, batch_size=4)
    first, second = collect(source, seed=1, epochs=2)
    again = collect(source, seed=1)[0]
    other = collect(source, seed=2)[0]
    assert not np.array_equal(rows_of(first), X)  # shuffled
    assert not np.array_equal(rows_of(first), rows_of(second))  # a new order every epoch
    np.testing.assert_array_equal(rows_of(first), rows_of(again))
    assert not np.array_equal(rows_of(first), rows_of(other))
    np.testing.assert_array_equal(np.sort(rows_of(first), axis=0), np.sort(X, axis=0))


def test_array_source_gives_floating_data_the_dtype_and_keeps_labels():
    (batches,) = collect(ArraySource(X.astype(np.float64), Y, W, dtype=np.float32))
    b = batches[0]
    assert b.x.dtype == np.float32 and b.sample_weight.dtype == np.float32 and b.y.dtype == Y.dtype
    assert ArraySource(X, batch_size=None).batch_size == 23


@pytest.mark.parametrize("fmt", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix])
def test_sparse_rows_are_densified_one_batch_at_a_time(fmt):
    sparse, dense = ArraySource(fmt(X), Y, batch_size=6), ArraySource(X, Y, batch_size=6)
    for s, d in zip(collect(sparse, seed=4)[0], collect(dense, seed=4)[0], strict=True):
        assert isinstance(s.x, np.ndarray) and s.x.shape[0] <= 6
        np.testing.assert_array_equal(s.x, d.x)
        np.testing.assert_array_equal(s.y, d.y)


def test_memmap_rows_are_read_per_batch(tmp_path):
    reads = []

    class Recording(np.memmap):
        """A memmap that writes down how many rows each read asks for."""

        def __getitem__(self, index):
            if not isinstance(index, (int, tuple)) and self.ndim == 2:
                reads.append(len(range(23)[index]) if isinstance(index, slice) else len(index))
            return super().__getitem__(index)

    path = tmp_path / "x.dat"
    X.tofile(path)
    mm = Recording(path, dtype=np.float32, mode="r", shape=X.shape)
    source = ArraySource(mm, Y, batch_size=5)
    mapped, memory = collect(source, seed=5)[0], collect(ArraySource(X, Y, batch_size=5), seed=5)[0]
    for a, b in zip(mapped, memory, strict=True):
        assert type(a.x) is np.ndarray
        np.testing.assert_array_equal(a.x, b.x)
    assert reads and max(reads) <= 5  # never the whole file


def test_array_source_in_another_namespace(xp):
    x, y = to_xp(xp, X, "float32"), to_xp(xp, Y)
    for shuffle in (True, False):
        (batches,) = collect(ArraySource(x, y, batch_size=7, shuffle=shuffle), seed=6)
        (reference,) = collect(ArraySource(X, Y, batch_size=7, shuffle=shuffle), seed=6)
        for b, r in zip(batches, reference, strict=True):
            np.testing.assert_array_equal(np.asarray(b.x), r.x)
            np.testing.assert_array_equal(np.asarray(b.y), r.y)


def test_array_source_rejects_mismatched_rows_and_bad_batch_sizes():
    with pytest.raises(ValueError, match="y has 22"):
        ArraySource(X, Y[:-1])
    with pytest.raises(ValueError, match="batch_size"):
        ArraySource(X, Y, batch_size=0)


@pytest.mark.parametrize("with_weights", [False, True])
def test_iterable_of_tuples_is_read_afresh_every_epoch(with_weights):
    items = [(X[i:i + 5], Y[i:i + 5], W[i:i + 5]) if with_weights else (X[i:i + 5], Y[i:i + 5])
             for i in range(0, 23, 5)]
    first, second = collect(IterableSource(items), epochs=2)
    for batches in (first, second):
        assert all(isinstance(b, Batch) for b in batches)
        np.testing.assert_array_equal(rows_of(batches), X)
        assert (batches[0].sample_weight is not None) == with_weights
    generated = IterableSource(lambda: iter(items))  # a generator function: a fresh iterator per epoch
    assert [len(e) for e in collect(generated, epochs=2)] == [5, 5]


def test_a_one_shot_generator_serves_one_epoch_then_says_so():
    source = IterableSource((X[i:i + 5], Y[i:i + 5]) for i in range(0, 23, 5))
    rng = np.random.default_rng(0)
    assert len(list(source.batches(rng))) == 5
    with pytest.raises(ValueError, match="one-shot"):
        list(source.batches(rng))


def test_iterable_items_must_be_batch_tuples():
    with pytest.raises(TypeError, match=r"\(x, y\)"):
        collect(IterableSource([X]))
    with pytest.raises(TypeError, match="4 items"):
        collect(IterableSource([(X, Y, W, W)]))


def test_shuffle_buffer_permutes_batches_reproducibly():
    items = [(X[i:i + 1], Y[i:i + 1]) for i in range(23)]
    source = IterableSource(items, shuffle_buffer=8)
    (a,), (b,), (c,) = collect(source, seed=1), collect(source, seed=1), collect(source, seed=2)
    np.testing.assert_array_equal(rows_of(a), rows_of(b))
    assert not np.array_equal(rows_of(a), X) and not np.array_equal(rows_of(a), rows_of(c))
    np.testing.assert_array_equal(np.sort(rows_of(a), axis=0), np.sort(X, axis=0))


def test_as_source_picks_the_source_for_what_it_is_given():
    arrays = as_source((X, Y), batch_size=4)
    assert isinstance(arrays, ArraySource) and arrays.batch_size == 4 and isinstance(arrays, BatchSource)
    assert as_source(arrays) is arrays
    assert isinstance(as_source(X), ArraySource) and isinstance(as_source(sp.csr_matrix(X)), ArraySource)
    assert isinstance(as_source([(X, Y)]), IterableSource)
    with pytest.raises(ValueError, match="tuple"):
        as_source((X, Y, W, W))
    with pytest.raises(TypeError, match="cannot make batches"):
        as_source(3.5)


def _fit(data, **kwargs):
    model = nn.MLP([4, 6, 3], rng=0)
    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), data, epochs=3, batch_size=5, rng=0, **kwargs)
    return [np.array(p.data) for p in model.parameters()]


def test_training_gives_the_same_weights_from_every_kind_of_source(tmp_path):
    reference = _fit((X, Y))
    path = tmp_path / "x.dat"
    X.tofile(path)
    memmap = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    for data in [(sp.csr_matrix(X), Y), (memmap, Y), ArraySource(X, Y, batch_size=5)]:
        assert all(np.array_equal(u, v) for u, v in zip(_fit(data), reference, strict=True))
    in_order = _fit((X, Y), shuffle=False)
    batches = [(X[i:i + 5], Y[i:i + 5]) for i in range(0, 23, 5)]
    assert all(np.array_equal(u, v) for u, v in zip(_fit(batches), in_order, strict=True))
