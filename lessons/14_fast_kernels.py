"""14 — Fast kernels: the same attention three ways

Teaches: why attention's (T, T) score matrix is the bottleneck; the online softmax that
lets flash-attention walk the keys block by block without ever storing that matrix; the
same computation as a plain NumPy formula, a tiled NumPy loop and a compiled Numba kernel;
checking that they agree, and measuring their time and their extra memory.
Seed system: issue 6 (performance: fused attention kernels), seed 000 §3.2.1 (attention).

Run: python lessons/14_fast_kernels.py [--quick] [--out runs/]
"""
# %% [setup]
import argparse
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

import tinydl
import tinydl.functional as F
from tinydl.functional.attention import attention_composed
from tinydl.kernels import numba_available
from tinydl.kernels.attention import (
    attention_backward_numba,
    attention_backward_reference,
    attention_backward_tiled_numpy,
    attention_forward_numba,
    attention_forward_reference,
    attention_forward_tiled_numpy,
)
from tinydl.plot import plot_curves

parser = argparse.ArgumentParser(description="14 — Fast kernels: the same attention three ways")
parser.add_argument("--quick", action="store_true", help="short sequences (seconds)")
parser.add_argument("--out", default="runs", help="folder for the figure")
args = parser.parse_args()
out_dir = Path(args.out)
out_dir.mkdir(parents=True, exist_ok=True)
tinydl.manual_seed(14)
rng = np.random.default_rng(14)

HEADS, HEAD_DIM = 4, 32
LENGTHS = (64, 128) if args.quick else (128, 256, 512, 1024)
REPEATS = 3 if args.quick else 7


# %% [1. the formula]
# out = softmax(q k^T / sqrt(d)) v. Written directly, it builds the (T, T) score matrix:
# at T = 4096 that is 64 MiB per head in float32, and the backward pass needs it again.
def attention_formula(q, k, v):
    """q, k, v (B, H, T, d) -> (B, H, T, d), causal, by the textbook formula."""
    T = q.shape[-2]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])   # (B, H, T, T)
    scores = np.where(np.tril(np.ones((T, T), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v


# %% [2. the online softmax, by hand on one row]
# Softmax needs the row maximum before it can exponentiate... or does it? Keep a running max
# m, a running sum total of exp(s - m), and an accumulator a of exp(s - m) v. When a new block
# of scores raises the max to m', rescale total and a by exp(m - m') and add the block in. After
# the last block, out = a / total: exactly the softmax average, one block of keys at a time.
scores_row = rng.standard_normal(10)
values_row = rng.standard_normal(10)
m, total, a = -np.inf, 0.0, 0.0
for start in range(0, 10, 4):                                  # blocks of 4 keys
    block = scores_row[start:start + 4]
    new_m = max(m, block.max())
    total = total * np.exp(m - new_m) + np.exp(block - new_m).sum()
    a = a * np.exp(m - new_m) + (np.exp(block - new_m) * values_row[start:start + 4]).sum()
    m = new_m
exact = (np.exp(scores_row) / np.exp(scores_row).sum()) @ values_row
print(f"online softmax over 3 blocks: {a / total:.12f}, exact: {exact:.12f}, "
      f"difference {abs(a / total - exact):.1e}")

# %% [3. three implementations agree]
# The tiled NumPy version runs the loop above over blocks of 64 keys for all rows at once;
# the Numba version compiles it to machine code, parallel over batch x heads, and its
# backward recomputes the weights tile by tile from q, k and the row log-sum-exp (lse).
IMPLS = {"numpy formula": (attention_forward_reference, attention_backward_reference),
         "tiled numpy": (attention_forward_tiled_numpy, attention_backward_tiled_numpy)}
if numba_available():
    IMPLS["numba kernel"] = (attention_forward_numba, attention_backward_numba)
else:
    print("Numba is not installed: the Numba kernel is skipped (pip install numba)")

q, k, v, dout = rng.standard_normal((4, 2, HEADS, 200, HEAD_DIM)).astype(np.float32)
formula_out = attention_formula(q, k, v)
ref_out, ref_lse = attention_forward_reference(q, k, v, None, True)
ref_grads = attention_backward_reference(q, k, v, None, True, None, ref_out, ref_lse, dout)
for name, (forward, backward) in IMPLS.items():
    out, lse = forward(q, k, v, None, True)
    grads = backward(q, k, v, None, True, None, out, lse, dout)
    out_diff = float(np.abs(out - formula_out).max())
    grad_diff = max(float(np.abs(g - r).max()) for g, r in zip(grads, ref_grads))
    print(f"{name:<14s} max |out - formula| = {out_diff:.1e}   "
          f"max |grad - reference| = {grad_diff:.1e}")

# The same through tinydl: F.scaled_dot_product_attention runs one fused Function; the
# composed version records about ten graph nodes. Their results are the same.
tq, tk, tv = (tinydl.tensor(a, requires_grad=True) for a in (q, k, v))
fused = F.scaled_dot_product_attention(tq, tk, tv, is_causal=True)
composed = attention_composed(tq, tk, tv, is_causal=True)
print(f"tinydl fused vs composed: max |difference| = "
      f"{float(np.abs(fused.numpy() - composed.numpy()).max()):.1e}")


# %% [4. time and memory]
def median_ms(fn):
    fn()                                                       # warm-up (compiles Numba)
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def peak_extra_mib(fn):
    """Peak NumPy memory (MiB) allocated while fn runs (Numba's scratch tiles are O(T d))."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - before) / 2**20


def attention_step(forward, backward, q, k, v, dout):
    """One causal forward and backward pass of an implementation on (q, k, v, dout), as fn()."""
    def step():
        out, lse = forward(q, k, v, None, True)
        backward(q, k, v, None, True, None, out, lse, dout)
    return step


timings = {name: [] for name in IMPLS}
for T in LENGTHS:
    q, k, v, dout = rng.standard_normal((4, 1, HEADS, T, HEAD_DIM)).astype(np.float32)
    for name, (forward, backward) in IMPLS.items():
        step = attention_step(forward, backward, q, k, v, dout)
        ms, mib = median_ms(step), peak_extra_mib(step)
        timings[name].append(ms)
        print(f"T={T:<5d} {name:<14s} fwd+bwd {ms:8.2f} ms   peak extra memory {mib:7.2f} MiB")
print("The formula's memory grows with T^2; the tiled versions' with T. Their speed depends "
      "on how well each loop uses the CPU: BLAS matmuls are hard to beat at short T.")

# %% [5. figure]
plot_curves(timings, path=out_dir / "attention_timings.png",
            xlabel=f"sequence length index (T = {', '.join(map(str, LENGTHS))})",
            ylabel="fwd+bwd time (ms)", title="causal attention, B1 H4 d32")
print(f"figure: {out_dir / 'attention_timings.png'}")
