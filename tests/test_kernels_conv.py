"""im2col / col2im and max pooling: hand-worked values, adjointness, Numba vs NumPy, torch."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinydl.kernels import conv

IM2COL = {"reference": conv.im2col_reference, "numba": conv.im2col_numba}
COL2IM = {"reference": conv.col2im_reference, "numba": conv.col2im_numba}
POOL_FORWARD = {"reference": conv.max_pool2d_forward_reference,
                "numba": conv.max_pool2d_forward_numba}
POOL_BACKWARD = {"reference": conv.max_pool2d_backward_reference,
                 "numba": conv.max_pool2d_backward_numba}


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
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    H = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 9))
    W = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 9))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((N, C, H, W))
    return x, (kernel, stride, padding)


# ----------------------------------------------------------------------------- im2col / col2im

@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_im2col_by_hand(impl):
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    # 2x2 windows, stride 1: one row per output pixel, the window in row-major order.
    np.testing.assert_array_equal(IM2COL[impl](x, 2, 2), [[0, 1, 3, 4], [1, 2, 4, 5],
                                                          [3, 4, 6, 7], [4, 5, 7, 8]])
    # padding 1, stride 2: four windows centred on the corners, zeros outside.
    np.testing.assert_array_equal(IM2COL[impl](x, 3, 3, stride=2, padding=1)[0],
                                  [0, 0, 0, 0, 0, 1, 0, 3, 4])
    # dilation 2 on the 3x3 image: the single window reads the four corners.
    np.testing.assert_array_equal(IM2COL[impl](x, 2, 2, dilation=2), [[0, 2, 6, 8]])


@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_col2im_adds_up_overlapping_windows(impl):
    # All-ones columns: each pixel receives one count per window that covers it.
    cols = np.ones((4, 4))
    np.testing.assert_array_equal(COL2IM[impl](cols, (1, 1, 3, 3), 2, 2)[0, 0],
                                  [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@settings(max_examples=60, deadline=None)
@given(case=conv_cases())
def test_numba_matches_reference_and_col2im_is_the_adjoint(case):
    x, geometry = case
    cols = conv.im2col_reference(x, *geometry)
    np.testing.assert_array_equal(conv.im2col_numba(x, *geometry), cols)
    c = np.random.default_rng(0).standard_normal(cols.shape)
    back = conv.col2im_reference(c, x.shape, *geometry)
    np.testing.assert_allclose(conv.col2im_numba(c, x.shape, *geometry), back, rtol=1e-12,
                               atol=1e-12)
    # <im2col(x), c> == <x, col2im(c)>
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * back), rtol=1e-10, atol=1e-10)


def test_numba_im2col_and_col2im_keep_float32():
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5)).astype(np.float32)
    cols = conv.im2col_numba(x, 3, 2, 2, 1, 1)
    np.testing.assert_array_equal(cols, conv.im2col_reference(x, 3, 2, 2, 1, 1))
    back = conv.col2im_numba(cols, x.shape, 3, 2, 2, 1, 1)
    assert cols.dtype == back.dtype == np.float32
    np.testing.assert_allclose(back, conv.col2im_reference(cols, x.shape, 3, 2, 2, 1, 1),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("impl", ["reference", "numba"])
@settings(max_examples=30, deadline=None)
@given(case=conv_cases(), filters=st.integers(1, 4))
def test_convolution_as_one_matmul_matches_torch(impl, case, filters):
    torch = pytest.importorskip("torch")
    x, (kh, kw, stride, padding, dilation) = case
    N, C = x.shape[:2]
    weight = np.random.default_rng(2).standard_normal((filters, C, kh, kw))
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight),
                                          stride=stride, padding=padding,
                                          dilation=dilation).numpy()
    OH, OW = expected.shape[2:]
    cols = IM2COL[impl](x, kh, kw, stride, padding, dilation)  # (N*OH*OW, C*kh*kw)
    out = cols @ weight.reshape(filters, -1).T  # (N*OH*OW, F)
    np.testing.assert_allclose(out.reshape(N, OH, OW, filters).transpose(0, 3, 1, 2), expected,
                               rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- max pooling

@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_max_pool_by_hand(impl):
    x = np.array([[1.0, 5, 2, 0], [3, 4, 8, 7], [6, 0, 1, 2], [9, 2, 3, 4]])[None, None]
    out, indices = POOL_FORWARD[impl](x, 2)
    np.testing.assert_array_equal(out[0, 0], [[5, 8], [9, 4]])
    np.testing.assert_array_equal(indices[0, 0], [[1, 6], [12, 15]])  # flat h * 4 + w
    dx = POOL_BACKWARD[impl](np.array([[[[1.0, 2], [3, 4]]]]), indices, x.shape)
    np.testing.assert_array_equal(dx[0, 0], [[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0],
                                             [3, 0, 0, 4]])
    # Overlapping 3x3 windows with stride 1 all pick the 9: its gradient adds up.
    out, indices = POOL_FORWARD[impl](x, 3, stride=1)
    np.testing.assert_array_equal(out[0, 0], [[8, 8], [9, 8]])
    dx = POOL_BACKWARD[impl](np.ones((1, 1, 2, 2)), indices, x.shape)
    assert dx[0, 0, 1, 2] == 3 and dx[0, 0, 3, 0] == 1 and dx.sum() == 4


@settings(max_examples=60, deadline=None)
@given(case=pool_cases())
def test_max_pool_numba_matches_reference(case):
    x, geometry = case
    out, indices = conv.max_pool2d_forward_reference(x, *geometry)
    out_nb, indices_nb = conv.max_pool2d_forward_numba(x, *geometry)
    np.testing.assert_array_equal(out_nb, out)
    np.testing.assert_array_equal(indices_nb, indices)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    np.testing.assert_allclose(conv.max_pool2d_backward_numba(dout, indices, x.shape),
                               conv.max_pool2d_backward_reference(dout, indices, x.shape),
                               rtol=1e-12, atol=1e-12)


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
    out, indices = conv.max_pool2d_forward_numba(x, 3, 2, 1)
    dx = conv.max_pool2d_backward_numba(np.ones_like(out), indices, x.shape)
    assert out.dtype == dx.dtype == np.float32 and indices.dtype == np.int64
    np.testing.assert_array_equal(out, conv.max_pool2d_forward_reference(x, 3, 2, 1)[0])


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_bad_geometry_raises_one_clear_error(impl):
    x = np.zeros((1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"im2col: the kernel \(size 3, dilation 2, reach 5\) is "
                                         r"larger than the padded input height 4 \+ 2\*0 = 4"):
        IM2COL[impl](x, 3, 3, dilation=2)
    with pytest.raises(ValueError, match=r"im2col: stride must be an int >= 1 or a pair of them "
                                         r"\(height, width\), got \(1, 0\)"):
        IM2COL[impl](x, 2, 2, stride=(1, 0))
    with pytest.raises(ValueError, match=r"col2im: cols must have shape \(N\*OH\*OW, C\*kh\*kw\) "
                                         r"= \(9, 8\) for x_shape \(1, 2, 4, 4\)"):
        COL2IM[impl](np.zeros((9, 9)), x.shape, 2, 2)
    with pytest.raises(ValueError, match=r"max_pool2d_forward: padding \(2, 2\) must be at most "
                                         r"half the kernel \(3, 3\)"):
        POOL_FORWARD[impl](x, 3, 1, 2)
    with pytest.raises(ValueError, match=r"max_pool2d_backward: indices must lie in \[0, H\*W\) "
                                         r"= \[0, 16\)"):
        POOL_BACKWARD[impl](np.zeros((1, 2, 2, 2)), np.full((1, 2, 2, 2), 16), x.shape)
    with pytest.raises(TypeError, match=r"im2col: x must be float32 or float64, got int64"):
        IM2COL[impl](x.astype(np.int64), 2, 2)
