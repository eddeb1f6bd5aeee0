"""One thread budget for the process, shared by BLAS and the Numba kernels.

NumPy's matmuls run on BLAS (OpenBLAS or MKL), which keeps its own pool of threads; the Numba
kernels run ``prange`` loops on Numba's pool. Left alone, both pools size themselves to every
core and spin after each call, so on a small machine they fight: one MLP step measured 8 ms
instead of 2.6 ms. tinydl therefore owns one number, the thread budget, and gives it to both:

    tinydl.set_num_threads(1)      # BLAS and Numba on one thread each
    tinydl.get_num_threads()       # -> 1

The default is the number of cores this process may run on (``os.sched_getaffinity``), so a
job pinned with ``taskset`` or a container limit is respected without any environment
variable. Three more rules keep the pools from spinning against each other:

* Numba's threading layer is ``workqueue`` (``numba_threading_layer()``): its threads sleep
  between kernels, while the OpenMP layer spins after each one, on the cores BLAS wants next.
  A ``NUMBA_THREADING_LAYER`` set by the user wins.
* A parallel kernel only runs where the work is large enough to pay for waking the pool
  (``parallel_worthwhile``); below ``PARALLEL_MIN_WORK`` elements a serial copy of the same
  kernel runs instead (see ``tinydl/kernels/_jit.py``). The threshold was measured on a
  2-core machine (benchmarks/bench_threads.py prints the measurement).
* With a budget of 1 no parallel kernel runs at all.

Setting the budget never imports Numba: it is applied when the first kernel compiles.
"""

from __future__ import annotations

import os
import sys

# Below this many elements (of the largest array a kernel touches) the serial copy of a
# parallel kernel runs. Waking Numba's workqueue pool costs about 25-30 µs of CPU per call
# here; a vectorised elementwise pass does 100-200 thousand float32 elements in that time,
# an unvectorised one (Adam's update) some 30 thousand (benchmarks/bench_threads.py).
PARALLEL_MIN_WORK = 131_072
# Numba's threading layer, unless NUMBA_THREADING_LAYER says otherwise (see the docstring).
THREADING_LAYER = "workqueue"

_budget: int | None = None  # None: the default, the cores this process may use


def available_cores() -> int:
    """The number of cores this process may run on (its CPU affinity; all cores elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """The thread budget: how many threads BLAS and the Numba kernels may use."""
    return available_cores() if _budget is None else _budget


def set_num_threads(num_threads: int) -> None:
    """Let BLAS and the Numba kernels use ``num_threads`` threads (PyTorch's name).

    num_threads: a positive int; more than the cores available is allowed but rarely helps.
    Applies to BLAS at once (through threadpoolctl) and to Numba at its next kernel call.
    """
    global _budget
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(
            f"set_num_threads: num_threads must be a positive int, got {num_threads!r}; "
            f"this process may use {available_cores()} core(s)"
        )
    _budget = num_threads
    _apply_to_blas(num_threads)
    if "numba" in sys.modules:
        apply_to_numba(sys.modules["numba"])


def parallel_worthwhile(work: int) -> bool:
    """True when a parallel kernel over ``work`` elements should run on the pool."""
    return work >= PARALLEL_MIN_WORK and get_num_threads() > 1


def numba_threading_layer() -> str:
    """The Numba threading layer tinydl asks for: NUMBA_THREADING_LAYER if set, else workqueue."""
    return os.environ.get("NUMBA_THREADING_LAYER", "").strip().lower() or THREADING_LAYER


def configure_numba(numba) -> None:
    """Choose Numba's threading layer (before its first parallel launch) and its thread count."""
    if not _numba_pool_started(numba):
        numba.config.THREADING_LAYER = numba_threading_layer()
    apply_to_numba(numba)


def apply_to_numba(numba) -> None:
    """Give Numba's pool the budget (capped at the pool size Numba was started with).

    ``numba.set_num_threads`` is per calling thread, so the kernels call this again when they
    find a different count (``numba_threads_match``).
    """
    numba.set_num_threads(min(get_num_threads(), numba.config.NUMBA_NUM_THREADS))


def numba_threads_match(numba) -> bool:
    """Whether Numba's thread count in the calling thread is the budget (capped)."""
    return numba.get_num_threads() == min(get_num_threads(), numba.config.NUMBA_NUM_THREADS)


def numba_layer_in_use() -> str | None:
    """The threading layer Numba started, or None before its first parallel kernel."""
    numba = sys.modules.get("numba")
    if numba is None or not _numba_pool_started(numba):
        return None
    return numba.threading_layer()


def blas_threads() -> list[str]:
    """One line per BLAS library loaded: its name and thread count (needs threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl is not installed: BLAS threads unknown (pip install threadpoolctl)"]
    return [f"{pool.get('internal_api')} ({pool.get('user_api')}): {pool.get('num_threads')} thread(s)"
            for pool in threadpool_info()]


def _apply_to_blas(num_threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError(
            "set_num_threads: threadpoolctl is needed to set BLAS's threads; install it with "
            "`pip install threadpoolctl` (tinydl lists it as a dependency)"
        ) from None
    threadpool_limits(limits=num_threads, user_api="blas")


def _numba_pool_started(numba) -> bool:
    from numba.np.ufunc import parallel

    return bool(parallel._is_initialized)
