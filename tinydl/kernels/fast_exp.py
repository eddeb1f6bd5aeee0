"""exp for Numba kernels, written so that a loop calling it vectorises.

Inside a Numba loop ``np.exp`` and ``math.exp`` are calls to libm's exp, one element at a time,
and a call stops LLVM from vectorising the loop. These are arithmetic only (and, in float64, a
table read), inlined into the kernel that calls them. They take x <= 0 only (the softmax's
``score - row max``), where exp(x) lies in [0, 1]:

    exp_float64(x)       float64, within 1 ulp of libm's exp; 0 for -inf
    exp_float32(x)       float32, within 1 ulp of the exact value; 0 below -87 and for -inf
    exp_in_its_dtype(x)  exp_float32 for a float32 x, exp_float64 otherwise

and, built on them, for any x: sigmoid_in_its_dtype(x) and tanh_in_its_dtype(x).

All keep NaN as NaN. Used by the attention, GELU and LSTM kernels (tinydl/kernels/
attention.py, activation.py, recurrent.py). Numba vectorises them on 8 float32 lanes (256-bit
registers). NumPy's own exp and tanh use 16 where the CPU has AVX-512 (there exp_float32 over
2M values took 1.3 ms, one thread, np.tanh 0.75 ms), but its float32 tanh has no vector loop
on an AVX2 CPU (2.8 ns an element), where these win outright.
"""

import math

import numpy as np

from tinydl.kernels._jit import jit

_LOG2E = 1.4426950408889634  # 1 / ln 2
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (Cody-Waite): k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN_K = 1100  # exp(x) underflows to 0 in float64 long before 2**-1100
_POW2_NEG = 2.0 ** -np.arange(_EXP_MIN_K + 1.0)  # _POW2_NEG[n] = 2**-n (0 past float64's range)


@jit(inline=True)
def exp_float64(x):
    """exp(x) for x <= 0 (including -inf, giving 0) in float64, within 1 ulp of libm.

    exp(x) = 2**k * exp(r) with k = round(x / ln 2), so |r| <= ln(2) / 2 and exp(r) is its
    Taylor series to degree 13 (truncation error < 1e-17); 2**k comes from a table. Only
    arithmetic and a table read, so a loop calling it vectorises.
    """
    x = max(x, -_EXP_MIN_K * 0.6931471805599453)  # -inf -> a finite x whose exp is 0
    k = math.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!, then Horner's rule down to 1/0!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    # clamped to the table (a NaN x gives NaN through p, never a read outside the table)
    return p * _POW2_NEG[max(0, min(np.int64(-k), _EXP_MIN_K))]


# The same in float32 (constants typed float32, so the arithmetic stays in float32).
_F32_LOG2E = np.float32(_LOG2E)
_F32_LN2_HI = np.float32(0.693359375)  # ln 2 in two float32 parts: k * _F32_LN2_HI is exact
_F32_LN2_LO = np.float32(-2.12194440e-4)
_F32_EXP_MIN = np.float32(-87.0)  # exp(-87) = 1.6e-38 is near float32's smallest normal number
_F32_HALF, _F32_ZERO = np.float32(0.5), np.float32(0)
# 1/2! ... 1/7! (the terms 1 + r come first); separate names, as Numba reads a global tuple's
# float32 items as float64
_F32_C2, _F32_C3, _F32_C4, _F32_C5, _F32_C6, _F32_C7 = (np.float32(1 / math.factorial(n))
                                                        for n in range(2, 8))
_F32_ONE, _F32_TWO = np.float32(1), np.float32(2)


@jit(inline=True)
def exp_float32(x):
    """exp(x) for float32 x <= 0, within 1 ulp of the exact value; 0 below -87 (and for -inf),
    where the exact value is under 1.7e-38; NaN for NaN.

    Cody-Waite as in exp_float64: x = k ln 2 + r, |r| <= ln(2) / 2; exp(r) is its Taylor
    series to degree 7 (truncation error < 6e-9) and 2**k is built from its bits (the float32 with
    exponent field k + 127). Only arithmetic, so a loop calling it vectorises (inside a Numba
    loop np.exp is a call to libm's expf, one element at a time).
    """
    clamped = max(x, _F32_EXP_MIN)
    k = np.floor(clamped * _F32_LOG2E + _F32_HALF)  # -126 <= k <= 0 (np.floor stays float32)
    r = (clamped - k * _F32_LN2_HI) - k * _F32_LN2_LO
    p = (((((_F32_C7 * r + _F32_C6) * r + _F32_C5) * r + _F32_C4) * r + _F32_C3) * r
         + _F32_C2) * r * r + r + _F32_ONE
    two_to_k = np.int32((np.int32(k) + np.int32(127)) << np.int32(23)).view(np.float32)
    return _F32_ZERO if x < _F32_EXP_MIN else p * two_to_k + (x - x)  # (x - x: NaN stays NaN)


@jit(inline=True)
def exp_in_its_dtype(x):
    """exp(x) for x <= 0: exp_float32 for a float32 x, exp_float64 otherwise. Numba compiles a
    copy per type and keeps the one branch that matches. A float32 kernel calling exp_float64
    computes in float64, on half as many SIMD lanes."""
    if isinstance(x, np.float32):
        return exp_float32(x)
    return exp_float64(x)


@jit(inline=True)
def sigmoid_in_its_dtype(x):
    """1 / (1 + exp(-x)) in x's dtype, from e = exp(-|x|) (in (0, 1], so exp_in_its_dtype
    takes it): 1 / (1 + e) for x >= 0, e / (1 + e) below, so neither tail cancels. NaN for
    NaN, 0 and 1 at -inf and +inf. Only arithmetic, so a loop calling it vectorises."""
    e = exp_in_its_dtype(-abs(x))
    return (_F32_ONE if x >= 0 else e) / (_F32_ONE + e)


@jit(inline=True)
def tanh_in_its_dtype(x):
    """tanh(x) in x's dtype: (1 - e) / (1 + e) with e = exp(-2|x|), the sign of x put back
    (math.copysign, so tanh(-0) = -0). Within a few units of the last place of 1 absolutely
    (near 0, 1 - e keeps fewer digits than libm's tanh, an error below the rounding of any
    sum that made x); NaN for NaN, ±1 at ±inf. Only arithmetic, so a loop calling it
    vectorises (Numba's np.tanh is a call to libm, one element at a time)."""
    e = exp_in_its_dtype(-_F32_TWO * abs(x))  # (a float32 2: an int 2 would make it float64)
    return math.copysign((_F32_ONE - e) / (_F32_ONE + e), x)
