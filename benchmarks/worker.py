"""One benchmark worker: one library, one workload, one thread setting, in its own process.

Started by benchmarks/harness.py as

    python -m benchmarks.worker WORKLOAD IMPL THREADS [--quick]

(IMPL: tinydl, torch or dezero; THREADS: "default" leaves the library's own defaults, "1"
calls its set_num_threads(1), as a user would; DeZero has none, so for it "1" limits NumPy's
BLAS with threadpoolctl). The worker builds the step, warms it up, prints ``ready`` and then answers each
line ``run N`` on stdin with one JSON line on stdout: N sample times in milliseconds per call
and the process CPU time per call. ``quit`` (or the end of stdin) ends it. While it waits for
the next line it is blocked on a read, so it does not compete with the other worker's round.
"""
from __future__ import annotations

import json
import sys
import time

from benchmarks.workloads import WORKLOADS

WARMUP_CALLS = 3


# The libraries a worker of each library must not have loaded: their thread pools, and
# tinydl's import-time allocator tuning, would change the figures of the library measured.
MUST_NOT_LOAD = {"tinydl": ("torch", "dezero"), "torch": ("tinydl", "dezero"), "dezero": ("tinydl", "torch")}


def _set_threads(impl: str, threads: str):
    """Apply the thread setting the way a user of ``impl`` would; returns what must stay alive."""
    if threads == "default":
        return None
    if impl == "torch":
        import torch

        torch.set_num_threads(int(threads))
    elif impl == "dezero":  # DeZero has no set_num_threads: limit NumPy's BLAS pool instead
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=int(threads), user_api="blas")
    else:
        import tinydl

        tinydl.set_num_threads(int(threads))
    return None


def _blas_pools() -> list[str]:
    from threadpoolctl import threadpool_info

    return [f"{pool['internal_api']}: {pool['num_threads']} thread(s)" for pool in threadpool_info()
            if pool["user_api"] == "blas"]


def _thread_info(impl: str) -> dict:
    """The threads this worker's library runs with, after the warm-up."""
    if impl == "torch":
        import torch

        return {"threads": torch.get_num_threads()}
    if impl == "dezero":
        from threadpoolctl import threadpool_info

        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        return {"threads": max(blas, default=1), "blas": "; ".join(_blas_pools()) or "none found"}
    import tinydl
    from tinydl import threads

    return {"threads": tinydl.get_num_threads(), "blas": "; ".join(threads.blas_threads()),
            "numba_layer": threads.numba_layer_in_use()}


def main(argv: list[str]) -> int:
    name, impl, threads = argv[:3]
    quick = "--quick" in argv[3:]
    workload = WORKLOADS[name]
    _thread_limit = _set_threads(impl, threads)  # held for the worker's lifetime
    step = workload.builders[impl](quick)
    for _ in range(WARMUP_CALLS):  # includes compiling (or loading) the Numba kernels
        step()
    loaded = [library for library in MUST_NOT_LOAD[impl] if library in sys.modules]
    if loaded:
        raise RuntimeError(f"benchmark worker {name}/{impl}: {', '.join(loaded)} was imported into "
                           f"a {impl} process; its thread pool would distort the timing")
    print("ready " + json.dumps(_thread_info(impl)), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        count = int(command[1])
        samples = []
        cpu_start = time.process_time()
        for _ in range(count):
            start = time.perf_counter()
            for _ in range(workload.number):
                step()
            samples.append((time.perf_counter() - start) / workload.number * 1e3)
        cpu_ms = (time.process_time() - cpu_start) / (count * workload.number) * 1e3
        print(json.dumps({"samples_ms": samples, "cpu_ms": cpu_ms}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
