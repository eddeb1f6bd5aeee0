"""Causal scaled dot-product attention, forward + backward: batch 8, 4 heads, head dim 32,
T = 128 and 256 (and 1024 without --quick), float32.

Rows: tinydl's F.scaled_dot_product_attention (the composed NumPy reference) and, when
installed, torch.nn.functional.scaled_dot_product_attention on the CPU, timed in this run.

    python -m benchmarks.bench_attention [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np

import tinydl
import tinydl.functional as F

BATCH, HEADS, HEAD_DIM = 8, 4, 32


def _time(fn: Callable[[], None], repeats: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def _inputs(length: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal((BATCH, HEADS, length, HEAD_DIM)).astype(np.float32)
            for _ in range(3)]


def _tinydl_step(length: int) -> Callable[[], None]:
    q, k, v = (tinydl.tensor(a, requires_grad=True) for a in _inputs(length))

    def step() -> None:
        for t in (q, k, v):
            t.grad = None
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

    return step


def _torch_step(length: int) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    q, k, v = (torch.from_numpy(a).requires_grad_(True) for a in _inputs(length))

    def step() -> None:
        for t in (q, k, v):
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

    return step


def run(quick: bool = False) -> list[dict]:
    """Rows {workload, impl, median_ms, min_ms, max_ms} for each length and implementation."""
    lengths = (128, 256) if quick else (128, 256, 1024)
    rows = []
    for length in lengths:
        repeats = 3 if quick else (5 if length >= 1024 else 20)
        workload = f"causal SDPA fwd+bwd B{BATCH} H{HEADS} d{HEAD_DIM} T{length}"
        for impl, step in (("tinydl", _tinydl_step(length)), ("torch", _torch_step(length))):
            if step is not None:
                rows.append({"workload": workload, "impl": impl, **_time(step, repeats)})
    return rows


def print_table(rows: list[dict]) -> None:
    torch_median = {r["workload"]: r["median_ms"] for r in rows if r["impl"] == "torch"}
    print("| workload | impl | median ms | min–max ms | × torch |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        ratio = r["median_ms"] / torch_median[r["workload"]] if r["workload"] in torch_median \
            else float("nan")
        print(f"| {r['workload']} | {r['impl']} | {r['median_ms']:.2f} | "
              f"{r['min_ms']:.2f}–{r['max_ms']:.2f} | {ratio:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T 128 and 256 only, few repeats")
    print_table(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
