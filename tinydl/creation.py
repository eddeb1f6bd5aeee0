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
         device: Any = None) -> Tensor:
    """A tensor of ``shape`` filled with ``value``; its dtype follows the value as in PyTorch
    (bool for True/False, int64 for an int, float32 for a float) unless ``dtype`` is given."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is None:
        dtype = result_type(value.item() if isinstance(value, Tensor) else value)
    dtype = _normalize_dtype(dtype)
    return Tensor(numpy.full(shape, value, dtype), requires_grad=requires_grad, device=device,
                  dtype=dtype)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``t``'s shape, dtype and device."""
    dtype = t.dtype if dtype is None else _normalize_dtype(dtype)
    return Tensor(t.xp.zeros(t.shape, dtype), dtype=dtype, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``t``'s shape, dtype and device."""
    dtype = t.dtype if dtype is None else _normalize_dtype(dtype)
    return Tensor(t.xp.ones(t.shape, dtype), dtype=dtype, requires_grad=requires_grad)


def full_like(t: Tensor, value: float, dtype: Any = None) -> Tensor:
    """``value`` everywhere, with ``t``'s shape, dtype and device."""
    dtype = t.dtype if dtype is None else _normalize_dtype(dtype)
    return Tensor(t.xp.full(t.shape, value, dtype), dtype=dtype)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Evenly spaced values in [start, stop) (integers stay int64)."""
    values = numpy.arange(start, stop, step) if stop is not None else numpy.arange(start)
    return Tensor(values, dtype=dtype, device=device)


def linspace(start: float, stop: float, num: int, dtype: Any = None, device: Any = None) -> Tensor:
    """``num`` evenly spaced values from start to stop inclusive."""
    return Tensor(numpy.linspace(start, stop, num), dtype=_float_dtype(dtype), device=device)


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None) -> Tensor:
    """The identity matrix (n, m)."""
    return Tensor(numpy.eye(n, m), dtype=_float_dtype(dtype), device=device)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Standard normal samples of ``shape`` from tinydl's generator."""
    values = generator().standard_normal(_shape(shape))
    return Tensor(values, dtype=_float_dtype(dtype), requires_grad=requires_grad, device=device)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Uniform samples in [0, 1) of ``shape`` from tinydl's generator."""
    values = generator().random(_shape(shape))
    return Tensor(values, dtype=_float_dtype(dtype), requires_grad=requires_grad, device=device)


def randint(low: int, high: int, shape: Any, device: Any = None) -> Tensor:
    """Integers in [low, high) of ``shape`` (int64)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor(generator().integers(low, high, shape), dtype=numpy.int64, device=device)


def randn_like(t: Tensor) -> Tensor:
    """Standard normal samples shaped like ``t`` (same dtype and device)."""
    return randn(t.shape, dtype=t.dtype, device=t.device)


def rand_like(t: Tensor) -> Tensor:
    """Uniform [0, 1) samples shaped like ``t``."""
    return rand(t.shape, dtype=t.dtype, device=t.device)


def randperm(n: int, device: Any = None) -> Tensor:
    """A random permutation of 0..n-1 (int64)."""
    return Tensor(generator().permutation(n), dtype=numpy.int64, device=device)
