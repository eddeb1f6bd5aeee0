"""Data-parallel training of seed 002's CNN: 1 process x 2 threads against 2 ranks x 1 thread.

One Adam step on a global batch of 64 images (1, 28, 28): one process takes all 64, each of
2 MPI ranks (``mpirun -n 2``, one BLAS thread each) takes 32 and DistributedDataParallel
averages the gradients. Also measured on the 2 ranks: the same step under ``no_sync()`` (no
communication at all), whose difference to the synced step is the communication cost per
step as training sees it, and one all-reduce of the whole gradient (93,322 float32) alone.
Every timing starts and ends with a barrier, so a step counts until the slowest rank is done.
The projected epoch is 60,000 images / 64 per step. Without mpirun or mpi4py only the
1-process rows are measured.

    python benchmarks/bench_ddp.py [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

GLOBAL_BATCH, EPOCH_IMAGES = 64, 60_000


def _timed(fn, repeats: int) -> list[float]:
    """Milliseconds of ``fn`` per call, each call between two barriers."""
    from tinydl import distributed as dist  # children only

    samples = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        fn()
        dist.barrier()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def child(repeats: int) -> None:
    """Runs in each measured process (plain, or one rank of mpirun); rank 0 prints JSON."""
    import tinydl as td
    from tinydl import distributed as dist
    from tinydl import functional as F
    from tinydl import optim
    from tinydl.models import Seed002Net

    world = dist.init()
    td.manual_seed(0)
    rng = np.random.default_rng(dist.rank())
    x = td.tensor(rng.random((GLOBAL_BATCH // world, 1, 28, 28), dtype=np.float32))
    y = td.tensor(rng.integers(0, 10, GLOBAL_BATCH // world))
    model = dist.DistributedDataParallel(Seed002Net())
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def step(sync: bool = True) -> None:
        with contextlib.nullcontext() if sync else model.no_sync():
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()

    for _ in range(2):
        step()
    samples = {"step": _timed(step, repeats)}
    if world > 1:
        samples["no_sync"] = _timed(lambda: step(sync=False), repeats)
        gradient = td.zeros(sum(p.numel() for p in model.parameters()))
        samples["all_reduce"] = _timed(lambda: dist.all_reduce(gradient), repeats * 3)
    if dist.rank() == 0:
        print("SAMPLES " + json.dumps(samples), flush=True)


def _launch(ranks: int, threads: int, repeats: int) -> dict | None:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    command = [sys.executable, os.path.abspath(__file__), "--child", str(repeats)]
    if ranks > 1:
        launcher = shutil.which("mpirun") or shutil.which("mpiexec")
        if launcher is None or importlib.util.find_spec("mpi4py") is None:
            return None
        prefix = [launcher, "-n", str(ranks)]
        if "Open MPI" in subprocess.run([launcher, "--version"], capture_output=True,
                                        text=True).stdout:
            prefix += ["--oversubscribe", "-x", "OPENBLAS_NUM_THREADS", "-x", "OMP_NUM_THREADS"]
            if os.geteuid() == 0:
                prefix += ["--allow-run-as-root"]
        command = prefix + command
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"bench_ddp: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    text = done.stdout.split("SAMPLES ", 1)[1]
    return json.JSONDecoder().raw_decode(text)[0]  # (Open MPI may append terminal codes)


def _row(workload: str, impl: str, samples: list[float]) -> dict:
    return {"workload": workload, "impl": impl, "median_ms": statistics.median(samples),
            "min_ms": min(samples), "max_ms": max(samples), "ratio_to_torch": None}


def run(quick: bool = False) -> list[dict]:
    """Rows for ``python -m benchmarks``: the step per configuration, and the communication."""
    repeats = 3 if quick else 15
    step_workload = "seed002 data-parallel step, global batch 64"
    rows = []
    for impl, ranks, threads in (("1 process x 1 thread", 1, 1),
                                 ("1 process x 2 threads", 1, 2),
                                 ("2 ranks x 1 thread (mpirun)", 2, 1)):
        samples = _launch(ranks, threads, repeats)
        if samples is None:
            print(f"bench_ddp: no mpirun/mpi4py, skipping {impl}", file=sys.stderr)
            continue
        rows.append(_row(step_workload, impl, samples["step"]))
        if "no_sync" in samples:
            rows.append(_row(step_workload, "2 ranks x 1 thread, no_sync (no communication)",
                             samples["no_sync"]))
            rows.append(_row("all-reduce of 93,322 float32 (365 KiB), 2 ranks", "MPI",
                             samples["all_reduce"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 15")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    rows = run(args.quick)
    print("| workload | configuration | median | min–max | projected epoch (60,000 images) |")
    print("|---|---|---|---|---|")
    for r in rows:
        epoch = (f"{r['median_ms'] * EPOCH_IMAGES / GLOBAL_BATCH / 1e3:.0f} s"
                 if r["workload"].startswith("seed002") else "–")
        print(f"| {r['workload']} | {r['impl']} | {r['median_ms']:.1f} ms | "
              f"{r['min_ms']:.1f}–{r['max_ms']:.1f} ms | {epoch} |")
    by_impl = {r["impl"]: r["median_ms"] for r in rows}
    synced = by_impl.get("2 ranks x 1 thread (mpirun)")
    if synced is not None:
        local = by_impl["2 ranks x 1 thread, no_sync (no communication)"]
        print(f"\ncommunication per step as training sees it (synced - no_sync): "
              f"{synced - local:.1f} ms of {synced:.1f} ms")
    print(f"machine: {os.cpu_count()} cores, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (shared: timings move 20-60%)")


if __name__ == "__main__":
    main()
