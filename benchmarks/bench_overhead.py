"""Per-op overhead: forward + backward of ``(a + b).sum()`` on one-element tensors.

This measures the framework itself (graph recording, traversal, gradient bookkeeping), since
the arithmetic is a single float. Goal: <= 15 µs, <= 0.5x PyTorch measured in the same run.

Run: python -m benchmarks.bench_overhead [--quick]
"""
from __future__ import annotations

import argparse

import tinydl as td
from benchmarks.common import measure_interleaved, report, rows_for, torch_or_none
from benchmarks.torch_steps import overhead_step as torch_step


def tinydl_step():
    """One fwd+bwd of (a + b).sum() on one-element tinydl tensors."""
    a = td.tensor([1.0], requires_grad=True)
    b = td.tensor([2.0], requires_grad=True)

    def step():
        a.grad = b.grad = None
        (a + b).sum().backward()

    return step


def run(quick: bool = False) -> list[dict]:
    impls = {"tinydl": tinydl_step()}
    torch = torch_or_none()
    if torch is not None:
        impls["torch"] = torch_step(torch)
    number = 200 if quick else 5000
    timings = measure_interleaved(impls, repeats=5 if quick else 9, number=number)
    return rows_for("(a+b).sum() fwd+bwd, 1 element", timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    report(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
