"""im2col (the NumPy reference in tinydl.ops.conv) against torch, and max pooling's Numba kernels
(tinydl.kernels.conv) against the reference they are registered for: hand-worked values, Numba vs
NumPy, torch."""

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
    assert registry.implementations("max_pool2d_forward") == {
        "numpy": reference.max_pool2d_forward, "numba": conv.max_pool2d_forward_numba}
    assert registry.implementations("max_pool2d_backward") == {
        "numpy": reference.max_pool2d_scatter, "numba": conv.max_pool2d_scatter_numba}


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
