"""Bitwise, logical and comparison ops: results are integer or bool tensors, never differentiated.

``& | ^ ~ << >>`` work on integer and bool tensors (as in PyTorch, a float tensor is an error);
``logical_*`` take any dtype and treat non-zero as True; comparisons give bool tensors.
"""
from __future__ import annotations

from typing import Any

import numpy

from tinydl.errors import DTypeError
from tinydl.ops.common import as_tensor, binary_operands
from tinydl.ops.constant import constant
from tinydl.ops.elementwise import compare as compare_arrays
from tinydl.tensor import Tensor


def _integer_pair(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    a, b = binary_operands(a, b)
    for t in (a, b):
        if t.dtype.kind not in "iub":
            raise DTypeError(f"{op}: needs integer or bool tensors, got {a.dtype} and {b.dtype}; "
                             "for a mask of floats compare first (x > 0), or convert with .long()")
    return a.data, b.data


def bitwise_and(input: Any, other: Any) -> Tensor:  # PyTorch's argument names
    """a & b bit by bit (logical and for bool tensors)"""
    a, b = _integer_pair("bitwise_and (&)", input, other)
    return constant(a & b)


def bitwise_or(input: Any, other: Any) -> Tensor:
    """a | b bit by bit (logical or for bool tensors)"""
    a, b = _integer_pair("bitwise_or (|)", input, other)
    return constant(a | b)


def bitwise_xor(input: Any, other: Any) -> Tensor:
    """a ^ b bit by bit"""
    a, b = _integer_pair("bitwise_xor (^)", input, other)
    return constant(a.__xor__(b))


def bitwise_not(input: Any) -> Tensor:
    """~a: every bit flipped (logical not for bool tensors)"""
    input = as_tensor(input)
    if input.dtype.kind not in "iub":
        raise DTypeError(f"bitwise_not (~): needs an integer or bool tensor, got {input.dtype}; "
                         "for 'not' on a comparison, compare first: ~(x > 0)")
    return constant(~input.data)


def bitwise_left_shift(input: Any, other: Any) -> Tensor:
    """a << b: a times 2**b for integers"""
    a, b = _integer_pair("bitwise_left_shift (<<)", input, other)
    return constant(a.__lshift__(b))


def bitwise_right_shift(input: Any, other: Any) -> Tensor:
    """a >> b: a floor-divided by 2**b for integers"""
    a, b = _integer_pair("bitwise_right_shift (>>)", input, other)
    return constant(a.__rshift__(b))


def _truth(value: Any, like: Any = None) -> Any:
    t = as_tensor(value) if like is None else as_tensor(value, like)
    return t.data if t.dtype == numpy.bool_ else t.data != 0


def logical_and(input: Any, other: Any) -> Tensor:
    """True where both are non-zero"""
    a, b = binary_operands(input, other)
    return constant(_truth(a) & _truth(b))


def logical_or(input: Any, other: Any) -> Tensor:
    """True where either is non-zero"""
    a, b = binary_operands(input, other)
    return constant(_truth(a) | _truth(b))


def logical_xor(input: Any, other: Any) -> Tensor:
    """True where exactly one is non-zero"""
    a, b = binary_operands(input, other)
    return constant(_truth(a) != _truth(b))


def logical_not(input: Any) -> Tensor:
    """True where the input is zero (False)"""
    return constant(~_truth(input))


def named(fn: Any, name: str, doc: str) -> Any:
    """``fn`` with the name and docstring of the PyTorch function it stands for."""
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def _comparison(how: str, symbol: str) -> Any:
    def compare(input: Any, other: Any) -> Tensor:
        return compare_arrays(input, other, how)
    return named(compare, how, f"input {symbol} other, elementwise (a bool tensor).")


eq = _comparison("eq", "==")
ne = _comparison("ne", "!=")
lt = _comparison("lt", "<")
le = _comparison("le", "<=")
gt = _comparison("gt", ">")
ge = _comparison("ge", ">=")
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
