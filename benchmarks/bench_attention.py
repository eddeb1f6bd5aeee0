"""Causal scaled dot-product attention, forward + backward: batch 8, 4 heads, head dim 32,
T = 128 and 256 (and 1024 without --quick), float32.

Rows, timed round-robin in one run (benchmarks.common.measure_interleaved):
* tinydl composed: tinydl.functional.attention.attention_composed (about ten graph nodes);
* tinydl fused numpy / tinydl fused numba: F.scaled_dot_product_attention, one
  FusedAttention node, with TINYDL_KERNELS=numpy or numba (numba when installed);
* torch: torch.nn.functional.scaled_dot_product_attention on the CPU (when installed).

    python -m benchmarks.bench_attention [--quick]
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import tinydl
import tinydl.functional as F
from benchmarks.common import measure_interleaved, report, rows_for
from benchmarks.problems import ATTENTION_BATCH, ATTENTION_HEAD_DIM, ATTENTION_HEADS, attention_inputs
from benchmarks.torch_steps import sdpa_step
from tinydl.functional.attention import attention_composed
from tinydl.kernels import numba_available

BATCH, HEADS, HEAD_DIM = ATTENTION_BATCH, ATTENTION_HEADS, ATTENTION_HEAD_DIM
_inputs = attention_inputs
_torch_step = sdpa_step  # the torch twin (benchmarks/torch_steps.py)


def _tinydl_step(length: int, attention: Callable, kernels: str | None) -> Callable[[], None]:
    """One fwd+bwd of ``attention`` with TINYDL_KERNELS=kernels (None: leave it unset)."""
    q, k, v = (tinydl.tensor(a, requires_grad=True) for a in _inputs(length))

    def step() -> None:
        previous = os.environ.pop("TINYDL_KERNELS", None)
        if kernels is not None:
            os.environ["TINYDL_KERNELS"] = kernels
        try:
            for t in (q, k, v):
                t.grad = None
            attention(q, k, v, is_causal=True).sum().backward()
        finally:
            os.environ.pop("TINYDL_KERNELS", None)
            if previous is not None:
                os.environ["TINYDL_KERNELS"] = previous

    return step


def run(quick: bool = False) -> list[dict]:
    """Rows {workload, impl, median_ms, min_ms, max_ms, ratio_to_torch} per length and impl."""
    lengths = (128, 256) if quick else (128, 256, 1024)
    rows = []
    for length in lengths:
        repeats = 3 if quick else (5 if length >= 1024 else 15)
        steps = {"tinydl composed": _tinydl_step(length, attention_composed, None),
                 "tinydl fused numpy": _tinydl_step(length, F.scaled_dot_product_attention,
                                                    "numpy")}
        if numba_available():
            steps["tinydl fused numba"] = _tinydl_step(length, F.scaled_dot_product_attention,
                                                       "numba")
        torch_step = _torch_step(length)
        if torch_step is not None:
            steps["torch"] = torch_step
        workload = f"causal SDPA fwd+bwd B{BATCH} H{HEADS} d{HEAD_DIM} T{length}"
        rows += rows_for(workload, measure_interleaved(steps, repeats=repeats))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T 128 and 256 only, few repeats")
    report(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
