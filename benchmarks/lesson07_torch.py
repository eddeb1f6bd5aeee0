"""Lesson 07's recipe in PyTorch, end to end: the yardstick for the lesson's wall time.

    python -m benchmarks.lesson07_torch [--data FOLDER] [--epochs 5] [--threads N]

Seed 002's network (``torch_steps.seed_net``) trained on Fashion-MNIST as
``lessons/07_cnn_fashion_mnist.py`` trains it: Adam (lr 1e-3), cross-entropy, batches of 32
in a new random order every epoch, uint8 images scaled to [0, 1] one batch at a time, the
test set evaluated in batches of 500 after each epoch. It prints each epoch's seconds and the
test accuracy, so ``/usr/bin/time python -m benchmarks.lesson07_torch`` beside
``/usr/bin/time python -m tinydl lesson 07`` compares the two libraries on one machine.
(PyTorch initialises the layers its own way, not Keras's, so the accuracies differ a little.)

This process never imports tinydl (its import tunes the allocator and the threads): the IDX
files are read here with NumPy.
"""
from __future__ import annotations

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.torch_steps import LR, seed_net

DEFAULT_FOLDERS = ("/usr/share/datasets/fashion-mnist",)
BATCH, TEST_BATCH = 32, 500


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a uint8 array: (N, rows, cols) images or (N,) labels."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"lesson07_torch: {path} is not an IDX file of unsigned bytes")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find_folder(data: str | None) -> Path:
    """The first folder holding the four Fashion-MNIST files: ``data``, $TINYDL_DATA, Debian's."""
    candidates = [data] if data else [os.environ.get("TINYDL_DATA"), *DEFAULT_FOLDERS]
    for folder in filter(None, candidates):
        for sub in (Path(folder), Path(folder) / "fashion-mnist"):
            if (sub / "train-images-idx3-ubyte.gz").exists():
                return sub
    raise FileNotFoundError("lesson07_torch: no Fashion-MNIST files found; install Debian's "
                            "dataset-fashion-mnist or pass --data FOLDER")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder with the four .gz IDX files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = find_folder(args.data)
    train_x = read_idx(folder / "train-images-idx3-ubyte.gz")
    train_y = read_idx(folder / "train-labels-idx1-ubyte.gz").astype(np.int64)
    test_x = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    test_y = read_idx(folder / "t10k-labels-idx1-ubyte.gz").astype(np.int64)

    def as_batch(images: np.ndarray) -> torch.Tensor:  # uint8 (B, 28, 28) -> float32 (B, 1, 28, 28)
        return torch.from_numpy(images[:, None].astype(np.float32) / 255.0)

    torch.manual_seed(3)
    order_rng = np.random.default_rng(3)
    model = seed_net(torch, "seed002")
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); data from {folder}")
    for epoch in range(args.epochs):
        started = time.perf_counter()
        model.train()
        order = order_rng.permutation(len(train_x))
        for start in range(0, len(order), BATCH):
            chosen = order[start:start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(as_batch(train_x[chosen])), torch.from_numpy(train_y[chosen]))
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(test_x), TEST_BATCH):
                scores = model(as_batch(test_x[start:start + TEST_BATCH]))
                correct += int((scores.argmax(1).numpy() == test_y[start:start + TEST_BATCH]).sum())
        print(f"epoch {epoch + 1}: test accuracy {correct / len(test_x):.4f} "
              f"({time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
