"""Numba versions of LayerNorm's normalisation, registered against the NumPy references.

The formulas (and their readable NumPy references) are in ``tinydl/ops/normalization.py``.
These kernels treat the normalised axes, which must be the trailing ones (the op checks), as
rows of length n and make two passes per row while it sits in cache, with mean and variance
accumulated in float64 (on SIMD lanes: ``reassociate=True``, see _jit.py); rows spread over
the cores when there are enough of them.
Shapes: x_hat like x, rstd like x with the axes kept as size 1. The affine versions (LayerNorm
with its weight and bias) also write y = x_hat * weight + bias in the same row pass, and their
backward sums dweight and dbias over the rows in a fixed number of row chunks (the same sums
however many threads run them), one float64 partial per chunk.
"""

import numpy as np

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)


@jit(inline=True, reassociate=True)
def _normalize_row(x, r, eps, x_hat, rstd):
    """Row r of x (rows, n): its mean and variance in float64, then x_hat[r] and rstd[r]."""
    n = x.shape[1]
    total = 0.0
    for j in range(n):
        total += x[r, j]
    mean = total / n
    squares = 0.0
    for j in range(n):
        d = x[r, j] - mean
        squares += d * d
    inv = 1.0 / np.sqrt(squares / n + eps)
    rstd[r] = inv
    for j in range(n):
        x_hat[r, j] = (x[r, j] - mean) * inv


@jit(parallel=True, reassociate=True)
def _normalize_forward_kernel(x, eps, x_hat, rstd):
    """x, x_hat (rows, n), rstd (rows,): per row, mean and variance in float64, then x_hat."""
    for r in prange(x.shape[0]):
        _normalize_row(x, r, eps, x_hat, rstd)


@jit(parallel=True, reassociate=True)
def _normalize_backward_kernel(x_hat, rstd, grad, dx):
    """All (rows, n) but rstd (rows,): dx = rstd (g - mean g - x_hat mean(g x_hat)) per row."""
    n = x_hat.shape[1]
    for r in prange(x_hat.shape[0]):
        sum_g = 0.0
        sum_gx = 0.0
        for j in range(n):
            sum_g += grad[r, j]
            sum_gx += grad[r, j] * x_hat[r, j]
        mean_g = sum_g / n
        mean_gx = sum_gx / n
        for j in range(n):
            dx[r, j] = rstd[r] * (grad[r, j] - mean_g - x_hat[r, j] * mean_gx)


@jit(parallel=True, reassociate=True)
def _affine_normalize_forward_kernel(x, weight, bias, eps, y, x_hat, rstd):
    """x, y, x_hat (rows, n); weight, bias (n,); rstd (rows,): x_hat as above, y = x_hat w + b."""
    for r in prange(x.shape[0]):
        _normalize_row(x, r, eps, x_hat, rstd)
        for j in range(x.shape[1]):
            y[r, j] = x_hat[r, j] * weight[j] + bias[j]


@jit(parallel=True, reassociate=True)
def _affine_normalize_backward_kernel(x_hat, rstd, weight, grad, dx, dweight_parts, dbias_parts):
    """x_hat, grad, dx (rows, n); rstd (rows,); weight (n,); *_parts (chunks, n) float64 zeros.

    Per row: gw = grad * weight, dx = rstd (gw - mean gw - x_hat mean(gw x_hat)); chunk c of
    the rows adds its grad * x_hat and grad into dweight_parts[c] and dbias_parts[c].
    """
    rows, n = x_hat.shape
    chunks = dweight_parts.shape[0]
    for c in prange(chunks):
        for r in range(rows * c // chunks, rows * (c + 1) // chunks):
            sum_g = 0.0
            sum_gx = 0.0
            for j in range(n):
                g = grad[r, j] * weight[j]
                sum_g += g
                sum_gx += g * x_hat[r, j]
                dweight_parts[c, j] += grad[r, j] * x_hat[r, j]
                dbias_parts[c, j] += grad[r, j]
            mean_g = sum_g / n
            mean_gx = sum_gx / n
            for j in range(n):
                dx[r, j] = rstd[r] * (grad[r, j] * weight[j] - mean_g - x_hat[r, j] * mean_gx)


# Row chunks of the affine backward: enough for the cores of a workstation; fixed, so the
# dweight and dbias sums do not depend on the thread count.
AFFINE_BACKWARD_CHUNKS = 16


def _rows(x, axes):
    """(rows, n): x seen as rows of its last len(axes) axes."""
    n = int(np.prod(x.shape[x.ndim - len(axes):]))
    return x.size // n, n


def normalize_forward_numba(x, axes=(-1,), eps=1e-5):
    """``tinydl.ops.normalization.normalize_forward_reference`` in Numba (trailing axes)."""
    rows, n = _rows(x, axes)
    x2 = np.ascontiguousarray(x).reshape(rows, n)
    x_hat, rstd = np.empty_like(x2), np.empty(rows, dtype=x.dtype)
    _normalize_forward_kernel(x2, float(eps), x_hat, rstd)
    kept = x.shape[:x.ndim - len(axes)] + (1,) * len(axes)
    return x_hat.reshape(x.shape), rstd.reshape(kept)


def normalize_backward_numba(x_hat, rstd, grad, axes=(-1,)):
    """``tinydl.ops.normalization.normalize_backward_reference`` in Numba (trailing axes)."""
    rows, n = _rows(x_hat, axes)
    grad = np.broadcast_to(grad, x_hat.shape)
    contiguous = np.ascontiguousarray
    dx = np.empty((rows, n), dtype=x_hat.dtype)
    _normalize_backward_kernel(contiguous(x_hat).reshape(rows, n), contiguous(rstd).reshape(rows),
                               contiguous(grad, dtype=x_hat.dtype).reshape(rows, n), dx)
    return dx.reshape(x_hat.shape)


def affine_normalize_forward_numba(x, weight, bias, axes=(-1,), eps=1e-5):
    """``tinydl.ops.normalization.affine_normalize_forward_reference`` in Numba (trailing axes)."""
    rows, n = _rows(x, axes)
    x2 = np.ascontiguousarray(x).reshape(rows, n)
    y, x_hat, rstd = np.empty_like(x2), np.empty_like(x2), np.empty(rows, dtype=x.dtype)
    _affine_normalize_forward_kernel(x2, np.ascontiguousarray(weight).reshape(n),
                                     np.ascontiguousarray(bias).reshape(n), float(eps), y, x_hat, rstd)
    kept = x.shape[:x.ndim - len(axes)] + (1,) * len(axes)
    return y.reshape(x.shape), x_hat.reshape(x.shape), rstd.reshape(kept)


def affine_normalize_backward_numba(x_hat, rstd, weight, grad, axes=(-1,)):
    """``tinydl.ops.normalization.affine_normalize_backward_reference`` in Numba (trailing axes)."""
    rows, n = _rows(x_hat, axes)
    grad = np.broadcast_to(grad, x_hat.shape)
    contiguous = np.ascontiguousarray
    dx = np.empty((rows, n), dtype=x_hat.dtype)
    chunks = max(1, min(AFFINE_BACKWARD_CHUNKS, rows))
    dweight_parts, dbias_parts = np.zeros((chunks, n)), np.zeros((chunks, n))
    _affine_normalize_backward_kernel(
        contiguous(x_hat).reshape(rows, n), contiguous(rstd).reshape(rows),
        contiguous(weight, dtype=x_hat.dtype).reshape(n),
        contiguous(grad, dtype=x_hat.dtype).reshape(rows, n), dx, dweight_parts, dbias_parts)
    weight_shape = x_hat.shape[x_hat.ndim - len(axes):]
    return (dx.reshape(x_hat.shape),
            dweight_parts.sum(axis=0).astype(x_hat.dtype).reshape(weight_shape),
            dbias_parts.sum(axis=0).astype(x_hat.dtype).reshape(weight_shape))


register("normalize_forward", "numba", normalize_forward_numba, available=numba_available,
         default=True)
register("normalize_backward", "numba", normalize_backward_numba, available=numba_available,
         default=True)
register("affine_normalize_forward", "numba", affine_normalize_forward_numba,
         available=numba_available, default=True)
register("affine_normalize_backward", "numba", affine_normalize_backward_numba,
         available=numba_available, default=True)
