"""The largest matrix products of the benchmark workloads, alone: NumPy's BLAS against PyTorch's.

    python -m benchmarks --only gemm_mlp,gemm_lstm,gemm_lstm_wgrad,gemm_gpt

tinydl runs every product through NumPy (``tinydl.ops.linalg.matmul_arrays``: OpenBLAS in
NumPy's wheels); PyTorch's CPU wheels run theirs through MKL. These rows time one product
each, with the operands laid out as the training steps have them, so they show how much of a
workload's ratio to PyTorch is the BLAS's and not tinydl's. They run only with ``--only``
(each library in its own process, rounds alternating, as the other rows).

Each case is (a's shape, b's shape, whether b is stored transposed): a Linear layer stores its
weight as (out, in) and multiplies by weight.T, a view, so BLAS reads it transposed.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

# name -> (a (M, K), b (K, N) or, transposed, (N, K) read as its .T, b transposed?, what it is)
CASES = {
    "gemm_mlp": ((128, 784), (256, 784), True, "MLP layer 1 forward: x (128, 784) @ W.T"),
    "gemm_lstm": ((32, 128), (128, 512), False, "one LSTM step: h (32, 128) @ W_hh^T (128, 512)"),
    "gemm_lstm_wgrad": ((512, 2048), (2048, 128), False,
                        "LSTM recurrent weight gradient: (512, 2048) @ (2048, 128)"),
    "gemm_gpt": ((4096, 128), (512, 128), True, "GPT-mini MLP up-projection: x (4096, 128) @ W.T"),
}


def operands(name: str) -> tuple[np.ndarray, np.ndarray]:
    """a and b of case ``name`` (float32, standard normal, seed 0), b already transposed when
    the case says so (a view, as a Linear layer passes it)."""
    a_shape, b_shape, transposed, _ = CASES[name]
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape, dtype=np.float32)
    b = rng.standard_normal(b_shape, dtype=np.float32)
    return a, (b.T if transposed else b)


def tinydl_product(name: str) -> Callable[[], object]:
    """One product of case ``name`` the way tinydl runs it (a fresh result array each call)."""
    from tinydl.ops.linalg import matmul_arrays

    a, b = operands(name)
    return lambda: matmul_arrays(a, b)


def torch_product(name: str) -> Callable[[], object]:
    """The same product in PyTorch, on tensors sharing the operands' memory layout."""
    import torch

    a, b = operands(name)
    a_t, b_t = torch.from_numpy(a), torch.from_numpy(b)  # (b: a transposed view stays one)
    return lambda: a_t @ b_t

