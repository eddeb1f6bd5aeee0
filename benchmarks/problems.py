"""The inputs and starting weights of the benchmark workloads, made with NumPy alone.

Every library's step builder takes its data from here, so tinydl, PyTorch and DeZero train on
the same arrays, and a worker process that runs one library never has to import another's
module to get them (benchmarks/worker.py checks that).

    images, labels = cnn_batch("seed002")      # (64, 1, 28, 28) float32, (64,) int64
"""
from __future__ import annotations

import numpy as np

MLP_SIZES, MLP_BATCH = (784, 256, 256, 10), 128
IRIS_SIZES, IRIS_BATCH = (4, 64, 64, 3), 16
CNN_BATCH = 64
LESSON07_BATCH = 32  # lesson 07 trains seed 002's network on batches of 32
CNN_IMAGE_SHAPES = {"seed002": (1, 28, 28), "seed004": (3, 32, 32)}
LSTM_INPUT, LSTM_HIDDEN, LSTM_STEPS, LSTM_BATCH = 32, 128, 64, 32
ATTENTION_BATCH, ATTENTION_HEADS, ATTENTION_HEAD_DIM = 8, 4, 32
GPT_FULL = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, vocab_size=128, batch=32)
GPT_QUICK = dict(n_layer=1, n_head=2, n_embd=32, block_size=32, vocab_size=64, batch=8)


def linear_weights(sizes: tuple[int, ...], rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W (out, in), b (out,)) float32 per layer of an MLP of ``sizes``, uniform in ±1/sqrt(in) as in PyTorch."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return layers


def mlp_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Inputs (128, 784) float32, labels (128,) int64, and initial (W (out, in), b (out,)) per layer."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((MLP_BATCH, MLP_SIZES[0])).astype(np.float32)
    y = rng.integers(0, MLP_SIZES[-1], MLP_BATCH).astype(np.int64)
    return X, y, linear_weights(MLP_SIZES, rng)


def iris_batch() -> tuple[np.ndarray, np.ndarray]:
    """Features (16, 4) float32 and labels (16,) int64 in [0, 3)."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((IRIS_BATCH, IRIS_SIZES[0])).astype(np.float32),
            rng.integers(0, IRIS_SIZES[-1], IRIS_BATCH).astype(np.int64))


def cnn_batch(name: str, seed: int = 0, batch: int = CNN_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Images (batch, C, H, W) float32 in [0, 1) and labels (batch,) int64, for seed net ``name``."""
    rng = np.random.default_rng(seed)
    images = rng.random((batch,) + CNN_IMAGE_SHAPES[name], dtype=np.float32)
    return images, rng.integers(0, 10, batch).astype(np.int64)


def lstm_sequence(seed: int = 0) -> np.ndarray:
    """An input sequence (T 64, batch 32, 32) float32, standard normal."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((LSTM_STEPS, LSTM_BATCH, LSTM_INPUT)).astype(np.float32)


def attention_inputs(length: int) -> list[np.ndarray]:
    """q, k, v, each (8, 4, length, 32) float32, standard normal."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal((ATTENTION_BATCH, ATTENTION_HEADS, length, ATTENTION_HEAD_DIM)).astype(np.float32)
            for _ in range(3)]


def gpt_batch(sizes: dict) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and targets, each (batch, block_size) int64 in [0, vocab_size), for GPT_FULL or GPT_QUICK."""
    rng = np.random.default_rng(0)
    shape = (sizes["batch"], sizes["block_size"])
    return tuple(rng.integers(0, sizes["vocab_size"], shape) for _ in range(2))
