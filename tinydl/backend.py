"""Where arrays live: devices, array modules and moving data between them.

Every op in tinydl asks ``get_array_module(array)`` for the module (NumPy or CuPy) that
owns its input, then calls ``xp.exp``, ``xp.matmul`` ... on it. Nothing in the compute path
names ``numpy`` directly, so the same code runs on the GPU when the arrays are CuPy arrays.

A backend is a small record: a device type name, the array module and the array class.
NumPy ("cpu") is always there; CuPy ("cuda") is registered the first time it is asked for.
Tests register a stand-in backend to prove that no op calls NumPy behind the module's back.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy

from tinydl.errors import DeviceError


@dataclass(frozen=True)
class Backend:
    """One place arrays can live: its device type, array module and array class."""

    device_type: str
    xp: Any
    array_type: type
    from_numpy: Callable[[Any], Any]
    to_numpy: Callable[[Any], Any]


_BACKENDS: dict[str, Backend] = {}
_BACKEND_BY_ARRAY_TYPE: dict[type, Backend] = {}
_ARRAY_TYPES: tuple = ()  # every registered array class, for quick isinstance checks


def register_backend(backend: Backend) -> None:
    """Make a backend known, so ``Device(backend.device_type)`` and its arrays work."""
    global _ARRAY_TYPES
    _BACKENDS[backend.device_type] = backend
    _BACKEND_BY_ARRAY_TYPE[backend.array_type] = backend
    _ARRAY_TYPES = tuple(_BACKEND_BY_ARRAY_TYPE)


def unregister_backend(device_type: str) -> None:
    """Forget a backend (used by tests that register a stand-in)."""
    global _ARRAY_TYPES
    backend = _BACKENDS.pop(device_type, None)
    if backend is not None:
        _BACKEND_BY_ARRAY_TYPE.pop(backend.array_type, None)
        _ARRAY_TYPES = tuple(_BACKEND_BY_ARRAY_TYPE)


def is_device_name(name: object) -> bool:
    """True for "cpu", "cuda", "cuda:0" and registered stand-in device names."""
    return isinstance(name, str) and (name.split(":")[0] in _BACKENDS or name.startswith("cuda"))


register_backend(Backend("cpu", numpy, numpy.ndarray, lambda a: a, lambda a: a))


def _load_cupy() -> Backend:
    """Import CuPy and register it as the "cuda" backend, or explain how to get it."""
    try:
        import cupy  # optional dependency, imported on first use
    except ImportError as err:
        raise DeviceError(
            "device 'cuda' needs CuPy, which is not installed: "
            "pip install 'tinydl[cuda]' (or a cupy-cudaXXx wheel matching your CUDA), "
            "or stay on device 'cpu'"
        ) from err
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CuPy present but no driver or GPU
        raise DeviceError(f"device 'cuda': CuPy is installed but no GPU is usable ({err}); "
                          "use device 'cpu'") from err
    if count == 0:
        raise DeviceError("device 'cuda': CuPy is installed but found no GPU; use device 'cpu'")
    backend = Backend("cuda", cupy, cupy.ndarray, cupy.asarray, cupy.asnumpy)
    register_backend(backend)
    return backend


def backend_for_device_type(device_type: str) -> Backend:
    """The backend for "cpu", "cuda" (loading CuPy on first use) or a registered stand-in."""
    backend = _BACKENDS.get(device_type)
    if backend is not None:
        return backend
    if device_type == "cuda":
        return _load_cupy()
    known = ", ".join(sorted(set(_BACKENDS) | {"cuda"}))
    raise DeviceError(f"unknown device {device_type!r}: use one of {known}")


def backend_of(array: Any) -> Backend:
    """The backend that owns ``array`` (NumPy arrays and NumPy scalars are "cpu")."""
    backend = _BACKEND_BY_ARRAY_TYPE.get(type(array))
    if backend is not None:
        return backend
    for array_type, candidate in _BACKEND_BY_ARRAY_TYPE.items():
        if isinstance(array, array_type):
            return candidate
    if isinstance(array, numpy.generic):
        return _BACKENDS["cpu"]
    raise DeviceError(f"no backend owns arrays of type {type(array).__name__}")


def get_array_module(*arrays: Any) -> Any:
    """The array module (numpy, cupy, ...) for the given arrays; numpy when none is an array."""
    for array in arrays:
        backend = _BACKEND_BY_ARRAY_TYPE.get(type(array))
        if backend is not None:
            return backend.xp
    return numpy


class Device:
    """A place for tensors: ``Device("cpu")``, ``Device("cuda")`` or ``Device("cuda:1")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec: str | Device = "cpu"):
        if isinstance(spec, Device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise DeviceError(f"Device: expected a string like 'cpu' or 'cuda', got {spec!r}")
        name, _, index = spec.partition(":")
        self.type = name
        self.index = int(index) if index else None

    @property
    def backend(self) -> Backend:
        return backend_for_device_type(self.type)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = Device(other)
        if not isinstance(other, Device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device('{self}')"


def device_of(array: Any) -> Device:
    """The Device an array lives on."""
    return Device(backend_of(array).device_type)


def to_device(array: Any, device: str | Device) -> Any:
    """Copy ``array`` to ``device`` (no copy when it is already there)."""
    target = Device(device).backend
    source = backend_of(array)
    if source is target:
        return array
    host = source.to_numpy(array)
    return target.from_numpy(host)


_default_device: list[Device | None] = [None]  # None: host data stays on the CPU


def set_device(device: str | Device | None) -> None:
    """Where new tensors made from host data go: ``tinydl.set_device("cuda")``.

    Affects tensors built from lists, numbers and NumPy arrays (creation functions, new
    layers' parameters, DataLoader batches). ``set_device(None)`` or "cpu" restores the default.
    """
    if device is None or Device(device) == Device("cpu"):
        _default_device[0] = None
        return
    target = Device(device)
    target.backend  # noqa: B018 (raises a clear error now if the device is unavailable)
    _default_device[0] = target


def get_device() -> Device:
    """The device ``set_device`` chose ("cpu" by default)."""
    return _default_device[0] or Device("cpu")


def to_numpy(array: Any) -> numpy.ndarray:
    """A NumPy copy (or view, on the CPU) of any backend's array."""
    return backend_of(array).to_numpy(array)


def as_numpy(value: Any) -> numpy.ndarray:
    """A NumPy array from a Tensor, a device array or any array-like (copied to the host if needed)."""
    if hasattr(value, "numpy") and not isinstance(value, numpy.ndarray):
        # a tinydl (or PyTorch) tensor: detach from the graph, bring to the host, convert
        value = value.detach() if hasattr(value, "detach") else value
        value = value.cpu() if hasattr(value, "cpu") else value
        return numpy.asarray(value.numpy())
    if type(value) in _BACKEND_BY_ARRAY_TYPE:
        return to_numpy(value)
    return numpy.asarray(value)


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    try:
        backend_for_device_type("cuda")
    except DeviceError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# erf: NumPy has none, so we take SciPy's (or CuPy's) when present, else a polynomial fit.
# ---------------------------------------------------------------------------------------------

def _erf_fallback(xp: Any, x: Any) -> Any:
    """erf(x) to about 1.2e-7 relative error (Numerical Recipes' erfc Chebyshev fit)."""
    z = xp.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * xp.exp(poly)
    return xp.where(x >= 0, 1.0 - erfc, erfc - 1.0).astype(x.dtype, copy=False)


_exact_erf = numpy.frompyfunc(math.erf, 1, 1)


def _erf_float64(x: Any) -> Any:
    """erf to float64 precision on the CPU without SciPy: the C library's erf, element by
    element (about 0.1 µs each; the polynomial fit's 1e-7 would show in float64 runs)."""
    return numpy.asarray(_exact_erf(x), dtype=numpy.float64)


def erf(xp: Any, x: Any) -> Any:
    """Elementwise error function on the array module ``xp``, keeping x's dtype.

    Accurate to float64 precision (1e-15) in float64 with or without SciPy; float32 and
    float16 may use the fit (1.2e-7, below their resolution) when SciPy is absent.
    """
    if xp is numpy:
        try:
            from scipy.special import erf as scipy_erf  # optional
        except ImportError:
            if x.dtype == numpy.float64:
                return _erf_float64(x)
            return _erf_fallback(xp, x)
        return scipy_erf(x).astype(x.dtype, copy=False)
    special = getattr(xp, "_tinydl_special", None)
    if special is None and isinstance(xp, ModuleType) and xp.__name__ == "cupy":
        import cupyx.scipy.special as special
    if special is not None:
        return special.erf(x)
    return _erf_fallback(xp, x)


SQRT_2 = math.sqrt(2.0)
SQRT_2_PI = math.sqrt(2.0 * math.pi)
