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

* Numba's threading layer is ``tbb`` where Intel's TBB runtime loads (the ``tbb`` package,
  which the ``numba`` extra installs on x86-64 Linux and Windows), else ``workqueue``
  (``numba_threading_layer()``). The OpenMP layer spins after each kernel, on the cores BLAS
  wants next; workqueue's threads sleep at once, and waking them is slow where a wake-up is
  slow (a parallel kernel that does nothing took 120-160 µs on the 2-core development VM);
  TBB's spin a few microseconds, then sleep (the same empty kernel: 1.4 µs).
  A ``NUMBA_THREADING_LAYER`` set by the user wins.
* A parallel kernel only runs where the work is large enough to pay for waking the pool
  (``parallel_worthwhile``); below ``PARALLEL_MIN_WORK`` elements a serial copy of the same
  kernel runs instead (see ``tinydl/kernels/_jit.py``). The threshold was measured on a
  2-core machine (benchmarks/bench_threads.py prints the measurement).
* With a budget of 1 no parallel kernel runs at all, nor inside the slices of
  ``split_over_batch``, which already spread the batch over the cores (Numba's workqueue pool
  cannot take launches from two threads at once).
* OpenBLAS's worker threads busy-wait for about 0.1 s after each matrix product, and the
  kernels run in between: the Numba thread that shares a core with a waiting BLAS worker gets
  half of it, and a parallel attention kernel right after a product ran no faster than the
  serial one. While the budget is the default, OpenBLAS's workers therefore run at a lower
  priority (``BLAS_WORKER_NICE``), so a waiting worker gives way to a kernel's thread; the
  products themselves never run beside a kernel (a training step does one thing at a time),
  so they lose nothing on a quiet machine (``lower_blas_worker_priority``).
  ``set_num_threads`` gives the workers their priority back.

Setting the budget never imports Numba: it is applied when the first kernel compiles.

The default budget follows the machine (``follow_machine_load``, once a second at most, from
each backward pass): the cores other programs kept busy since the last look are taken off it,
and given back when they are free again. BLAS's threads wait for each other at every matrix
product, so when another program holds a core, one of them is often descheduled and the rest
wait for it: on the 2-core machine beside other busy processes, a default-budget training step
took 2.5-9x as long as the same step on one thread (LSTM 42-106 ms against 11 ms, GPT-mini
924 ms against 289 ms). Only training decides (not a stretch with a pause in it: a gap between
two backward passes in which the training thread was blocked, not running or waiting for a
core, for part of the gap), and a budget set with ``set_num_threads`` is left as it is.
"""

from __future__ import annotations

import ctypes
import importlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tinydl.backend import get_array_module

# Below this many elements (of the largest array a kernel touches) the serial copy of a
# parallel kernel runs, and split_over_batch does not split. Alone, a kernel gains from TBB's
# pool above ~131k elements (benchmarks/bench_threads.py).
# Inside a training step it is another matter: OpenBLAS's threads keep spinning for a while
# after each GEMM, so a parallel launch right after one fights them for the cores. Measured as
# whole steps on the 2-core machine, quiet, raising the threshold from 131,072 to 4M elements
# made every workload faster: seed-002 CNN 20.7 -> 18.7 ms, seed-004 37.2 -> 35.1 ms,
# GPT-mini 281 -> 252 ms, LSTM 14.8 -> 11.9 ms, causal SDPA T128 4.56 -> 3.97 ms, MLP 2.26 ->
# 2.10 ms (default threads). BLAS's own threads still serve every large matrix product. On TBB's
# pool, which wakes in microseconds, lower thresholds did not pay either (1M and 256k against
# 4M, three rounds: seed-004 33.8-36.0 and 34.2-35.5 against 32.9-34.4 ms, GPT-mini 260-273 and
# 272-280 against 252-266 ms).
PARALLEL_MIN_WORK = 4_194_304
# Numba's threading layers in tinydl's order: the first whose library loads runs, unless
# NUMBA_THREADING_LAYER says otherwise (see the docstring).
THREADING_LAYERS = ("tbb", "workqueue")
# The oldest TBB runtime Numba's tbb layer takes (its TBB_runtime_interface_version).
_TBB_MIN_INTERFACE = 12060

_budget: int | None = None  # None: the default, the cores this process may use
# How often follow_machine_load looks at the machine, and what it saw: (monotonic time, CPU
# seconds of the whole machine, CPU seconds of this process) at the last look, and the default
# budget it fitted (None: all the cores available).
LOAD_CHECK_SECONDS = 1.0
_last_look: tuple[float, float | None, float] | None = None
_fitted_budget: int | None = None
# A pause: a gap of more than PAUSE_SECONDS between two backward passes in which the calling
# thread was neither running nor waiting for a core (blocked: on a read, a lock, a sleep) for
# over PAUSE_SHARE of the gap; where the kernel does not say (``_thread_runnable_seconds``),
# one in which this process used less than 0.3 of a core. _previous_call: the monotonic time
# of the last call; _paused: whether the stretch since the last look holds a pause. The
# thread's runnable time and the process's CPU time are sampled at a call at most every
# RUNNABLE_SAMPLE_SECONDS (so a fast step loop does not pay 1 µs a backward for the two
# reads): _runnable_sample is (monotonic time, runnable seconds or None, thread id, process CPU
# seconds) of the last one.
PAUSE_SECONDS = 0.05
PAUSE_SHARE = 0.3
RUNNABLE_SAMPLE_SECONDS = 0.01
_previous_call = 0.0
_paused = False
_runnable_sample: tuple[float, float | None, int, float] = (-math.inf, None, 0, 0.0)
_schedstat = threading.local()  # .file: this thread's open /proc/thread-self/schedstat
# How much lower (in nice steps) OpenBLAS's worker threads run while the budget is the default,
# and the threads lowered: (Linux thread id, nice value before). GPT-mini on the 2-core machine,
# default budget, two rounds: 240-271 ms a step at +0, 223-231 at +3, 218-226 at +5, 219-225
# at +10; the LSTM, MLP and seed-004 CNN steps unchanged (their kernels are small or serial).
BLAS_WORKER_NICE = 5
_lowered_blas_workers: list[tuple[int, int]] = []
_lowered_in_process = 0  # the pid that lowered them (a child made by fork has its own pool)
_executor: ThreadPoolExecutor | None = None  # for split_over_batch, made on first use
_slice_state = threading.local()  # .running is True while this thread runs a split's slice


def available_cores() -> int:
    """The number of cores this process may run on (its CPU affinity; all cores elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """The thread budget: how many threads BLAS and the Numba kernels may use."""
    if _budget is not None:
        return _budget
    return available_cores() if _fitted_budget is None else _fitted_budget


def budget_was_set() -> bool:
    """True when ``set_num_threads`` fixed the budget (it then no longer follows the machine)."""
    return _budget is not None


def follow_machine_load() -> None:
    """Fit the default budget to the cores other programs leave free (see the module docstring).

    Called at every backward pass; looks at the machine at most once every LOAD_CHECK_SECONDS:
    the CPU time the whole machine used since the last look (/proc/stat), less this process's
    own, is what other programs used, in cores. The budget becomes the cores available less
    that, rounded (at least 1). Only a stretch of training decides: when it holds a pause (this
    process idle between two backward passes: waiting for the user or for data, or another
    program's turn), the look only starts a new stretch. A pause is told from a busy machine by
    the calling thread's runnable time: beside a busy program it runs or waits for a core all
    along; idle, it is blocked (``PAUSE_SHARE``). Does nothing when the budget was set with
    set_num_threads, or where /proc/stat is missing.
    """
    global _last_look, _fitted_budget, _previous_call, _paused, _runnable_sample
    if _budget is not None:
        return
    now = time.monotonic()
    gap, _previous_call = now - _previous_call, now
    if now - _runnable_sample[0] >= RUNNABLE_SAMPLE_SECONDS:
        sample_time, sample_runnable, sample_thread, sample_cpu = _runnable_sample
        runnable, thread, cpu = _thread_runnable_seconds(), threading.get_ident(), time.process_time()
        _runnable_sample = (now, runnable, thread, cpu)
        if gap > PAUSE_SECONDS:  # between two backward passes: was this process idle?
            # (the sample is from the last call, or at most RUNNABLE_SAMPLE_SECONDS before)
            if None not in (runnable, sample_runnable) and thread == sample_thread:
                idle = runnable - sample_runnable < (1 - PAUSE_SHARE) * (now - sample_time)
            else:
                idle = cpu - sample_cpu < 0.3 * (now - sample_time)
            _paused = _paused or idle
    if _last_look is not None and now - _last_look[0] < LOAD_CHECK_SECONDS:
        return
    cpu = time.process_time()
    paused, _paused = _paused, False
    previous, _last_look = _last_look, (now, machine_cpu_seconds(), cpu)
    if paused or previous is None or previous[1] is None or _last_look[1] is None:
        return
    elapsed = now - previous[0]
    others = ((_last_look[1] - previous[1]) - (_last_look[2] - previous[2])) / elapsed
    cores = available_cores()
    fitted = max(1, min(cores, round(cores - others)))
    if fitted != get_num_threads():
        _fitted_budget = fitted  # Numba takes it at its next kernel (numba_threads_match)
        try:
            _apply_to_blas(fitted)
        except ImportError:  # without threadpoolctl BLAS keeps its threads (set_num_threads says so)
            pass


class _SchedStatFile:
    """This thread's /proc/thread-self/schedstat, kept open (a read: 0.4 µs; opening: 1.7 µs)
    and closed with the thread's local storage; ``pid``: the process that opened it (a child
    made by fork opens its own)."""

    def __init__(self):
        self.pid = os.getpid()
        try:
            self.fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:  # not Linux, or a kernel without scheduler statistics
            self.fd = None

    def __del__(self, close=os.close):  # os.close held here: module globals may be gone at exit
        if self.fd is not None:
            close(self.fd)


def _thread_runnable_seconds() -> float | None:
    """Seconds the calling thread has spent running or waiting for a core (Linux's
    /proc/thread-self/schedstat: time on a CPU plus time in the run queue); None where the
    kernel does not say. Time blocked (on a read, a lock, a sleep) is not in it."""
    stat = getattr(_schedstat, "file", None)
    if stat is None or stat.pid != os.getpid():
        stat = _schedstat.file = _SchedStatFile()
    if stat.fd is None:
        return None
    try:
        on_cpu, waiting = os.pread(stat.fd, 64, 0).split()[:2]
        return (int(on_cpu) + int(waiting)) / 1e9
    except (OSError, ValueError):
        return None


def machine_cpu_seconds() -> float | None:
    """CPU seconds all cores of the machine spent busy since boot (None without /proc/stat)."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()[1:9]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def set_num_threads(num_threads: int) -> None:
    """Let BLAS and the Numba kernels use ``num_threads`` threads (PyTorch's name).

    num_threads: a positive int; more than the cores available is allowed but rarely helps.
    Applies to BLAS at once (through threadpoolctl) and to Numba at its next kernel call. A
    BLAS library loaded later (SciPy's, say, on first use of scipy) starts with its own
    default: call set_num_threads again after importing it.
    """
    global _budget
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(
            f"set_num_threads: num_threads must be a positive int, got {num_threads!r}; "
            f"this process may use {available_cores()} core(s)"
        )
    _budget = num_threads
    restore_blas_worker_priority()
    _apply_to_blas(num_threads)
    if "numba" in sys.modules:
        apply_to_numba(sys.modules["numba"])


def parallel_worthwhile(work: int, min_work: int | None = None) -> bool:
    """True when a parallel kernel over ``work`` elements should run on the pool (never
    inside a slice of ``split_over_batch``). min_work: the kernel's own threshold (None:
    ``PARALLEL_MIN_WORK``), for a kernel measured to gain from the pool at smaller sizes."""
    threshold = PARALLEL_MIN_WORK if min_work is None else min_work
    return (work >= threshold and get_num_threads() > 1
            and not getattr(_slice_state, "running", False))


def split_over_batch(fn: Callable[..., tuple], arrays: list, work: int, *args: Any,
                     min_work: int | None = None) -> tuple:
    """``fn(*arrays, *args)`` run on slices of the leading (batch) axis in several threads.

    For NumPy code that is independent per batch item (attention over (B, H, T, T) scores):
    NumPy releases the GIL inside its loops and BLAS calls, so the slices run on separate
    cores. ``fn`` returns a tuple of arrays with the batch axis first; the slices' results are
    concatenated. An entry of ``arrays`` may be None (passed as None to every slice). Runs
    ``fn`` once, unsplit, when ``work`` (elements) is below the parallel threshold (``min_work``
    where the caller measured its own), the budget is 1 thread or the batch has one item (see
    ``over_batch_slices``).
    """
    results = for_each_slice(fn, arrays, work, *args, min_work=min_work)
    if len(results) == 1:
        return results[0]
    xp = get_array_module(results[0][0])
    return tuple(xp.concatenate(pieces, axis=0) for pieces in zip(*results))


def for_each_slice(fn: Callable, arrays: list, work: int, *args: Any,
                   min_work: int | None = None) -> list:
    """[fn(*slice, *args) for each slice of the leading axis of ``arrays``], one per thread.

    The slicing of ``split_over_batch`` without putting results together: for ``fn`` that
    writes into slices of an output passed among ``arrays``. Returns the results in slice
    order (one result when the work is not split; the rules of ``over_batch_slices``).
    """
    def run_slice(start: int, stop: int) -> Any:
        return fn(*[None if array is None else array[start:stop] for array in arrays], *args)

    return over_batch_slices(run_slice, arrays[0].shape[0], work, min_work)


def over_batch_slices(fn: Callable[[int, int], Any], batch: int, work: int,
                      min_work: int | None = None) -> list:
    """[fn(start, stop), ...] for consecutive slices of a batch of ``batch`` items, one slice a
    thread, in order; [fn(0, batch)] alone when ``work`` (elements) is below the parallel
    threshold (``min_work``, for a caller that measured its own; else ``PARALLEL_MIN_WORK``),
    the budget is 1 thread or the batch has one item.

    For code independent per batch item that releases the GIL (NumPy loops, BLAS, nogil
    Numba kernels). BLAS runs on one thread meanwhile, and Numba kernels called inside a slice
    run their serial copies (Numba's workqueue pool takes one launch at a time); the pool's
    threads sleep while idle.
    """
    parts = min(get_num_threads(), batch)
    threshold = PARALLEL_MIN_WORK if min_work is None else min_work
    controller = _blas_controller() if parts >= 2 and work >= threshold else None
    if controller is None:
        return [fn(0, batch)]
    global _executor
    if _executor is None or _executor._max_workers < parts - 1:
        _executor = ThreadPoolExecutor(max_workers=parts - 1, thread_name_prefix="tinydl")
    bounds = [batch * i // parts for i in range(parts + 1)]
    # BLAS on one thread meanwhile: two threads calling a multi-threaded OpenBLAS at once
    # make its pool spin against itself (measured 100x slower).
    with controller.limit(limits=1, user_api="blas"):
        futures = [_executor.submit(_run_slice, fn, start, stop)
                   for start, stop in zip(bounds[1:], bounds[2:])]
        return [_run_slice(fn, bounds[0], bounds[1])] + [future.result() for future in futures]


def _run_slice(fn: Callable[[int, int], Any], start: int, stop: int) -> Any:
    """fn(start, stop) in the calling thread, marked as a slice (see parallel_worthwhile)."""
    _slice_state.running = True
    try:
        return fn(start, stop)
    finally:
        _slice_state.running = False


def numba_threading_layer() -> str:
    """The Numba threading layer tinydl asks for: NUMBA_THREADING_LAYER if set, else the first
    of THREADING_LAYERS whose library loads (tbb needs Intel's TBB runtime; workqueue always
    loads)."""
    chosen = os.environ.get("NUMBA_THREADING_LAYER", "").strip().lower()
    if chosen:
        return chosen
    return next(layer for layer in THREADING_LAYERS if layer != "tbb" or tbb_runtime_loaded())


def numba_layer_planned() -> str:
    """The layer Numba's parallel kernels run on: the one started, else the one tinydl asks for."""
    return numba_layer_in_use() or numba_threading_layer()


_tbb_loaded: bool | None = None  # tbb_runtime_loaded's answer (None: not looked yet)


def tbb_runtime_loaded() -> bool:
    """Whether Intel's TBB runtime (pip's ``tbb`` package) is loaded and new enough for Numba.

    Loads it on the first call, once a process. pip puts ``libtbb.so.12`` into the
    environment's ``lib`` folder, which the dynamic loader does not search inside a virtual
    environment, so Numba alone would not find it there: the file the ``tbb`` distribution
    installed is loaded by its path, shared with the libraries loaded after it (RTLD_GLOBAL),
    where Numba's tbb layer then finds it.
    """
    global _tbb_loaded
    if _tbb_loaded is None:
        _tbb_loaded = _load_tbb_runtime()
    return _tbb_loaded


def _load_tbb_runtime() -> bool:
    from importlib import metadata

    names = {"linux": "libtbb.so.12", "win32": "tbb12.dll", "darwin": "libtbb.12.dylib"}
    name = names.get(sys.platform)
    if name is None:
        return False
    try:
        found = [file.locate() for file in (metadata.files("tbb") or []) if file.name == name]
    except metadata.PackageNotFoundError:
        found = []
    for candidate in [*found, name]:  # the package's file, else wherever the loader finds one
        try:
            runtime = ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL)
            runtime.TBB_runtime_interface_version.restype = ctypes.c_int
            return runtime.TBB_runtime_interface_version() >= _TBB_MIN_INTERFACE
        except (OSError, AttributeError):
            continue
    return False


def configure_numba(numba) -> None:
    """Choose Numba's threading layer (before its first parallel launch) and its thread count."""
    if not _numba_pool_started(numba):
        layer = numba_threading_layer()
        if layer not in ("workqueue", "omp"):  # tbb, or a Numba choice that may take it:
            tbb_runtime_loaded()  # pip's libtbb, which Numba alone misses inside a venv
        if layer == "tbb" and not os.environ.get("NUMBA_THREADING_LAYER"):
            # Should Numba still fail to load its tbb layer, it falls back to workqueue, not
            # to the OpenMP layer, which comes before workqueue in Numba's own order.
            numba.config.THREADING_LAYER = "default"
            numba.config.THREADING_LAYER_PRIORITY = ["tbb", "workqueue", "omp"]
        else:
            numba.config.THREADING_LAYER = layer
        if _budget is None:
            lower_blas_worker_priority()
    apply_to_numba(numba)
    if _budget is not None:
        # Numba links SciPy's own OpenBLAS (scipy.linalg.cython_blas) when it compiles or loads
        # its first kernel, and that library starts at its default thread count: load it now
        # (it would load a moment later anyway) so that the budget reaches it too.
        try:
            importlib.import_module("scipy.linalg.cython_blas")
        except ImportError:
            pass
        _apply_to_blas(_budget)


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


_controller = None


def _blas_controller():
    """A cached threadpoolctl controller (None without threadpoolctl: no splitting then)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return None
        _controller = ThreadpoolController()
    return _controller


def lower_blas_worker_priority() -> list[int]:
    """Run OpenBLAS's worker threads BLAS_WORKER_NICE nice steps lower (see the module
    docstring); returns their Linux thread ids. Called when the Numba kernels start while the
    budget is the default. Does nothing (returns []) without threadpoolctl, outside Linux, for
    another BLAS or an OpenMP build of OpenBLAS, or when already done."""
    global _lowered_in_process
    controller = _blas_controller()
    if controller is None or _lowered_blas_workers or not sys.platform.startswith("linux"):
        return []
    _lowered_in_process = os.getpid()
    lowered = []
    for library in controller.lib_controllers:
        if library.internal_api != "openblas" or library.info().get("threading_layer") != "pthreads":
            continue
        for thread_id in _openblas_worker_thread_ids(library):
            try:
                before = os.getpriority(os.PRIO_PROCESS, thread_id)
                os.setpriority(os.PRIO_PROCESS, thread_id, min(19, before + BLAS_WORKER_NICE))
            except OSError:  # the thread ended meanwhile
                continue
            _lowered_blas_workers.append((thread_id, before))
            lowered.append(thread_id)
    return lowered


def lowered_blas_workers() -> list[int]:
    """The Linux thread ids of the BLAS workers running at a lower priority now (for doctor)."""
    return [thread_id for thread_id, _ in _lowered_blas_workers]


def restore_blas_worker_priority() -> None:
    """Give OpenBLAS's workers back the priority ``lower_blas_worker_priority`` took.

    A budget set with ``set_num_threads`` is kept beside busy programs too, and there a
    lowered worker would get a tenth of a core and hold up every product (MLP step beside one
    busy process, budget 2: 4.0 ms at +0, 20.3 ms at +5). Raising a thread's priority again
    needs privileges an ordinary user lacks: then OpenBLAS's pool is shut down, and its next
    product starts new workers at the caller's priority (once, ~10 ms).
    """
    if not _lowered_blas_workers:
        return
    if _lowered_in_process != os.getpid():  # a child made by fork: those were the parent's
        _lowered_blas_workers.clear()
        return
    stuck = False
    for thread_id, before in _lowered_blas_workers:
        try:
            os.setpriority(os.PRIO_PROCESS, thread_id, before)
        except ProcessLookupError:  # the thread ended
            continue
        except PermissionError:
            stuck = True
    _lowered_blas_workers.clear()
    if stuck:
        for library in _blas_controller().lib_controllers:
            if library.internal_api == "openblas":
                shutdown = _openblas_symbol(library, "blas_thread_shutdown_")
                if shutdown is not None:
                    shutdown()


def _openblas_symbol(library, name: str):
    """A function of an OpenBLAS library (threadpoolctl's controller) by its plain name, or
    with the prefix and suffix a build adds (NumPy's: ``scipy_`` ... ``64_``); None if absent."""
    for candidate in (name, f"scipy_{name}", f"{name}64_", f"scipy_{name}64_"):
        function = getattr(library.dynlib, candidate, None)
        if function is not None:
            return function
    return None


def _openblas_worker_thread_ids(library) -> list[int]:
    """The Linux thread ids of an OpenBLAS pool's workers ([] where they cannot be found).

    OpenBLAS names its workers only by index, through ``openblas_setaffinity(index, ...)``:
    each worker in turn is allowed one core for a moment, and the thread of this process
    whose allowed cores (/proc/self/task/ID/status) changed is that worker; then its cores are
    put back. Workers 0 .. n-2 of n threads (index n-1 is the calling thread); ~0.1 ms each.
    """
    get_affinity = _openblas_symbol(library, "openblas_getaffinity")
    set_affinity = _openblas_symbol(library, "openblas_setaffinity")
    if get_affinity is None or set_affinity is None:
        return []
    mask_bytes = ctypes.c_size_t(128)  # a cpu_set_t: one bit for each of 1024 cores
    found = []
    for index in range(library.get_num_threads() - 1):
        allowed = ctypes.create_string_buffer(128)
        if get_affinity(index, mask_bytes, allowed) != 0:
            return []
        cores = [core for core in range(1024) if allowed.raw[core // 8] >> (core % 8) & 1]
        if len(cores) < 2:  # one allowed core: no other mask to tell the worker by
            return []
        one_core = ctypes.create_string_buffer(128)
        one_core[cores[0] // 8] = bytes([1 << (cores[0] % 8)])
        before = _allowed_cores_by_thread()
        if set_affinity(index, mask_bytes, one_core) != 0:
            return []
        try:
            during = _allowed_cores_by_thread()
        finally:
            set_affinity(index, mask_bytes, allowed)
        changed = [thread for thread, cores_listed in during.items()
                   if cores_listed != before.get(thread)]
        if len(changed) != 1:
            return []
        found.append(changed[0])
    return found


def _allowed_cores_by_thread() -> dict[int, str]:
    """{thread id: its Cpus_allowed_list} for this process's threads (Linux /proc)."""
    allowed = {}
    for name in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{name}/status") as status:
                for line in status:
                    if line.startswith("Cpus_allowed_list:"):
                        allowed[int(name)] = line.split(":", 1)[1].strip()
                        break
        except OSError:  # the thread ended meanwhile
            continue
    return allowed


def _numba_pool_started(numba) -> bool:
    from numba.np.ufunc import parallel

    return bool(parallel._is_initialized)
