"""Declarations of the breadth vision and sequence functions (one OpSpec each): grouped and
N-d convolutions, transposed convolutions, padding modes, unfold/fold, the extra pools,
interpolate, pixel shuffle, group/instance/local-response norm and embedding_bag.

tests/test_ops_generated.py runs them (forward vs the NumPy loops below, gradcheck,
gradgradcheck, float32, stand-in device, PyTorch forward and backward). The references are
direct loops over output positions, written from the definitions; shapes stay tiny because
gradgradcheck perturbs every element.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from specs_vision import _np_conv2d, _np_pool, _out_size

import tinydl.functional as F
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch.nn.functional as TF
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    TF = None


# ---------------------------------------------------------------------------------------------
# NumPy references
# ---------------------------------------------------------------------------------------------


def _np_conv_groups(x, w, b, groups, padding):
    xs, ws = np.split(x, groups, axis=1), np.split(w, groups, axis=0)
    out = np.concatenate([_np_conv2d(xg, wg, None, (1, 1), (padding, padding), (1, 1))
                          for xg, wg in zip(xs, ws)], axis=1)
    return out + b[None, :, None, None]


def _np_conv1d(x, w, b, stride, padding, dilation):
    out = _np_conv2d(x[:, :, None], w[:, :, None], b, (1, stride), (0, padding), (1, dilation))
    return out[:, :, 0]


def _np_conv3d(x, w, b, stride):
    kd, kh, kw = w.shape[2:]
    sizes = [(n - k) // stride + 1 for n, k in zip(x.shape[2:], (kd, kh, kw))]
    out = np.zeros((x.shape[0], w.shape[0], *sizes))
    for d in range(sizes[0]):
        for h in range(sizes[1]):
            for v in range(sizes[2]):
                box = x[:, :, d * stride:d * stride + kd, h * stride:h * stride + kh,
                        v * stride:v * stride + kw]
                out[:, :, d, h, v] = np.einsum("ncdhw,ocdhw->no", box, w)
    return out + b[None, :, None, None, None]


def _np_conv_transpose2d(x, w, b, stride, padding, output_padding):
    """Each input pixel adds x[n, c, h, v] * w[c] onto the output window at (h, v) * stride;
    stride, padding, output_padding are (height, width) pairs."""
    n, c, height, width = x.shape
    kh, kw = w.shape[2:]
    (sh, sw), (ph, pw), (eh, ew) = stride, padding, output_padding
    full = np.zeros((n, w.shape[1], (height - 1) * sh + kh + eh, (width - 1) * sw + kw + ew))
    for h in range(height):
        for v in range(width):
            contribution = np.einsum("nc,cokl->nokl", x[:, :, h, v], w)
            full[:, :, h * sh:h * sh + kh, v * sw:v * sw + kw] += contribution
    out_h, out_w = full.shape[2] - 2 * ph, full.shape[3] - 2 * pw
    return full[:, :, ph:ph + out_h, pw:pw + out_w] + b[None, :, None, None]


def _np_conv_transpose1d(x, w, b, stride, padding, output_padding):
    return _np_conv_transpose2d(x[:, :, None], w[:, :, None], b, (1, stride), (0, padding),
                                (0, output_padding))[:, :, 0]


_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _np_pad(x, pad, mode):
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return np.pad(x, pairs, mode=_NUMPY_PAD_MODES[mode])


def _np_unfold(x, kernel, stride):
    (kh, kw), n, c = kernel, x.shape[0], x.shape[1]
    oh, ow = _out_size(x.shape[2], kh, stride, 0, 1), _out_size(x.shape[3], kw, stride, 0, 1)
    out = np.zeros((n, c * kh * kw, oh * ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i * ow + j] = window.reshape(n, -1)
    return out


def _np_fold(cols, size, kernel, stride):
    (kh, kw), n = kernel, cols.shape[0]
    c = cols.shape[1] // (kh * kw)
    ow = _out_size(size[1], kw, stride, 0, 1)
    out = np.zeros((n, c, *size))
    for position in range(cols.shape[2]):
        i, j = divmod(position, ow)
        out[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += cols[
            :, :, position].reshape(n, c, kh, kw)
    return out


def _np_max_pool_dilated_ceil(x, kernel, stride, dilation):
    """max_pool2d with dilation and ceil_mode, no padding: windows clipped at the edge."""
    sizes = []
    for n, k, s, d in zip(x.shape[2:], kernel, stride, dilation):
        out = -(-(n - d * (k - 1) - 1) // s) + 1
        sizes.append(out - 1 if (out - 1) * s >= n else out)
    out = np.zeros(x.shape[:2] + tuple(sizes))
    for i in range(sizes[0]):
        for j in range(sizes[1]):
            rows = [r for r in range(i * stride[0], i * stride[0] + dilation[0] * kernel[0],
                                     dilation[0]) if r < x.shape[2]]
            cols = [c for c in range(j * stride[1], j * stride[1] + dilation[1] * kernel[1],
                                     dilation[1]) if c < x.shape[3]]
            out[:, :, i, j] = x[:, :, rows][:, :, :, cols].max(axis=(2, 3))
    return out


def _np_pool3d(x, kernel, how):
    sizes = [n // k for n, k in zip(x.shape[2:], kernel)]
    out = np.zeros(x.shape[:2] + tuple(sizes))
    for index in np.ndindex(*sizes):
        box = x[(slice(None), slice(None)) + tuple(
            slice(i * k, i * k + k) for i, k in zip(index, kernel))]
        out[(slice(None), slice(None)) + index] = getattr(box, how)(axis=(2, 3, 4))
    return out


def _adaptive_bounds(size, out):
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _np_adaptive(x, out_sizes, how):
    bounds = [_adaptive_bounds(n, o) for n, o in zip(x.shape[2:], out_sizes)]
    out = np.zeros(x.shape[:2] + tuple(out_sizes))
    for index in np.ndindex(*out_sizes):
        cell = x[(slice(None), slice(None)) + tuple(
            slice(*bounds[axis][i]) for axis, i in enumerate(index))]
        out[(slice(None), slice(None)) + index] = getattr(cell, how)(
            axis=tuple(range(2, x.ndim)))
    return out


def _np_linear_weights(size, out, align_corners):
    """(low, high, weight) source indices per output position along one axis."""
    positions = np.arange(out, dtype=float)
    if align_corners:
        source = positions * (size - 1) / (out - 1) if out > 1 else positions * 0
    else:
        source = np.maximum((positions + 0.5) * size / out - 0.5, 0)
    low = np.minimum(np.floor(source).astype(int), size - 1)
    return low, np.minimum(low + 1, size - 1), source - low


def _np_bilinear(x, size, align_corners):
    rows = _np_linear_weights(x.shape[2], size[0], align_corners)
    cols = _np_linear_weights(x.shape[3], size[1], align_corners)
    out = np.zeros(x.shape[:2] + tuple(size))
    for i in range(size[0]):
        for j in range(size[1]):
            (r0, r1, a), (c0, c1, b) = [(t[0][k], t[1][k], t[2][k]) for t, k in
                                        ((rows, i), (cols, j))]
            out[:, :, i, j] = ((1 - a) * (1 - b) * x[:, :, r0, c0] + (1 - a) * b * x[:, :, r0, c1]
                               + a * (1 - b) * x[:, :, r1, c0] + a * b * x[:, :, r1, c1])
    return out


def _np_nearest(x, size):
    rows = [min(int(np.floor(i * x.shape[2] / size[0])), x.shape[2] - 1) for i in range(size[0])]
    cols = [min(int(np.floor(j * x.shape[3] / size[1])), x.shape[3] - 1) for j in range(size[1])]
    return x[:, :, rows][:, :, :, cols]


def _np_pixel_shuffle(x, r):
    n, c, h, w = x.shape
    out = np.zeros((n, c // (r * r), h * r, w * r))
    for channel in range(c):
        base, offset = divmod(channel, r * r)
        i, j = divmod(offset, r)
        out[:, base, i::r, j::r] = x[:, channel]
    return out


def _np_group_norm(x, groups, w, b, eps=1e-5):
    grouped = x.reshape(x.shape[0], groups, -1)
    normed = (grouped - grouped.mean(-1, keepdims=True)) / np.sqrt(
        grouped.var(-1, keepdims=True) + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return normed.reshape(x.shape) * w.reshape(shape) + b.reshape(shape)


def _np_instance_norm(x, eps=1e-5):
    axes = tuple(range(2, x.ndim))
    return (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)


def _np_local_response_norm(x, size, alpha, beta, k):
    c = x.shape[1]
    out = np.zeros_like(x)
    for channel in range(c):
        low, high = max(0, channel - size // 2), min(c, channel + (size - 1) // 2 + 1)
        total = (x[:, low:high] ** 2).sum(1)
        out[:, channel] = x[:, channel] / (k + alpha / size * total) ** beta
    return out


def _np_embedding_bag(ids, weight, offsets, mode, per_sample_weights=None):
    ends = list(offsets[1:]) + [len(ids)]
    bags = []
    for start, end in zip(offsets, ends):
        rows = weight[ids[start:end]]
        if per_sample_weights is not None:
            rows = rows * per_sample_weights[start:end, None]
        if end == start:
            bags.append(np.zeros(weight.shape[1]))
        else:
            bags.append(getattr(rows, mode)(0))
    return np.stack(bags)


# ---------------------------------------------------------------------------------------------
# Input strategies
# ---------------------------------------------------------------------------------------------


def _ints(low, high):
    return st.integers(low, high)


@st.composite
def _grouped_conv(draw):
    groups = draw(_ints(1, 3))
    x = draw(S.arrays((draw(_ints(1, 2)), groups * draw(_ints(1, 2)), draw(_ints(2, 4)),
                       draw(_ints(2, 4)))))
    out_channels = groups * draw(_ints(1, 2))
    w = draw(S.arrays((out_channels, x.shape[1] // groups, 2, 2)))
    return [x, w, draw(S.arrays((out_channels,))), groups, draw(_ints(0, 1))]


@st.composite
def _conv1d(draw):
    kernel, dilation = draw(_ints(1, 3)), draw(_ints(1, 2))
    x = draw(S.arrays((draw(_ints(1, 2)), draw(_ints(1, 2)),
                       dilation * (kernel - 1) + draw(_ints(1, 4)))))
    w = draw(S.arrays((draw(_ints(1, 3)), x.shape[1], kernel)))
    return [x, w, draw(S.arrays((w.shape[0],))), draw(_ints(1, 2)), draw(_ints(0, 1)), dilation]


@st.composite
def _conv3d(draw):
    x = draw(S.arrays((1, draw(_ints(1, 2)), draw(_ints(2, 3)), draw(_ints(2, 3)),
                       draw(_ints(2, 3)))))
    w = draw(S.arrays((draw(_ints(1, 2)), x.shape[1], 2, draw(_ints(1, 2)), 2)))
    return [x, w, draw(S.arrays((w.shape[0],))), draw(_ints(1, 2))]


@st.composite
def _conv_transpose(draw):
    stride = draw(_ints(1, 2))
    x = draw(S.arrays((draw(_ints(1, 2)), draw(_ints(1, 2)), draw(_ints(1, 3)),
                       draw(_ints(1, 3)))))
    kernel = draw(_ints(1, 3))
    w = draw(S.arrays((x.shape[1], draw(_ints(1, 2)), kernel, kernel)))
    padding = draw(_ints(0, (kernel - 1) // 2))
    return [x, w, draw(S.arrays((w.shape[1],))), stride, padding, draw(_ints(0, stride - 1))]


@st.composite
def _padded(draw):
    mode = draw(st.sampled_from(sorted(_NUMPY_PAD_MODES)))
    x = draw(S.arrays((1, draw(_ints(1, 2)), draw(_ints(2, 4)), draw(_ints(2, 4)))))
    limit = [n - 1 if mode == "reflect" else n for n in x.shape[2:]]
    pad = tuple(draw(_ints(0, limit[axis])) for axis in (1, 1, 0, 0))
    return [x, pad, mode]


@st.composite
def _unfold_inputs(draw):
    kernel, stride = (draw(_ints(1, 2)), draw(_ints(1, 2))), draw(_ints(1, 2))
    x = draw(S.arrays((draw(_ints(1, 2)), draw(_ints(1, 2)), kernel[0] + draw(_ints(0, 2)),
                       kernel[1] + draw(_ints(0, 2)))))
    return [x, kernel, stride]


@st.composite
def _fold_inputs(draw):
    x, kernel, stride = draw(_unfold_inputs())
    cols = draw(S.arrays(_np_unfold(x, kernel, stride).shape))
    return [cols, x.shape[2:], kernel, stride]


@st.composite
def _dilated_pool(draw):
    kernel = (draw(_ints(1, 2)), draw(_ints(2, 3)))
    dilation, stride = (draw(_ints(1, 2)), draw(_ints(1, 2))), (draw(_ints(1, 3)),
                                                               draw(_ints(1, 3)))
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    x = draw(S.distinct_arrays((1, draw(_ints(1, 2)), spans[0] + draw(_ints(0, 3)),
                                spans[1] + draw(_ints(0, 3)))))
    return [x, kernel, stride, dilation]


@st.composite
def _sequence_pool(draw, distinct):
    kernel = draw(_ints(1, 3))
    shape = (draw(_ints(1, 2)), draw(_ints(1, 2)), kernel + draw(_ints(0, 4)))
    x = draw(S.distinct_arrays(shape) if distinct else S.arrays(shape))
    return [x, kernel, draw(_ints(1, 2)), draw(_ints(0, kernel // 2))]


@st.composite
def _volume_pool(draw, distinct):
    kernel = (draw(_ints(1, 2)), draw(_ints(1, 2)), draw(_ints(1, 2)))
    shape = (1, draw(_ints(1, 2))) + tuple(k * draw(_ints(1, 2)) for k in kernel)
    x = draw(S.distinct_arrays(shape) if distinct else S.arrays(shape))
    return [x, kernel]


@st.composite
def _adaptive(draw, dims, distinct):
    shape = (draw(_ints(1, 2)), draw(_ints(1, 2))) + tuple(draw(_ints(1, 5)) for _ in range(dims))
    sizes = tuple(draw(_ints(1, n)) for n in shape[2:])
    x = draw(S.distinct_arrays(shape) if distinct else S.arrays(shape))
    return [x, sizes if dims > 1 else sizes[0]]


@st.composite
def _resize(draw):
    x = draw(S.arrays((1, draw(_ints(1, 2)), draw(_ints(1, 4)), draw(_ints(1, 4)))))
    return [x, (draw(_ints(1, 5)), draw(_ints(1, 5)))]


@st.composite
def _shuffle(draw):
    r = draw(_ints(1, 2))
    return [draw(S.arrays((1, r * r * draw(_ints(1, 2)), draw(_ints(1, 3)), draw(_ints(1, 3))))),
            r]


@st.composite
def _grouped_norm(draw):
    groups = draw(_ints(1, 2))
    shape = (draw(_ints(1, 2)), groups * draw(_ints(1, 2)), draw(_ints(2, 3)))
    x = draw(S.distinct_arrays(shape, spacing=0.3))
    return [x, groups, draw(S.arrays((shape[1],))), draw(S.arrays((shape[1],)))]


@st.composite
def _bags(draw, weighted):
    num_embeddings, dim = draw(_ints(2, 5)), draw(_ints(1, 3))
    length = draw(_ints(1, 6))
    ids = draw(hnp.arrays(np.int64, (length,), elements=st.integers(0, num_embeddings - 1)))
    cuts = sorted(draw(st.lists(_ints(0, length), min_size=0, max_size=3)))
    offsets = np.array([0] + cuts, dtype=np.int64)
    inputs = [ids, draw(S.arrays((num_embeddings, dim))), offsets]
    if weighted:
        inputs.append(draw(S.arrays((length,))))
    return inputs


def _spec(name, fn, reference, inputs, torch_fn, differentiable=(0,), **options):
    return OpSpec(name=name, fn=fn, reference=reference, inputs=inputs, torch_fn=torch_fn,
                  differentiable=differentiable, **options)


SPECS = [
    _spec("conv2d_groups", lambda x, w, b, g, p: F.conv2d(x, w, b, padding=p, groups=g),
          _np_conv_groups, _grouped_conv(),
          lambda x, w, b, g, p: TF.conv2d(x, w, b, padding=p, groups=g), (0, 1, 2)),
    _spec("conv1d", lambda x, w, b, s, p, d: F.conv1d(x, w, b, s, p, d), _np_conv1d, _conv1d(),
          lambda x, w, b, s, p, d: TF.conv1d(x, w, b, s, p, d), (0, 1, 2)),
    _spec("conv3d", lambda x, w, b, s: F.conv3d(x, w, b, stride=s), _np_conv3d, _conv3d(),
          lambda x, w, b, s: TF.conv3d(x, w, b, stride=s), (0, 1, 2)),
    _spec("conv_transpose2d",
          lambda x, w, b, s, p, e: F.conv_transpose2d(x, w, b, s, p, e),
          lambda x, w, b, s, p, e: _np_conv_transpose2d(x, w, b, (s, s), (p, p), (e, e)),
          _conv_transpose(), lambda x, w, b, s, p, e: TF.conv_transpose2d(x, w, b, s, p, e),
          (0, 1, 2)),
    _spec("conv_transpose1d",
          lambda x, w, b, s, p, e: F.conv_transpose1d(x[:, :, 0], w[:, :, 0], b, s, p, e),
          lambda x, w, b, s, p, e: _np_conv_transpose1d(x[:, :, 0], w[:, :, 0], b, s, p, e),
          _conv_transpose(),
          lambda x, w, b, s, p, e: TF.conv_transpose1d(x[:, :, 0], w[:, :, 0], b, s, p, e),
          (0, 1, 2)),
    _spec("pad_modes", lambda x, pad, mode: F.pad(x, pad, mode=mode), _np_pad, _padded(),
          lambda x, pad, mode: TF.pad(x, pad, mode=mode)),
    _spec("unfold", lambda x, k, s: F.unfold(x, k, stride=s), _np_unfold, _unfold_inputs(),
          lambda x, k, s: TF.unfold(x, k, stride=s)),
    _spec("fold", lambda c, size, k, s: F.fold(c, size, k, stride=s), _np_fold, _fold_inputs(),
          lambda c, size, k, s: TF.fold(c, size, k, stride=s)),
    _spec("max_pool2d_dilated_ceil",
          lambda x, k, s, d: F.max_pool2d(x, k, s, 0, d, ceil_mode=True),
          _np_max_pool_dilated_ceil, _dilated_pool(),
          lambda x, k, s, d: TF.max_pool2d(x, k, s, 0, d, ceil_mode=True)),
    _spec("max_pool1d", lambda x, k, s, p: F.max_pool1d(x, k, s, p),
          lambda x, k, s, p: _np_pool(x[:, :, None], (1, k), (1, s), (0, p), "max")[:, :, 0],
          _sequence_pool(distinct=True), lambda x, k, s, p: TF.max_pool1d(x, k, s, p)),
    _spec("avg_pool1d", lambda x, k, s, p: F.avg_pool1d(x, k, s, p),
          lambda x, k, s, p: _np_pool(x[:, :, None], (1, k), (1, s), (0, p), "avg")[:, :, 0],
          _sequence_pool(distinct=False), lambda x, k, s, p: TF.avg_pool1d(x, k, s, p)),
    _spec("max_pool3d", lambda x, k: F.max_pool3d(x, k), lambda x, k: _np_pool3d(x, k, "max"),
          _volume_pool(distinct=True), lambda x, k: TF.max_pool3d(x, k)),
    _spec("avg_pool3d", lambda x, k: F.avg_pool3d(x, k), lambda x, k: _np_pool3d(x, k, "mean"),
          _volume_pool(distinct=False), lambda x, k: TF.avg_pool3d(x, k)),
    _spec("adaptive_max_pool2d", F.adaptive_max_pool2d,
          lambda x, size: _np_adaptive(x, size, "max"), _adaptive(2, distinct=True),
          lambda x, size: TF.adaptive_max_pool2d(x, size)),
    _spec("adaptive_avg_pool1d", F.adaptive_avg_pool1d,
          lambda x, size: _np_adaptive(x, (size,), "mean"), _adaptive(1, distinct=False),
          lambda x, size: TF.adaptive_avg_pool1d(x, size)),
    _spec("interpolate_nearest", lambda x, size: F.interpolate(x, size), _np_nearest, _resize(),
          lambda x, size: TF.interpolate(x, size)),
    _spec("interpolate_bilinear",
          lambda x, size: F.interpolate(x, size, mode="bilinear"),
          lambda x, size: _np_bilinear(x, size, False), _resize(),
          lambda x, size: TF.interpolate(x, size, mode="bilinear")),
    _spec("interpolate_bilinear_align_corners",
          lambda x, size: F.interpolate(x, size, mode="bilinear", align_corners=True),
          lambda x, size: _np_bilinear(x, size, True), _resize(),
          lambda x, size: TF.interpolate(x, size, mode="bilinear", align_corners=True)),
    _spec("pixel_shuffle", F.pixel_shuffle, _np_pixel_shuffle, _shuffle(),
          lambda x, r: TF.pixel_shuffle(x, r)),
    _spec("pixel_unshuffle", lambda x, r: F.pixel_unshuffle(F.pixel_shuffle(x, r), r),
          lambda x, r: x, _shuffle(), lambda x, r: TF.pixel_unshuffle(TF.pixel_shuffle(x, r), r)),
    _spec("group_norm", F.group_norm, _np_group_norm, _grouped_norm(),
          lambda x, g, w, b: TF.group_norm(x, g, w, b), (0, 2, 3), forward_atol=1e-7),
    _spec("instance_norm", lambda x, g, w, b: F.instance_norm(x),
          lambda x, g, w, b: _np_instance_norm(x), _grouped_norm(),
          lambda x, g, w, b: TF.instance_norm(x), forward_atol=1e-7),
    _spec("local_response_norm", lambda x, g, w, b: F.local_response_norm(x, 3, 0.5, 0.75, 1.5),
          lambda x, g, w, b: _np_local_response_norm(x, 3, 0.5, 0.75, 1.5), _grouped_norm(),
          lambda x, g, w, b: TF.local_response_norm(x, 3, 0.5, 0.75, 1.5)),
    _spec("embedding_bag_mean", lambda i, w, o: F.embedding_bag(i, w, o, mode="mean"),
          lambda i, w, o: _np_embedding_bag(i, w, o, "mean"), _bags(weighted=False),
          lambda i, w, o: TF.embedding_bag(i, w, o, mode="mean"), (1,)),
    _spec("embedding_bag_sum_weighted",
          lambda i, w, o, p: F.embedding_bag(i, w, o, mode="sum", per_sample_weights=p),
          lambda i, w, o, p: _np_embedding_bag(i, w, o, "sum", p), _bags(weighted=True),
          lambda i, w, o, p: TF.embedding_bag(i, w, o, mode="sum", per_sample_weights=p), (1, 3)),
]
