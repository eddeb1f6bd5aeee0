"""Numba versions of 2-D max pooling, registered against the NumPy reference in ``tinydl.ops.conv``.

The readable reference (``max_pool2d_forward``, ``max_pool2d_scatter``), the output-size
formula and im2col / col2im live in ``tinydl/ops/conv.py``; this file holds only the faster
loops, with the reference's signatures and results: (out, indices) where indices holds the
flat position h * W + w of each maximum in its (H, W) plane (PyTorch's return_indices), the
first maximum on ties, padding counting as -infinity. Arguments arrive checked (by
``tinydl.functional.pooling``): kernel, stride and padding are (height, width) pairs.
"""

import numpy as np

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)


@jit(parallel=True)
def _max_pool_forward_kernel(x, kh, kw, sh, sw, ph, pw, out, indices):
    """x (N, C, H, W) -> out, indices (N, C, OH, OW); one work item per (n, c) plane.

    Each window is clipped to the image once (padding never wins), and the running maximum
    is updated by selects rather than branches: on random data a branch on "larger?" is
    mispredicted half the time, which cost more than the comparisons (2x slower).
    """
    N, C, H, W = x.shape
    OH, OW = out.shape[2], out.shape[3]
    for work in prange(N * C):
        n = work // C
        c = work % C
        plane = x[n, c]
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
                        # first maximum wins; NaN wins over numbers (as np.argmax)
                        take = (value > best) | ((value != value) & (best == best))
                        best = value if take else best
                        best_index = h * W + w if take else best_index
                out[n, c, oh, ow] = best
                indices[n, c, oh, ow] = best_index


### BEGIN FASTER task 4.3
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
### END FASTER


def max_pool2d_forward_numba(x, kernel, stride, padding):
    """``tinydl.ops.conv.max_pool2d_forward`` in Numba, parallel over (n, c) planes."""
    from tinydl.ops.conv import output_size  # ops.conv imports the registry
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x.shape
    OH, OW = output_size(H, W, kh, kw, stride, padding, (1, 1))
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    indices = np.empty((N, C, OH, OW), dtype=np.int64)
    _max_pool_forward_kernel(np.ascontiguousarray(x), kh, kw, sh, sw, ph, pw, out, indices)
    return out, indices


### BEGIN FASTER task 4.3
def max_pool2d_scatter_numba(grad, indices, x_shape):
    """``tinydl.ops.conv.max_pool2d_scatter`` in Numba: grad (N, C, OH, OW) added at indices."""
    dx = np.zeros(tuple(x_shape), dtype=grad.dtype)
    _max_pool_backward_kernel(np.ascontiguousarray(grad),
                              np.ascontiguousarray(indices, dtype=np.int64), dx)
    return dx
### END FASTER


register("max_pool2d_forward", "numba", max_pool2d_forward_numba, available=numba_available,
         default=True)
### BEGIN FASTER task 4.3
register("max_pool2d_backward", "numba", max_pool2d_scatter_numba, available=numba_available,
         default=True)
### END FASTER
