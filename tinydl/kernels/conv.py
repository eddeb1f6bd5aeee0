"""Numba versions of im2col, col2im and 2-D max pooling, registered against the NumPy references in
``tinydl.ops.conv``.

The readable references (``im2col``, ``col2im``, ``max_pool2d_forward``, ``max_pool2d_scatter``)
and the output-size formula live in ``tinydl/ops/conv.py``; this file holds only the faster
loops, with the references' signatures and results. Arguments arrive checked (by
``tinydl.functional``): kernel, stride, padding and dilation are (height, width) pairs.

Memory order. A convolution's output is a (C, N, H, W) block seen as (N, C, H, W) (see
``tinydl.functional.conv.conv2d``), and so is col2im's result; a batch of images is an
(N, C, H, W) block. Both are stacks of N*C contiguous (H, W) planes, in two plane orders. The
kernels take such a stack as a C-contiguous (planes, H, W) array (``_planes``) and pooling
returns its results in the order of its input, so no step of a CNN reorders its activations or
gradients (each reordering is a copy; Numba's loops over a transposed view also ran 1.5-2x
slower than over a C-contiguous array, whose rows it knows are unit-stride).

* im2col / col2im read and write the padding implicitly (no padded copy of the image) and run
  on all cores when the work is large, one (c, n) plane per work item (col2im's planes never
  overlap, so no two items add into one pixel). col2im returns the reference's layout: a
  (C, N, H, W) block seen as (N, C, H, W).
* Max pooling returns (out, indices) where indices holds the flat position h * W + w of each
  maximum in its (H, W) plane (PyTorch's return_indices), the first maximum on ties, padding
  counting as -infinity. The common 2×2, stride-2, unpadded window has its own loop (about
  five times faster than the general one, whose window bounds vary per pixel).
"""

import numpy as np

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)


def _plane_order(array):
    """"NC" when the (N, C, H, W) array is an (N, C, H, W) block in memory, "CN" when it is a
    (C, N, H, W) block seen through a transpose, None otherwise (a slice, say)."""
    if array.flags.c_contiguous:
        return "NC"
    return "CN" if array.transpose(1, 0, 2, 3).flags.c_contiguous else None


def _planes(array, order):
    """The (N, C, H, W) array as a C-contiguous (N*C, H, W) stack of planes in ``order``
    ("NC" or "CN"); a view when it lies so in memory, else a copy."""
    block = array if order == "NC" else array.transpose(1, 0, 2, 3)
    return np.ascontiguousarray(block).reshape(-1, *array.shape[2:])


def _from_planes(planes, shape, order):
    """The inverse of ``_planes``: a (N*C, ...) stack in ``order`` seen as ``shape`` (N, C, ...)."""
    if order == "NC":
        return planes.reshape(shape)
    return planes.reshape(shape[1], shape[0], *shape[2:]).transpose(1, 0, 2, 3)


@jit(inline=True)
def _larger(value, best):
    """Whether ``value`` replaces the running maximum ``best``: larger, or a NaN (PyTorch's rule:
    NaN wins over numbers, and a later NaN takes an earlier one's place). A select, not a
    branch: on random data a branch on "larger?" is mispredicted half the time, which cost more
    than the comparisons (2x slower)."""
    return (value > best) | (value != value)


@jit(parallel=True)
def _max_pool_forward_kernel(x, kh, kw, sh, sw, ph, pw, out, indices):
    """x (P, H, W) planes -> out, indices (P, OH, OW); one plane per work item.

    Each window is clipped to the image once (padding never wins).
    """
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    for p in prange(P):
        plane = x[p]
        for oh in range(OH):
            h_start = oh * sh - ph
            h_lo, h_hi = max(h_start, 0), min(h_start + kh, H)
            for ow in range(OW):
                w_start = ow * sw - pw
                w_lo, w_hi = max(w_start, 0), min(w_start + kw, W)
                best = plane[h_lo, w_lo]
                best_index = h_lo * W + w_lo
                for h in range(h_lo, h_hi):
                    for w in range(w_lo, w_hi):
                        value = plane[h, w]
                        take = _larger(value, best)
                        best = value if take else best
                        best_index = h * W + w if take else best_index
                out[p, oh, ow] = best
                indices[p, oh, ow] = best_index


@jit(parallel=True)
def _max_pool_2x2_kernel(x, out, indices):
    """The 2×2, stride-2, unpadded case of ``_max_pool_forward_kernel``, as a tournament: the
    larger of each row's pair, then the larger of the two (ties keep the earlier one). Plain
    comparisons ignore NaN, so a window whose sum is NaN (it holds a NaN, or +inf and -inf) is
    looked at again, and its last NaN wins (PyTorch's rule)."""
    # Unsigned indices: Numba then skips its check for negative (from-the-end) indices, which
    # made this loop 2-3x slower (one thread, 1024 planes of 26x26: 1.43 -> 0.44 ms). No signed
    # value enters an index expression (Numba computes int64 + uint64 as a float).
    P, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    width = np.uint64(W)
    for p in prange(P):
        plane = np.uint64(p)
        for oh in range(np.uint64(OH)):
            h = np.uint64(2) * oh
            h1 = h + np.uint64(1)
            for ow in range(np.uint64(OW)):
                w = np.uint64(2) * ow
                w1 = w + np.uint64(1)
                a, b = x[plane, h, w], x[plane, h, w1]
                c, d = x[plane, h1, w], x[plane, h1, w1]
                take_a, take_c = a >= b, c >= d
                top_max = a if take_a else b
                top_index = w if take_a else w1
                bottom_max = c if take_c else d
                bottom_index = width + w if take_c else width + w1
                take_top = top_max >= bottom_max
                best = top_max if take_top else bottom_max
                best_index = top_index if take_top else bottom_index
                total = a + b + c + d
                if total != total:
                    for value, index in ((a, w), (b, w1), (c, width + w), (d, width + w1)):
                        if value != value:  # scanned in order: the last NaN is kept
                            best, best_index = value, index
                out[plane, oh, ow] = best
                indices[plane, oh, ow] = h * width + best_index


### BEGIN FASTER task 4.3
@jit(parallel=True)
def _max_pool_backward_kernel(dout, indices, dx):
    """dout, indices (P, OH*OW) added into dx (P, H*W) at the flat positions; one plane per
    work item, which it zero-fills first."""
    P, OHW = dout.shape
    for p in prange(P):
        dx[p] = 0
        for k in range(OHW):
            dx[p, indices[p, k]] += dout[p, k]
### END FASTER


def max_pool2d_forward_numba(x, kernel, stride, padding):
    """``tinydl.ops.conv.max_pool2d_forward`` in Numba, parallel over (n, c) planes; out and
    indices (N, C, OH, OW) in x's plane order."""
    from tinydl.ops.conv import output_size  # ops.conv imports the registry
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x.shape
    OH, OW = output_size(H, W, kh, kw, stride, padding, (1, 1))
    order = _plane_order(x) or "NC"
    planes = _planes(x, order)
    out = np.empty((N * C, OH, OW), dtype=x.dtype)
    indices = np.empty((N * C, OH, OW), dtype=np.int64)
    if (kh, kw, sh, sw, ph, pw) == (2, 2, 2, 2, 0, 0):
        _max_pool_2x2_kernel(planes, out, indices)
    else:
        _max_pool_forward_kernel(planes, kh, kw, sh, sw, ph, pw, out, indices)
    shape = (N, C, OH, OW)
    return _from_planes(out, shape, order), _from_planes(indices, shape, order)


### BEGIN FASTER task 4.3
def max_pool2d_scatter_numba(grad, indices, x_shape):
    """``tinydl.ops.conv.max_pool2d_scatter`` in Numba: grad (N, C, OH, OW) added at indices;
    the result (N, C, H, W) in the plane order of the indices (the pooled input's)."""
    N, C, H, W = x_shape
    order = _plane_order(indices) or "NC"
    flat_indices = _planes(indices.astype(np.int64, copy=False), order).reshape(N * C, -1)
    dx = np.empty((N * C, H * W), dtype=grad.dtype)
    _max_pool_backward_kernel(_planes(grad, order).reshape(N * C, -1), flat_indices, dx)
    return _from_planes(dx, tuple(x_shape), order)
### END FASTER


@jit(inline=True)
def _valid_columns(OW, W, sw, w_first):
    """(ow_lo, ow_hi): the output columns ow whose input column ow * sw + w_first is inside
    0..W-1 (the others read padding); 0 <= ow_lo <= ow_hi <= OW. (ow_lo is capped at OW: a
    window position that sees only left padding, as a wide padding of a narrow image gives,
    would otherwise send the padding loop past its row.)"""
    ow_lo = 0 if w_first >= 0 else min(OW, (sw - 1 - w_first) // sw)
    ow_hi = 0 if W - 1 - w_first < 0 else min(OW, (W - 1 - w_first) // sw + 1)
    return ow_lo, max(ow_lo, ow_hi)


# The two copy loops below count with unsigned integers: Numba then drops its check for
# negative (from-the-end) indices, which otherwise keeps the loop from vectorising (the
# kernels ran 2x slower than NumPy's strided copy with plain ints).

@jit(inline=True)
def _copy_strided(target, to, source, start, step, count):
    """target[to + k] = source[start + k * step] for k < count; 1-D arrays."""
    to, start, step = np.uint64(to), np.uint64(start), np.uint64(step)
    for k in range(np.uint64(count)):
        target[to + k] = source[start + k * step]


@jit(inline=True)
def _add_strided(target, to, step, source, start, count):
    """target[to + k * step] += source[start + k] for k < count; 1-D arrays."""
    to, start, step = np.uint64(to), np.uint64(start), np.uint64(step)
    for k in range(np.uint64(count)):
        target[to + k * step] += source[start + k]


### BEGIN FASTER task 4.1
@jit(parallel=True)
def _im2col_kernel(planes, n_step, c_step, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, cols):
    """cols[(c, i, j), (n, oh, ow)] = image (n, c)[oh*sh + i*dh - ph, ow*sw + j*dw - pw], 0 in
    the padding; image (n, c) is planes[n * n_step + c * c_step]. One plane per work item."""
    P, H, W = planes.shape
    C = cols.shape[0] // (kh * kw)
    N = P // C
    for work in prange(C * N):
        c, n = work // N, work % N
        plane = planes[n * n_step + c * c_step]
        for i in range(kh):
            for j in range(kw):
                target = cols[(c * kh + i) * kw + j]
                w_first = j * dw - pw
                ow_lo, ow_hi = _valid_columns(OW, W, sw, w_first)
                for oh in range(OH):
                    h = oh * sh + i * dh - ph
                    start = (n * OH + oh) * OW
                    if h < 0 or h >= H:  # a padding row
                        for ow in range(OW):
                            target[start + ow] = 0
                        continue
                    for ow in range(ow_lo):
                        target[start + ow] = 0
                    _copy_strided(target, start + ow_lo, plane[h], ow_lo * sw + w_first, sw,
                                  ow_hi - ow_lo)
                    for ow in range(ow_hi, OW):
                        target[start + ow] = 0


def im2col_numba(x, kh, kw, stride, padding, dilation):
    """``tinydl.ops.conv.im2col`` in Numba: x (N, C, H, W) -> cols (C*kh*kw, N*OH*OW)."""
    from tinydl.ops.conv import output_size  # ops.conv imports the registry
    N, C, H, W = x.shape
    OH, OW = output_size(H, W, kh, kw, stride, padding, dilation)
    order = _plane_order(x) or "NC"
    n_step, c_step = (C, 1) if order == "NC" else (1, N)
    cols = np.empty((C * kh * kw, N * OH * OW), dtype=x.dtype)
    _im2col_kernel(_planes(x, order), n_step, c_step, kh, kw, *stride, *padding, *dilation, OH, OW,
                   cols)
    return cols
### END FASTER


### BEGIN FASTER task 4.2
@jit(parallel=True)
def _col2im_kernel(cols, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, image):
    """image[c, n] = the sum of the columns' entries that came from each pixel (the adjoint of
    ``_im2col_kernel``); one (c, n) plane per work item, zero-filled first."""
    C, N, H, W = image.shape
    for work in prange(C * N):
        c, n = work // N, work % N
        plane = image[c, n]
        plane[:, :] = 0
        for tap in range(kh * kw):  # the window position (i, j), row c*kh*kw + tap of cols
            i, j = tap // kw, tap % kw
            source = cols[c * kh * kw + tap]
            w_first = j * dw - pw
            ow_lo, ow_hi = _valid_columns(OW, W, sw, w_first)
            for oh in range(OH):
                h = oh * sh + i * dh - ph
                if 0 <= h < H:
                    _add_strided(plane[h], ow_lo * sw + w_first, sw, source,
                                 (n * OH + oh) * OW + ow_lo, ow_hi - ow_lo)


def col2im_numba(cols, x_shape, kh, kw, stride, padding, dilation):
    """``tinydl.ops.conv.col2im`` in Numba: cols (C*kh*kw, N*OH*OW) -> (N, C, H, W), a view of
    a (C, N, H, W) block as the reference returns."""
    from tinydl.ops.conv import output_size  # ops.conv imports the registry
    N, C, H, W = x_shape
    OH, OW = output_size(H, W, kh, kw, stride, padding, dilation)
    image = np.empty((C, N, H, W), dtype=cols.dtype)
    _col2im_kernel(np.ascontiguousarray(cols), kh, kw, *stride, *padding, *dilation, OH, OW, image)
    return image.transpose(1, 0, 2, 3)
### END FASTER


register("max_pool2d_forward", "numba", max_pool2d_forward_numba, available=numba_available,
         default=True)
### BEGIN FASTER task 4.3
register("max_pool2d_backward", "numba", max_pool2d_scatter_numba, available=numba_available,
         default=True)
### END FASTER
### BEGIN FASTER task 4.1
register("im2col", "numba", im2col_numba, available=numba_available, default=True)
### END FASTER
### BEGIN FASTER task 4.2
register("col2im", "numba", col2im_numba, available=numba_available, default=True)
### END FASTER
