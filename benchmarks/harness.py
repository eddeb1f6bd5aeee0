"""Measure tinydl against PyTorch and DeZero as users run them: each library in its own process.

PyTorch is the reference; DeZero (the framework of "Deep Learning from Scratch 3") is a second
peer on the workloads it can express. Each peer is optional: one that is not installed is left
out. For each workload and each thread setting ("default": the library's defaults, no
environment variables; "1": everything on one thread through the library's own
set_num_threads, or for DeZero, which has none, NumPy's BLAS limited with threadpoolctl), the
harness starts one worker process per library (benchmarks/worker.py), then runs rounds that
alternate their order (tinydl, torch, DeZero, then the reverse, ...). Only one worker runs at
a time; the others wait on a blocking read. A round's figure is the median of its samples;
the ratios reported are the medians of the per-round ratios tinydl / torch and tinydl /
DeZero, and the times are the medians of the round figures.

Timings are only comparable on a quiet machine. The harness records the 1-minute load
average before and after, and the CPU time other processes used while it ran (from
/proc/stat, minus its own and its workers'); when either the load before or the others' use
was above 0.5 per core it prints the raw times labelled "machine loaded" and no ratios.
(The load average after includes the benchmark's own workers, so it is recorded, not judged.)
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.workloads import WORKLOADS
from tinydl.threads import machine_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
THREAD_SETTINGS = ("default", "1")
PEERS = ("torch", "dezero")  # optional; torch is the reference
LOADED_PER_CORE = 0.5
# Environment variables that change thread pools or kernels: removed from the workers'
# environment so "default" means what a user gets with none set.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
              "NUMBA_THREADING_LAYER", "TINYDL_KERNELS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Worker:
    """A worker process (see benchmarks/worker.py), ready to run rounds."""

    def __init__(self, workload: str, impl: str, threads: str, quick: bool):
        env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "benchmarks.worker", workload, impl, threads]
        self.label = f"{workload}/{impl}/{threads} threads"
        self.process = subprocess.Popen(command + (["--quick"] if quick else []), cwd=ROOT,
                                        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        first = self._read_line()
        if not first.startswith("ready"):
            raise RuntimeError(f"benchmark worker {self.label} did not start: {first!r}")
        self.info = json.loads(first.removeprefix("ready").strip() or "{}")

    def run(self, count: int) -> dict:
        """Time ``count`` samples: {"samples_ms": [...], "cpu_ms": float}."""
        self.process.stdin.write(f"run {count}\n")
        self.process.stdin.flush()
        return json.loads(self._read_line())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)

    def _read_line(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            raise RuntimeError(f"benchmark worker {self.label} exited with status {code} "
                               "(its error is printed above)")
        return line.strip()


class BusyNeighbour:
    """One CPU-bound process (a Python busy loop), started and stopped by the harness."""

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


class CpuUseOfOthers:
    """CPU seconds the rest of the machine used between start() and stop() (Linux only)."""

    def start(self) -> None:
        self.wall, self.busy, self.ours = time.monotonic(), machine_cpu_seconds(), _our_cpu_seconds()

    def stop(self) -> float | None:
        """Cores' worth of CPU other processes used (None where /proc/stat is missing)."""
        busy = machine_cpu_seconds()
        if busy is None or self.busy is None:
            return None
        others = (busy - self.busy) - (_our_cpu_seconds() - self.ours)
        return max(0.0, others) / max(time.monotonic() - self.wall, 1e-9)


def _our_cpu_seconds() -> float:
    times = os.times()  # children: the workers and busy neighbours already reaped
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class Result:
    """The measurements of one workload at one thread setting."""

    workload: str
    threads: str
    round_ms: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)

    def median_ms(self, impl: str) -> float:
        return statistics.median(self.round_ms[impl])

    def ratio(self, peer: str = "torch") -> float | None:
        """Median over rounds of tinydl / ``peer`` (None without both)."""
        if not {"tinydl", peer} <= set(self.round_ms):
            return None
        return statistics.median(t / r for t, r in zip(self.round_ms["tinydl"],
                                                       self.round_ms[peer]))

    def rows(self) -> list[dict]:
        """One row per library; tinydl's carries ratio_to_torch and ratio_to_dezero."""
        ratios = {f"ratio_to_{peer}": self.ratio(peer) for peer in PEERS}
        return [{"workload": WORKLOADS[self.workload].title, "key": self.workload,
                 "threads": self.threads, "impl": impl, "median_ms": self.median_ms(impl),
                 "min_ms": min(times), "max_ms": max(times),
                 "cpu_ms": statistics.median(self.cpu_ms[impl]), "rounds": len(times),
                 **{key: ratio if impl == "tinydl" else None for key, ratio in ratios.items()},
                 "threads_info": self.info[impl]}
                for impl, times in self.round_ms.items()]


def measure(workload: str, threads: str, impls: list[str], rounds: int, quick: bool) -> Result:
    """Alternating rounds of ``workload`` between one worker process per impl."""
    spec = WORKLOADS[workload]
    count = spec.quick_steps if quick else spec.steps
    result = Result(workload, threads)
    workers = {}
    try:
        for impl in impls:
            workers[impl] = Worker(workload, impl, threads, quick)
            result.info[impl] = workers[impl].info
        with BusyNeighbour() if spec.busy_neighbour else _nothing():
            for round_index in range(rounds):
                order = impls if round_index % 2 == 0 else impls[::-1]
                for impl in order:
                    sample = workers[impl].run(count)
                    result.round_ms.setdefault(impl, []).append(
                        statistics.median(sample["samples_ms"]))
                    result.cpu_ms.setdefault(impl, []).append(sample["cpu_ms"])
    finally:
        for worker in workers.values():
            worker.close()
    return result


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def installed(library: str) -> bool:
    """Whether ``library`` can be imported here (without importing it)."""
    import importlib.util

    return importlib.util.find_spec(library) is not None


def run(names: list[str], quick: bool, rounds: int, thread_settings=THREAD_SETTINGS,
        progress=print) -> dict:
    """Measure every workload in ``names``; returns {"rows", "load", "loaded", "peers"}.

    "peers" says which of PEERS were installed; a workload runs each installed library that
    has a builder for it.
    """
    peers = {peer: installed(peer) for peer in PEERS}
    libraries = ["tinydl"] + [peer for peer in PEERS if peers[peer]]
    load_before = os.getloadavg()[0]
    others = CpuUseOfOthers()
    others.start()
    results = []
    for name in names:
        for threads in thread_settings:
            progress(f"{name}, {threads} thread(s) ...")
            impls = [library for library in libraries if library in WORKLOADS[name].builders]
            results.append(measure(name, threads, impls, rounds, quick))
    others_cores = others.stop()
    load_after = os.getloadavg()[0]
    limit = LOADED_PER_CORE * cores()
    loaded = load_before > limit or (others_cores is not None and others_cores > limit)
    load = {"load_before": load_before, "load_after": load_after, "others_cores": others_cores,
            "cores": cores(), "limit": limit}
    return {"rows": [row for r in results for row in r.rows()], "load": load, "loaded": loaded,
            "peers": peers}
