"""One benchmark worker: one library, one workload, one thread setting, in its own process.

Started by benchmarks/harness.py as

    python -m benchmarks.worker WORKLOAD IMPL THREADS [--quick]

(THREADS: "default" leaves the library's own defaults, "1" calls its set_num_threads(1), as a
user would). The worker builds the step, warms it up, prints ``ready`` and then answers each
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


def _set_threads(impl: str, threads: str) -> None:
    if threads == "default":
        return
    if impl == "torch":
        import torch

        torch.set_num_threads(int(threads))
    else:
        import tinydl

        tinydl.set_num_threads(int(threads))


def _thread_info(impl: str) -> dict:
    """The threads this worker's library runs with, after the warm-up."""
    if impl == "torch":
        import torch

        return {"threads": torch.get_num_threads()}
    import tinydl
    from tinydl import threads

    return {"threads": tinydl.get_num_threads(), "blas": "; ".join(threads.blas_threads()),
            "numba_layer": threads.numba_layer_in_use()}


def main(argv: list[str]) -> int:
    name, impl, threads = argv[:3]
    quick = "--quick" in argv[3:]
    workload = WORKLOADS[name]
    _set_threads(impl, threads)
    step = workload.builders[impl](quick)
    for _ in range(WARMUP_CALLS):  # includes compiling (or loading) the Numba kernels
        step()
    if impl != "torch" and "torch" in sys.modules:
        raise RuntimeError(f"benchmark worker {name}/{impl}: torch was imported into a "
                           "tinydl process; its thread pool would distort the timing")
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
