"""Graded tasks of assignment 4 (public tests): im2col, col2im and max-pool's backward.

The array functions of tinydl/ops/conv.py are checked against loops written out here.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinydl.ops.conv import col2im, im2col, max_pool2d_scatter


def loop_im2col(x, kh, kw, stride, padding):
    """cols[(c, i, j), (n, oh, ow)] = x_padded[n, c, oh*sh + i, ow*sw + j], by loops."""
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    cols = np.zeros((c * kh * kw, n * oh * ow))
    for ci in range(c):
        for i in range(kh):
            for j in range(kw):
                for b in range(n):
                    for y in range(oh):
                        for xx in range(ow):
                            cols[(ci * kh + i) * kw + j, (b * oh + y) * ow + xx] = \
                                padded[b, ci, y * stride + i, xx * stride + j]
    return cols


@pytest.mark.task("4.1")
@pytest.mark.points(2)
def test_im2col_matches_loops(course_rng):
    x = course_rng.standard_normal((2, 3, 5, 4))
    np.testing.assert_array_equal(im2col(x, 3, 2, (1, 1), (0, 0), (1, 1)), loop_im2col(x, 3, 2, 1, 0))


@pytest.mark.task("4.1")
@pytest.mark.points(2)
def test_im2col_with_stride_and_padding():
    x = np.arange(2 * 1 * 4 * 4, dtype=np.float64).reshape(2, 1, 4, 4)
    np.testing.assert_array_equal(im2col(x, 3, 3, (2, 2), (1, 1), (1, 1)), loop_im2col(x, 3, 3, 2, 1))


@pytest.mark.task("4.2")
@pytest.mark.points(2)
def test_col2im_is_the_adjoint_of_im2col(course_rng):
    # <loops_im2col(x), c> == <x, col2im(c)> for every x and c
    rng = course_rng
    x = rng.standard_normal((2, 2, 5, 5))
    cols = rng.standard_normal(loop_im2col(x, 3, 3, 2, 1).shape)
    back = col2im(cols, x.shape, 3, 3, (2, 2), (1, 1), (1, 1))
    assert back.shape == x.shape
    assert np.sum(loop_im2col(x, 3, 3, 2, 1) * cols) == pytest.approx(np.sum(x * back), rel=1e-12)


@pytest.mark.task("4.2")
@pytest.mark.points(2)
def test_col2im_counts_overlaps():
    # a 3x3 image, 2x2 windows with stride 1: the centre pixel lies in all four windows
    ones = np.ones((4, 4))  # (C*kh*kw, N*OH*OW) = (1*2*2, 1*2*2)
    counts = col2im(ones, (1, 1, 3, 3), 2, 2, (1, 1), (0, 0), (1, 1))
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.task("4.3")
@pytest.mark.points(2)
def test_max_pool_scatter_puts_gradients_at_the_maxima():
    grad = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])          # (1, 1, 2, 2) output gradient
    indices = np.array([[[[0, 3], [9, 15]]]])              # flat h*W + w positions in a 4x4 plane
    out = max_pool2d_scatter(grad, indices, (1, 1, 4, 4))
    expected = np.zeros(16)
    expected[[0, 3, 9, 15]] = [1, 2, 3, 4]
    np.testing.assert_array_equal(out.reshape(-1), expected)


@pytest.mark.task("4.3")
@pytest.mark.points(2)
def test_max_pool_scatter_adds_when_windows_share_a_pixel():
    grad = np.ones((1, 1, 1, 3))
    indices = np.array([[[[5, 5, 6]]]])  # overlapping windows picked pixel 5 twice
    out = max_pool2d_scatter(grad, indices, (1, 1, 3, 3))
    assert out.reshape(-1)[5] == 2.0 and out.reshape(-1)[6] == 1.0 and out.sum() == 3.0
