"""A stand-in "device" for tests: arrays that NumPy itself refuses to touch.

``StandInArray`` wraps a NumPy array but raises as soon as a NumPy function is called on it
directly (``numpy.exp(x)``, ``numpy.asarray(x)``). Its array module, ``standin_module``, does
the same work through NumPy and wraps the results again. Running tinydl's ops on tensors moved
to the "standin" device therefore proves that the compute path only ever uses
``xp = get_array_module(...)``, exactly what the CuPy backend needs, without a GPU.
"""
from __future__ import annotations

import operator
import types
from typing import Any

import numpy

from tinydl import backend

_DIRECT_CALL = ("a NumPy function was called directly on a stand-in device array; use "
                "xp = get_array_module(array) and call xp.<function> instead")


def _unwrap(value: Any) -> Any:
    if isinstance(value, StandInArray):
        return value.array
    if isinstance(value, numpy.ndarray) and value.ndim > 0:
        raise TypeError("stand-in device: a host NumPy array was mixed with a device array; "
                        "move it with backend.to_device first")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value: Any) -> Any:
    if isinstance(value, (numpy.ndarray, numpy.generic)) and not isinstance(value, numpy.dtype):
        return StandInArray(numpy.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _device_function(fn: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap(fn(*_unwrap(args), **_unwrap(kwargs)))

    call.__name__ = getattr(fn, "__name__", "function")
    return call


def _host_to_device(fn: Any) -> Any:
    def call(data: Any, *args: Any, **kwargs: Any) -> Any:
        host = data.array if isinstance(data, StandInArray) else data
        return StandInArray(numpy.asarray(fn(host, *args, **kwargs)))

    return call


class _DeviceUfunc:
    """A ufunc whose call and ``.at``/``.reduce`` methods go through the stand-in wrappers."""

    def __init__(self, ufunc: numpy.ufunc):
        self._ufunc = ufunc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _wrap(self._ufunc(*_unwrap(args), **_unwrap(kwargs)))

    def at(self, target: StandInArray, index: Any, values: Any = None) -> None:
        self._ufunc.at(target.array, _unwrap(index), _unwrap(values))

    def __getattr__(self, name: str) -> Any:
        return _device_function(getattr(self._ufunc, name))


class _DeviceModule(types.ModuleType):
    """NumPy's namespace with every function unwrapping its inputs and wrapping its outputs."""

    def __init__(self, wrapped: types.ModuleType):
        super().__init__(f"standin.{wrapped.__name__}")
        self._wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        obj = getattr(self._wrapped, name)
        if name in ("asarray", "array", "ascontiguousarray"):
            return _host_to_device(obj)  # like cupy.asarray: host data may come in here
        if isinstance(obj, numpy.ufunc):
            return _DeviceUfunc(obj)
        if isinstance(obj, types.ModuleType):
            return _DeviceModule(obj)
        if isinstance(obj, type) or not callable(obj):
            return obj  # dtypes, constants like pi and newaxis
        return _device_function(obj)


standin_module = _DeviceModule(numpy)


def _binary(op: Any, reflected: bool = False) -> Any:
    def method(self: StandInArray, other: Any) -> Any:
        other = _unwrap(other)
        return _wrap(op(other, self.array) if reflected else op(self.array, other))

    return method


class StandInArray:
    """A device array for tests: all NumPy behaviour, but NumPy functions refuse it."""

    __slots__ = ("array",)

    def __init__(self, array: numpy.ndarray):
        self.array = array

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(_DIRECT_CALL)

    def __array_function__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(_DIRECT_CALL)

    def __array_ufunc__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(_DIRECT_CALL)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.array, name)
        return _device_function(value) if callable(value) else _wrap(value)

    def __getitem__(self, index: Any) -> Any:
        return _wrap(self.array[_unwrap(index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self.array[_unwrap(index)] = _unwrap(value)

    def __len__(self) -> int:
        return len(self.array)

    def __bool__(self) -> bool:
        return bool(self.array)

    def __float__(self) -> float:
        return float(self.array)

    def __int__(self) -> int:
        return int(self.array)

    def __repr__(self) -> str:
        return f"StandInArray({self.array!r})"

    def __neg__(self) -> Any:
        return _wrap(-self.array)

    def __invert__(self) -> Any:
        return _wrap(~self.array)

    def __abs__(self) -> Any:
        return _wrap(abs(self.array))

    __add__, __radd__ = _binary(operator.add), _binary(operator.add, True)
    __sub__, __rsub__ = _binary(operator.sub), _binary(operator.sub, True)
    __mul__, __rmul__ = _binary(operator.mul), _binary(operator.mul, True)
    __truediv__, __rtruediv__ = _binary(operator.truediv), _binary(operator.truediv, True)
    __pow__, __rpow__ = _binary(operator.pow), _binary(operator.pow, True)
    __matmul__, __rmatmul__ = _binary(operator.matmul), _binary(operator.matmul, True)
    __and__, __rand__ = _binary(operator.and_), _binary(operator.and_, True)
    __or__, __ror__ = _binary(operator.or_), _binary(operator.or_, True)
    __eq__, __ne__ = _binary(operator.eq), _binary(operator.ne)  # type: ignore[assignment]
    __lt__, __le__ = _binary(operator.lt), _binary(operator.le)
    __gt__, __ge__ = _binary(operator.gt), _binary(operator.ge)
    __hash__ = None  # type: ignore[assignment]

    def __iadd__(self, other: Any) -> StandInArray:
        self.array += _unwrap(other)
        return self

    def __isub__(self, other: Any) -> StandInArray:
        self.array -= _unwrap(other)
        return self

    def __imul__(self, other: Any) -> StandInArray:
        self.array *= _unwrap(other)
        return self

    def __itruediv__(self, other: Any) -> StandInArray:
        self.array /= _unwrap(other)
        return self

    def __iand__(self, other: Any) -> StandInArray:
        self.array &= _unwrap(other)
        return self


STANDIN = backend.Backend(
    device_type="standin",
    xp=standin_module,
    array_type=StandInArray,
    from_numpy=lambda array: StandInArray(numpy.array(array)),
    to_numpy=lambda array: array.array.copy(),
)


def register() -> None:
    """Make the "standin" device available (idempotent)."""
    backend.register_backend(STANDIN)
