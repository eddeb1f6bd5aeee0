"""Ways to make tensors: from data, filled with a value, ranges, and random draws.

Random tensors are drawn from tinydl's one generator (``tinydl.manual_seed``) on the CPU and
then moved to ``device``, so a seeded program gives the same numbers everywhere.
"""
from __future__ import annotations

from typing import Any

import numpy

from tinydl.promotion import result_type
from tinydl.random import generator
from tinydl.tensor import DEFAULT_FLOAT, Tensor, _normalize_dtype


def _shape(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _float_dtype(dtype: Any) -> Any:
    return DEFAULT_FLOAT if dtype is None else _normalize_dtype(dtype)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A Tensor holding a copy of ``data``; floats become float32 unless ``dtype`` says otherwise.

    Like ``torch.tensor`` it always copies, so training never changes the caller's array;
    ``from_numpy`` shares memory instead.
    """
    source = data.data if isinstance(data, Tensor) else data
    result = Tensor(data, dtype=dtype, device=device)
    if result.data is source:  # no conversion made a new array: copy it
        result.data = result.data.copy()
    if requires_grad:
        result.requires_grad_(True)
    return result


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A Tensor sharing the NumPy array's memory and keeping its dtype."""
    return Tensor(array, dtype=array.dtype)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of zeros of ``shape``."""
    return Tensor(numpy.zeros(_shape(shape), _float_dtype(dtype)), requires_grad=requires_grad,
                  device=device, dtype=_float_dtype(dtype))


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of ones of ``shape``."""
    return Tensor(numpy.ones(_shape(shape), _float_dtype(dtype)), requires_grad=requires_grad,
                  device=device, dtype=_float_dtype(dtype))


def full(shape: Any, value: float, dtype: Any = None, requires_grad: bool = False,
         device: Any = None, *, fill_value: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with ``value``; its dtype follows the value as in PyTorch
    (bool for True/False, int64 for an int, float32 for a float) unless ``dtype`` is given."""
    value = fill_value if fill_value is not None else value
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is None:
        dtype = result_type(value.item() if isinstance(value, Tensor) else value)
    dtype = _normalize_dtype(dtype)
    return Tensor(numpy.full(shape, value, dtype), requires_grad=requires_grad, device=device,
                  dtype=dtype)


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A tensor of ``shape`` whose values are not meant to be read (tinydl fills it with zeros)."""
    return zeros(*shape, dtype=dtype, requires_grad=requires_grad, device=device)


def _like(t: Tensor, value: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    """``value`` everywhere with t's shape, and t's dtype and device unless given."""
    dtype = t.dtype if dtype is None else _normalize_dtype(dtype)
    made = Tensor(t.xp.full(t.shape, value, dtype), dtype=dtype)
    if device is not None:
        made = Tensor(made.data, dtype=dtype, device=device)
    return made.requires_grad_(True) if requires_grad else made


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, *,
               device: Any = None) -> Tensor:
    """Zeros with ``t``'s shape, dtype and device."""
    return _like(t, 0, dtype, device, requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, *,
              device: Any = None) -> Tensor:
    """Ones with ``t``'s shape, dtype and device."""
    return _like(t, 1, dtype, device, requires_grad)


def full_like(t: Tensor, value: float, dtype: Any = None, *, requires_grad: bool = False,
              device: Any = None) -> Tensor:
    """``value`` everywhere, with ``t``'s shape, dtype and device."""
    return _like(t, value, dtype, device, requires_grad)


def empty_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, *,
               device: Any = None) -> Tensor:
    """A tensor shaped like ``t`` whose values are not meant to be read (zeros in tinydl)."""
    return _like(t, 0, dtype, device, requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Evenly spaced values in [start, stop) (integers stay int64)."""
    values = numpy.arange(start, stop, step) if stop is not None else numpy.arange(start)
    return Tensor(values, dtype=dtype, device=device)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None, *,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive (float32 by default)."""
    values = numpy.linspace(float(start), float(end), int(steps))
    return Tensor(values, dtype=_float_dtype(dtype), device=device, requires_grad=requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None,
             device: Any = None, *, requires_grad: bool = False) -> Tensor:
    """``steps`` values from base**start to base**end, evenly spaced in the exponent."""
    values = numpy.power(float(base), numpy.linspace(float(start), float(end), int(steps)))
    return Tensor(values, dtype=_float_dtype(dtype), device=device, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None, *,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (n, m)."""
    return Tensor(numpy.eye(n, m), dtype=_float_dtype(dtype), device=device,
                  requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Standard normal samples of ``shape`` from tinydl's generator."""
    values = generator().standard_normal(_shape(shape))
    return Tensor(values, dtype=_float_dtype(dtype), requires_grad=requires_grad, device=device)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Uniform samples in [0, 1) of ``shape`` from tinydl's generator."""
    values = generator().random(_shape(shape))
    return Tensor(values, dtype=_float_dtype(dtype), requires_grad=requires_grad, device=device)


def randint(low: int, high: Any = None, size: Any = None, device: Any = None, *,
            dtype: Any = None) -> Tensor:
    """Integers in [low, high) of shape ``size`` (int64); ``randint(high, size)`` starts at 0."""
    if size is None:  # randint(high, size), PyTorch's short form
        low, high, size = 0, low, high
    size = (size,) if isinstance(size, int) else tuple(size)
    return Tensor(generator().integers(low, high, size),
                  dtype=numpy.int64 if dtype is None else dtype, device=device)


def randn_like(t: Tensor, dtype: Any = None, *, device: Any = None) -> Tensor:
    """Standard normal samples shaped like ``t`` (t's dtype and device unless given)."""
    return randn(t.shape, dtype=t.dtype if dtype is None else dtype,
                 device=t.device if device is None else device)


def rand_like(t: Tensor, dtype: Any = None, *, device: Any = None) -> Tensor:
    """Uniform [0, 1) samples shaped like ``t`` (t's dtype and device unless given)."""
    return rand(t.shape, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device)


def randint_like(t: Tensor, low: int, high: int | None = None, *, dtype: Any = None,
                 device: Any = None) -> Tensor:
    """Integers in [low, high) shaped like ``t``, in t's dtype (``randint_like(t, high)``: [0, high))."""
    if high is None:
        low, high = 0, low
    dtype = t.dtype if dtype is None else _normalize_dtype(dtype)
    values = generator().integers(low, high, t.shape)
    return Tensor(values, dtype=dtype, device=device if device is not None else t.device)


def randperm(n: int, device: Any = None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    return Tensor(generator().permutation(n), dtype=numpy.int64, device=device)
