"""The row scatter-add (an embedding's backward): the Numba kernel vs the NumPy reference."""

import numpy as np
import pytest

import tinydl
from tinydl.kernels import indexing, registry
from tinydl.ops.shape import scatter_add_rows_reference


def test_reference_by_hand_repeated_and_negative_rows():
    out = np.zeros((3, 2))
    rows = np.array([[0, 2], [0, -1]])                     # row 2 twice (as 2 and -1), row 0 twice
    values = np.arange(8.0).reshape(2, 2, 2)
    scatter_add_rows_reference(out, rows, values)
    np.testing.assert_array_equal(out, [[0 + 4, 1 + 5], [0, 0], [2 + 6, 3 + 7]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_shape, row_shape", [((7,), (5,)), ((4, 9), (3,)), ((6,), (2, 3)),
                                                    ((0,), (4,)), ((5,), ())])
def test_numba_matches_the_reference(dtype, index_shape, row_shape):
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    count = 4
    rows = rng.integers(-count, count, index_shape)
    values = rng.standard_normal(index_shape + row_shape).astype(dtype)
    want = scatter_add_rows_reference(np.zeros((count, *row_shape), dtype), rows, values)
    got = indexing.scatter_add_rows_numba(np.zeros((count, *row_shape), dtype), rows, values)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_integer_arrays_go_to_the_reference():
    out = indexing.scatter_add_rows_numba(np.zeros((2, 2), np.int64), np.array([1, 1]),
                                          np.ones((2, 2), np.int64))
    np.testing.assert_array_equal(out, [[0, 0], [2, 2]])


def test_embedding_gradient_counts_repeated_ids(monkeypatch):
    for kernels in ("numpy", "numba"):
        monkeypatch.setenv(registry.ENV_VAR, kernels)
        weight = tinydl.tensor(np.ones((4, 3), np.float32), requires_grad=True)
        tinydl.functional.embedding(np.array([[1, 3], [1, 1]]), weight).sum().backward()
        np.testing.assert_array_equal(weight.grad.data[:, 0], [0, 3, 0, 1])
