"""Lazy Numba compilation for the kernel files, with a serial twin for every parallel kernel.

Importing tinydl must not import Numba (it is optional and takes ~0.3 s to import), so the
Numba kernels are plain Python functions marked with ``@jit(...)``. The first call imports
Numba and compiles the function with ``numba.njit(cache=True, fastmath=False,
error_model="numpy")``. The NumPy error model lets a float division by zero give inf or nan, as
the NumPy references do, instead of raising ZeroDivisionError like Python; that check in every
iteration kept LLVM from vectorising any loop that divides (Adam's update over 269k float32
elements: 0.90 ms with Python's error model, 0.16 ms with NumPy's, one thread).

Kernel files write parallel loops as ``for i in prange(n)`` and define ``prange = range`` at
module level. A kernel marked ``@jit(parallel=True)`` is compiled twice, each copy on first
use: a parallel copy, whose ``prange`` is ``numba.prange``, and a serial twin, whose loops are
plain ranges. Each call picks one by the size of the work, the largest array argument: waking
Numba's thread pool only pays above ``tinydl.threads.PARALLEL_MIN_WORK`` elements (or the
kernel's own ``parallel_min_work``, where it was measured), and never with a thread budget of 1
(``tinydl.set_num_threads``). A kernel may call small helpers
marked ``@jit(inline=True)``: the compiled copy sees their compiled versions, which Numba
inlines into the caller (so loops calling them can still be vectorised). A kernel marked
``@jit(reassociate=True)`` lets LLVM reorder its floating-point sums (Numba's fastmath flag
``reassoc`` only: no other fast-math shortcut), so a loop like ``total += x[j]`` runs on SIMD
lanes, several times faster; the result changes by rounding, as NumPy's pairwise sums do.
A kernel marked ``@jit(fused_multiply_add=True)`` lets LLVM turn ``a * b + c`` into one fused
multiply-add instruction (fastmath flag ``contract``: one rounding instead of two, so the
result is as accurate or more), which matters in the hand-written matrix products.

The compiled machine code is cached on disk, in the user's cache folder (``cache_dir()``:
``$NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/tinydl/numba``, else
``~/.cache/tinydl/numba``), never inside the installed package, so later processes skip the
compile and a read-only or editable install stays clean.
"""

import importlib
import os
import threading
import time
import types
from pathlib import Path

from tinydl import threads


def numba_available() -> bool:
    """True when ``import numba`` succeeds (checked at every call; cheap after the first)."""
    try:
        importlib.import_module("numba")
    except ImportError:
        return False
    return True


_OPTIONS_TAG = "errors-numpy"  # the compile options that Numba's cache key leaves out
# One kernel set up at a time: each points the process-wide numba.config.CACHE_DIR at the
# cache while Numba reads it. Two threads doing it at once (the slices of split_over_batch
# reaching a kernel's first call together) could make Numba read it half-restored, and
# write the cache into the current directory. Reentrant: a kernel sets up its helpers.
_setup_lock = threading.RLock()


def cache_dir() -> Path:
    """The folder for Numba's compiled kernels (see the module docstring)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinydl" / "numba"


_numba_configured = False  # threads.configure_numba ran (later budget changes reach Numba directly)


def _import_numba(kernel_name: str):
    try:
        numba = importlib.import_module("numba")
    except ImportError:
        raise ImportError(
            f"{kernel_name}: this kernel needs Numba, which is not installed; install it with "
            "`pip install numba` (or `pip install tinydl[numba]`), or use the NumPy reference "
            "kernel, which gives the same results"
        ) from None
    global _numba_configured
    if not _numba_configured:  # once a process: the layer, the budget, the BLAS Numba brings (~10 ms)
        threads.configure_numba(numba)
        _numba_configured = True
    return numba


def _work_size(args) -> int:
    """The work a kernel call does, roughly: the size of its largest array argument, where a
    tuple of arrays (the one-call-over-all-parameters optimizer kernels) counts as their sum."""
    work = 0
    for arg in args:  # plain loops: this runs before every kernel call
        if type(arg) is tuple:
            size = 0
            for item in arg:
                size += getattr(item, "size", 0)  # (a tuple of numbers counts 0)
        else:
            size = getattr(arg, "size", 0)
        if size > work:
            work = size
    return work


class LazyJit:
    """A Numba kernel that compiles itself on its first call (see the module docstring)."""

    def __init__(self, py_func, parallel: bool, inline: bool, nogil: bool = False,
                 reassociate: bool = False, fused_multiply_add: bool = False,
                 parallel_min_work: int | None = None):
        self.py_func = py_func
        self.parallel = parallel
        self.inline = inline
        self.nogil = nogil
        self.reassociate = reassociate
        self.fused_multiply_add = fused_multiply_add
        self.parallel_min_work = parallel_min_work
        self._dispatchers = {}  # parallel (bool) -> Numba dispatcher
        self.__name__ = py_func.__name__
        self.__doc__ = py_func.__doc__

    def compiled(self, parallel: bool | None = None):
        """The Numba dispatcher: the parallel copy (default for parallel kernels) or the serial twin.

        Imports Numba on the first call.
        """
        parallel = self.parallel if parallel is None else (parallel and self.parallel)
        dispatcher = self._dispatchers.get(parallel)
        if dispatcher is None:
            with _setup_lock:
                dispatcher = self._dispatchers.get(parallel)  # another thread may have won
                if dispatcher is None:
                    dispatcher = self._dispatchers[parallel] = self._compile(parallel)
        return dispatcher

    def _compile(self, parallel: bool):
        numba = _import_numba(self.py_func.__name__)
        # A copy of the function whose globals see numba.prange (parallel copy) or range
        # (serial twin), and the compiled versions of the @jit helpers it calls.
        kernel_globals = dict(self.py_func.__globals__, prange=numba.prange if parallel else range)
        for name in self.py_func.__code__.co_names:
            helper = kernel_globals.get(name)
            if isinstance(helper, LazyJit) and helper is not self:
                kernel_globals[name] = helper.compiled()
        kernel = types.FunctionType(
            self.py_func.__code__, kernel_globals, self.py_func.__name__,
            self.py_func.__defaults__, self.py_func.__closure__,
        )
        # The twins need their own cache entries: Numba keys its cache files by qualname.
        suffix = "" if parallel or not self.parallel else "__serial"
        kernel.__qualname__ = self.py_func.__qualname__ + suffix
        kernel.__module__ = self.py_func.__module__
        saved_cache_dir = numba.config.CACHE_DIR
        # read once, when the cache is set up; the subfolder names the compile options, which
        # Numba's cache key leaves out (new options must not load code built under old ones)
        numba.config.CACHE_DIR = str(cache_dir() / _OPTIONS_TAG)
        try:
            fastmath = {"reassoc"} if self.reassociate else set()
            if self.fused_multiply_add:
                fastmath.add("contract")
            return numba.njit(
                cache=True, fastmath=fastmath or False,
                error_model="numpy", parallel=parallel, nogil=self.nogil,
                inline="always" if self.inline else "never",
            )(kernel)
        finally:
            numba.config.CACHE_DIR = saved_cache_dir

    def __call__(self, *args):
        if self.parallel and threads.parallel_worthwhile(_work_size(args), self.parallel_min_work):
            dispatcher = self.compiled(parallel=True)
            numba = importlib.import_module("numba")
            if not threads.numba_threads_match(numba):  # the budget changed, or a new thread
                threads.apply_to_numba(numba)
            return dispatcher(*args)
        return self.compiled(parallel=False)(*args)


def jit(parallel: bool = False, inline: bool = False, nogil: bool = False, reassociate: bool = False,
        fused_multiply_add: bool = False, parallel_min_work: int | None = None):
    """Decorator: compile the function with Numba on its first call.

    parallel: let ``prange`` loops run on all cores when the work is large enough (a serial
    twin runs otherwise). inline: a helper that Numba inlines into each kernel calling it.
    nogil: release the GIL while it runs, for kernels called from several threads at once
    (``tinydl.threads.over_batch_slices``). reassociate: sums may be reordered, so reductions
    vectorise (see the module docstring). fused_multiply_add: ``a * b + c`` may be one fused
    instruction (see the module docstring). parallel_min_work: this kernel's threshold for
    the parallel copy (None: ``tinydl.threads.PARALLEL_MIN_WORK``).
    """

    def decorate(py_func):
        return LazyJit(py_func, parallel, inline, nogil, reassociate, fused_multiply_add,
                       parallel_min_work)

    return decorate


def cached_kernel_count() -> int:
    """How many compiled kernels the disk cache holds (index files under ``cache_dir()``)."""
    folder = cache_dir()
    return sum(1 for _ in folder.rglob("*.nbi")) if folder.is_dir() else 0


def first_call_probe() -> dict:
    """Time the first call of one real kernel (the attention forward), for ``tinydl doctor``.

    Returns {"kernel", "seconds", "cache_warm"}: the seconds a new process waits before its
    first Numba kernel runs (a compile, or a load from the disk cache when it is warm).
    """
    import numpy as np

    from tinydl.kernels.attention import (
        _attention_forward_kernel,
        attention_forward_numba,
    )

    q = np.ones((1, 1, 4, 8), dtype=np.float32)
    start = time.perf_counter()
    attention_forward_numba(q, q, q)  # 32 elements: the serial twin
    seconds = time.perf_counter() - start
    stats = _attention_forward_kernel.compiled(parallel=False).stats
    return {"kernel": _attention_forward_kernel.__name__ + " (serial)", "seconds": seconds,
            "cache_warm": bool(stats.cache_hits) and not stats.cache_misses}
