"""The process thread budget (tinydl/threads.py), the serial/parallel kernel twins and the
Numba cache folder (tinydl/kernels/_jit.py). No timings: these check choices, not speed."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO

import tinydl
from tinydl import threads
from tinydl.kernels import _jit


@pytest.fixture
def restore_budget():
    """Put the budget (and BLAS's threads) back as they were after the test."""
    saved = threads._budget
    yield
    threads._budget = saved
    tinydl.set_num_threads(threads.get_num_threads())


def _blas_thread_counts() -> set[int]:
    from threadpoolctl import threadpool_info

    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_default_budget_is_the_cores_this_process_may_use():
    assert tinydl.get_num_threads() == len(os.sched_getaffinity(0))


class _FakeMachine:
    """A clock and CPU counters for follow_machine_load: ``train(seconds, ours, others)`` runs
    backward passes every ``step`` seconds (10 ms) for ``seconds`` while this process uses
    ``ours`` cores and other programs ``others``; ``wait`` lets time pass with no backward."""

    def __init__(self):
        self.now = self.machine = self.ours = self.runnable = 100.0

    def wait(self, seconds: float, others: float, ours: float = 0.0, blocked: bool = True) -> None:
        """Time passes; ``blocked``: the training thread sleeps meanwhile (not runnable)."""
        self.now += seconds
        self.ours += seconds * ours
        self.machine += seconds * (ours + others)
        if not blocked:
            self.runnable += seconds

    def train(self, seconds: float, ours: float, others: float, step: float = 0.01) -> None:
        for _ in range(round(seconds / step)):
            self.wait(step, others, ours, blocked=False)
            threads.follow_machine_load()

    def monotonic(self) -> float:
        return self.now

    def process_time(self) -> float:
        return self.ours


@pytest.fixture
def fake_machine(monkeypatch):
    """Two cores, a fake clock and counters, BLAS settings recorded instead of made."""
    machine = _FakeMachine()
    for name, value in [("LOAD_CHECK_SECONDS", 1.0), ("time", machine), ("_budget", None),
                        ("machine_cpu_seconds", lambda: machine.machine), ("_last_look", None),
                        ("available_cores", lambda: 2), ("_fitted_budget", None),
                        ("_previous_call", 0.0), ("_paused", False),
                        ("_runnable_sample", (-math.inf, None, 0, 0.0)),
                        ("_thread_runnable_seconds", lambda: machine.runnable)]:
        monkeypatch.setattr(threads, name, value)
    machine.blas_settings = []
    monkeypatch.setattr(threads, "_apply_to_blas", machine.blas_settings.append)
    return machine


def test_default_budget_gives_up_the_cores_other_programs_keep_busy(fake_machine):
    fake_machine.train(0.5, ours=1.8, others=0.0)     # the first look only takes a sample
    assert threads.get_num_threads() == 2
    fake_machine.train(2.5, ours=1.8, others=0.9)     # another program holds 0.9 of a core
    assert threads.get_num_threads() == 1
    assert fake_machine.blas_settings == [1]
    fake_machine.train(2.0, ours=1.0, others=1.2)     # still busy: nothing to change
    fake_machine.train(2.5, ours=1.0, others=0.2)     # the other program stopped
    assert threads.get_num_threads() == 2
    assert fake_machine.blas_settings == [1, 2]


def test_default_budget_looks_at_the_machine_at_most_once_a_second(fake_machine, monkeypatch):
    looks = []
    monkeypatch.setattr(threads, "machine_cpu_seconds", lambda: looks.append(1) or fake_machine.machine)
    fake_machine.train(3.05, ours=1.0, others=0.0)    # 305 backward passes
    assert len(looks) == 4                             # at 0.01 s, then about 1, 2 and 3 s later


def test_a_pause_in_training_decides_nothing(fake_machine):
    fake_machine.train(1.5, ours=1.8, others=0.0)
    fake_machine.wait(3.0, others=2.0)                # another program ran while we paused
    fake_machine.train(0.5, ours=1.8, others=0.0)     # the look after the pause: no change
    assert threads.get_num_threads() == 2 and fake_machine.blas_settings == []
    fake_machine.train(2.5, ours=1.0, others=0.9)     # busy beside us while we train
    assert threads.get_num_threads() == 1


def test_another_programs_turns_between_our_steps_decide_nothing(fake_machine):
    # The benchmark's alternating rounds: three 0.24 s steps on both cores, then this process
    # blocks 0.45 s while another one runs on both. The gap between the backward passes around
    # a block (0.79 s) also holds 0.34 s of our work on 1.9 cores: 0.82 of a core, not idle by
    # CPU time; but the training thread was blocked for 0.45 s of it (over PAUSE_SHARE).
    for _ in range(8):
        fake_machine.train(0.72, ours=1.9, others=0.0, step=0.24)
        fake_machine.wait(0.45, others=2.0)
        fake_machine.wait(0.1, others=0.0, ours=1.9, blocked=False)
    assert threads.get_num_threads() == 2 and fake_machine.blas_settings == []


def test_without_scheduler_statistics_a_pause_is_told_by_cpu_time(fake_machine, monkeypatch):
    monkeypatch.setattr(threads, "_thread_runnable_seconds", lambda: None)
    fake_machine.train(1.5, ours=1.8, others=0.0)
    fake_machine.wait(3.0, others=2.0)                # idle: 0 of a core, well under 0.3
    fake_machine.train(0.5, ours=1.8, others=0.0)
    assert threads.get_num_threads() == 2 and fake_machine.blas_settings == []
    fake_machine.train(2.5, ours=1.0, others=0.9)
    assert threads.get_num_threads() == 1


def test_thread_runnable_seconds_counts_running_not_sleeping():
    if threads._thread_runnable_seconds() is None:
        pytest.skip("no /proc/thread-self/schedstat on this system")
    start = threads._thread_runnable_seconds()
    time.sleep(0.2)                                   # blocked: not runnable
    slept = threads._thread_runnable_seconds() - start
    begun = time.monotonic()
    while time.monotonic() - begun < 0.2:             # running (or waiting for a core)
        pass
    ran = threads._thread_runnable_seconds() - start - slept
    assert slept < 0.05 and ran > 0.15


def test_uneven_steps_beside_a_busy_program_still_decide(fake_machine):
    for _ in range(5):  # steps of 10 ms and 400 ms: the collapse this rule is there to end
        fake_machine.train(0.1, ours=1.2, others=1.0)
        fake_machine.train(0.4, ours=0.7, others=1.0, step=0.4)
    assert threads.get_num_threads() == 1


def test_a_budget_set_by_the_user_does_not_follow_the_load(fake_machine):
    assert not threads.budget_was_set()
    threads._budget = 2
    assert threads.budget_was_set()
    fake_machine.train(3.0, ours=1.0, others=1.5)
    assert threads.get_num_threads() == 2 and fake_machine.blas_settings == []


def test_without_proc_stat_the_default_budget_stays(fake_machine, monkeypatch):
    monkeypatch.setattr(threads, "machine_cpu_seconds", lambda: None)
    fake_machine.train(3.0, ours=1.0, others=1.5)
    assert threads.get_num_threads() == 2 and fake_machine.blas_settings == []


def test_machine_cpu_seconds_reads_proc_stat():
    if not os.path.exists("/proc/stat"):
        assert threads.machine_cpu_seconds() is None
        return
    before = threads.machine_cpu_seconds()
    ours = os.times()
    total = 0
    while os.times().user - ours.user < 0.05:  # burn 50 ms of CPU in this process
        total += 1
    assert threads.machine_cpu_seconds() - before >= 0.04  # (clock ticks are 10 ms)


BLAS_WORKERS_PROBE = r"""
import json, os, sys, threading, time
import numpy as np
import tinydl
from tinydl import threads

a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
expected = a.astype(np.float64) @ a.astype(np.float64)
workers = threads.lower_blas_worker_priority()
nice = [os.getpriority(os.PRIO_PROCESS, worker) for worker in workers]

def cpu_seconds(thread):
    with open(f"/proc/self/task/{thread}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e9

before = {worker: cpu_seconds(worker) for worker in workers}
a @ a
time.sleep(0.03)  # BLAS's workers busy-wait meanwhile; this thread sleeps
spun = [cpu_seconds(worker) - before[worker] for worker in workers]
if sys.argv[1] == "unprivileged":  # raising a thread's priority again is refused
    allowed = os.setpriority
    def setpriority(which, who, value):
        if value < os.getpriority(which, who):
            raise PermissionError("raising a thread's priority needs CAP_SYS_NICE")
        allowed(which, who, value)
    os.setpriority = setpriority
tinydl.set_num_threads(2)
error = float(abs(a @ a - expected).max())
this_thread = threading.get_native_id()
now = [int(name) for name in os.listdir("/proc/self/task") if int(name) != this_thread]
print(json.dumps({"workers": workers, "nice": nice, "spun": spun, "error": error,
                  "own_nice": os.getpriority(os.PRIO_PROCESS, 0),
                  "nice_now": [os.getpriority(os.PRIO_PROCESS, thread) for thread in now],
                  "workers_left": [worker in now for worker in workers]}))
"""


def _numpy_blas_is_openblas_pthreads() -> bool:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    return any(pool["internal_api"] == "openblas" and pool.get("threading_layer") == "pthreads"
               and pool["num_threads"] >= 2 for pool in threadpoolctl.threadpool_info())


def _run_blas_probe(probe: str, argument: str, tmp_path, timeout: int):
    """Run ``probe`` in a fresh Python with ``argument``; the JSON of its last line. Skips
    where the BLAS workers cannot be lowered (not Linux, or not a pthreads OpenBLAS)."""
    if not sys.platform.startswith("linux") or not _numpy_blas_is_openblas_pthreads():
        pytest.skip("needs Linux and NumPy on a multi-threaded OpenBLAS (pthreads build)")
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", probe, argument], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("privilege", ["privileged", "unprivileged"])
def test_blas_workers_run_lower_while_the_budget_is_the_default(privilege, tmp_path):
    seen = _run_blas_probe(BLAS_WORKERS_PROBE, privilege, tmp_path, timeout=120)
    assert len(seen["workers"]) >= 1
    # lowered by BLAS_WORKER_NICE from the process's own priority ...
    assert seen["nice"] == [min(19, seen["own_nice"] + threads.BLAS_WORKER_NICE)] * len(seen["workers"])
    # ... and they are BLAS's workers: each busy-waited through most of the 30 ms after a product
    assert all(spun >= 0.01 for spun in seen["spun"]), seen["spun"]
    # set_num_threads gave every BLAS thread the process's priority back, products still right
    assert seen["nice_now"] and set(seen["nice_now"]) == {seen["own_nice"]}
    assert seen["error"] < 1e-3
    if privilege == "privileged" and os.geteuid() == 0:
        assert seen["workers_left"] == [True] * len(seen["workers"])   # the same threads, raised
    if privilege == "unprivileged":
        assert seen["workers_left"] == [False] * len(seen["workers"])  # the pool was restarted


WIRING_PROBE = """
import json, sys
import numpy as np
import tinydl
from tinydl import threads
from tinydl.kernels import activation
if sys.argv[1] == "set":
    tinydl.set_num_threads(2)
activation.relu_forward_numba(np.ones(8, dtype=np.float32))  # the first kernel: Numba starts
print(json.dumps(threads.lowered_blas_workers()))
"""


@pytest.mark.parametrize("budget", ["default", "set"])
def test_the_first_kernel_lowers_blas_workers_only_under_the_default_budget(budget, tmp_path):
    pytest.importorskip("numba")
    lowered = _run_blas_probe(WIRING_PROBE, budget, tmp_path, timeout=300)
    assert (len(lowered) >= 1) if budget == "default" else (lowered == [])


def test_a_child_made_by_fork_leaves_its_parents_blas_workers_alone(monkeypatch):
    calls = []
    monkeypatch.setattr(threads, "_lowered_blas_workers", [(999_999, 0)])
    monkeypatch.setattr(threads, "_lowered_in_process", os.getpid() + 1)  # lowered by the parent
    monkeypatch.setattr(threads.os, "setpriority", lambda *args: calls.append(args))
    threads.restore_blas_worker_priority()
    assert calls == [] and threads._lowered_blas_workers == []


def test_set_num_threads_sets_blas_and_get_reads_it_back(restore_budget):
    pytest.importorskip("threadpoolctl")
    tinydl.set_num_threads(1)
    assert tinydl.get_num_threads() == 1
    assert _blas_thread_counts() == {1}
    tinydl.set_num_threads(2)
    assert tinydl.get_num_threads() == 2
    assert _blas_thread_counts() == {2}


def test_set_num_threads_sets_numba_when_it_is_loaded(restore_budget):
    numba = pytest.importorskip("numba")
    tinydl.set_num_threads(1)
    assert numba.get_num_threads() == 1
    tinydl.set_num_threads(numba.config.NUMBA_NUM_THREADS + 5)  # capped at Numba's pool size
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True, None])
def test_set_num_threads_rejects_what_is_not_a_positive_int(bad, restore_budget):
    with pytest.raises(ValueError, match=r"set_num_threads: num_threads must be a positive int, got"):
        tinydl.set_num_threads(bad)


def test_parallel_only_above_the_work_threshold_and_with_more_than_one_thread(restore_budget):
    threads._budget = 2
    assert not threads.parallel_worthwhile(threads.PARALLEL_MIN_WORK - 1)
    assert threads.parallel_worthwhile(threads.PARALLEL_MIN_WORK)
    threads._budget = 1
    assert not threads.parallel_worthwhile(10 * threads.PARALLEL_MIN_WORK)


@_jit.jit(parallel=True)
def _double_into(x, out):
    for i in prange(x.shape[0]):
        out[i] = 2 * x[i]


prange = range  # what the kernel sees when it runs as plain Python (see _jit.py)


def test_small_calls_run_the_serial_twin_and_large_ones_the_parallel_copy(restore_budget):
    pytest.importorskip("numba")
    threads._budget = 2
    small = np.arange(8, dtype=np.float32)
    out = np.empty_like(small)
    _double_into(small, out)
    assert set(_double_into._dispatchers) == {False}  # only the serial twin was compiled
    np.testing.assert_array_equal(out, [0, 2, 4, 6, 8, 10, 12, 14])
    large = np.ones(threads.PARALLEL_MIN_WORK, dtype=np.float32)
    out = np.empty_like(large)
    _double_into(large, out)
    assert set(_double_into._dispatchers) == {False, True}
    assert out.min() == out.max() == 2
    # the twins are separate cache entries: Numba names its cache files after the qualname
    assert _double_into.compiled(parallel=False).py_func.__qualname__.endswith("__serial")
    assert _double_into.compiled(parallel=True).py_func.__qualname__ == _double_into.py_func.__qualname__


def test_a_tuple_of_arrays_counts_as_the_work_of_all_its_arrays():
    # the one-call Adam kernel gets every parameter as a tuple of arrays: many small tensors
    # (an MLP's weights and biases) add up to enough work for the pool
    half = threads.PARALLEL_MIN_WORK // 2 + 1
    pieces = (np.zeros(half), np.zeros(half), np.zeros(0))
    assert _jit._work_size((pieces, np.zeros(3))) == 2 * half
    assert _jit._work_size((np.zeros(5), (np.zeros(2),))) == 5
    assert _jit._work_size((1.0, "x")) == 0


def test_two_threads_first_calling_a_kernel_set_it_up_once(monkeypatch):
    import threading
    import time

    kernel = _jit.LazyJit(lambda x: x, parallel=True, inline=False)
    setups, start = [], threading.Barrier(2)

    def slow_compile(parallel):
        setups.append(parallel)
        time.sleep(0.05)  # long enough for the other thread to arrive meanwhile
        return object()

    monkeypatch.setattr(kernel, "_compile", slow_compile)
    found = []

    def first_call():
        start.wait()
        found.append(kernel.compiled(parallel=False))

    workers = [threading.Thread(target=first_call) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert setups == [False] and found[0] is found[1]


def test_cache_dir_honours_numba_cache_dir_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert _jit.cache_dir() == tmp_path / "numba"
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _jit.cache_dir() == tmp_path / "xdg" / "tinydl" / "numba"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _jit.cache_dir() == tmp_path / "home" / ".cache" / "tinydl" / "numba"


PROBE = """
import json, tinydl
from tinydl.kernels import _jit
first = _jit.first_call_probe()
print(json.dumps({"warm": first["cache_warm"], "files": _jit.cached_kernel_count(),
                  "budget": tinydl.get_num_threads(), "layer": tinydl.threads.numba_layer_in_use()}))
"""


def test_compiled_kernels_go_to_the_user_cache_never_into_the_package(tmp_path):
    pytest.importorskip("numba")
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "NUMBA_THREADING_LAYER")}
    env.update(XDG_CACHE_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    package_cache_files = sorted((REPO / "tinydl").rglob("*.nb[ic]"))

    def probe() -> dict:
        done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, check=False,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    cold, warm = probe(), probe()
    assert cold["warm"] is False and warm["warm"] is True
    assert cold["files"] >= 1 and len(list((tmp_path / "tinydl" / "numba").rglob("*.nbi"))) >= 1
    assert sorted((REPO / "tinydl").rglob("*.nb[ic]")) == package_cache_files
    # TBB's pool where its runtime loads, else workqueue's (both sleep between kernels), never
    # OpenMP's, which spins
    assert warm["layer"] == ("tbb" if tinydl.threads.tbb_runtime_loaded() else "workqueue")


BLAS_AFTER_NUMBA = """
import json, numpy as np, tinydl
from threadpoolctl import threadpool_info
tinydl.set_num_threads(1)
tinydl.relu(tinydl.ones(200_000, requires_grad=True)).sum().backward()  # a Numba kernel: Numba loads
print(json.dumps(sorted(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")))
"""


def test_a_budget_set_before_numba_loads_reaches_the_blas_numba_brings(tmp_path):
    # Numba imports SciPy, which brings its own OpenBLAS at its default thread count
    pytest.importorskip("numba")
    pytest.importorskip("threadpoolctl")
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", BLAS_AFTER_NUMBA], env=env, capture_output=True,
                          check=False, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts and set(counts) == {1}


def test_doctor_shows_budget_layer_cache_and_first_call(capsys):
    pytest.importorskip("numba")
    from tinydl import cli

    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    threads_section = out.split("Threads\n", 1)[1].split("\n\n", 1)[0]
    assert f"budget   {tinydl.get_num_threads()} thread(s) for BLAS and Numba" in threads_section
    assert f"cache    {_jit.cache_dir()}:" in threads_section
    assert "first    kernel call " in threads_section
    assert ("cache warm" in threads_section) != ("cache cold" in threads_section)
    assert "Numba threading layer: " in threads_section


def test_split_over_batch_gives_the_unsplit_result(restore_budget, monkeypatch):
    pytest.importorskip("threadpoolctl")
    calls = []

    def per_item(a, b, mask, scale):
        calls.append(a.shape[0])
        assert mask is None
        return a * scale + b.sum(axis=1, keepdims=True), a[:, :1] * 0

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    threads._budget = 2
    out, zeros = threads.split_over_batch(per_item, [a, b, None], threads.PARALLEL_MIN_WORK, 2.0)
    np.testing.assert_array_equal(out, a * 2.0 + b.sum(axis=1, keepdims=True))
    assert zeros.shape == (5, 1) and sorted(calls) == [2, 3]      # two slices of the batch of 5
    calls.clear()
    threads.split_over_batch(per_item, [a, b, None], threads.PARALLEL_MIN_WORK - 1, 2.0)
    assert calls == [5]                                          # small work: one call
    threads._budget = 1
    threads.split_over_batch(per_item, [a, b, None], 10 * threads.PARALLEL_MIN_WORK, 2.0)
    assert calls == [5, 5]                                       # one thread: one call


def test_over_batch_slices_covers_the_batch_in_order(restore_budget):
    pytest.importorskip("threadpoolctl")
    threads._budget = 2
    bounds = threads.over_batch_slices(lambda start, stop: (start, stop), 7,
                                       threads.PARALLEL_MIN_WORK)
    assert bounds == [(0, 3), (3, 7)]
    assert threads.over_batch_slices(lambda start, stop: (start, stop), 7,
                                     threads.PARALLEL_MIN_WORK - 1) == [(0, 7)]
    assert threads.over_batch_slices(lambda start, stop: (start, stop), 1,
                                     threads.PARALLEL_MIN_WORK) == [(0, 1)]
    # a caller's own threshold replaces PARALLEL_MIN_WORK
    assert threads.over_batch_slices(lambda start, stop: (start, stop), 7, 100,
                                     min_work=100) == [(0, 3), (3, 7)]
    assert threads.over_batch_slices(lambda start, stop: (start, stop), 7, 99,
                                     min_work=100) == [(0, 7)]


def test_for_each_slice_writes_each_slice_once(restore_budget):
    pytest.importorskip("threadpoolctl")
    threads._budget = 2
    values, out = np.arange(10.0), np.zeros(10)

    def double(part, part_out):
        part_out[:] = 2 * part
        return part.size

    assert threads.for_each_slice(double, [values, out], threads.PARALLEL_MIN_WORK) == [5, 5]
    np.testing.assert_array_equal(out, 2 * values)
    assert threads.for_each_slice(double, [values, out], 1) == [10]  # small work: one call


def test_no_parallel_kernel_inside_a_split_slice(restore_budget):
    pytest.importorskip("threadpoolctl")
    threads._budget = 2
    seen = []

    def per_item(a):
        seen.append(threads.parallel_worthwhile(10 * threads.PARALLEL_MIN_WORK))
        return (a,)

    threads.split_over_batch(per_item, [np.zeros((4, 2))], threads.PARALLEL_MIN_WORK)
    assert seen == [False, False]                                # both slices: serial kernels
    assert threads.parallel_worthwhile(10 * threads.PARALLEL_MIN_WORK)  # and after it, again


def test_split_attention_matches_one_thread(restore_budget, monkeypatch):
    import tinydl.functional as F
    from tinydl.kernels import attention as kernels_attention

    # the NumPy formulas on both budgets (the per-head Numba kernels, which two threads would
    # choose here, are checked against them in test_kernels_attention.py)
    monkeypatch.setattr(kernels_attention, "HEADS_PARALLEL_MIN_WORK", 2**62)
    rng = np.random.default_rng(1)
    results = {}
    for budget in (1, 2):
        threads._budget = budget
        q, k, v = (tinydl.tensor(rng.standard_normal((4, 2, 128, 8)).astype(np.float32),
                                 requires_grad=True) for _ in range(3))
        rng = np.random.default_rng(1)  # same inputs for both budgets
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        (out * out).sum().backward()
        results[budget] = [out.data, q.grad.data, k.grad.data, v.grad.data]
    for one, two in zip(results[1], results[2]):
        np.testing.assert_allclose(one, two, rtol=1e-6, atol=1e-6)


LAYER_PROBE = """
import json, tinydl
from tinydl import threads
if {force_no_tbb}:
    threads._tbb_loaded = False  # as where the tbb package is not installed
tinydl.relu(tinydl.ones(5_000_000, requires_grad=True)).sum().backward()  # past PARALLEL_MIN_WORK
print(json.dumps({{"asked": threads.numba_threading_layer(), "running": threads.numba_layer_in_use()}}))
"""


@pytest.mark.parametrize("force_no_tbb, user_layer", [(False, None), (True, None), (False, "workqueue"),
                                                     (False, "tbb")])
def test_numba_runs_on_tbb_where_it_loads_else_workqueue_never_openmp(force_no_tbb, user_layer, tmp_path):
    pytest.importorskip("numba")
    if user_layer == "tbb" and not threads.tbb_runtime_loaded():
        pytest.skip("TBB's runtime is not installed here (Numba would refuse the layer asked for)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env.update(PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=str(tmp_path))
    if user_layer is not None:
        env["NUMBA_THREADING_LAYER"] = user_layer  # the user's choice wins
    done = subprocess.run([sys.executable, "-c", LAYER_PROBE.format(force_no_tbb=force_no_tbb)],
                          env=env, capture_output=True, check=False, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    layers = json.loads(done.stdout)
    if user_layer == "tbb":  # asked for by name: Numba finds pip's runtime too, in a venv as well
        assert layers == {"asked": "tbb", "running": "tbb"}
        return
    tbb_here = threads.tbb_runtime_loaded() and not force_no_tbb and user_layer is None
    expected = "tbb" if tbb_here else "workqueue"
    assert layers == {"asked": expected, "running": expected}


def test_the_tbb_runtime_is_found_by_the_file_its_package_installed():
    """pip's tbb puts libtbb into the environment's lib folder, which the loader does not search
    in a virtual environment: tbb_runtime_loaded finds the file through the package's records."""
    from importlib import metadata

    try:
        files = [f for f in metadata.files("tbb") or [] if f.name == "libtbb.so.12"]
    except metadata.PackageNotFoundError:
        pytest.skip("the tbb package is not installed here")
    if sys.platform != "linux" or not files:
        pytest.skip("checked on Linux, where the package installs libtbb.so.12")
    assert files[0].locate().is_file()
    assert threads._load_tbb_runtime() is True
