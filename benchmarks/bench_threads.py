"""How Numba's threading layers and the parallel threshold behave on this machine.

    python -m benchmarks.bench_threads [--quick]

Part 1, the work-size threshold (tinydl.threads.PARALLEL_MIN_WORK): one cheap elementwise
kernel (ReLU's backward) on n elements, its serial twin against its parallel copy, wall time
and process CPU time per call. Below the threshold, waking the pool costs more than it saves.

Part 2, the threading layer: the MLP 784-256-256-10 training step in a fresh process per
layer (workqueue, omp, tbb where it loads), default threads, wall and CPU time per step. The
OpenMP layer's threads spin after each kernel, on the cores BLAS needs next: its CPU time per
step is the tell. Run it on a quiet machine; a loaded one inflates every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SIZES = (1_024, 8_192, 32_768, 131_072, 1_048_576)
LAYERS = ("workqueue", "omp", "tbb")


def _per_call(fn, calls: int) -> tuple[float, float]:
    """(best wall µs, CPU µs) per call over 5 blocks of ``calls`` calls."""
    best, cpu_start = float("inf"), time.process_time()
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6, (time.process_time() - cpu_start) / (5 * calls) * 1e6


def threshold_rows(sizes=SIZES) -> list[dict]:
    """Serial twin vs parallel copy of the ReLU-backward kernel at each size."""
    from tinydl.kernels.activation import _relu_backward_kernel

    rows = []
    for n in sizes:
        x, grad = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32)
        out = np.empty_like(x)
        calls = max(20, 2_000_000 // n)
        row = {"n": n}
        for name in ("serial", "parallel"):
            kernel = _relu_backward_kernel.compiled(parallel=name == "parallel")
            kernel(x, grad, out)
            row[name] = _per_call(lambda kernel=kernel, x=x, grad=grad, out=out: kernel(x, grad, out), calls)
        rows.append(row)
    return rows


def layer_row(steps: int) -> dict:
    """The MLP step in this process (its layer set by NUMBA_THREADING_LAYER)."""
    from benchmarks.bench_mlp import make_problem, tinydl_step
    from tinydl import threads

    step = tinydl_step(*make_problem())
    for _ in range(5):
        step()
    times, cpu_start = [], time.process_time()
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return {"layer": threads.numba_layer_in_use(), "wall_ms": statistics.median(times),
            "cpu_ms": (time.process_time() - cpu_start) / steps * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--layer-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = 10 if args.quick else 200
    if args.layer_worker:
        print(json.dumps(layer_row(steps)))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| n | serial wall µs | serial CPU µs | parallel wall µs | parallel CPU µs |")
    print("|---:|---:|---:|---:|---:|")
    for row in threshold_rows(SIZES[:2] if args.quick else SIZES):
        (sw, sc), (pw, pc) = row["serial"], row["parallel"]
        print(f"| {row['n']:,} | {sw:.1f} | {sc:.1f} | {pw:.1f} | {pc:.1f} |")
    print()
    print("| threading layer | MLP step wall (median) | CPU per step |")
    print("|---|---:|---:|")
    for layer in LAYERS:
        env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
        done = subprocess.run([sys.executable, "-m", "benchmarks.bench_threads", "--layer-worker",
                               layer] + (["--quick"] if args.quick else []),
                              env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"| {layer} | not available here | |")
            continue
        row = json.loads(done.stdout.splitlines()[-1])
        print(f"| {row['layer']} | {row['wall_ms']:.2f} ms | {row['cpu_ms']:.2f} ms |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
