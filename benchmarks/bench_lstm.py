"""LSTM forward + backward: input 32, hidden 128, T 64, batch 32 (one layer), float32.

Rows: tinydl with its fused per-step cell (default), tinydl with the composed reference ops
(TINYDL_KERNELS=numpy) and, when installed, torch.nn.LSTM on the CPU, all timed in this run.

    python -m benchmarks.bench_lstm [--quick]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

import tinydl
from benchmarks.problems import LSTM_BATCH, LSTM_HIDDEN, LSTM_INPUT, LSTM_STEPS
from benchmarks.torch_steps import lstm_step as _torch_step
from tinydl import nn

INPUT, HIDDEN, STEPS, BATCH = LSTM_INPUT, LSTM_HIDDEN, LSTM_STEPS, LSTM_BATCH


def _time(fn: Callable[[], None], repeats: int, warmup: int = 2) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def _tinydl_step(composed: bool) -> Callable[[], None]:
    tinydl.manual_seed(0)
    layer = nn.LSTM(INPUT, HIDDEN)
    x = tinydl.randn(STEPS, BATCH, INPUT)

    def step() -> None:
        previous = os.environ.get("TINYDL_KERNELS")
        if composed:
            os.environ["TINYDL_KERNELS"] = "numpy"
        try:
            layer.zero_grad()
            out, _ = layer(x)
            out.sum().backward()
        finally:
            if previous is None:
                os.environ.pop("TINYDL_KERNELS", None)
            else:
                os.environ["TINYDL_KERNELS"] = previous

    return step


def run(quick: bool = False) -> list[dict]:
    """Rows {workload, impl, median_ms, min_ms, max_ms} for each implementation."""
    repeats = 5 if quick else 30
    workload = f"LSTM fwd+bwd in{INPUT} h{HIDDEN} T{STEPS} B{BATCH}"
    rows = []
    candidates = [("tinydl (fused sequence)", _tinydl_step(False)),
                  ("tinydl (composed, TINYDL_KERNELS=numpy)", _tinydl_step(True)),
                  ("torch", _torch_step())]
    for impl, step in candidates:
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
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke run)")
    args = parser.parse_args()
    np.seterr(all="ignore")
    print_table(run(args.quick))


if __name__ == "__main__":
    main()
