"""The workloads of ``python -m benchmarks``: for each, how to build one step per library.

A builder takes ``quick`` and returns a function doing one step (a training step unless the
title says otherwise). Builders import only their own library (the data comes from
benchmarks/problems.py), so a worker process that runs tinydl never imports torch or DeZero
and one that runs DeZero never imports tinydl or torch (benchmarks/worker.py checks it).
DeZero's steps are in benchmarks/dezero_steps.py; a workload it cannot express has no "dezero"
builder and says why in ``unsupported``.

    WORKLOADS["mlp"].builders["tinydl"](quick=False)()   # one tinydl MLP training step
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks import bench_gemm, dezero_steps, torch_steps
from benchmarks.common import training_step
from benchmarks.problems import (
    CNN_BATCH,
    GPT_FULL,
    GPT_QUICK,
    IRIS_SIZES,
    LESSON07_BATCH,
    cnn_batch,
    gpt_batch,
    iris_batch,
    mlp_problem,
)


@dataclass(frozen=True)
class Workload:
    """One row of the table: a title, per-library step builders and how much to time."""

    title: str
    builders: dict[str, Callable[[bool], Callable[[], object]]]
    steps: int          # timed calls per round (full run)
    quick_steps: int    # timed calls per round (--quick)
    number: int = 1     # calls per timed sample (tiny steps are timed in batches)
    busy_neighbour: bool = False  # run beside one CPU-bound process the harness starts
    in_full_run: bool = True      # False: only with --only (the single products of bench_gemm)
    unsupported: dict[str, str] = field(default_factory=dict)  # library -> why it has no builder


def _torch():
    import torch

    return torch


# ------------------------------------------------------------------ MLP 784-256-256-10

def _mlp_tinydl(quick: bool):
    from benchmarks.bench_mlp import make_problem, tinydl_step

    return tinydl_step(*make_problem())


def _mlp_torch(quick: bool):
    return torch_steps.mlp_step(*mlp_problem())


# ------------------------------------------------------------------ Iris MLP 4-64-64-3

def _iris_tinydl(quick: bool):
    import tinydl
    import tinydl.functional as F
    from tinydl import nn, optim

    tinydl.manual_seed(0)
    _, h1, h2, classes = IRIS_SIZES
    model = nn.Sequential(nn.Linear(4, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                          nn.Linear(h2, classes))
    features, labels = (tinydl.tensor(a) for a in iris_batch())
    return training_step(model, features, labels, optim.Adam(model.parameters(), lr=1e-3),
                         F.cross_entropy)


def _iris_torch(quick: bool):
    torch = _torch()
    torch.manual_seed(0)
    _, h1, h2, classes = IRIS_SIZES
    nn = torch.nn
    model = nn.Sequential(nn.Linear(4, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                          nn.Linear(h2, classes))
    features, labels = (torch.from_numpy(a) for a in iris_batch())
    return training_step(model, features, labels, torch.optim.Adam(model.parameters(), lr=1e-3),
                         nn.functional.cross_entropy)


# ------------------------------------------------------------------ seed CNNs

def _cnn(name: str, impl: str, batch: int = CNN_BATCH):
    def build(quick: bool):
        images, labels = cnn_batch(name, batch=batch)
        if impl == "torch":
            return torch_steps.cnn_step(_torch(), name, images, labels)[0]
        from benchmarks import bench_cnn

        return bench_cnn.tinydl_step_for(name, images, labels)

    return build


# ------------------------------------------------------------------ GPT-mini

def _gpt(impl: str):
    def build(quick: bool):
        sizes = GPT_QUICK if quick else GPT_FULL
        idx, targets = gpt_batch(sizes)
        if impl == "torch":
            torch = _torch()
            torch.manual_seed(0)
            return torch_steps.gpt_step(torch, sizes, idx, targets)
        import tinydl
        from benchmarks import bench_gpt

        tinydl.manual_seed(0)
        return bench_gpt.tinydl_step_fn(sizes, idx, targets)

    return build


# ------------------------------------------------------------------ LSTM, attention, overhead

def _lstm_tinydl(quick: bool):
    from benchmarks.bench_lstm import _tinydl_step

    return _tinydl_step(composed=False)


def _lstm_torch(quick: bool):
    return torch_steps.lstm_step()


def _sdpa(length: int, impl: str):
    def build(quick: bool):
        if impl == "torch":
            return torch_steps.sdpa_step(length)
        import tinydl.functional as F
        from benchmarks import bench_attention

        return bench_attention._tinydl_step(length, F.scaled_dot_product_attention, None)

    return build


def _overhead_tinydl(quick: bool):
    from benchmarks.bench_overhead import tinydl_step

    return tinydl_step()


def _overhead_torch(quick: bool):
    return torch_steps.overhead_step(_torch())


def _gemm(name: str, impl: str):
    def build(quick: bool):
        return (bench_gemm.torch_product if impl == "torch" else bench_gemm.tinydl_product)(name)

    return build


_GEMM_UNSUPPORTED = {"dezero": "the same NumPy product as tinydl's (no row needed)"}


WORKLOADS: dict[str, Workload] = {
    "mlp": Workload("MLP 784-256-256-10, b128, Adam",
                    {"tinydl": _mlp_tinydl, "torch": _mlp_torch, "dezero": dezero_steps.mlp}, steps=100, quick_steps=3),
    "iris": Workload("Iris MLP 4-64-64-3, b16, Adam",
                     {"tinydl": _iris_tinydl, "torch": _iris_torch, "dezero": dezero_steps.iris}, steps=100,
                     quick_steps=3, number=5),
    "seed002": Workload("seed-002 CNN, b64, Adam",
                        {"tinydl": _cnn("seed002", "tinydl"), "torch": _cnn("seed002", "torch"),
                         "dezero": dezero_steps.cnn("seed002")},
                        steps=15, quick_steps=1),
    "lesson07": Workload("seed-002 CNN, b32, Adam (lesson 07's step)",
                         {"tinydl": _cnn("seed002", "tinydl", LESSON07_BATCH),
                          "torch": _cnn("seed002", "torch", LESSON07_BATCH)},
                         steps=25, quick_steps=1,
                         unsupported={"dezero": "the seed-002 row above has DeZero's figure"}),
    "seed004": Workload("seed-004 CNN, b64, Adam",
                        {"tinydl": _cnn("seed004", "tinydl"), "torch": _cnn("seed004", "torch"),
                         "dezero": dezero_steps.cnn("seed004")},
                        steps=10, quick_steps=1),
    "gpt": Workload("GPT-mini L4 H4 d128 T128 b32, AdamW",
                    {"tinydl": _gpt("tinydl"), "torch": _gpt("torch")}, steps=3, quick_steps=1,
                    unsupported={"dezero": dezero_steps.UNSUPPORTED_GPT}),
    "lstm": Workload("LSTM in32 h128 T64 b32, fwd+bwd",
                     {"tinydl": _lstm_tinydl, "torch": _lstm_torch, "dezero": dezero_steps.lstm}, steps=30,
                     quick_steps=1),
    "sdpa128": Workload("causal SDPA B8 H4 d32, T128, fwd+bwd",
                        {"tinydl": _sdpa(128, "tinydl"), "torch": _sdpa(128, "torch")},
                        steps=50, quick_steps=2, unsupported={"dezero": dezero_steps.UNSUPPORTED_SDPA}),
    "sdpa256": Workload("causal SDPA B8 H4 d32, T256, fwd+bwd",
                        {"tinydl": _sdpa(256, "tinydl"), "torch": _sdpa(256, "torch")},
                        steps=20, quick_steps=1, unsupported={"dezero": dezero_steps.UNSUPPORTED_SDPA}),
    "overhead": Workload("(a+b).sum() fwd+bwd, 1 element",
                         {"tinydl": _overhead_tinydl, "torch": _overhead_torch,
                          "dezero": dezero_steps.overhead},
                         steps=50, quick_steps=5, number=200),
    "iris_busy": Workload("Iris MLP b16, beside 1 busy process",
                          {"tinydl": _iris_tinydl, "torch": _iris_torch, "dezero": dezero_steps.iris}, steps=100,
                          quick_steps=3, number=5, busy_neighbour=True),
    # Long rounds: tinydl's default budget looks at the machine once a second (threads.py).
    "lstm_busy": Workload("LSTM, beside 1 busy process",
                          {"tinydl": _lstm_tinydl, "torch": _lstm_torch, "dezero": dezero_steps.lstm},
                          steps=150, quick_steps=1, busy_neighbour=True),
}
WORKLOADS.update({
    name: Workload(f"one product, {bench_gemm.CASES[name][3]}",
                   {"tinydl": _gemm(name, "tinydl"), "torch": _gemm(name, "torch")},
                   steps=50, quick_steps=2, number=20 if name == "gemm_lstm" else 2,
                   in_full_run=False, unsupported=_GEMM_UNSUPPORTED)
    for name in bench_gemm.CASES
})
#: the workloads of a run without --only (the gemm_* products are left out)
FULL_RUN = [name for name, workload in WORKLOADS.items() if workload.in_full_run]
