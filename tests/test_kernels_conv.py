"""im2col (the NumPy reference in tinydl.ops.conv) against torch, and the Numba kernels of
tinydl.kernels.conv (im2col, col2im, max pooling) against the references they are registered for:
hand-worked values, Numba vs NumPy on both memory orders of a batch, torch."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinydl.kernels import conv, registry
from tinydl.ops import conv as reference

POOL_FORWARD = {"reference": reference.max_pool2d_forward,
                "numba": conv.max_pool2d_forward_numba}
POOL_BACKWARD = {"reference": reference.max_pool2d_scatter,
                 "numba": conv.max_pool2d_scatter_numba}


def channel_major(x):
    """x (N, C, H, W) with the same values, stored as a (C, N, H, W) block (a convolution's output)."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


LAYOUTS = {"batch-major": lambda x: x, "channel-major": channel_major,
           "strided slice": lambda x: np.repeat(x, 2, axis=3)[..., ::2]}


@st.composite
def conv_cases(draw):
    """x (N, C, H, W) and a kernel/stride/padding/dilation that fits it."""
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    assume(H + 2 * padding[0] >= dilation[0] * (kh - 1) + 1)
    assume(W + 2 * padding[1] >= dilation[1] * (kw - 1) + 1)
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((N, C, H, W))
    return x, (kh, kw, stride, padding, dilation)


@st.composite
def pool_cases(draw):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.one_of(st.just(kernel), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    H = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 9))
    W = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 9))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((N, C, H, W))
    return x, (kernel, stride, padding)


# ----------------------------------------------------------------------------- im2col


@pytest.mark.torch
@settings(max_examples=30, deadline=None)
@given(case=conv_cases(), filters=st.integers(1, 4))
def test_convolution_as_one_matmul_matches_torch(case, filters):
    torch = pytest.importorskip("torch")
    x, (kh, kw, stride, padding, dilation) = case
    N, C = x.shape[:2]
    weight = np.random.default_rng(2).standard_normal((filters, C, kh, kw))
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight),
                                          stride=stride, padding=padding,
                                          dilation=dilation).numpy()
    OH, OW = expected.shape[2:]
    assert reference.output_size(*x.shape[2:], kh, kw, stride, padding, dilation) == (OH, OW)
    cols = reference.im2col(x, kh, kw, stride, padding, dilation)  # (C*kh*kw, N*OH*OW)
    out = weight.reshape(filters, -1) @ cols  # (F, N*OH*OW)
    np.testing.assert_allclose(out.reshape(filters, N, OH, OW).transpose(1, 0, 2, 3), expected,
                               rtol=1e-10, atol=1e-12)


def test_the_registry_holds_the_reference_and_the_numba_loops():
    assert registry.implementations("im2col") == {"numpy": reference.im2col,
                                                  "numba": conv.im2col_numba}
    assert registry.implementations("col2im") == {"numpy": reference.col2im,
                                                  "numba": conv.col2im_numba}
    assert registry.implementations("max_pool2d_forward") == {
        "numpy": reference.max_pool2d_forward, "numba": conv.max_pool2d_forward_numba}
    assert registry.implementations("max_pool2d_backward") == {
        "numpy": reference.max_pool2d_scatter, "numba": conv.max_pool2d_scatter_numba}


def test_im2col_and_col2im_numba_by_hand():
    pytest.importorskip("numba")
    x = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)  # [[1, 2], [3, 4]], padded by one zero all round
    cols = conv.im2col_numba(x, 2, 2, (2, 2), (1, 1), (1, 1))  # four windows, one pixel each
    np.testing.assert_array_equal(cols, [[0, 0, 0, 4], [0, 0, 3, 0], [0, 2, 0, 0], [1, 0, 0, 0]])
    # 3x3 windows, stride 1, padding 1 on a 2x2 image: every pixel is in all four windows, so
    # col2im of all-ones columns counts 4 everywhere.
    ones = np.ones((9, 4))
    np.testing.assert_array_equal(conv.col2im_numba(ones, (1, 1, 2, 2), 3, 3, (1, 1), (1, 1),
                                                    (1, 1)), np.full((1, 1, 2, 2), 4.0))


def test_im2col_numba_with_a_window_position_that_sees_only_padding():
    """A 1x1 image padded by 2 columns a side, windows of 3 taps 2 apart: the first tap reads
    only left padding. Its zero-filling once ran past its row and zeroed the next row's first
    entry (the first image's pixel: [[0, 0], [0, 7], [0, 0]]); found by the gradcheck of fold."""
    pytest.importorskip("numba")
    x = np.array([5.0, 7.0]).reshape(2, 1, 1, 1)
    cols = conv.im2col_numba(x, 1, 3, (1, 1), (0, 2), (1, 2))
    np.testing.assert_array_equal(cols, [[0, 0], [5, 7], [0, 0]])
    wide = np.arange(1.0, 7.0).reshape(3, 1, 1, 2)                 # 3 images of 1x2, padding 3
    np.testing.assert_array_equal(conv.im2col_numba(wide, 1, 2, (1, 2), (0, 3), (1, 4)),
                                  reference.im2col(wide, 1, 2, (1, 2), (0, 3), (1, 4)))


def test_im2col_and_col2im_numba_match_the_reference_over_every_small_geometry():
    """Every width geometry up to 3 pixels, 3 taps, stride 3, padding 3, dilation 3 (and the same
    along the height): the cases where whole window positions see only padding, which the
    random strategy above reaches rarely, are all here."""
    pytest.importorskip("numba")
    padding_only = 0
    for width, taps, step, pad, spread in itertools.product(range(1, 4), range(1, 4), range(1, 4),
                                                            range(4), range(1, 4)):
        if width + 2 * pad < spread * (taps - 1) + 1:
            continue  # no window fits
        starts = range(-pad, width + pad - spread * (taps - 1), step)
        padding_only += sum(all(not 0 <= s + spread * t < width for t in range(taps))
                            for s in starts)
        x = np.arange(1.0, 2 * 2 * width + 1).reshape(2, 1, 2, width)
        for image, geometry in [(x, (1, taps, (1, step), (0, pad), (1, spread))),
                                (x.transpose(0, 1, 3, 2), (taps, 1, (step, 1), (pad, 0), (spread, 1)))]:
            cols = reference.im2col(image, *geometry)
            np.testing.assert_array_equal(conv.im2col_numba(image, *geometry), cols,
                                          err_msg=str(geometry))
            np.testing.assert_array_equal(conv.col2im_numba(cols, image.shape, *geometry),
                                          reference.col2im(cols, image.shape, *geometry),
                                          err_msg=str(geometry))
    assert padding_only > 50  # window positions that read no pixel at all


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@settings(max_examples=40, deadline=None)
@given(case=conv_cases())
def test_im2col_and_col2im_numba_match_the_reference(layout, case):
    pytest.importorskip("numba")
    x, geometry = case
    x = LAYOUTS[layout](x)
    cols = reference.im2col(x, *geometry)
    np.testing.assert_array_equal(conv.im2col_numba(x, *geometry), cols)
    spread = np.random.default_rng(6).standard_normal(cols.shape)
    image = conv.col2im_numba(spread, x.shape, *geometry)
    np.testing.assert_allclose(image, reference.col2im(spread, x.shape, *geometry),
                               rtol=1e-12, atol=1e-12)
    assert image.transpose(1, 0, 2, 3).flags.c_contiguous  # the reference's (C, N, H, W) block


def test_im2col_and_col2im_numba_keep_float32():
    pytest.importorskip("numba")
    x = np.random.default_rng(7).standard_normal((2, 3, 6, 5)).astype(np.float32)
    cols = conv.im2col_numba(x, 3, 3, (1, 1), (1, 1), (1, 1))
    image = conv.col2im_numba(cols, x.shape, 3, 3, (1, 1), (1, 1), (1, 1))
    assert cols.dtype == image.dtype == np.float32
    np.testing.assert_array_equal(cols, reference.im2col(x, 3, 3, (1, 1), (1, 1), (1, 1)))


# ----------------------------------------------------------------------------- max pooling

@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_max_pool_by_hand(impl):
    x = np.array([[1.0, 5, 2, 0], [3, 4, 8, 7], [6, 0, 1, 2], [9, 2, 3, 4]])[None, None]
    out, indices = POOL_FORWARD[impl](x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(out[0, 0], [[5, 8], [9, 4]])
    np.testing.assert_array_equal(indices[0, 0], [[1, 6], [12, 15]])  # flat h * 4 + w
    dx = POOL_BACKWARD[impl](np.array([[[[1.0, 2], [3, 4]]]]), indices, x.shape)
    np.testing.assert_array_equal(dx[0, 0], [[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0],
                                             [3, 0, 0, 4]])
    # Overlapping 3x3 windows with stride 1 all pick the 9: its gradient adds up.
    out, indices = POOL_FORWARD[impl](x, (3, 3), (1, 1), (0, 0))
    np.testing.assert_array_equal(out[0, 0], [[8, 8], [9, 8]])
    dx = POOL_BACKWARD[impl](np.ones((1, 1, 2, 2)), indices, x.shape)
    assert dx[0, 0, 1, 2] == 3 and dx[0, 0, 3, 0] == 1 and dx.sum() == 4


@settings(max_examples=60, deadline=None)
@given(case=pool_cases())
def test_max_pool_numba_matches_reference(case):
    x, geometry = case
    out, indices = reference.max_pool2d_forward(x, *geometry)
    out_nb, indices_nb = conv.max_pool2d_forward_numba(x, *geometry)
    np.testing.assert_array_equal(out_nb, out)
    np.testing.assert_array_equal(indices_nb, indices)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    np.testing.assert_allclose(conv.max_pool2d_scatter_numba(dout, indices, x.shape),
                               reference.max_pool2d_scatter(dout, indices, x.shape),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@settings(max_examples=40, deadline=None)
@given(case=pool_cases())
def test_max_pool_numba_matches_reference_in_every_memory_order(layout, case):
    x, geometry = case
    out, indices = reference.max_pool2d_forward(x, *geometry)
    stored = LAYOUTS[layout](x)
    out_nb, indices_nb = conv.max_pool2d_forward_numba(stored, *geometry)
    np.testing.assert_array_equal(out_nb, out)
    np.testing.assert_array_equal(indices_nb, indices)
    if layout == "channel-major":  # kept, so the convolution's backward needs no reordering
        assert out_nb.transpose(1, 0, 2, 3).flags.c_contiguous
        assert indices_nb.transpose(1, 0, 2, 3).flags.c_contiguous
    # the gradient arrives in either order (from a convolution or from a flatten)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    for grad in (dout, channel_major(dout)):
        np.testing.assert_allclose(conv.max_pool2d_scatter_numba(grad, indices_nb, x.shape),
                                   reference.max_pool2d_scatter(dout, indices, x.shape),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_max_pool_2x2_picks_the_first_maximum_and_the_last_nan(impl):
    inf = np.inf
    x = np.array([[3.0, 3, 1, 7, -inf, 1], [2, 3, 7, 7, 2, inf],
                  [0, 0, np.nan, 5, -inf, -inf], [-1, np.nan, 5, np.nan, -inf, -inf]])
    out, indices = POOL_FORWARD[impl](x[None, None], (2, 2), (2, 2), (0, 0))
    # first maximum on ties; a NaN wins, the last of two NaNs (PyTorch's rule); +inf beside
    # -inf; all -inf
    np.testing.assert_array_equal(indices[0, 0], [[0, 3, 11], [19, 21, 16]])
    np.testing.assert_array_equal(out[0, 0], [[3, 7, inf], [np.nan, np.nan, -inf]])


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("height, width", [(26, 26), (11, 11), (4, 7)])
def test_max_pool_2x2_kernel_both_copies_match_the_reference(parallel, height, width):
    """The serial twin (what a training step runs below the parallel threshold) and the parallel
    copy, on data full of ties (ReLU's zeros, a few values repeated), NaNs and infinities; odd
    sizes drop their last row or column."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(height * width)
    x = np.maximum(rng.integers(-3, 4, (12, 2, height, width)), 0).astype(np.float32)
    x[rng.random(x.shape) < 0.03] = np.nan
    x[rng.random(x.shape) < 0.02] = np.inf
    x[rng.random(x.shape) < 0.02] = -np.inf
    expected_out, expected_indices = reference.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    planes = x.reshape(-1, height, width)
    out = np.empty((planes.shape[0], height // 2, width // 2), np.float32)
    indices = np.empty(out.shape, np.int64)
    conv._max_pool_2x2_kernel.compiled(parallel=parallel)(planes, out, indices)
    np.testing.assert_array_equal(out.reshape(expected_out.shape), expected_out)
    np.testing.assert_array_equal(indices.reshape(expected_indices.shape), expected_indices)


@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_max_pool_3x3_window_keeps_its_last_nan(impl):
    x = np.array([[1.0, np.nan, 2, 9], [np.nan, 0, 3, 1], [4, 5, 6, 2]])
    out, indices = POOL_FORWARD[impl](x[None, None], (3, 3), (1, 1), (0, 0))
    # windows: columns 0-2 hold NaNs at flat positions 1 and 4 (the last wins); columns 1-3
    # hold one NaN, at position 1, which beats the 9
    np.testing.assert_array_equal(indices[0, 0], [[4, 1]])
    assert np.isnan(out[0, 0]).all()


@pytest.mark.torch
@pytest.mark.parametrize("impl", ["reference", "numba"])
@settings(max_examples=30, deadline=None)
@given(case=pool_cases())
def test_max_pool_matches_torch_with_padding(impl, case):
    torch = pytest.importorskip("torch")
    x, (kernel, stride, padding) = case
    x_t = torch.from_numpy(x).requires_grad_()
    out_t, indices_t = torch.nn.functional.max_pool2d(x_t, kernel, stride, padding,
                                                      return_indices=True)
    dout = np.random.default_rng(4).standard_normal(tuple(out_t.shape))
    out_t.backward(torch.from_numpy(dout))
    out, indices = POOL_FORWARD[impl](x, kernel, stride, padding)
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_array_equal(indices, indices_t.numpy())
    np.testing.assert_allclose(POOL_BACKWARD[impl](dout, indices, x.shape), x_t.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


def test_max_pool_numba_keeps_float32():
    x = np.random.default_rng(5).standard_normal((2, 2, 5, 5)).astype(np.float32)
    out, indices = conv.max_pool2d_forward_numba(x, (3, 3), (2, 2), (1, 1))
    dx = conv.max_pool2d_scatter_numba(np.ones_like(out), indices, x.shape)
    assert out.dtype == dx.dtype == np.float32 and indices.dtype == np.int64
    np.testing.assert_array_equal(out, reference.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))[0])
