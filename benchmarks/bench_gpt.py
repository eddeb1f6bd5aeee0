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
from tinydl.models.gpt import GPT, GPTConfig

FULL = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=128, batch=32)
QUICK = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, vocab_size=64, batch=8)


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


def torch_step_fn(torch, sizes: dict, idx: np.ndarray, targets: np.ndarray):
    """The same step in PyTorch: an equivalent GPT (pre-norm, fused qkv, tanh GELU, tied head)."""
    nn, functional = torch.nn, torch.nn.functional
    n_embd, n_head = sizes["n_embd"], sizes["n_head"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
            self.c_attn, self.attn_proj = nn.Linear(n_embd, 3 * n_embd), nn.Linear(n_embd, n_embd)
            self.c_fc, self.mlp_proj = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)

        def forward(self, x):
            batch, steps, channels = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(channels, dim=2)
            q, k, v = (t.view(batch, steps, n_head, channels // n_head).transpose(1, 2)
                       for t in (q, k, v))
            y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).reshape(batch, steps, channels))
            return x + self.mlp_proj(functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(sizes["vocab_size"], n_embd)
            self.wpe = nn.Embedding(sizes["block_size"], n_embd)
            self.h = nn.ModuleList([Block() for _ in range(sizes["n_layer"])])
            self.ln_f = nn.LayerNorm(n_embd)

        def forward(self, idx, targets):
            positions = torch.arange(idx.shape[1])
            x = self.wte(idx) + self.wpe(positions)
            for block in self.h:
                x = block(x)
            logits = self.ln_f(x) @ self.wte.weight.T  # tied output layer
            return functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    model = TorchGPT()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch_idx, torch_targets = torch.from_numpy(idx), torch.from_numpy(targets)

    def step():
        loss = model(torch_idx, torch_targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def run(quick: bool = False) -> list[dict]:
    sizes = QUICK if quick else FULL
    rng = np.random.default_rng(0)
    shape = (sizes["batch"], sizes["block_size"])
    idx = rng.integers(0, sizes["vocab_size"], shape)
    targets = rng.integers(0, sizes["vocab_size"], shape)
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
