"""Numba versions of GELU's and ReLU's forward and backward, registered against the NumPy
references in ``tinydl/ops/nn.py`` (where the formulas are):

    exact:  gelu(x) = 0.5 x (1 + erf(x / √2)),  gelu'(x) = Φ(x) + x φ(x)
    tanh:   gelu(x) = 0.5 x (1 + tanh(u)),  u = √(2/π) (x + 0.044715 x³)
    relu: max(x, 0), NaN stays NaN;  relu backward: grad where x > 0, else 0

The references evaluate each formula one array operation at a time (eight to twelve passes
over memory and as many temporaries). Here each is one pass, element by element, on all cores
when the array is large (``tinydl.set_num_threads``). Neither calls libm (Numba's erf, exp and
tanh are scalar calls that keep a loop from vectorising): the exact GELU's float32 Φ comes
from erfc with a fitted polynomial, and the tanh GELU writes 0.5 (1 + tanh(u)) as the
sigmoid σ(2u), from exp(-2|u|) by ``exp_in_its_dtype``. Inputs: float32 or float64 NumPy
arrays of any shape.
"""

import math

import numpy as np

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.fast_exp import exp_float32, exp_in_its_dtype
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)

TANH_C = math.sqrt(2.0 / math.pi)
TANH_K = 0.044715


# Exact in float32, so float32 inputs stay in float32 arithmetic and float64 inputs in float64.
_ONE, _TWO, _HALF, _THREE = np.float32(1), np.float32(2), np.float32(0.5), np.float32(3)
# The irrational constants are passed in the input's dtype: c, k, 1/√2, 1/√(2π).
_CONSTANTS = (TANH_C, TANH_K, 1 / math.sqrt(2.0), 1 / math.sqrt(2.0 * math.pi))


@jit(inline=True)
def _tanh_gelu_sigmoid(x, c, k):
    """(s, e, r) for 0.5 (1 + tanh(u)) = σ(2u), u = c (x + k x³), in x's dtype: e = exp(-2|u|)
    (in (0, 1], so exp_in_its_dtype takes it), r = 1 / (1 + e), and s = σ(2u) = r for u >= 0,
    e r for u < 0. σ comes from e on both sides, so its negative tail keeps its digits where
    1 + tanh(u) would cancel; only arithmetic, so a loop calling it vectorises."""
    u = c * (x + k * x * x * x)
    e = exp_in_its_dtype(-_TWO * abs(u))
    r = _ONE / (_ONE + e)
    return (r if u >= 0 else e * r), e, r


# The tanh GELU's kernels wake the thread pool from 1M elements on, below the general
# threads.PARALLEL_MIN_WORK: they do some thirty operations an element, so the pool pays even
# right after a matrix product. B32 T128 d512 float32 (2M elements, GPT-mini's MLP), each
# call right after a GEMM, median of 20, three rounds on 2 cores (2026-11-30): forward
# 2.1-3.4 ms against 3.2-3.6 serial, backward 2.3-3.0 against 4.0-4.7.
GELU_TANH_PARALLEL_MIN_WORK = 1 << 20


@jit(parallel=True, parallel_min_work=GELU_TANH_PARALLEL_MIN_WORK)
def _gelu_tanh_forward_kernel(x, out, constants):
    """out = x σ(2u) = 0.5 x (1 + tanh(u)), flat (n,) arrays."""
    c, k = constants[0], constants[1]
    for i in prange(x.shape[0]):
        s, e, r = _tanh_gelu_sigmoid(x[i], c, k)
        out[i] = x[i] * s


@jit(parallel=True, parallel_min_work=GELU_TANH_PARALLEL_MIN_WORK)
def _gelu_tanh_backward_kernel(x, grad, out, constants):
    """out = grad (σ(2u) + x 2σ(2u)σ(-2u) c (1 + 3 k x²)), with 2σ(2u)σ(-2u) = 0.5 (1 - tanh²(u))
    = 2 e r²."""
    c, k = constants[0], constants[1]
    for i in prange(x.shape[0]):
        a = x[i]
        s, e, r = _tanh_gelu_sigmoid(a, c, k)
        out[i] = grad[i] * (s + _TWO * a * e * r * r * c * (_ONE + _THREE * k * a * a))


# Φ(x) = erfc(-x / √2) / 2 in float32 without libm (whose erf, called one element at a time,
# keeps a loop from vectorising: 6.7 ns an element forward where this takes 1.6). For z = |x| / √2
# and t = 1 / (1 + z / 2), erfc(z) = t exp(-z² + P(t)) with P a polynomial of degree 8 (the
# form of Numerical Recipes' erfcc); the coefficients below were fitted here, by least squares
# in float64 on 4000 Chebyshev nodes of t in [1/6, 1] (z up to 10, past which float32's
# erfc is 0) to log(erfc(z) / t) + z². In float32, Φ is within 2.2e-6 of the exact value
# (relative) for x > -5 and 1.9e-5 down to x = -13: the tail comes from erfc directly,
# without 1 + erf(x / √2), which cancels in float32 (0.5 (1 + erf) is 4% off at x = -5, 57%
# at -5.5 and 0 from -5.6 on). P's coefficients, lowest degree first:
_ERFC_P = (
    -1.2651856685e+00, 9.9284964926e-01, 4.4026572303e-01,
    -2.4035933834e-01, 8.6288269988e-01, -1.7975485642e+00,
    1.4890868835e+00, -5.6204799618e-01, 8.0056444244e-02,
)
_P0, _P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8 = (np.float32(c) for c in _ERFC_P)  # (typed float32)
_F32_ZERO = np.float32(0)


@jit(inline=True)
def _normal_cdf_float32(x, inv_sqrt2):
    """Φ(x) for a float32 x and 1/√2 in float32 (see above); NaN for NaN, 0 and 1 at -inf
    and +inf."""
    z = abs(x) * inv_sqrt2
    t = _ONE / (_ONE + _HALF * z)
    p = (((((((_P8 * t + _P7) * t + _P6) * t + _P5) * t + _P4) * t + _P3) * t + _P2) * t + _P1) * t + _P0
    half_tail = _HALF * t * exp_float32(min(p - z * z, _F32_ZERO))  # erfc(z) / 2
    return half_tail if x < _F32_ZERO else _ONE - half_tail


@jit(inline=True)
def _normal_cdf(x, inv_sqrt2):
    """Φ(x): _normal_cdf_float32 for a float32 x (Numba keeps the branch of x's type), libm's
    erf otherwise (float64 stays exact)."""
    if isinstance(x, np.float32):
        return _normal_cdf_float32(x, inv_sqrt2)
    return _HALF * (_ONE + math.erf(x * inv_sqrt2))


@jit(inline=True)
def _normal_density(x, inv_sqrt_2pi):
    """φ(x) = exp(-x² / 2) / √(2π), vectorisable for float32 (exp_in_its_dtype takes x <= 0)."""
    return exp_in_its_dtype(-_HALF * x * x) * inv_sqrt_2pi


@jit(parallel=True)
def _gelu_erf_forward_kernel(x, out, constants):
    """out = x Φ(x) = 0.5 x (1 + erf(x / √2))."""
    inv_sqrt2 = constants[2]
    for i in prange(x.shape[0]):
        a = x[i]
        out[i] = a * _normal_cdf(a, inv_sqrt2)


@jit(parallel=True)
def _gelu_erf_backward_kernel(x, grad, out, constants):
    """out = grad (Φ(x) + x φ(x))."""
    inv_sqrt2, inv_sqrt_2pi = constants[2], constants[3]
    for i in prange(x.shape[0]):
        a = x[i]
        out[i] = grad[i] * (_normal_cdf(a, inv_sqrt2) + a * _normal_density(a, inv_sqrt_2pi))


def _flat(op, *arrays):
    """(1-D views of the arrays, axis order): element k of every view is the same position.

    When all arrays share one dense memory layout, in any axis order (a convolution's output
    is a (C, N, H, W) block seen as (N, C, H, W)), the views run through memory as it lies,
    with no copy; otherwise they are C-order copies. ``axis order`` lists the axes from the
    slowest-varying in memory to the fastest (None for C order, found without sorting the
    strides: NumPy's argsort of a list costs ~5 µs): ``_unflat`` shapes a result back with it.
    """
    for array in arrays:
        if not isinstance(array, np.ndarray) or array.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: the Numba kernel takes float32 or float64 NumPy arrays, got "
                            f"{type(array).__name__} {getattr(array, 'dtype', '')}; use the "
                            "NumPy reference for other arrays")
    first = arrays[0]
    if all(array.flags.c_contiguous for array in arrays):  # the common case: plain C order
        return [array.reshape(-1) for array in arrays], None
    order = tuple(np.argsort([-stride for stride in first.strides], kind="stable"))
    if all(array.strides == first.strides for array in arrays) and \
            first.transpose(order).flags.c_contiguous:
        return [array.transpose(order).reshape(-1) for array in arrays], order
    return [np.ascontiguousarray(array).reshape(-1) for array in arrays], tuple(range(first.ndim))


def _unflat(flat, shape, order):
    """A result from the 1-D views of ``_flat`` as an array of ``shape``, in their memory order
    (order None: C order)."""
    if order is None:
        return flat.reshape(shape)
    return flat.reshape([shape[axis] for axis in order]).transpose(np.argsort(order))


def gelu_forward_numba(x, approximate="none"):
    """``gelu_forward_reference`` in Numba passes; same arguments and results (to rounding)."""
    (flat,), order = _flat("gelu_forward_numba", x)
    constants = np.array(_CONSTANTS, dtype=flat.dtype)
    out = np.empty_like(flat)
    if approximate == "tanh":
        _gelu_tanh_forward_kernel(flat, out, constants)
    else:
        _gelu_erf_forward_kernel(flat, out, constants)
    return _unflat(out, x.shape, order)


def gelu_backward_numba(x, grad, approximate="none"):
    """``gelu_backward_reference`` in Numba passes; same arguments and results (to rounding)."""
    grad = np.broadcast_to(grad, x.shape).astype(x.dtype, copy=False)
    (flat, flat_grad), order = _flat("gelu_backward_numba", x, grad)
    constants = np.array(_CONSTANTS, dtype=flat.dtype)
    out = np.empty_like(flat)
    if approximate == "tanh":
        _gelu_tanh_backward_kernel(flat, flat_grad, out, constants)
    else:
        _gelu_erf_backward_kernel(flat, flat_grad, out, constants)
    return _unflat(out, x.shape, order)


# ----------------------------------------------------------------------------- ReLU

@jit(parallel=True)
def _relu_forward_kernel(x, out):
    for i in prange(x.shape[0]):
        out[i] = 0 if x[i] <= 0 else x[i]  # NaN is not <= 0: it stays NaN, as in np.maximum


def relu_forward_numba(x):
    """``relu_forward_reference`` in one Numba pass, on all cores when large; x's memory order."""
    (flat,), order = _flat("relu_forward_numba", x)
    out = np.empty_like(flat)
    _relu_forward_kernel(flat, out)
    return _unflat(out, x.shape, order)


@jit(parallel=True)
def _relu_backward_kernel(x, grad, out):
    for i in prange(x.shape[0]):
        out[i] = grad[i] if x[i] > 0 else 0


def relu_backward_numba(x, grad):
    """``relu_backward_reference`` in one Numba pass (no mask array); same results."""
    grad = np.broadcast_to(grad, x.shape)
    (flat, flat_grad), order = _flat("relu_backward_numba", x, grad)
    out = np.empty_like(flat_grad)
    _relu_backward_kernel(flat, flat_grad, out)
    return _unflat(out, x.shape, order)


register("relu_forward", "numba", relu_forward_numba, available=numba_available, default=True)
register("relu_backward", "numba", relu_backward_numba, available=numba_available, default=True)
register("gelu_forward", "numba", gelu_forward_numba, available=numba_available, default=True)
register("gelu_backward", "numba", gelu_backward_numba, available=numba_available, default=True)
