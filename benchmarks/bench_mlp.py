"""One training step of an MLP 784-256-256-10 (batch 128, Adam, cross-entropy).

Three implementations of the same step, started from the same weights:

* tinydl: nn.Sequential + F.cross_entropy + backward + optim.Adam;
* torch (when installed): the same model in PyTorch on the CPU;
* numpy: a plain hand-written NumPy floor (manual forward, backward and Adam, float32).

Each is timed step by step, in interleaved rounds (timings on a shared machine drift), and
reported as the median with min–max and as ratios to torch and to the NumPy floor.

    python benchmarks/bench_mlp.py [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import tinydl
import tinydl.functional as F
from benchmarks.common import training_step
from benchmarks.problems import MLP_BATCH, MLP_SIZES, mlp_problem
from benchmarks.torch_steps import mlp_step as torch_step  # the torch twin
from tinydl import nn, optim

WORKLOAD = "mlp 784-256-256-10 b128 adam step"
SIZES, BATCH = MLP_SIZES, MLP_BATCH
LR = 1e-3
make_problem = mlp_problem  # inputs, labels and starting weights (benchmarks/problems.py)


# ---------------------------------------------------------------- tinydl

def tinydl_step(X: np.ndarray, y: np.ndarray, layers: list) -> Callable[[], float]:
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for linear, (W, b) in zip(linears, layers):
        linear.weight.data[...] = W
        linear.bias.data[...] = b
    opt = optim.Adam(model.parameters(), lr=LR)
    return training_step(model, tinydl.tensor(X), tinydl.tensor(y), opt, F.cross_entropy)


# ---------------------------------------------------------------- plain NumPy floor

def numpy_step(X: np.ndarray, y: np.ndarray, layers: list) -> Callable[[], float]:
    """Forward, backward and Adam written out by hand (float32, Adam updates in place)."""
    params = [a.copy() for W, b in layers for a in (W.T, b)]  # W stored as (in, out): x @ W
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    state = {"t": 0}
    rows = np.arange(BATCH)

    def step() -> float:
        W1, b1, W2, b2, W3, b3 = params
        # forward
        z1 = X @ W1 + b1                       # (B, 256)
        h1 = np.maximum(z1, 0)
        z2 = h1 @ W2 + b2                      # (B, 256)
        h2 = np.maximum(z2, 0)
        logits = h2 @ W3 + b3                  # (B, 10)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        probs = exp / exp.sum(axis=1, keepdims=True)
        loss = -np.log(probs[rows, y]).mean()
        # backward: d loss / d logits = (softmax - onehot) / B
        dlogits = probs
        dlogits[rows, y] -= 1
        dlogits /= BATCH
        dW3, db3 = h2.T @ dlogits, dlogits.sum(0)
        dh2 = dlogits @ W3.T
        dh2 *= z2 > 0
        dW2, db2 = h1.T @ dh2, dh2.sum(0)
        dh1 = dh2 @ W2.T
        dh1 *= z1 > 0
        dW1, db1 = X.T @ dh1, dh1.sum(0)
        # Adam
        state["t"] += 1
        t = state["t"]
        step_size = LR / (1 - beta1 ** t)
        correction2 = np.sqrt(1 - beta2 ** t)
        for p, g, m_p, v_p in zip(params, (dW1, db1, dW2, db2, dW3, db3), m, v):
            m_p *= beta1
            m_p += (1 - beta1) * g
            v_p *= beta2
            v_p += (1 - beta2) * g * g
            p -= step_size * m_p / (np.sqrt(v_p) / correction2 + eps)
        return float(loss)

    return step


# ---------------------------------------------------------------- timing

def _time_steps(step: Callable[[], float], count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def run(quick: bool = False) -> list[dict]:
    """Time each implementation; rows {workload, impl, median_ms, min_ms, max_ms}."""
    X, y, layers = make_problem()
    steps = {"tinydl": tinydl_step(X, y, layers), "torch": torch_step(X, y, layers),
             "numpy": numpy_step(X, y, layers)}
    steps = {name: fn for name, fn in steps.items() if fn is not None}
    # all start from the same weights: their first losses must agree
    first_losses = {name: fn() for name, fn in steps.items()}
    spread = max(first_losses.values()) - min(first_losses.values())
    if spread > 1e-4:
        raise RuntimeError(f"bench_mlp: the implementations disagree on the first loss: "
                           f"{first_losses}")
    warmup, rounds, per_round = (3, 3, 5) if quick else (10, 10, 20)
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for fn in steps.values():
        _time_steps(fn, warmup)
    for _ in range(rounds):
        for name, fn in steps.items():
            samples[name].extend(_time_steps(fn, per_round))
    return [{"workload": WORKLOAD, "impl": name, "median_ms": statistics.median(times),
             "min_ms": min(times), "max_ms": max(times)} for name, times in samples.items()]


def format_table(rows: list[dict]) -> str:
    medians = {row["impl"]: row["median_ms"] for row in rows}
    lines = ["| workload | impl | median ms | min–max ms | × torch | × numpy floor |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        vs_torch = (f"{row['median_ms'] / medians['torch']:.2f}" if "torch" in medians
                    else "n/a")
        vs_numpy = f"{row['median_ms'] / medians['numpy']:.2f}"
        lines.append(f"| {row['workload']} | {row['impl']} | {row['median_ms']:.2f} | "
                     f"{row['min_ms']:.2f}–{row['max_ms']:.2f} | {vs_torch} | {vs_numpy} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    args = parser.parse_args()
    print(format_table(run(quick=args.quick)))


if __name__ == "__main__":
    main()
