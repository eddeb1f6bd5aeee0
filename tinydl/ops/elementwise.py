"""Elementwise primitives: arithmetic, exp/log, comparisons' friends, where, clip, casts.

Each Function computes on arrays in ``forward`` and returns gradients written with tinydl ops
in ``backward`` (so they can be differentiated again). Broadcasting needs no code here: the
engine sums every gradient back to its input's shape.
"""
from __future__ import annotations

import math
from typing import Any

from tinydl import backend
from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import DTypeError
from tinydl.ops.common import as_tensor, binary_operands
from tinydl.promotion import result_type
from tinydl.tensor import Tensor

_BROADCAST_HINT = ("each trailing dimension must be equal or 1 (broadcasting); "
                   "reshape or unsqueeze one of them")


class Add(Function):
    """a + b"""

    promotion = "common"

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return a + b

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        return grad, grad


class Sub(Function):
    """a - b"""

    promotion = "common"

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return a - b

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        return grad, (-grad if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """a * b"""

    promotion = "common"

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return a * b

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        a, b = ctx.inputs
        ### BEGIN SOLUTION task 1.1
        # HINT: d(a*b)/da = b and d(a*b)/db = a; skip inputs that need no gradient
        grad_a = grad * b if ctx.needs_input_grad[0] else None
        grad_b = grad * a if ctx.needs_input_grad[1] else None
        ### END SOLUTION
        return grad_a, grad_b


class Div(Function):
    """a / b"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return a / b

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        a, b = ctx.inputs
        ### BEGIN SOLUTION task 1.2
        # HINT: d(a/b)/da = 1/b and d(a/b)/db = -a/b**2
        grad_a = grad / b if ctx.needs_input_grad[0] else None
        grad_b = -grad * a / (b * b) if ctx.needs_input_grad[1] else None
        ### END SOLUTION
        return grad_a, grad_b


class Neg(Function):
    """-a"""

    promotion = "common"

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return -a

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return -grad


class Pow(Function):
    """a ** b, with b a tensor too (d/db a^b = a^b log a, taken as 0 where a <= 0)."""

    promotion = "common"

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return a ** b

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        a, b = ctx.inputs
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:  # b * a^(b-1), and 0 at a = b = 0 (not 0 * 0^-1 = nan)
            grad_a = grad * b * a ** where((b.data == 0) & (a.data == 0), 1.0, b - 1)
        if ctx.needs_input_grad[1]:
            positive = a.data > 0
            safe_a = where(positive, a, 1.0)
            grad_b = where(positive, grad * ctx.output * log(safe_a), 0.0)
        return grad_a, grad_b


class Exp(Function):
    """e^a"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return get_array_module(a).exp(a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        ### BEGIN SOLUTION task 1.3
        # HINT: d exp(a)/da = exp(a), which forward already computed: ctx.output
        return grad * ctx.output
        ### END SOLUTION


class Log(Function):
    """natural log"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return get_array_module(a).log(a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        ### BEGIN SOLUTION task 1.3
        # HINT: d log(a)/da = 1/a
        return grad / ctx.inputs[0]
        ### END SOLUTION


class Sqrt(Function):
    """square root"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return get_array_module(a).sqrt(a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return grad / (2.0 * ctx.output)


class Abs(Function):
    """|a| (gradient sign(a), 0 at 0 as in PyTorch)"""

    promotion = "common"

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        xp = get_array_module(a)
        ctx.save_for_backward(xp.sign(a))
        return xp.abs(a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        (sign,) = ctx.saved_values
        return grad * sign


class _PairwiseExtreme(Function):
    """Shared by Maximum and Minimum: the winner of each pair gets the gradient, ties share it
    equally (as PyTorch does). Subclasses say which array function picks and which side wins."""

    promotion = "common"

    @staticmethod
    def pick(xp: Any, a: Any, b: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def a_wins(a: Any, b: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx: Context, a: Any, b: Any) -> Any:
        out = cls.pick(get_array_module(a), a, b)
        share_a = cls.a_wins(a, b) + 0.5 * (a == b)  # 1 where a wins, 0.5 on ties, 0 where b wins
        ctx.save_for_backward(share_a.astype(out.dtype))
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        (share_a,) = ctx.saved_values
        return grad * share_a, grad * (1.0 - share_a)


class Maximum(_PairwiseExtreme):
    """elementwise max(a, b)"""

    @staticmethod
    def pick(xp: Any, a: Any, b: Any) -> Any:
        return xp.maximum(a, b)

    @staticmethod
    def a_wins(a: Any, b: Any) -> Any:
        return a > b


class Minimum(_PairwiseExtreme):
    """elementwise min(a, b)"""

    @staticmethod
    def pick(xp: Any, a: Any, b: Any) -> Any:
        return xp.minimum(a, b)

    @staticmethod
    def a_wins(a: Any, b: Any) -> Any:
        return a < b


class Clip(Function):
    """a limited to [low, high]; gradient passes where low <= a <= high."""

    @staticmethod
    def forward(ctx: Context, a: Any, low: Any = None, high: Any = None) -> Any:
        xp = get_array_module(a)
        inside = xp.ones(a.shape, dtype=bool)
        out = a
        if low is not None:
            inside &= a >= low
            out = xp.maximum(out, xp.asarray(low, dtype=a.dtype))
        if high is not None:
            inside &= a <= high
            out = xp.minimum(out, xp.asarray(high, dtype=a.dtype))
        ctx.save_for_backward(inside.astype(a.dtype))
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        (inside,) = ctx.saved_values
        return grad * inside


class Where(Function):
    """condition ? a : b (the condition is a constant boolean array)."""

    promotion = "common"

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any, condition: Any = None) -> Any:
        return get_array_module(a).where(condition, a, b)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        condition = ctx.params["condition"]
        dtype = grad.dtype
        grad_a = grad * condition.astype(dtype) if ctx.needs_input_grad[0] else None
        grad_b = grad * (~condition).astype(dtype) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Erf(Function):
    """the error function (used by the exact GELU)"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return backend.erf(get_array_module(a), a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        a = ctx.inputs[0]
        return grad * (2.0 / math.sqrt(math.pi)) * exp(-(a * a))


class Cast(Function):
    """a converted to another dtype; the gradient is converted back."""

    @staticmethod
    def forward(ctx: Context, a: Any, dtype: Any = None) -> Any:
        return a.astype(dtype)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return cast(grad, ctx.graph_inputs[0].dtype)


for _broadcasting_op in (Add, Sub, Mul, Div, Pow, Maximum, Minimum, Where):
    _broadcasting_op.error_hint = _BROADCAST_HINT

# ---------------------------------------------------------------------------------------------
# The functions users call
# ---------------------------------------------------------------------------------------------


def add(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    """a + alpha * b, broadcasting. Shapes: broadcast(a.shape, b.shape)."""
    return Add.apply(a, b if alpha == 1 else mul(b, alpha))


def sub(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    """a - alpha * b, broadcasting. Not for bools (as in PyTorch): use ~mask or logical_not."""
    if _is_bool(a) or _is_bool(b):
        raise DTypeError("sub: subtraction with a bool operand is not supported (as in PyTorch); "
                         "to invert a mask use ~mask, else convert first: mask.long() - 1")
    return Sub.apply(a, b if alpha == 1 else mul(b, alpha))


def _is_bool(value: Any) -> bool:
    dtype = getattr(value, "dtype", None)
    return isinstance(value, bool) or (dtype is not None and dtype.kind == "b")


def mul(a: Any, b: Any) -> Tensor:
    """a * b, broadcasting."""
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    """a / b (true division: integers give float32), broadcasting."""
    return Div.apply(a, b)


def neg(a: Any) -> Tensor:
    """-a"""
    return Neg.apply(a)


def pow(a: Any, b: Any) -> Tensor:  # PyTorch's name
    """a ** b; b may be a number or a tensor."""
    if _is_bool(a) and _is_bool(b):
        if not isinstance(b, bool):
            raise DTypeError("pow: a bool tensor to the power of a bool tensor is not supported "
                             "(as in PyTorch); convert first: a.long() ** b.long()")
        return Tensor(a.data | (not b))  # True ** x = True, False ** True = False, x ** False = True
    return Pow.apply(a, b)


def exp(a: Any) -> Tensor:
    """e ** a"""
    return Exp.apply(a)


def log(a: Any) -> Tensor:
    """natural logarithm"""
    return Log.apply(a)


def sqrt(a: Any) -> Tensor:
    """square root"""
    return Sqrt.apply(a)


def abs(a: Any) -> Tensor:  # PyTorch's name
    """absolute value"""
    return Abs.apply(a)


def maximum(a: Any, b: Any) -> Tensor:
    """elementwise larger of a and b, broadcasting."""
    return Maximum.apply(a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """elementwise smaller of a and b, broadcasting."""
    return Minimum.apply(a, b)


def clip(a: Tensor, min: Any = None, max: Any = None) -> Tensor:  # PyTorch names
    """a limited to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    a = as_tensor(a)
    dtype = result_type(a, *[bound for bound in (min, max) if bound is not None])
    return Clip.apply(a if a.dtype == dtype else cast(a, dtype), low=min, high=max)



def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick a where condition is true, else b (all three broadcast together)."""
    if isinstance(condition, Tensor):
        condition = condition.data
    a, b = binary_operands(a, b)
    condition_xp = backend.get_array_module(condition)
    condition = condition_xp.asarray(condition).astype(bool, copy=False)
    if condition_xp is not a.xp:
        condition = backend.to_device(condition, a.device)
    return Where.apply(a, b, condition=condition)


def erf(a: Tensor) -> Tensor:
    """the error function, elementwise"""
    return Erf.apply(a)


def cast(a: Tensor, dtype: Any) -> Tensor:
    """a converted to ``dtype``; differentiable between floating dtypes."""
    if a.dtype == dtype:
        return a
    if a.requires_grad and dtype.kind not in "fc":
        return Tensor(a.data.astype(dtype))  # leaves the graph: integers carry no gradient
    return Cast.apply(a, dtype=dtype)


_COMPARISONS = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "and": lambda a, b: a & b, "or": lambda a, b: a | b,
}


def compare(a: Any, b: Any, how: str) -> Tensor:
    """A comparison (eq, ne, lt, le, gt, ge, and, or) as a bool tensor, not differentiable."""
    a, b = binary_operands(a, b)
    if type(a.data) is not type(b.data):
        raise DTypeError(f"{how}: tensors on different devices ({a.device}, {b.device})")
    return Tensor(_COMPARISONS[how](a.data, b.data))


def logical_not(a: Tensor) -> Tensor:
    """~a for bool tensors."""
    return Tensor(~as_tensor(a).data)

