"""Declarations of the elementwise math ops (tinydl.ops.math); test_ops_generated.py runs them.

References are NumPy (and the math module's erfc, SciPy's erfinv), never tinydl.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    torch = None

small = S.shapes(max_dims=3, max_side=3)
pair = S.broadcastable_shapes(2, max_dims=3, max_side=3)


def _unary(low=-3.0, high=3.0):
    return small.flatmap(lambda s: S.inputs(S.arrays(s, low, high)))


def _binary(low_a=-3.0, high_a=3.0, low_b=-3.0, high_b=3.0):
    return pair.flatmap(lambda s: S.inputs(S.arrays(s[0], low_a, high_a),
                                           S.arrays(s[1], low_b, high_b)))


@st.composite
def _away_from_steps(draw):
    """Values at least 0.1 from every multiple of 0.5 (rounding has no jump nearby)."""
    shape = draw(small)
    whole = draw(S.arrays(shape, -6, 6)).round()
    offset = draw(S.arrays(shape, 0.1, 0.4))
    return [np.asarray(whole * 0.5 + offset)]


@st.composite
def _dividend_divisor(draw):
    """b with |b| in [0.5, 2] and a = b * (n + f), f in [0.1, 0.9]: a/b never near a whole number."""
    shape_a, shape_b = draw(pair)
    b = draw(S.away_from_zero(shape_b, 0.5, 2.0))
    full = np.broadcast_shapes(shape_a, shape_b)
    n = np.round(draw(S.arrays(full, -3, 3)))
    f = draw(S.arrays(full, 0.1, 0.9))
    a = (b * (n + f)).astype(np.float64)
    return [np.asarray(a), b]


@st.composite
def _clamp_inputs(draw):
    """x, low, high with low < high broadcasting to x's shape, x at least 0.1 from both."""
    s_x, s_lo, s_hi = draw(S.broadcastable_shapes(3, max_dims=3, max_side=3))
    full = np.broadcast_shapes(s_x, s_lo, s_hi)
    low = draw(S.arrays(s_lo, -2.0, -0.5))
    high = draw(S.arrays(s_hi, 0.5, 2.0))
    x = draw(S.arrays(full, -3.0, 3.0))
    for bound in (low, high):
        x = x + 0.25 * (np.abs(x - bound) < 0.1)
    return [np.asarray(x, dtype=np.float64), low, high]


def _erfinv(y):
    from scipy.special import erfinv  # test-only reference
    return erfinv(y)


def _unary_spec(name, td_fn, np_fn, torch_name, low=-3.0, high=3.0, **extra):
    return OpSpec(name, td_fn, np_fn, _unary(low, high),
                  lambda a: getattr(torch, torch_name)(a), **extra)


SPECS = [
    _unary_spec("sin", td.sin, np.sin, "sin"),
    _unary_spec("cos", lambda a: a.cos(), np.cos, "cos"),
    _unary_spec("tan", td.tan, np.tan, "tan", -1.2, 1.2),
    _unary_spec("asin", td.asin, np.arcsin, "asin", -0.9, 0.9),
    _unary_spec("acos", lambda a: a.acos(), np.arccos, "acos", -0.9, 0.9),
    _unary_spec("atan", td.atan, np.arctan, "atan"),
    _unary_spec("sinh", td.sinh, np.sinh, "sinh"),
    _unary_spec("cosh", lambda a: a.cosh(), np.cosh, "cosh"),
    _unary_spec("asinh", td.asinh, np.arcsinh, "asinh"),
    _unary_spec("acosh", td.acosh, np.arccosh, "acosh", 1.2, 3.0),
    _unary_spec("atanh", lambda a: a.atanh(), np.arctanh, "atanh", -0.9, 0.9),
    _unary_spec("log1p", td.log1p, np.log1p, "log1p", -0.8, 3.0),
    _unary_spec("expm1", lambda a: a.expm1(), np.expm1, "expm1"),
    _unary_spec("erfc", td.erfc, np.vectorize(math.erfc), "erfc"),
    _unary_spec("erfinv", lambda a: a.erfinv(), _erfinv, "erfinv", -0.9, 0.9,
                forward_atol=1e-7),
    _unary_spec("log2", td.log2, np.log2, "log2", 0.2, 3.0),
    _unary_spec("log10", lambda a: a.log10(), np.log10, "log10", 0.2, 3.0),
    _unary_spec("exp2", td.exp2, np.exp2, "exp2"),
    _unary_spec("rsqrt", lambda a: a.rsqrt(), lambda a: 1 / np.sqrt(a), "rsqrt", 0.2, 3.0),
    OpSpec("reciprocal", td.reciprocal, np.reciprocal,
           small.flatmap(lambda s: S.inputs(S.away_from_zero(s, 0.3))),
           lambda a: torch.reciprocal(a)),
    OpSpec("rounding", lambda a: td.floor(a) + 2 * a.ceil() + 3 * td.round(a) + 4 * a.trunc()
           + 5 * td.sign(a) + a.frac(),
           lambda a: np.floor(a) + 2 * np.ceil(a) + 3 * np.round(a) + 4 * np.trunc(a)
           + 5 * np.sign(a) + (a - np.trunc(a)), _away_from_steps(),
           lambda a: torch.floor(a) + 2 * a.ceil() + 3 * torch.round(a) + 4 * a.trunc()
           + 5 * torch.sign(a) + a.frac()),
    OpSpec("round_decimals", lambda a: td.round(a, decimals=1) * a,
           lambda a: np.round(a, 1) * a,
           small.flatmap(lambda s: S.inputs(S.arrays(s, -3, 3).map(lambda x: np.asarray(x.round(1) + 0.03)))),
           lambda a: torch.round(a, decimals=1) * a),
    OpSpec("atan2", td.atan2, np.arctan2, _binary(0.3, 3.0, -3.0, 3.0),
           lambda a, b: torch.atan2(a, b)),
    OpSpec("hypot", lambda a, b: a.hypot(b), np.hypot, _binary(0.3, 3.0, 0.3, 3.0),
           lambda a, b: torch.hypot(a, b)),
    OpSpec("logaddexp", td.logaddexp, np.logaddexp, _binary(), lambda a, b: torch.logaddexp(a, b)),
    OpSpec("logaddexp2", lambda a, b: a.logaddexp2(b), np.logaddexp2, _binary(),
           lambda a, b: torch.logaddexp2(a, b)),
    OpSpec("lerp", td.lerp, lambda a, b, w: a + w * (b - a),
           S.broadcastable_shapes(3, max_dims=3, max_side=3).flatmap(
               lambda s: S.inputs(S.arrays(s[0]), S.arrays(s[1]), S.arrays(s[2]))),
           lambda a, b, w: torch.lerp(a, b, w)),
    OpSpec("copysign", td.copysign, np.copysign,
           pair.flatmap(lambda s: S.inputs(S.away_from_zero(s[0]), S.away_from_zero(s[1]))),
           lambda a, b: torch.copysign(a, b), differentiable=(0,)),
    OpSpec("remainder", lambda a, b: a % b, np.remainder, _dividend_divisor(),
           lambda a, b: a % b),
    OpSpec("fmod", td.fmod, np.fmod, _dividend_divisor(), lambda a, b: torch.fmod(a, b)),
    OpSpec("floor_divide", lambda a, b: a - (a // b).detach() * b,
           lambda a, b: a - np.floor_divide(a, b) * b, _dividend_divisor(),
           lambda a, b: a - (a // b).detach() * b),
    OpSpec("composed_extras", lambda a, b, p: (td.addcmul(a, a, b, value=0.5), a.addcdiv(a, b + 4),
                                               td.xlogy(a, p), td.logit(p * 0.5), a.diff(dim=0),
                                               td.deg2rad(a)),
           lambda a, b, p: (a + 0.5 * a * b, a + a / (b + 4), a * np.log(p),
                            np.log(p * 0.5 / (1 - p * 0.5)), np.diff(a, axis=0), np.deg2rad(a)),
           S.shapes(1, 3, 1, 3).flatmap(lambda s: S.inputs(S.away_from_zero(s), S.arrays(s, -1, 1),
                                                            S.arrays(s, 0.2, 1.5))),
           lambda a, b, p: (torch.addcmul(a, a, b, value=0.5), a.addcdiv(a, b + 4),
                            torch.xlogy(a, p), torch.logit(p * 0.5), a.diff(dim=0),
                            torch.deg2rad(a))),
    OpSpec("clamp_tensors", lambda x, lo, hi: td.clamp(x, lo, hi),
           lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), _clamp_inputs(),
           lambda x, lo, hi: torch.clamp(x, lo, hi)),
]
