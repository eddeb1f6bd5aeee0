"""Normalisation over trailing axes (LayerNorm's core) on arrays: NumPy reference and Numba.

    forward:   x_hat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)   (biased variance)
    backward:  dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))      (means over the axes)

``normalize_forward_reference(x, axes, eps) -> (x_hat, rstd)`` and
``normalize_backward_reference(x_hat, rstd, grad, axes) -> dx`` are the formulas as array
operations (several passes over memory, each with a temporary); ``normalize_backward_formula``
is the backward written with only * - and mean, so it also runs on Tensors (the recorded,
twice-differentiable path in tinydl.functional_sequence). The Numba versions treat the
normalised axes as rows of length n and make two passes per row while it sits in cache, rows
spread over the cores when there are enough of them; for axes other than the trailing ones
they call the reference. Shapes: x_hat like x, rstd like x with the axes kept as size 1.
"""

import numpy as np

from tinydl.backend import get_array_module
from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)


def normalize_forward_reference(x, axes=(-1,), eps=1e-5):
    """(x_hat, rstd): x normalised over ``axes`` and the reciprocal std (axes kept, size 1)."""
    xp = get_array_module(x)
    centered = x - x.mean(axis=axes, keepdims=True)
    variance = (centered * centered).mean(axis=axes, keepdims=True)
    rstd = (1.0 / xp.sqrt(variance + eps)).astype(x.dtype, copy=False)
    return centered * rstd, rstd


def normalize_backward_formula(x_hat, rstd, grad, axes):
    """d(loss)/dx of x_hat = (x - mean) * rstd, given d(loss)/d(x_hat) = grad.

    dx = rstd * (grad - mean(grad) - x_hat * mean(grad * x_hat)), means over ``axes``.
    Only * - and mean, so it runs on arrays and on Tensors alike.
    """
    mean_grad = grad.mean(axis=axes, keepdims=True)
    mean_grad_x_hat = (grad * x_hat).mean(axis=axes, keepdims=True)
    return rstd * (grad - mean_grad - x_hat * mean_grad_x_hat)


def normalize_backward_reference(x_hat, rstd, grad, axes=(-1,)):
    """``normalize_backward_formula`` on arrays, in the dtype of x_hat."""
    return normalize_backward_formula(x_hat, rstd, grad, axes).astype(x_hat.dtype, copy=False)


@jit(parallel=True)
def _normalize_forward_kernel(x, eps, x_hat, rstd):
    """x, x_hat (rows, n), rstd (rows,): per row, mean and variance in float64, then x_hat."""
    n = x.shape[1]
    for r in prange(x.shape[0]):
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


@jit(parallel=True)
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


def _trailing(x, axes):
    """(rows, n) when ``axes`` are the trailing axes of a float NumPy array x, else None."""
    ndim = x.ndim
    normalized = sorted(a % ndim for a in axes) if ndim else []
    if (not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64) or not normalized
            or normalized != list(range(ndim - len(normalized), ndim))):
        return None
    n = int(np.prod(x.shape[ndim - len(normalized):]))
    return (x.size // n if n else 0), n


def normalize_forward_numba(x, axes=(-1,), eps=1e-5):
    """``normalize_forward_reference`` in Numba (trailing axes; else the reference)."""
    shape = _trailing(x, axes)
    if shape is None or 0 in shape:
        return normalize_forward_reference(x, axes, eps)
    rows, n = shape
    x2 = np.ascontiguousarray(x).reshape(rows, n)
    x_hat, rstd = np.empty_like(x2), np.empty(rows, dtype=x.dtype)
    _normalize_forward_kernel(x2, float(eps), x_hat, rstd)
    kept = x.shape[:x.ndim - len(axes)] + (1,) * len(axes)
    return x_hat.reshape(x.shape), rstd.reshape(kept)


def normalize_backward_numba(x_hat, rstd, grad, axes=(-1,)):
    """``normalize_backward_reference`` in Numba (trailing axes; else the reference)."""
    shape = _trailing(x_hat, axes)
    if shape is None or 0 in shape or grad.shape != x_hat.shape:
        return normalize_backward_reference(x_hat, rstd, grad, axes)
    rows, n = shape
    contiguous = np.ascontiguousarray
    dx = np.empty((rows, n), dtype=x_hat.dtype)
    _normalize_backward_kernel(contiguous(x_hat).reshape(rows, n), contiguous(rstd).reshape(rows),
                               contiguous(grad, dtype=x_hat.dtype).reshape(rows, n), dx)
    return dx.reshape(x_hat.shape)


register("normalize_forward", "numpy", normalize_forward_reference)
register("normalize_forward", "numba", normalize_forward_numba, available=numba_available,
         default=True)
register("normalize_backward", "numpy", normalize_backward_reference)
register("normalize_backward", "numba", normalize_backward_numba, available=numba_available,
         default=True)
