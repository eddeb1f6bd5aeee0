"""Convolution and pooling kernels on NCHW arrays: im2col / col2im and 2-D max pooling.

im2col layout. For x of shape (N, C, H, W) and a kh x kw kernel the output has
OH = (H + 2*ph - dh*(kh - 1) - 1) // sh + 1 rows (likewise OW), and

    cols[(n * OH + oh) * OW + ow, (c * kh + i) * kw + j] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]

so cols has shape (N*OH*OW, C*kh*kw): one row per output pixel, one column per weight.
A convolution with weight (F, C, kh, kw) is then ONE matrix product:

    out_2d = cols @ weight.reshape(F, C*kh*kw).T              # (N*OH*OW, F)
    out = out_2d.reshape(N, OH, OW, F).transpose(0, 3, 1, 2)  # (N, F, OH, OW)

and its backward is two more: d_weight_2d = dout_2d.T @ cols, d_cols = dout_2d @ weight_2d,
followed by col2im(d_cols), the adjoint of im2col (overlapping windows add up).

stride, padding and dilation are an int or an (h, w) pair, as in PyTorch; padding is zeros
for convolution and -inf for max pooling.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----------------------------------------------------------------------------- argument checks

def _pair(op, name, value, minimum):
    """An int or (h, w) pair of ints >= minimum, as a tuple (h, w)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value) \
        if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair) \
            or min(pair) < minimum:
        raise ValueError(
            f"{op}: {name} must be an int >= {minimum} or a pair of them (height, width), "
            f"got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def _check_image(op, x, name="x"):
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(
            f"{op}: {name} must be a 4-D array (batch, channels, height, width), got shape "
            f"{getattr(x, 'shape', None)}; add a batch axis with {name}[None]"
        )
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {x.dtype}; use .astype(np.float32)")


def _out_size(op, size, kernel, stride, padding, dilation, axis):
    """Output length along one axis; raises if the kernel does not fit."""
    span = dilation * (kernel - 1) + 1  # the kernel's reach, dilation included
    if size + 2 * padding < span:
        raise ValueError(
            f"{op}: the kernel (size {kernel}, dilation {dilation}, reach {span}) is larger than "
            f"the padded input {axis} {size} + 2*{padding} = {size + 2 * padding}; use a smaller "
            f"kernel or more padding"
        )
    return (size + 2 * padding - span) // stride + 1


def _conv_geometry(op, x_shape, kh, kw, stride, padding, dilation):
    """Normalised (kh, kw), (sh, sw), (ph, pw), (dh, dw) and (OH, OW)."""
    for name, size in (("kh", kh), ("kw", kw)):
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{op}: {name} (kernel height or width) must be an int >= 1, got {size!r}")
    kh, kw = int(kh), int(kw)
    sh, sw = _pair(op, "stride", stride, 1)
    ph, pw = _pair(op, "padding", padding, 0)
    dh, dw = _pair(op, "dilation", dilation, 1)
    N, C, H, W = x_shape
    OH = _out_size(op, H, kh, sh, ph, dh, "height")
    OW = _out_size(op, W, kw, sw, pw, dw, "width")
    return (kh, kw), (sh, sw), (ph, pw), (dh, dw), (OH, OW)


def _check_cols(op, cols, x_shape, kh, kw, OH, OW):
    N, C, H, W = x_shape
    expected = (N * OH * OW, C * kh * kw)
    if not isinstance(cols, np.ndarray) or cols.shape != expected:
        raise ValueError(
            f"{op}: cols must have shape (N*OH*OW, C*kh*kw) = {expected} for x_shape "
            f"{tuple(x_shape)} and this kernel/stride/padding/dilation, got "
            f"{getattr(cols, 'shape', None)}"
        )
    if cols.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{op}: cols must be float32 or float64, got {cols.dtype}")


# ----------------------------------------------------------------------------- im2col / col2im

def im2col_reference(x, kh, kw, stride=1, padding=0, dilation=1):
    """Unfold x (N, C, H, W) into cols (N*OH*OW, C*kh*kw) (layout in the module docstring)."""
    op = "im2col"
    _check_image(op, x)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (OH, OW) = _conv_geometry(
        op, x.shape, kh, kw, stride, padding, dilation)
    N, C = x.shape[:2]
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (N, C, H + 2ph, W + 2pw)
    reach = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    # (N, C, positions_h, positions_w, reach_h, reach_w) view, then every stride-th position
    # and every dilation-th kernel tap: (N, C, OH, OW, kh, kw)
    windows = sliding_window_view(x_pad, reach, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    # (N, OH, OW, C, kh, kw) -> (N*OH*OW, C*kh*kw), a copy
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * OH * OW, C * kh * kw)


def col2im_reference(cols, x_shape, kh, kw, stride=1, padding=0, dilation=1):
    """Adjoint of im2col: scatter-add cols (N*OH*OW, C*kh*kw) back into an (N, C, H, W) array."""
    op = "col2im"
    x_shape = tuple(int(s) for s in x_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (OH, OW) = _conv_geometry(
        op, x_shape, kh, kw, stride, padding, dilation)
    _check_cols(op, cols, x_shape, kh, kw, OH, OW)
    N, C, H, W = x_shape
    taps = cols.reshape(N, OH, OW, C, kh, kw)
    x_pad = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # the input pixels tap (i, j) reads, one per output pixel: an (N, C, OH, OW) slice
            rows = slice(i * dh, i * dh + sh * (OH - 1) + 1, sh)
            columns = slice(j * dw, j * dw + sw * (OW - 1) + 1, sw)
            x_pad[:, :, rows, columns] += taps[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x_pad[:, :, ph:ph + H, pw:pw + W])


@jit(inline=True)
def _valid_range(offset, stride, size, count):
    """The range [lo, hi) of o in [0, count) with 0 <= o * stride + offset < size."""
    lo = max(0, -(offset // stride))  # ceil(-offset / stride)
    hi = min(count, -((offset - size) // stride))  # ceil((size - offset) / stride)
    return lo, max(lo, hi)


@jit(parallel=True)
def _im2col_kernel(x, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, cols):
    """x (N, C, H, W) -> cols (N*OH*OW, C*kh*kw); one work item per (n, oh).

    A work item fills the OW rows of cols for output row oh of image n, one tap (c, i, j),
    i.e. one column, at a time: the inner loop walks along an input row with no bounds test
    (the padded ends are zero-filled separately).
    """
    N, C, H, W = x.shape
    for work in prange(N * OH):
        n = work // OH
        oh = work % OH
        block = cols[work * OW:(work + 1) * OW]  # (OW, C*kh*kw)
        for c in range(C):
            for i in range(kh):
                h = oh * sh - ph + i * dh
                for j in range(kw):
                    column = (c * kh + i) * kw + j
                    offset = j * dw - pw  # input column of output column ow: ow * sw + offset
                    lo, hi = _valid_range(offset, sw, W, OW) if 0 <= h < H else (0, 0)
                    for ow in range(lo):
                        block[ow, column] = 0
                    for ow in range(lo, hi):
                        block[ow, column] = x[n, c, h, ow * sw + offset]
                    for ow in range(hi, OW):
                        block[ow, column] = 0


@jit(parallel=True)
def _col2im_kernel(cols, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, x):
    """cols (N*OH*OW, C*kh*kw) added into zero-filled x (N, C, H, W); one work item per image.

    The loops mirror _im2col_kernel; each work item adds only into its own image, so no two
    work items write to the same place.
    """
    N, C, H, W = x.shape
    for n in prange(N):
        for oh in range(OH):
            block = cols[(n * OH + oh) * OW:(n * OH + oh + 1) * OW]  # (OW, C*kh*kw)
            for c in range(C):
                for i in range(kh):
                    h = oh * sh - ph + i * dh
                    if h < 0 or h >= H:
                        continue  # this tap only ever reads padding
                    for j in range(kw):
                        column = (c * kh + i) * kw + j
                        offset = j * dw - pw
                        lo, hi = _valid_range(offset, sw, W, OW)
                        for ow in range(lo, hi):
                            x[n, c, h, ow * sw + offset] += block[ow, column]


def im2col_numba(x, kh, kw, stride=1, padding=0, dilation=1):
    """``im2col_reference`` in Numba, parallel over output rows; same arguments and result."""
    op = "im2col"
    _check_image(op, x)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (OH, OW) = _conv_geometry(
        op, x.shape, kh, kw, stride, padding, dilation)
    N, C = x.shape[:2]
    cols = np.empty((N * OH * OW, C * kh * kw), dtype=x.dtype)
    _im2col_kernel(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, cols)
    return cols


def col2im_numba(cols, x_shape, kh, kw, stride=1, padding=0, dilation=1):
    """``col2im_reference`` in Numba, parallel over images; same arguments and result."""
    op = "col2im"
    x_shape = tuple(int(s) for s in x_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (OH, OW) = _conv_geometry(
        op, x_shape, kh, kw, stride, padding, dilation)
    _check_cols(op, cols, x_shape, kh, kw, OH, OW)
    x = np.zeros(x_shape, dtype=cols.dtype)
    _col2im_kernel(np.ascontiguousarray(cols), kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, x)
    return x


# ----------------------------------------------------------------------------- max pooling

def _pool_geometry(op, x_shape, kernel, stride, padding):
    """Normalised (kh, kw), (sh, sw), (ph, pw), (OH, OW); stride None means stride = kernel."""
    kh, kw = _pair(op, "kernel", kernel, 1)
    sh, sw = (kh, kw) if stride is None else _pair(op, "stride", stride, 1)
    ph, pw = _pair(op, "padding", padding, 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(
            f"{op}: padding {(ph, pw)} must be at most half the kernel {(kh, kw)} (as in "
            f"PyTorch), so every window holds at least one input pixel"
        )
    N, C, H, W = x_shape
    OH = _out_size(op, H, kh, sh, ph, 1, "height")
    OW = _out_size(op, W, kw, sw, pw, 1, "width")
    return (kh, kw), (sh, sw), (ph, pw), (OH, OW)


def max_pool2d_forward_reference(x, kernel, stride=None, padding=0):
    """2-D max pooling of x (N, C, H, W), padding with -inf.

    Returns (out (N, C, OH, OW), indices (N, C, OH, OW) int64) where indices holds, like
    PyTorch's return_indices, the flat position h * W + w of each maximum in its (H, W) plane.
    Ties go to the first maximum in row-major window order.
    """
    op = "max_pool2d_forward"
    _check_image(op, x)
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = _pool_geometry(op, x.shape, kernel, stride, padding)
    N, C, H, W = x.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    windows = sliding_window_view(x_pad, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    windows = windows.reshape(N, C, OH, OW, kh * kw)  # (N, C, OH, OW, kh*kw), a copy
    local = windows.argmax(axis=-1)  # (N, C, OH, OW): position inside the window
    out = np.take_along_axis(windows, local[..., None], axis=-1)[..., 0]
    tap_row, tap_col = np.divmod(local, kw)
    rows = np.arange(OH)[:, None] * sh - ph + tap_row  # (N, C, OH, OW) input row of each max
    columns = np.arange(OW)[None, :] * sw - pw + tap_col
    return out, (rows * W + columns).astype(np.int64)


def _check_pool_backward(op, dout, indices, x_shape):
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"{op}: x_shape must be (N, C, H, W), got {x_shape}")
    _check_image(op, dout, "dout")
    if not isinstance(indices, np.ndarray) or indices.shape != dout.shape \
            or indices.dtype.kind not in "iu" or dout.shape[:2] != x_shape[:2]:
        raise ValueError(
            f"{op}: indices must be an integer array shaped like dout {dout.shape}, and both "
            f"must share (N, C) with x_shape {x_shape}; got indices "
            f"{getattr(indices, 'dtype', None)} {getattr(indices, 'shape', None)}"
        )
    H, W = x_shape[2:]
    if indices.size and (indices.min() < 0 or indices.max() >= H * W):
        raise ValueError(
            f"{op}: indices must lie in [0, H*W) = [0, {H * W}) for x_shape {x_shape}, got "
            f"values from {indices.min()} to {indices.max()}; pass the indices the forward returned"
        )
    return x_shape


def max_pool2d_backward_reference(dout, indices, x_shape):
    """Gradient of max pooling: dx (x_shape) with dout (N, C, OH, OW) added at the indices.

    Overlapping windows (stride < kernel) can pick the same pixel; its gradients add up.
    """
    op = "max_pool2d_backward"
    N, C, H, W = _check_pool_backward(op, dout, indices, x_shape)
    dx = np.zeros((N * C, H * W), dtype=dout.dtype)
    planes = np.arange(N * C)[:, None]  # (N*C, 1), broadcast against (N*C, OH*OW) indices
    np.add.at(dx, (planes, indices.reshape(N * C, -1)), dout.reshape(N * C, -1))
    return dx.reshape(N, C, H, W)


@jit(parallel=True)
def _max_pool_forward_kernel(x, kh, kw, sh, sw, ph, pw, out, indices):
    """x (N, C, H, W) -> out, indices (N, C, OH, OW); one work item per (n, c) plane."""
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for work in prange(N * C):
        n = work // C
        c = work % C
        for oh in range(OH):
            for ow in range(OW):
                best = -np.inf
                best_index = -1
                for i in range(kh):
                    h = oh * sh - ph + i
                    for j in range(kw):
                        w = ow * sw - pw + j
                        if 0 <= h < H and 0 <= w < W:
                            value = x[n, c, h, w]
                            # first maximum wins; NaN wins over numbers (as np.argmax)
                            if best_index < 0 or value > best or \
                                    (value != value and best == best):
                                best = value
                                best_index = h * W + w
                out[n, c, oh, ow] = best
                indices[n, c, oh, ow] = best_index


@jit(parallel=True)
def _max_pool_backward_kernel(dout, indices, dx):
    """dout, indices (N, C, OH, OW) added into zero-filled dx (N, C, H, W); per (n, c) plane."""
    N, C, H, W = dx.shape
    OH, OW = dout.shape[2], dout.shape[3]
    for work in prange(N * C):
        n = work // C
        c = work % C
        for oh in range(OH):
            for ow in range(OW):
                index = indices[n, c, oh, ow]
                dx[n, c, index // W, index % W] += dout[n, c, oh, ow]


def max_pool2d_forward_numba(x, kernel, stride=None, padding=0):
    """``max_pool2d_forward_reference`` in Numba, parallel over planes; same results."""
    op = "max_pool2d_forward"
    _check_image(op, x)
    (kh, kw), (sh, sw), (ph, pw), (OH, OW) = _pool_geometry(op, x.shape, kernel, stride, padding)
    N, C = x.shape[:2]
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    indices = np.empty((N, C, OH, OW), dtype=np.int64)
    _max_pool_forward_kernel(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, out, indices)
    return out, indices


def max_pool2d_backward_numba(dout, indices, x_shape):
    """``max_pool2d_backward_reference`` in Numba, parallel over planes; same result."""
    op = "max_pool2d_backward"
    x_shape = _check_pool_backward(op, dout, indices, x_shape)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    _max_pool_backward_kernel(np.ascontiguousarray(dout),
                              np.ascontiguousarray(indices, dtype=np.int64), dx)
    return dx


register("im2col", "numpy", im2col_reference)
register("im2col", "numba", im2col_numba, available=numba_available, default=True)
register("col2im", "numpy", col2im_reference)
register("col2im", "numba", col2im_numba, available=numba_available, default=True)
register("max_pool2d_forward", "numpy", max_pool2d_forward_reference)
register("max_pool2d_forward", "numba", max_pool2d_forward_numba, available=numba_available,
         default=True)
register("max_pool2d_backward", "numpy", max_pool2d_backward_reference)
register("max_pool2d_backward", "numba", max_pool2d_backward_numba, available=numba_available,
         default=True)
