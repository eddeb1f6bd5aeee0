"""Timing helpers shared by the benchmark scripts: medians, ranges, ratios, one table format.

Timings on a shared machine move 20-60% between runs, so every script times tinydl and its
peers in the same process, interleaved, and reports ratios measured in that one run.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable


def measure(fn: Callable[[], object], repeats: int = 7, number: int = 1,
            warmup: int = 2) -> dict:
    """Time ``fn``: ``repeats`` samples of ``number`` calls each, in milliseconds per call."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number * 1e3)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples),
            "max_ms": max(samples)}


def measure_interleaved(fns: dict[str, Callable[[], object]], repeats: int = 7, number: int = 1,
                        warmup: int = 2) -> dict[str, dict]:
    """Time several implementations round-robin, so machine noise hits them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number * 1e3)
    return {name: {"median_ms": statistics.median(s), "min_ms": min(s), "max_ms": max(s)}
            for name, s in samples.items()}


def rows_for(workload: str, timings: dict[str, dict], reference: str = "torch") -> list[dict]:
    """One row per implementation, with the ratio to ``reference`` measured in the same run."""
    ref = timings.get(reference)
    rows = []
    for impl, t in timings.items():
        ratio = t["median_ms"] / ref["median_ms"] if ref else None
        rows.append({"workload": workload, "impl": impl, **t, "ratio_to_torch": ratio})
    return rows


def training_step(model, inputs, labels, optimizer, cross_entropy) -> Callable[[], float]:
    """One training step (zero_grad, forward, cross-entropy, backward, update) returning the loss.

    The same closure serves tinydl and torch: pass the library's ``cross_entropy``.
    """

    def step() -> float:
        optimizer.zero_grad()
        loss = cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def torch_or_none():
    """PyTorch when installed (a benchmark peer only), else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def environment() -> dict:
    """Versions and thread counts, printed under each table."""
    import numpy

    info = {"python": platform.python_version(), "numpy": numpy.__version__,
            "cpus": os.cpu_count()}
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = ", ".join(f"{p.get('internal_api')} {p.get('num_threads')} threads"
                                 for p in threadpool_info() if p.get("user_api") == "blas")
    except ImportError:
        pass
    torch = torch_or_none()
    if torch is not None:
        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:
        info["numba"] = "not installed"
    return info


def format_ms(value: float) -> str:
    return f"{value * 1e3:.1f} µs" if value < 1 else f"{value:.2f} ms"


def markdown_table(rows: list[dict]) -> str:
    """Rows as a markdown table: workload, impl, median, min–max, ratio to torch."""
    lines = ["| workload | impl | median | min–max | ratio to torch |", "|---|---|---|---|---|"]
    for r in rows:
        ratio = "–" if r.get("ratio_to_torch") is None else f"{r['ratio_to_torch']:.2f}×"
        lines.append(f"| {r['workload']} | {r['impl']} | {format_ms(r['median_ms'])} | "
                     f"{format_ms(r['min_ms'])}–{format_ms(r['max_ms'])} | {ratio} |")
    return "\n".join(lines)


def report(rows: list[dict]) -> None:
    """Print the table and the environment it was measured in."""
    print(markdown_table(rows))
    print()
    print("; ".join(f"{k}: {v}" for k, v in environment().items()))
