"""Hidden tests of assignment 4."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl as td
from tinydl.ops.conv import im2col, max_pool2d_scatter
from tinydl.testing import gradcheck


@pytest.mark.task("4.1")
@pytest.mark.points(1)
def test_im2col_dilation():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    cols = im2col(x, 2, 2, (1, 1), (0, 0), (2, 2))
    np.testing.assert_array_equal(cols[:, 0], [0.0, 2.0, 10.0, 12.0])  # taps 2 apart


@pytest.mark.task("4.2")
@pytest.mark.points(1)
def test_conv2d_gradcheck_uses_col2im(course_rng):
    rng = course_rng
    x = td.tensor(rng.standard_normal((1, 2, 4, 4)), dtype=td.float64, requires_grad=True)
    w = td.tensor(rng.standard_normal((2, 2, 3, 3)), dtype=td.float64, requires_grad=True)
    assert gradcheck(lambda x, w: td.functional.conv2d(x, w, padding=1), [x, w])


@pytest.mark.task("4.3")
@pytest.mark.points(1)
def test_max_pool_scatter_batched_planes():
    grad = np.arange(1.0, 5.0).reshape(2, 2, 1, 1)
    indices = np.array([0, 1, 2, 3]).reshape(2, 2, 1, 1)
    out = max_pool2d_scatter(grad, indices, (2, 2, 2, 2))
    np.testing.assert_array_equal(out.reshape(4, 4), np.diag([1.0, 2.0, 3.0, 4.0]))
