"""Elementwise math beyond the core: trigonometry, logs and exps, rounding, remainders, tests.

A primitive (a Function) where the derivative needs its own formula: sin, cos, tan, the
inverse and hyperbolic functions, log1p, expm1, erfc, erfinv, atan2, the remainders and the
rounding family (whose gradient is zero, as in PyTorch). Everything else is a composition of
primitives, so its gradient follows: log2(x) = log(x) / ln 2, lerp, hypot, logaddexp, ...

Integer and bool inputs to a function whose result is fractional (sin of an int tensor) give
float32, PyTorch's default float dtype.
"""
from __future__ import annotations

import math
from typing import Any

import numpy

from tinydl import backend
from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import DTypeError, GraphError, ShapeError
from tinydl.ops.bitwise import named
from tinydl.ops.common import as_tensor, binary_operands
from tinydl.ops.constant import constant
from tinydl.ops.elementwise import abs as absolute
from tinydl.ops.elementwise import cast, clip, exp, log, maximum, minimum, sqrt, where
from tinydl.tensor import DEFAULT_FLOAT, Tensor


def floating(x: Any) -> Tensor:
    """``x`` as a floating tensor: integer and bool tensors become float32 (PyTorch's default)."""
    x = as_tensor(x)
    return x if x.dtype.kind in "fc" else cast(x, numpy.dtype(DEFAULT_FLOAT))


class _Unary(Function):
    """f(a) elementwise. Subclasses give ``compute(xp, a)`` and ``derivative(a)`` (tinydl ops)."""

    @staticmethod
    def compute(xp: Any, a: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def derivative(a: Tensor) -> Tensor:
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx: Context, a: Any) -> Any:
        return cls.compute(get_array_module(a), a)

    @classmethod
    def backward(cls, ctx: Context, grad: Tensor) -> Tensor:
        return grad * cls.derivative(ctx.inputs[0])


class Sin(_Unary):
    """sin(a); d/da = cos(a)"""
    compute = staticmethod(lambda xp, a: xp.sin(a))
    derivative = staticmethod(lambda a: cos(a))


class Cos(_Unary):
    """cos(a); d/da = -sin(a)"""
    compute = staticmethod(lambda xp, a: xp.cos(a))
    derivative = staticmethod(lambda a: -sin(a))


class Tan(_Unary):
    """tan(a); d/da = 1 + tan(a)^2"""
    compute = staticmethod(lambda xp, a: xp.tan(a))
    derivative = staticmethod(lambda a: 1.0 + tan(a) ** 2)


class Asin(_Unary):
    """arcsin(a) on [-1, 1]; d/da = 1 / sqrt(1 - a^2)"""
    compute = staticmethod(lambda xp, a: xp.arcsin(a))
    derivative = staticmethod(lambda a: (1.0 - a * a).rsqrt())


class Acos(_Unary):
    """arccos(a) on [-1, 1]; d/da = -1 / sqrt(1 - a^2)"""
    compute = staticmethod(lambda xp, a: xp.arccos(a))
    derivative = staticmethod(lambda a: -(1.0 - a * a).rsqrt())


class Atan(_Unary):
    """arctan(a); d/da = 1 / (1 + a^2)"""
    compute = staticmethod(lambda xp, a: xp.arctan(a))
    derivative = staticmethod(lambda a: 1.0 / (1.0 + a * a))


class Sinh(_Unary):
    """sinh(a); d/da = cosh(a)"""
    compute = staticmethod(lambda xp, a: xp.sinh(a))
    derivative = staticmethod(lambda a: cosh(a))


class Cosh(_Unary):
    """cosh(a); d/da = sinh(a)"""
    compute = staticmethod(lambda xp, a: xp.cosh(a))
    derivative = staticmethod(lambda a: sinh(a))


class Asinh(_Unary):
    """arcsinh(a); d/da = 1 / sqrt(a^2 + 1)"""
    compute = staticmethod(lambda xp, a: xp.arcsinh(a))
    derivative = staticmethod(lambda a: (a * a + 1.0).rsqrt())


class Acosh(_Unary):
    """arccosh(a) for a >= 1; d/da = 1 / sqrt(a^2 - 1)"""
    compute = staticmethod(lambda xp, a: xp.arccosh(a))
    derivative = staticmethod(lambda a: (a * a - 1.0).rsqrt())


class Atanh(_Unary):
    """arctanh(a) on (-1, 1); d/da = 1 / (1 - a^2)"""
    compute = staticmethod(lambda xp, a: xp.arctanh(a))
    derivative = staticmethod(lambda a: 1.0 / (1.0 - a * a))


class Log1p(_Unary):
    """log(1 + a), accurate for tiny a; d/da = 1 / (1 + a)"""
    compute = staticmethod(lambda xp, a: xp.log1p(a))
    derivative = staticmethod(lambda a: 1.0 / (1.0 + a))


class Expm1(_Unary):
    """exp(a) - 1, accurate for tiny a; d/da = exp(a)"""
    compute = staticmethod(lambda xp, a: xp.expm1(a))
    derivative = staticmethod(lambda a: exp(a))


def _erfc_array(xp: Any, a: Any) -> Any:
    if xp is numpy:
        try:
            from scipy.special import erfc as scipy_erfc  # optional, CPU only
            return scipy_erfc(a).astype(a.dtype, copy=False)
        except ImportError:
            pass
    return (1.0 - backend.erf(xp, a)).astype(a.dtype, copy=False)


class Erfc(_Unary):
    """1 - erf(a), accurate in the tail; d/da = -2/sqrt(pi) exp(-a^2)"""
    compute = staticmethod(_erfc_array)
    derivative = staticmethod(lambda a: (-2.0 / math.sqrt(math.pi)) * exp(-(a * a)))


def _erfinv_array(xp: Any, y: Any) -> Any:
    """Inverse error function: Winitzki's closed-form start, then Newton steps on erf."""
    wide = y.astype(numpy.float64)
    k = 0.147
    log_term = xp.log(xp.maximum(1.0 - wide * wide, 1e-300))
    first = 2.0 / (math.pi * k) + log_term / 2.0
    x = xp.sign(wide) * xp.sqrt(xp.sqrt(first * first - log_term / k) - first)
    inside = xp.abs(wide) < 1
    for _ in range(4):
        step = (backend.erf(xp, x) - wide) / (2.0 / math.sqrt(math.pi) * xp.exp(-x * x))
        x = xp.where(inside, x - step, x)
    x = xp.where(wide == 1, xp.inf, xp.where(wide == -1, -xp.inf, x))
    return xp.where(xp.abs(wide) > 1, xp.nan, x).astype(y.dtype)


class Erfinv(_Unary):
    """the inverse of erf on (-1, 1); d/da = sqrt(pi)/2 exp(erfinv(a)^2)"""
    compute = staticmethod(_erfinv_array)
    derivative = staticmethod(lambda a: (math.sqrt(math.pi) / 2.0) * exp(erfinv(a) ** 2))


class Rounding(Function):
    """floor, ceil, round, trunc or sign: piecewise constant, so the gradient is zero."""

    @staticmethod
    def forward(ctx: Context, a: Any, how: str = "floor", decimals: int = 0) -> Any:
        xp = get_array_module(a)
        if how == "round":
            return xp.round(a, decimals)
        return getattr(xp, how)(a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return grad * 0.0


class Atan2(Function):
    """atan2(a, b), the angle of the point (b, a); d/da = b/(a²+b²), d/db = -a/(a²+b²)"""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return get_array_module(a).arctan2(a, b)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        a, b = ctx.inputs
        scale = grad / (a * a + b * b)
        return (scale * b if ctx.needs_input_grad[0] else None,
                -scale * a if ctx.needs_input_grad[1] else None)


class Remainder(Function):
    """a - q * b with q = floor(a / b) (remainder, Python's %) or trunc(a / b) (fmod).

    d/da = 1 and d/db = -q, the quotient being piecewise constant.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any, rounding: str = "floor") -> Any:
        xp = get_array_module(a)
        return xp.remainder(a, b) if rounding == "floor" else xp.fmod(a, b)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        a, b = ctx.inputs
        grad_b = None
        if ctx.needs_input_grad[1]:
            xp = a.xp
            quotient = getattr(xp, ctx.params["rounding"])(a.data / b.data)
            grad_b = -grad * constant(quotient.astype(grad.dtype))
        return grad, grad_b


class FloorDivide(Function):
    """floor(a / b) for the ``//`` operator. PyTorch defines no derivative for it, so backward
    raises (forward works on tensors that require grad, as in PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return get_array_module(a).floor_divide(a, b)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        raise GraphError("floor_divide (//): has no derivative (as in PyTorch); for a gradient "
                         "use torch-style div(a, b, rounding_mode='floor'), whose gradient is "
                         "zero, or .detach() the quotient")


# ---------------------------------------------------------------------------------------------
# The functions users call: unary
# ---------------------------------------------------------------------------------------------


def sin(input: Any) -> Tensor:  # PyTorch's argument names throughout
    """sine, elementwise"""
    return Sin.apply(floating(input))


def cos(input: Any) -> Tensor:
    """cosine, elementwise"""
    return Cos.apply(floating(input))


def tan(input: Any) -> Tensor:
    """tangent, elementwise"""
    return Tan.apply(floating(input))


def asin(input: Any) -> Tensor:
    """arcsine (NaN outside [-1, 1])"""
    return Asin.apply(floating(input))


def acos(input: Any) -> Tensor:
    """arccosine (NaN outside [-1, 1])"""
    return Acos.apply(floating(input))


def atan(input: Any) -> Tensor:
    """arctangent"""
    return Atan.apply(floating(input))


def sinh(input: Any) -> Tensor:
    """hyperbolic sine"""
    return Sinh.apply(floating(input))


def cosh(input: Any) -> Tensor:
    """hyperbolic cosine"""
    return Cosh.apply(floating(input))


def asinh(input: Any) -> Tensor:
    """inverse hyperbolic sine"""
    return Asinh.apply(floating(input))


def acosh(input: Any) -> Tensor:
    """inverse hyperbolic cosine (NaN below 1)"""
    return Acosh.apply(floating(input))


def atanh(input: Any) -> Tensor:
    """inverse hyperbolic tangent (NaN outside [-1, 1])"""
    return Atanh.apply(floating(input))


arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def log1p(input: Any) -> Tensor:
    """log(1 + x), accurate when x is tiny"""
    return Log1p.apply(floating(input))


def expm1(input: Any) -> Tensor:
    """exp(x) - 1, accurate when x is tiny"""
    return Expm1.apply(floating(input))


def erfc(input: Any) -> Tensor:
    """complementary error function 1 - erf(x)"""
    return Erfc.apply(floating(input))


def erfinv(input: Any) -> Tensor:
    """inverse error function on (-1, 1); ±inf at ±1, NaN outside"""
    return Erfinv.apply(floating(input))


def log2(input: Any) -> Tensor:
    """base-2 logarithm"""
    return log(floating(input)) * (1.0 / math.log(2.0))


def log10(input: Any) -> Tensor:
    """base-10 logarithm"""
    return log(floating(input)) * (1.0 / math.log(10.0))


def exp2(input: Any) -> Tensor:
    """2 ** x"""
    return exp(floating(input) * math.log(2.0))


def reciprocal(input: Any) -> Tensor:
    """1 / x (integers give float32)"""
    return 1.0 / floating(input)


def rsqrt(input: Any) -> Tensor:
    """1 / sqrt(x)"""
    return 1.0 / sqrt(floating(input))


def square(input: Any) -> Tensor:
    """x * x"""
    input = as_tensor(input)
    return input * input


def _rounding(input: Any, how: str, decimals: int = 0) -> Tensor:
    input = as_tensor(input)
    if input.dtype.kind in "iub" and how != "sign":
        return input  # integers are already whole (PyTorch returns them unchanged)
    if input.dtype.kind == "b":
        return input
    return Rounding.apply(input, how=how, decimals=decimals)


def floor(input: Any) -> Tensor:
    """largest whole number <= x (gradient zero)"""
    return _rounding(input, "floor")


def ceil(input: Any) -> Tensor:
    """smallest whole number >= x (gradient zero)"""
    return _rounding(input, "ceil")


def round(input: Any, *, decimals: int = 0) -> Tensor:
    """nearest whole number, halves to even (or to ``decimals`` places); gradient zero"""
    return _rounding(input, "round", decimals)


def trunc(input: Any) -> Tensor:
    """x with its fractional part dropped (toward zero); gradient zero"""
    return _rounding(input, "trunc")


fix = trunc


def frac(input: Any) -> Tensor:
    """x - trunc(x), the fractional part with x's sign (gradient one)"""
    input = as_tensor(input)
    if input.dtype.kind not in "fc":
        raise DTypeError(f"frac: needs a floating tensor, got {input.dtype}")
    return input - trunc(input)


def sign(input: Any) -> Tensor:
    """-1, 0 or 1 elementwise (gradient zero)"""
    return _rounding(input, "sign")


sgn = sign


def nan_to_num(input: Any, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (default: the dtype's extremes)."""
    input = as_tensor(input)
    if input.dtype.kind not in "fc":
        return input
    info = numpy.finfo(input.dtype)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    data = input.data
    xp = input.xp
    out = where(xp.isnan(data), nan, input)
    out = where(xp.isposinf(data), posinf, out)
    return where(xp.isneginf(data), neginf, out)


def _elementwise_test(how: str, meaning: str) -> Any:
    def test(input: Any) -> Tensor:
        input = as_tensor(input)
        return constant(getattr(input.xp, how)(input.data))
    return named(test, how, f"True where {meaning}, elementwise (a bool tensor).")


isnan = _elementwise_test("isnan", "x is NaN")
isinf = _elementwise_test("isinf", "x is +inf or -inf")
isposinf = _elementwise_test("isposinf", "x is +inf")
isneginf = _elementwise_test("isneginf", "x is -inf")
isfinite = _elementwise_test("isfinite", "x is neither NaN nor infinite")
isreal = _elementwise_test("isreal", "x is real (everywhere, for real tensors)")
signbit = _elementwise_test("signbit", "the sign bit is set (x < 0, and -0.0)")


# ---------------------------------------------------------------------------------------------
# Binary
# ---------------------------------------------------------------------------------------------


def _float_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    a, b = binary_operands(a, b)
    a, b = floating(a), floating(b)
    if a.dtype != b.dtype:  # float32 with float64: the wider one, as PyTorch
        wide = numpy.promote_types(a.dtype, b.dtype)
        a, b = cast(a, wide), cast(b, wide)
    return a, b


def atan2(input: Any, other: Any) -> Tensor:
    """the angle of (other, input) in (-pi, pi], elementwise with broadcasting"""
    return Atan2.apply(*_float_pair(input, other))


arctan2 = atan2


def hypot(input: Any, other: Any) -> Tensor:
    """sqrt(a² + b²)"""
    a, b = _float_pair(input, other)
    return sqrt(a * a + b * b)


def _shift(a: Tensor, b: Tensor) -> Tensor:
    """max(a, b) as a constant (finite where both are -inf), to keep exp from overflowing."""
    xp = a.xp
    m = xp.maximum(a.data, b.data)
    return constant(xp.where(xp.isfinite(m), m, 0))


def logaddexp(input: Any, other: Any) -> Tensor:
    """log(exp(a) + exp(b)) without overflow: m + log(exp(a - m) + exp(b - m)), m = max(a, b)"""
    a, b = _float_pair(input, other)
    m = _shift(a, b)
    return m + log(exp(a - m) + exp(b - m))


def logaddexp2(input: Any, other: Any) -> Tensor:
    """log2(2**a + 2**b) without overflow"""
    a, b = _float_pair(input, other)
    m = _shift(a, b)
    return m + log2(exp2(a - m) + exp2(b - m))


def lerp(input: Any, end: Any, weight: Any) -> Tensor:
    """input + weight * (end - input), elementwise with broadcasting"""
    start, end = _float_pair(input, end)
    return start + as_tensor(weight, start) * (end - start)


def copysign(input: Any, other: Any) -> Tensor:
    """|input| with the sign of other (gradient flows to input only, as PyTorch)"""
    a, b = _float_pair(input, other)
    negative = b.xp.signbit(b.data)
    return where(negative, -absolute(a), absolute(a))


def _remainder(op: str, input: Any, other: Any, rounding: str) -> Tensor:
    a, b = binary_operands(input, other)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and bool((b.data == 0).any()):
        raise ZeroDivisionError(f"{op}: integer division by zero (divisor of shape {b.shape})")
    return Remainder.apply(a, b, rounding=rounding)


def remainder(input: Any, other: Any) -> Tensor:
    """input - floor(input / other) * other: takes the divisor's sign, like Python's %"""
    return _remainder("remainder", input, other, "floor")


def fmod(input: Any, other: Any) -> Tensor:
    """input - trunc(input / other) * other: takes the dividend's sign, like C's fmod"""
    return _remainder("fmod", input, other, "trunc")


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """input / other; ``rounding_mode="trunc"`` or ``"floor"`` rounds the quotient (gradient 0).

    True division of integers gives float32, as in PyTorch.
    """
    from tinydl.ops.elementwise import div as true_div  # name clash

    a, b = binary_operands(input, other)
    if rounding_mode is None:
        if a.dtype.kind in "iub" and b.dtype.kind in "iub":
            a, b = floating(a), floating(b)
        return true_div(a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                         f"{rounding_mode!r}")
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        if bool((b.data == 0).any()):
            raise ZeroDivisionError(f"div: integer division by zero (divisor of shape {b.shape})")
        xp = a.xp
        quotient = xp.floor_divide(a.data, b.data)
        if rounding_mode == "trunc":  # floor differs from trunc when the signs differ
            inexact = (quotient * b.data != a.data) & ((a.data < 0) != (b.data < 0))
            quotient = quotient + inexact
        return constant(quotient)
    return _rounding(true_div(a, b), rounding_mode)


divide, true_divide = div, div


def floor_divide(input: Any, other: Any) -> Tensor:
    """floor(input / other): the ``//`` operator (no derivative, as in PyTorch)"""
    a, b = binary_operands(input, other)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and bool((b.data == 0).any()):
        raise ZeroDivisionError(f"floor_divide: integer division by zero (divisor of shape "
                                f"{b.shape})")
    return FloorDivide.apply(a, b)


def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:
    """input limited to [min, max]; the bounds may be numbers or tensors (broadcasting).

    Where min > max the result is max, as in PyTorch.
    """
    input = as_tensor(input)
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        return clip(input, min, max)  # promotes as PyTorch does (int input, float bound: float32)
    out = input
    if min is not None:
        out = maximum(out, min)
    if max is not None:
        out = minimum(out, max)
    if out.shape != input.shape:
        bounds = [tuple(b.shape) for b in (min, max) if isinstance(b, Tensor)]
        raise ShapeError(f"clamp: bounds of shapes {bounds} would broadcast the input of shape "
                         f"{input.shape} to {out.shape}; the result keeps the input's shape")
    return out


def clamp_min(input: Any, min: Any) -> Tensor:
    """max(input, min)"""
    return clamp(input, min=min)


def clamp_max(input: Any, max: Any) -> Tensor:
    """min(input, max)"""
    return clamp(input, max=max)


def isclose(input: Any, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
            equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol * |other|, elementwise (bool)"""
    a, b = binary_operands(input, other)
    if a.dtype != b.dtype:
        raise DTypeError(f"isclose: both tensors must have one dtype, got {a.dtype} and "
                         f"{b.dtype}; convert one with .to(dtype)")
    return constant(a.xp.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input: Any, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """True when every element is close (see isclose); a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).data.all())


def equal(input: Any, other: Any) -> bool:
    """True when both have the same shape and the same values; a Python bool."""
    a, b = as_tensor(input), as_tensor(other)
    return a.shape == b.shape and bool((a.data == b.data).all())


def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
    """input + value * tensor1 * tensor2 (the update step of many optimizers)"""
    return as_tensor(input) + value * (as_tensor(tensor1) * tensor2)


def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
    """input + value * tensor1 / tensor2 (Adam's update step)"""
    return as_tensor(input) + value * (as_tensor(tensor1) / tensor2)


def logit(input: Any, eps: float | None = None) -> Tensor:
    """log(p / (1 - p)), the inverse of sigmoid; ``eps`` clamps p to [eps, 1 - eps] first"""
    p = floating(input)
    if eps is not None:
        p = clip(p, eps, 1.0 - eps)
    return log(p) - log1p(-p)


def xlogy(input: Any, other: Any) -> Tensor:
    """x * log(y), taken as 0 where x is 0 (even where y is 0), as in entropy sums"""
    x, y = _float_pair(input, other)
    zero = x.data == 0
    safe_y = where(zero, 1.0, y)
    return where(zero, 0.0, x * log(safe_y))


def deg2rad(input: Any) -> Tensor:
    """degrees to radians"""
    return floating(input) * (math.pi / 180.0)


def rad2deg(input: Any) -> Tensor:
    """radians to degrees"""
    return floating(input) * (180.0 / math.pi)


def diff(input: Any, n: int = 1, dim: int = -1, prepend: Any = None,
         append: Any = None) -> Tensor:
    """Differences of neighbours along ``dim`` (``n`` times): [1, 4, 9] -> [3, 5]."""
    from tinydl.ops.arrange import narrow  # arrange imports elementwise only
    from tinydl.ops.shape import concatenate

    input = as_tensor(input)
    parts = [as_tensor(p, input) for p in (prepend, input, append) if p is not None]
    out = concatenate(parts, axis=dim) if len(parts) > 1 else input
    for _ in range(n):
        length = out.shape[dim]
        if length == 0:
            break
        later, earlier = narrow(out, dim, 1, length - 1), narrow(out, dim, 0, length - 1)
        out = later ^ earlier if out.dtype == numpy.bool_ else later - earlier
    return out
