"""Declarations of the vision ops (conv, pooling, batch norm, im2col/col2im), one OpSpec each.

tests/test_ops_generated.py and tests/test_backend.py run them: forward against the plain
NumPy loops below, gradcheck and gradgradcheck, float32 in/out, PyTorch's forward and
backward, and the stand-in device. Shapes are kept small (gradgradcheck is per element) but
odd sizes, strides, paddings and dilations are all drawn.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import tinydl as td
import tinydl.functional as F
from tinydl.ops import conv as conv_ops
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    torch = TF = None


# ---------------------------------------------------------------------------------------------
# NumPy references: direct loops over output pixels, written independently of tinydl
# ---------------------------------------------------------------------------------------------


def _out_size(size, kernel, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _np_patches(x, kernel, stride, padding, dilation, fill=0.0):
    """Yield (oh, ow, patch) with patch (N, C, kh, kw), the window under output pixel (oh, ow)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    for oh in range(_out_size(x.shape[2], kh, sh, ph, dh)):
        for ow in range(_out_size(x.shape[3], kw, sw, pw, dw)):
            top, left = oh * sh, ow * sw
            rows = slice(top, top + dh * (kh - 1) + 1, dh)
            cols = slice(left, left + dw * (kw - 1) + 1, dw)
            yield oh, ow, padded[:, :, rows, cols]


def _np_conv2d(x, w, b, stride, padding, dilation):
    n, o = x.shape[0], w.shape[0]
    kernel = w.shape[2:]
    oh = _out_size(x.shape[2], kernel[0], stride[0], padding[0], dilation[0])
    ow = _out_size(x.shape[3], kernel[1], stride[1], padding[1], dilation[1])
    out = np.zeros((n, o, oh, ow))
    for i, j, patch in _np_patches(x, kernel, stride, padding, dilation):
        out[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    return out if b is None else out + b[None, :, None, None]


def _np_pool(x, kernel, stride, padding, how, count_include_pad=True):
    n, c = x.shape[:2]
    oh = _out_size(x.shape[2], kernel[0], stride[0], padding[0], 1)
    ow = _out_size(x.shape[3], kernel[1], stride[1], padding[1], 1)
    out = np.zeros((n, c, oh, ow))
    ones = np.ones((1, 1) + x.shape[2:])
    fill = -np.inf if how == "max" else 0.0
    real = {(i, j): p.sum() for i, j, p in _np_patches(ones, kernel, stride, padding, (1, 1))}
    for i, j, patch in _np_patches(x, kernel, stride, padding, (1, 1), fill):
        if how == "max":
            out[:, :, i, j] = patch.max(axis=(2, 3))
        else:
            count = kernel[0] * kernel[1] if count_include_pad else real[(i, j)]
            out[:, :, i, j] = patch.sum(axis=(2, 3)) / count
    return out


def _np_max_pool_grad_of_squares(x, kernel, stride, padding):
    """d/dx of sum(max_pool2d(x)**2): 2*max added at each window's maximum."""
    grad = np.zeros(x.shape)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    pooled = _np_pool(x, kernel, stride, padding, "max")
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(pooled.shape[2]):
                for j in range(pooled.shape[3]):
                    rows = range(max(i * sh - ph, 0), min(i * sh - ph + kh, x.shape[2]))
                    cols = range(max(j * sw - pw, 0), min(j * sw - pw + kw, x.shape[3]))
                    r, q = max(((r, q) for r in rows for q in cols), key=lambda rq: x[n, c][rq])
                    grad[n, c, r, q] += 2 * pooled[n, c, i, j]
    return grad


def _np_adaptive_avg(x, out_h, out_w):
    height, width = x.shape[2:]
    out = np.zeros(x.shape[:2] + (out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            top, bottom = (i * height) // out_h, int(np.ceil((i + 1) * height / out_h))
            left, right = (j * width) // out_w, int(np.ceil((j + 1) * width / out_w))
            out[:, :, i, j] = x[:, :, top:bottom, left:right].mean(axis=(2, 3))
    return out


def _np_im2col(x, kernel, stride, padding, dilation):
    """(C*kh*kw, N*OH*OW): column (n, oh, ow) holds the window under output pixel (oh, ow)."""
    n, c = x.shape[:2]
    patches = {(i, j): p for i, j, p in _np_patches(x, kernel, stride, padding, dilation)}
    oh, ow = max(patches)[0] + 1, max(patches)[1] + 1
    cols = np.zeros((c * kernel[0] * kernel[1], n, oh, ow))
    for (i, j), patch in patches.items():
        cols[:, :, i, j] = patch.reshape(n, -1).T
    return cols.reshape(cols.shape[0], -1)


def _np_col2im(cols, x_shape, kernel, stride, padding, dilation):
    """The adjoint of _np_im2col: each column added back onto its window's pixels."""
    n, c, height, width = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = _out_size(height, kh, sh, ph, dh), _out_size(width, kw, sw, pw, dw)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    padded = np.zeros((n, c, height + 2 * ph, width + 2 * pw))
    for a in range(oh):
        for b in range(ow):
            for i in range(kh):
                for j in range(kw):
                    padded[:, :, a * sh + i * dh, b * sw + j * dw] += cols[:, i, j, :, a, b].T
    return padded[:, :, ph:ph + height, pw:pw + width]


def _np_batch_norm(x, mean, var, w, b, eps=1e-5):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape) \
        + b.reshape(shape)


def _np_batch_norm_train(x, w, b):
    axes = (0,) + tuple(range(2, x.ndim))
    return _np_batch_norm(x, x.mean(axis=axes), x.var(axis=axes), w, b)


# ---------------------------------------------------------------------------------------------
# Input strategies
# ---------------------------------------------------------------------------------------------


@st.composite
def _geometry(draw, max_kernel=3, max_side=6, dilate=True, pool=False):
    """(N, C, H, W), kernel, stride, padding, dilation that fit together (odd sizes included)."""
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilate else (1, 1)
    if pool:  # PyTorch allows at most half a kernel of padding in pools
        padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    else:
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    spans = [dilation[a] * (kernel[a] - 1) + 1 for a in (0, 1)]
    height = draw(st.integers(max(1, spans[0] - 2 * padding[0]), max(spans[0], max_side)))
    width = draw(st.integers(max(1, spans[1] - 2 * padding[1]), max(spans[1], max_side)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), height, width)
    return shape, kernel, stride, padding, dilation


@st.composite
def _conv_inputs(draw, with_bias=True):
    shape, kernel, stride, padding, dilation = draw(_geometry())
    out_channels = draw(st.integers(1, 3))
    x = draw(S.arrays(shape))
    w = draw(S.arrays((out_channels, shape[1]) + kernel))
    inputs = [x, w]
    if with_bias:
        inputs.append(draw(S.arrays((out_channels,))))
    return inputs + [stride, padding, dilation]


@st.composite
def _pool_inputs(draw, distinct=False):
    shape, kernel, stride, padding, _ = draw(_geometry(dilate=False, pool=True))
    x = draw(S.distinct_arrays(shape) if distinct else S.arrays(shape))
    return [x, kernel, stride, padding]


@st.composite
def _avg_pool_inputs(draw):
    return draw(_pool_inputs()) + [draw(st.booleans())]


@st.composite
def _adaptive_inputs(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 7)),
             draw(st.integers(1, 7)))
    out_size = (draw(st.integers(1, shape[2])), draw(st.integers(1, shape[3])))
    return [draw(S.arrays(shape)), out_size]


@st.composite
def _im2col_inputs(draw):
    shape, kernel, stride, padding, dilation = draw(_geometry())
    return [draw(S.arrays(shape)), kernel, stride, padding, dilation]


@st.composite
def _col2im_inputs(draw):
    shape, kernel, stride, padding, dilation = draw(_geometry())
    oh = _out_size(shape[2], kernel[0], stride[0], padding[0], dilation[0])
    ow = _out_size(shape[3], kernel[1], stride[1], padding[1], dilation[1])
    cols = draw(S.arrays((shape[1] * kernel[0] * kernel[1], shape[0] * oh * ow)))
    return [cols, shape, kernel, stride, padding, dilation]


@st.composite
def _conv_product_inputs(draw, image_columns=None):
    """weight (O, K), cols (K, N*L), bias (O,) and N, a convolution's one product. L (each
    image's columns) is drawn small when image_columns is None; 256 with N >= 2 reaches the
    image-by-image weight gradient of tinydl/ops/conv.py (weight_gradient)."""
    out_channels, rows = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    images = draw(st.integers(1, 3) if image_columns is None else st.integers(2, 3))
    length = draw(st.integers(1, 5)) if image_columns is None else image_columns
    return [draw(S.arrays((out_channels, rows))), draw(S.arrays((rows, images * length))),
            draw(S.arrays((out_channels,))), images]


def _np_conv_product(weight, cols, bias, images):
    return weight @ cols + bias[:, None]


@st.composite
def _batch_norm_inputs(draw, train=True):
    """Values spread out within each channel (distinct), so the variance is not near zero."""
    ndim = draw(st.integers(2, 4))
    shape = (draw(st.integers(2, 3)), draw(st.integers(1, 3))) + tuple(
        draw(st.integers(1, 3)) for _ in range(ndim - 2))
    x = draw(S.distinct_arrays(shape, spacing=0.3))
    channels = (shape[1],)
    weight, bias = draw(S.arrays(channels)), draw(S.arrays(channels))
    if train:
        return [x, weight, bias]
    return [x, draw(S.arrays(channels)), draw(S.positive_arrays(channels)), weight, bias]


# ---------------------------------------------------------------------------------------------
# PyTorch equivalents of the layouts that differ (im2col's (C*kh*kw, N*L) vs unfold's (N, K, L))
# ---------------------------------------------------------------------------------------------


def _torch_im2col(x, kernel, stride, padding, dilation):
    cols = TF.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)  # (N, K, L)
    return cols.permute(1, 0, 2).reshape(cols.shape[1], -1)


def _torch_col2im(cols, x_shape, kernel, stride, padding, dilation):
    n = x_shape[0]
    per_image = cols.reshape(cols.shape[0], n, -1).permute(1, 0, 2)  # (N, K, L)
    return TF.fold(per_image, x_shape[2:], kernel, dilation=dilation, padding=padding,
                   stride=stride)


def _torch_batch_norm_train(x, w, b):
    return TF.batch_norm(x, None, None, w, b, training=True)


def _max_pool_grad_of_squares(x, kernel, stride, padding):
    """d/dx of sum(max_pool2d(x)**2), itself differentiable (create_graph=True)."""
    if not x.requires_grad:  # the forward-only test passes plain inputs
        x = x.detach().requires_grad_()
    return td.grad((F.max_pool2d(x, kernel, stride, padding) ** 2).sum(), x, create_graph=True)[0]


SPECS = [
    OpSpec("conv2d",
           lambda x, w, b, s, p, d: F.conv2d(x, w, b, stride=s, padding=p, dilation=d),
           _np_conv2d, _conv_inputs(),
           lambda x, w, b, s, p, d: TF.conv2d(x, w, b, stride=s, padding=p, dilation=d),
           differentiable=(0, 1, 2)),
    OpSpec("conv2d_no_bias",
           lambda x, w, s, p, d: F.conv2d(x, w, None, stride=s, padding=p, dilation=d),
           lambda x, w, s, p, d: _np_conv2d(x, w, None, s, p, d), _conv_inputs(with_bias=False),
           lambda x, w, s, p, d: TF.conv2d(x, w, None, stride=s, padding=p, dilation=d),
           differentiable=(0, 1)),
    OpSpec("conv_product",
           lambda w, c, b, n: conv_ops.conv_product(w, c, b, n), _np_conv_product,
           _conv_product_inputs(), lambda w, c, b, n: w @ c + b[:, None], differentiable=(0, 1, 2)),
    # 256 columns an image: the weight gradient summed image by image (first derivatives only;
    # the recorded backward, which second derivatives use, is the same as above)
    OpSpec("conv_product_by_image",
           lambda w, c, b, n: conv_ops.conv_product(w, c, b, n), _np_conv_product,
           _conv_product_inputs(image_columns=256), lambda w, c, b, n: w @ c + b[:, None],
           differentiable=(0, 2), gradgrad=False),
    OpSpec("im2col",
           lambda x, k, s, p, d: conv_ops.unfold(x, k, s, p, d), _np_im2col, _im2col_inputs(),
           _torch_im2col, differentiable=(0,)),
    OpSpec("col2im",
           lambda c, shape, k, s, p, d: conv_ops.fold(c, shape, k, s, p, d), _np_col2im,
           _col2im_inputs(), _torch_col2im, differentiable=(0,)),
    OpSpec("max_pool2d",
           lambda x, k, s, p: F.max_pool2d(x, k, s, p),
           lambda x, k, s, p: _np_pool(x, k, s, p, "max"), _pool_inputs(distinct=True),
           lambda x, k, s, p: TF.max_pool2d(x, k, s, p), differentiable=(0,)),
    # The gradient of max pooling is itself differentiated here (MaxPoolScatter's backward is
    # MaxPoolGather), against the same double backward in PyTorch.
    OpSpec("max_pool2d_grad",
           lambda x, k, s, p: _max_pool_grad_of_squares(x, k, s, p),
           _np_max_pool_grad_of_squares, _pool_inputs(distinct=True),
           lambda x, k, s, p: torch.autograd.grad((TF.max_pool2d(x, k, s, p) ** 2).sum(), x,
                                                  create_graph=True)[0],
           differentiable=(0,)),
    OpSpec("avg_pool2d",
           lambda x, k, s, p, inc: F.avg_pool2d(x, k, s, p, count_include_pad=inc),
           lambda x, k, s, p, inc: _np_pool(x, k, s, p, "avg", inc), _avg_pool_inputs(),
           lambda x, k, s, p, inc: TF.avg_pool2d(x, k, s, p, count_include_pad=inc),
           differentiable=(0,)),
    OpSpec("adaptive_avg_pool2d",
           lambda x, size: F.adaptive_avg_pool2d(x, size),
           lambda x, size: _np_adaptive_avg(x, *size), _adaptive_inputs(),
           lambda x, size: TF.adaptive_avg_pool2d(x, size), differentiable=(0,)),
    OpSpec("batch_norm_train",
           lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
           _np_batch_norm_train, _batch_norm_inputs(), _torch_batch_norm_train,
           forward_atol=1e-7),
    OpSpec("batch_norm_eval",
           lambda x, mean, var, w, b: F.batch_norm(x, mean, var, w, b, training=False),
           _np_batch_norm, _batch_norm_inputs(train=False),
           lambda x, mean, var, w, b: TF.batch_norm(x, mean, var, w, b, training=False),
           differentiable=(0, 3, 4)),
]
