"""Kernel registry: which implementation of each hot op runs on each device.

Every op has a NumPy reference (impl name ``"numpy"``) and may have faster versions
(``"numba"`` on CPU, ``"cupy"`` on CUDA). ``get(op, device)`` walks the device's preference
order and returns the first implementation that is registered, marked as a default, and
available (its library imports). A faster version is registered with ``default=True`` only
where the benchmarks (benchmarks/bench_kernels.py) show it faster than the reference.

The environment variable ``TINYDL_KERNELS`` forces the CPU path for every op:
``TINYDL_KERNELS=numpy`` runs the references (for teaching and comparison),
``TINYDL_KERNELS=numba`` runs the Numba version of every op that has one. It is read at each
call, so changing it (or monkeypatching it in a test) takes effect immediately.

    register("attention_forward", "numpy", attention_forward_reference)
    register("attention_forward", "numba", attention_forward_numba,
             available=numba_available, default=True)
    forward = get("attention_forward")            # numba if installed, else numpy
"""

import os
from collections.abc import Callable
from dataclasses import dataclass

ENV_VAR = "TINYDL_KERNELS"
# Implementation names tried in order, per device. The "numpy" references are written against
# xp = get_array_module(array), so they also run on CuPy arrays (and on the tests' stand-in
# device) when no device-specific kernel is registered.
PREFERENCE = {"cpu": ("numba", "numpy"), "cuda": ("cupy", "numpy")}
OTHER_DEVICES = ("numpy",)
# Values TINYDL_KERNELS accepts (it only affects the CPU choice).
FORCEABLE = ("numpy", "numba")


def _always_available() -> bool:
    return True


@dataclass(frozen=True)
class KernelImpl:
    """One implementation of one op."""

    op_name: str
    impl_name: str
    fn: Callable
    available: Callable[[], bool]
    default: bool


# op name -> impl name -> KernelImpl
_REGISTRY: dict[str, dict[str, KernelImpl]] = {}


def register(op_name: str, impl_name: str, fn: Callable,
             available: Callable[[], bool] = _always_available, default: bool = True) -> None:
    """Register ``fn`` as implementation ``impl_name`` of ``op_name``.

    available: called at choice time; False means the implementation cannot run here
        (e.g. Numba is not installed).
    default: whether ``get`` may choose it without being forced by TINYDL_KERNELS.
    Registering the same (op, impl) pair again replaces the earlier entry.
    """
    if not callable(fn) or not callable(available):
        raise TypeError(
            f"register({op_name!r}, {impl_name!r}): fn and available must be callables, got "
            f"{type(fn).__name__} and {type(available).__name__}"
        )
    _REGISTRY.setdefault(op_name, {})[impl_name] = KernelImpl(
        op_name, impl_name, fn, available, bool(default))


def implementations(op_name: str) -> dict[str, Callable]:
    """All registered implementations of ``op_name``: impl name -> function."""
    return {name: impl.fn for name, impl in _impls_of(op_name).items()}


def get(op_name: str, device: str = "cpu") -> Callable:
    """The implementation of ``op_name`` to run on ``device`` ("cpu" or "cuda")."""
    return _choose(op_name, device).fn


def chosen_name(op_name: str, device: str = "cpu") -> str:
    """The impl name ``get(op_name, device)`` would return (e.g. "numba")."""
    return _choose(op_name, device).impl_name


def report(device: str = "cpu") -> dict[str, str]:
    """op name -> chosen impl name on ``device``, for ``tinydl doctor``.

    Never raises: an op that cannot be served shows the reason instead of an impl name.
    """
    chosen = {}
    for op_name in sorted(_REGISTRY):
        try:
            chosen[op_name] = chosen_name(op_name, device)
        except (LookupError, ValueError, RuntimeError) as error:
            chosen[op_name] = f"unavailable: {error}"
    return chosen


def _impls_of(op_name: str) -> dict[str, KernelImpl]:
    if op_name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none (import tinydl.kernels first)"
        raise LookupError(f"kernels: no op named {op_name!r} is registered; known ops: {known}")
    return _REGISTRY[op_name]


def _forced_impl() -> str | None:
    forced = os.environ.get(ENV_VAR, "").strip().lower()
    if not forced:
        return None
    if forced not in FORCEABLE:
        raise ValueError(
            f"kernels: {ENV_VAR}={os.environ[ENV_VAR]!r} is not a kernel path; "
            f"set it to one of {', '.join(FORCEABLE)} or unset it"
        )
    return forced


def _choose(op_name: str, device: str) -> KernelImpl:
    impls = _impls_of(op_name)
    forced = _forced_impl() if device == "cpu" else None
    if forced is not None:
        impl = impls.get(forced) or impls.get("numpy")
        if impl is None:
            raise LookupError(f"kernels: op {op_name!r} has no NumPy reference registered")
        if not impl.available():
            raise RuntimeError(
                f"kernels: {ENV_VAR}={forced} asks for the {forced} version of {op_name!r}, "
                f"but it cannot run here ({forced} is not installed); install it or unset {ENV_VAR}"
            )
        return impl
    for impl_name in PREFERENCE.get(device, OTHER_DEVICES):
        impl = impls.get(impl_name)
        if impl is not None and impl.default and impl.available():
            return impl
    raise LookupError(
        f"kernels: no usable {device} implementation of {op_name!r} "
        f"(registered: {', '.join(sorted(impls))}); on cuda this needs CuPy and a CuPy kernel, "
        "otherwise move the arrays to the CPU"
    )
