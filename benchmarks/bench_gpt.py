"""One training step of a small GPT: forward, cross-entropy, backward and an AdamW update.

Workload: GPT-mini (4 layers, 4 heads, 128 channels, context 128, vocabulary 128), a batch of
32 sequences, float32. PyTorch runs the same architecture (written below with torch.nn,
F.scaled_dot_product_attention and torch.optim.AdamW) in the same process, interleaved.

Run: python -m benchmarks.bench_gpt [--quick]
"""
from __future__ import annotations

import argparse

import numpy as np

import tinydl as td
from benchmarks.common import measure_interleaved, report, rows_for, torch_or_none
from benchmarks.problems import GPT_FULL, GPT_QUICK, gpt_batch
from benchmarks.torch_steps import gpt_step
from tinydl.models.gpt import GPT, GPTConfig

FULL, QUICK = GPT_FULL, GPT_QUICK
torch_step_fn = gpt_step  # the torch twin (benchmarks/torch_steps.py)


def tinydl_step_fn(sizes: dict, idx: np.ndarray, targets: np.ndarray):
    """A function doing one AdamW step of tinydl's GPT on (idx, targets)."""
    config = GPTConfig(vocab_size=sizes["vocab_size"], block_size=sizes["block_size"],
                       n_layer=sizes["n_layer"], n_head=sizes["n_head"], n_embd=sizes["n_embd"])
    model = GPT(config)
    optimizer = td.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        _, loss = model(idx, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def run(quick: bool = False) -> list[dict]:
    sizes = QUICK if quick else FULL
    idx, targets = gpt_batch(sizes)
    td.manual_seed(0)
    impls = {"tinydl": tinydl_step_fn(sizes, idx, targets)}
    torch = torch_or_none()
    if torch is not None:
        torch.manual_seed(0)
        impls["torch"] = torch_step_fn(torch, sizes, idx, targets)
    timings = measure_interleaved(impls, repeats=3 if quick else 7, warmup=1 if quick else 2)
    name = (f"GPT L{sizes['n_layer']} H{sizes['n_head']} d{sizes['n_embd']} "
            f"T{sizes['block_size']} B{sizes['batch']} AdamW step")
    return rows_for(name, timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    report(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
