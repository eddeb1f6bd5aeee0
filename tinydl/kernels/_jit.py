"""Lazy Numba compilation for the kernel files.

Importing tinydl must not import Numba (it is optional and takes ~0.3 s to import), so the
Numba kernels are plain Python functions marked with ``@jit(...)``. The first call imports
Numba and compiles the function with ``numba.njit(cache=True, fastmath=False)``; the compiled
machine code is cached on disk (``__pycache__``), so later processes skip the compile.

Kernel files write parallel loops as ``for i in prange(n)`` and define ``prange = range`` at
module level. When the kernel compiles, ``prange`` is bound to ``numba.prange`` for the
compiled copy only (the module itself is left unchanged). A kernel may call small helpers
marked ``@jit(inline=True)``: the compiled copy sees their compiled versions, which Numba
inlines into the caller (so loops calling them can still be vectorised).
"""

import importlib
import types


def numba_available() -> bool:
    """True when ``import numba`` succeeds (checked at every call; cheap after the first)."""
    try:
        importlib.import_module("numba")
    except ImportError:
        return False
    return True


def _import_numba(kernel_name: str):
    try:
        return importlib.import_module("numba")
    except ImportError:
        raise ImportError(
            f"{kernel_name}: this kernel needs Numba, which is not installed; install it with "
            "`pip install numba` (or `pip install tinydl[numba]`), or use the NumPy reference "
            "kernel, which gives the same results"
        ) from None


class LazyJit:
    """A Numba kernel that compiles itself on its first call (see the module docstring)."""

    def __init__(self, py_func, parallel: bool, inline: bool):
        self.py_func = py_func
        self.parallel = parallel
        self.inline = inline
        self._dispatcher = None
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__

    def compiled(self):
        """The Numba dispatcher (imports Numba on the first call)."""
        if self._dispatcher is None:
            numba = _import_numba(self.py_func.__name__)
            # A copy of the function whose globals see numba.prange instead of range, and
            # the compiled versions of the @jit helpers it calls.
            kernel_globals = dict(self.py_func.__globals__, prange=numba.prange)
            for name in self.py_func.__code__.co_names:
                helper = kernel_globals.get(name)
                if isinstance(helper, LazyJit) and helper is not self:
                    kernel_globals[name] = helper.compiled()
            kernel = types.FunctionType(
                self.py_func.__code__, kernel_globals, self.py_func.__name__,
                self.py_func.__defaults__, self.py_func.__closure__,
            )
            kernel.__qualname__ = self.py_func.__qualname__
            kernel.__module__ = self.py_func.__module__
            self._dispatcher = numba.njit(
                cache=True, fastmath=False, parallel=self.parallel,
                inline="always" if self.inline else "never",
            )(kernel)
        return self._dispatcher

    def __call__(self, *args):
        return self.compiled()(*args)


def jit(parallel: bool = False, inline: bool = False):
    """Decorator: compile the function with Numba on its first call.

    parallel: let ``prange`` loops run on all cores. inline: a helper that Numba inlines
    into each kernel calling it.
    """

    def decorate(py_func):
        return LazyJit(py_func, parallel, inline)

    return decorate
