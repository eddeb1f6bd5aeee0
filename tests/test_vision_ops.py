"""conv2d, pooling and batch_norm beyond the generated OpSpec tests: more geometries against
PyTorch (float64, forward and backward to 1e-5), float32 paths, second derivatives through
conv, running statistics, im2col's layout by hand, and the error messages."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydl
import tinydl.functional as F
from tinydl.errors import DTypeError, ShapeError
from tinydl.ops import conv as conv_ops


def _t(array, dtype=np.float64, grad=True):
    return tinydl.tensor(array, dtype=dtype, requires_grad=grad)


@st.composite
def conv_cases(draw):
    """Bigger channel counts than the OpSpecs, odd sizes, every stride/padding/dilation."""
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 6))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    min_h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0])
    min_w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1])
    h, w = draw(st.integers(min_h, min_h + 9)), draw(st.integers(min_w, min_w + 9))
    seed = draw(st.integers(0, 2 ** 16))
    return (n, c, h, w), (o, c, kh, kw), stride, padding, dilation, seed


@pytest.mark.torch
@settings(max_examples=25)
@given(case=conv_cases(), with_bias=st.booleans())
def test_conv2d_matches_torch_forward_and_backward(case, with_bias):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, stride, padding, dilation, seed = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    ours = [_t(x), _t(w), _t(b) if with_bias else None]
    theirs = [torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True),
              torch.tensor(b, requires_grad=True) if with_bias else None]
    out = F.conv2d(*ours, stride=stride, padding=padding, dilation=dilation)
    expected = torch.nn.functional.conv2d(*theirs, stride=stride, padding=padding,
                                          dilation=dilation)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=1e-5, rtol=1e-5)
    weights = rng.standard_normal(out.shape)
    (out * _t(weights, grad=False)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for mine, reference in zip(ours, theirs):
        if mine is not None:
            np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), atol=1e-5,
                                       rtol=1e-5)


@pytest.mark.torch
@settings(max_examples=15)
@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 12), w=st.integers(1, 12),
       k=st.integers(1, 4), s=st.integers(1, 4), p=st.integers(0, 2), seed=st.integers(0, 999))
def test_pools_match_torch(n, c, h, w, k, s, p, seed):
    torch = pytest.importorskip("torch")
    p = min(p, k // 2)
    if h + 2 * p < k or w + 2 * p < k:
        return
    rng = np.random.default_rng(seed)
    x = rng.permutation(n * c * h * w).reshape(n, c, h, w) * 0.1  # distinct: no ties
    for ours, theirs in [
            (lambda t: F.max_pool2d(t, k, s, p),
             lambda t: torch.nn.functional.max_pool2d(t, k, s, p)),
            (lambda t: F.avg_pool2d(t, k, s, p),
             lambda t: torch.nn.functional.avg_pool2d(t, k, s, p)),
            (lambda t: F.avg_pool2d(t, k, s, p, count_include_pad=False),
             lambda t: torch.nn.functional.avg_pool2d(t, k, s, p, count_include_pad=False)),
            (lambda t: F.adaptive_avg_pool2d(t, (min(h, 3), min(w, 2))),
             lambda t: torch.nn.functional.adaptive_avg_pool2d(t, (min(h, 3), min(w, 2))))]:
        mine, reference = _t(x), torch.tensor(x, requires_grad=True)
        out, expected = ours(mine), theirs(reference)
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=1e-12)
        g = rng.standard_normal(out.shape)
        (out * _t(g, grad=False)).sum().backward()
        (expected * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), atol=1e-12)


@pytest.mark.torch
def test_conv2d_second_derivatives_match_torch(torch):
    """A gradient penalty: differentiate |d(loss)/dx|^2 with respect to the weight."""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    xs, ws, bs = _t(x), _t(w), _t(b)
    loss = (F.conv2d(xs, ws, bs, stride=2, padding=1) ** 2).sum()
    (gx,) = tinydl.grad(loss, [xs], create_graph=True)
    (gx * gx).sum().backward()
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    loss_t = (torch.nn.functional.conv2d(xt, wt, bt, stride=2, padding=1) ** 2).sum()
    (gxt,) = torch.autograd.grad(loss_t, [xt], create_graph=True)
    (gxt * gxt).sum().backward()
    np.testing.assert_allclose(ws.grad.numpy(), wt.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.torch
def test_float32_conv_net_matches_torch_and_keeps_float32(torch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((8, 3, 12, 12)).astype(np.float32)
    w = (rng.standard_normal((16, 3, 3, 3)) * 0.2).astype(np.float32)
    ws = _t(w, np.float32)
    out = F.max_pool2d(F.relu(F.conv2d(_t(x, np.float32, False), ws, padding=1)), 2)
    assert out.dtype == np.float32
    out.sum().backward()
    assert ws.grad.dtype == np.float32
    wt = torch.tensor(w, requires_grad=True)
    ref = torch.nn.functional.max_pool2d(torch.relu(torch.nn.functional.conv2d(
        torch.tensor(x), wt, padding=1)), 2)
    ref.sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(ws.grad.numpy(), wt.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.torch
@pytest.mark.parametrize("out_channels, size", [(8, 16), (8, 15), (40, 16)])
def test_conv2d_weight_gradient_image_by_image_matches_torch(torch, out_channels, size):
    """A first layer's small weight gradient (O*K <= SMALL_WEIGHT_GRADIENT, >= 256 pixels an
    image) is summed image by image; a 15x15 output or 40 filters take the one long product."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3, size, size))
    w, b = rng.standard_normal((out_channels, 3, 3, 3)), rng.standard_normal(out_channels)
    g = rng.standard_normal((5, out_channels, size, size))
    ws, bs = _t(w), _t(b)
    (F.conv2d(_t(x, grad=False), ws, bs, padding=1) * _t(g, grad=False)).sum().backward()
    wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    (torch.nn.functional.conv2d(torch.tensor(x), wt, bt, padding=1) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ws.grad.numpy(), wt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(bs.grad.numpy(), bt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_weight_gradient_sums_each_images_product():
    """weight_gradient against grad @ cols^T written out, on the split path and the other."""
    rng = np.random.default_rng(4)
    for out_channels, rows, images, per_image in [(4, 9, 3, 256), (4, 9, 3, 255), (64, 27, 2, 300)]:
        grad = rng.standard_normal((out_channels, images * per_image)).astype(np.float32)
        cols = rng.standard_normal((rows, images * per_image)).astype(np.float32)
        expected = sum(grad[:, i * per_image:(i + 1) * per_image].astype(np.float64)
                       @ cols[:, i * per_image:(i + 1) * per_image].T.astype(np.float64)
                       for i in range(images))
        result = conv_ops.weight_gradient(grad, cols, images)
        assert result.shape == (out_channels, rows) and result.dtype == np.float32
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-3)


def test_weight_gradient_shares_the_images_between_threads(monkeypatch, slice_counts):
    """From BY_IMAGE_SPLIT_MIN multiply-adds on, with two threads, each thread sums some images'
    products: the result is still the sum over every image (7 images: slices of 3 and 4)."""
    pytest.importorskip("threadpoolctl")
    from tinydl import threads

    monkeypatch.setattr(threads, "_budget", 2)
    rng = np.random.default_rng(5)
    out_channels, rows, images, per_image = 4, 9, 7, 256
    grad = rng.standard_normal((out_channels, images * per_image)).astype(np.float32)
    cols = rng.standard_normal((rows, images * per_image)).astype(np.float32)
    expected = grad.astype(np.float64) @ cols.T.astype(np.float64)
    for split_min, parts in [(0, 2), (out_channels * rows * images * per_image + 1, 1)]:
        monkeypatch.setattr(conv_ops, "BY_IMAGE_SPLIT_MIN", split_min)
        result = conv_ops.weight_gradient(grad, cols, images)
        assert slice_counts.pop() == parts
        assert result.shape == (out_channels, rows) and result.dtype == np.float32
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-3)


def test_im2col_layout_by_hand():
    """Two 2x2 windows of a 2x3 image: each window becomes a column, rows ordered (c, i, j)."""
    x = np.array([[[[1.0, 2.0, 3.0],
                    [4.0, 5.0, 6.0]]]])                               # (1, 1, 2, 3)
    cols = conv_ops.im2col(x, 2, 2, (1, 1), (0, 0), (1, 1))
    np.testing.assert_array_equal(cols, [[1, 2], [2, 3], [4, 5], [5, 6]])
    # col2im adds the columns back: pixels in both windows (2 and 5) are counted twice
    back = conv_ops.col2im(np.ones_like(cols), x.shape, 2, 2, (1, 1), (0, 0), (1, 1))
    np.testing.assert_array_equal(back, [[[[1, 2, 1], [1, 2, 1]]]])


def test_conv2d_by_hand():
    """A 2x2 kernel of ones sums each window; the bias is added once."""
    x = tinydl.tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    w = tinydl.ones(1, 1, 2, 2)
    out = F.conv2d(x, w, tinydl.tensor([10.0]))
    np.testing.assert_array_equal(out.numpy(), [[[[18, 22], [30, 34]]]])


def test_max_pool_sends_gradient_to_the_maximum_only():
    x = _t(np.array([[[[1.0, 5.0], [3.0, 2.0]]]]))
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 1], [0, 0]]]])


def test_max_pool_overlapping_windows_add_up():
    """Stride 1 over [0 9 0]: both windows pick the 9, so it collects both gradients."""
    x = _t(np.array([[[[0.0, 9.0, 0.0]]]]))
    F.max_pool2d(x, (1, 2), stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 2, 0]]]])


def test_max_pool_works_with_numpy_kernels_forced(monkeypatch):
    monkeypatch.setenv("TINYDL_KERNELS", "numpy")
    x = _t(np.array([[[[1.0, 5.0, 2.0], [3.0, 2.0, 8.0]]]]))
    out = F.max_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(out.numpy(), [[[[5, 8]]]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 1, 0], [0, 0, 1]]]])


# ---- batch norm --------------------------------------------------------------------------------


@pytest.mark.torch
def test_batch_norm_running_stats_follow_torch(torch):
    """Three training steps then eval: running mean/var (unbiased) and outputs as in torch."""
    rng = np.random.default_rng(3)
    mean, var = _t(np.zeros(4), grad=False), _t(np.ones(4), grad=False)
    tmean, tvar = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    for step in range(3):
        x = rng.standard_normal((5, 4, 3, 2)) * (step + 1) + step
        out = F.batch_norm(_t(x), mean, var, _t(w), _t(b), training=True, momentum=0.2)
        ref = torch.nn.functional.batch_norm(torch.tensor(x), tmean, tvar, torch.tensor(w),
                                             torch.tensor(b), training=True, momentum=0.2)
        np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-10)
    np.testing.assert_allclose(mean.numpy(), tmean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(var.numpy(), tvar.numpy(), rtol=1e-12)
    x = rng.standard_normal((2, 4, 3, 2))
    out = F.batch_norm(_t(x), mean, var, _t(w), _t(b), training=False)
    ref = torch.nn.functional.batch_norm(torch.tensor(x), tmean, tvar, torch.tensor(w),
                                         torch.tensor(b), training=False)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-10)


def test_batch_norm_by_hand():
    """Channel values 1, 3 -> mean 2, biased var 1: normalised to -1, 1 (up to eps); running
    var gets the unbiased 2: 0.9 * 1 + 0.1 * 2 = 1.1."""
    x = _t(np.array([[1.0], [3.0]]))
    mean, var = _t(np.zeros(1), grad=False), _t(np.ones(1), grad=False)
    out = F.batch_norm(x, mean, var, training=True, eps=0.0)
    np.testing.assert_allclose(out.numpy(), [[-1.0], [1.0]])
    np.testing.assert_allclose(mean.numpy(), [0.2])
    np.testing.assert_allclose(var.numpy(), [1.1])


def test_batch_norm_float32_running_stats_stay_float32():
    mean, var = tinydl.zeros(3), tinydl.ones(3)
    F.batch_norm(tinydl.randn(4, 3), mean, var, training=True)
    assert mean.dtype == np.float32 and var.dtype == np.float32


# ---- errors --------------------------------------------------------------------------------------


def test_conv2d_errors_name_the_shapes_and_the_fix():
    x = tinydl.randn(2, 3, 8, 8)
    with pytest.raises(ShapeError, match=r"conv2d: input has 3 channels.*weight expects 4"):
        F.conv2d(x, tinydl.randn(5, 4, 3, 3))
    with pytest.raises(ShapeError, match=r"conv2d: input must be 4-D \(N, C, H, W\).*unsqueeze"):
        F.conv2d(tinydl.randn(3, 8, 8), tinydl.randn(5, 3, 3, 3))
    with pytest.raises(ShapeError, match=r"conv2d: input height 8 \(padded to 8\) is smaller than "
                                         r"the kernel height 9"):
        F.conv2d(x, tinydl.randn(5, 3, 9, 3))
    with pytest.raises(ShapeError, match=r"conv2d: bias must have shape \(5,\)"):
        F.conv2d(x, tinydl.randn(5, 3, 3, 3), tinydl.randn(4))
    with pytest.raises(ValueError, match=r"conv2d: stride must be >= 1, got 0"):
        F.conv2d(x, tinydl.randn(5, 3, 3, 3), stride=0)
    with pytest.raises(DTypeError, match=r"conv2d: input is float32 but weight is float64"):
        F.conv2d(x, tinydl.randn(5, 3, 3, 3, dtype=tinydl.float64))
    with pytest.raises(DTypeError, match=r"conv2d: input must be a float tensor, got int64"):
        F.conv2d(tinydl.tensor(np.zeros((1, 3, 4, 4), dtype=np.int64)), tinydl.randn(5, 3, 3, 3))


def test_pool_and_batch_norm_errors():
    x = tinydl.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ShapeError, match=r"avg_pool2d: input height 4 .* kernel height 5"):
        F.avg_pool2d(x, 5)
    with pytest.raises(TypeError, match=r"max_pool2d: kernel_size must be an int or a pair"):
        F.max_pool2d(x, 2.5)
    with pytest.raises(ShapeError, match=r"batch_norm: weight must have shape \(3,\).*got \(4,\)"):
        F.batch_norm(x, None, None, tinydl.ones(4), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: training needs more than one value per "
                                         r"channel.*model.eval\(\)"):
        F.batch_norm(tinydl.randn(1, 3), None, None, training=True)
