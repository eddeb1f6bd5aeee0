"""Lesson 07's recipe in PyTorch, end to end: the yardstick for the lesson's wall time.

    python -m benchmarks.lesson07_torch [--data FOLDER] [--epochs 5] [--threads N]

Seed 002's network (``torch_steps.seed_net``) trained on Fashion-MNIST as
``lessons/07_cnn_fashion_mnist.py`` trains it: Adam (lr 1e-3), cross-entropy, batches of 32
in a new random order every epoch, uint8 images scaled to [0, 1] one batch at a time, the
test set evaluated in batches of 500 after each epoch. It prints each epoch's seconds and the
test accuracy, so ``/usr/bin/time python -m benchmarks.lesson07_torch`` beside
``/usr/bin/time python -m tinydl lesson 07`` compares the two libraries on one machine.
(PyTorch initialises the layers its own way, not Keras's, so the accuracies differ a little.)

This process never imports tinydl (its import tunes the allocator and the threads). The data
comes from ``tinydl.data.fashion_mnist`` run in a child process (the same folders the lesson
searches, the same IDX reader), handed over as a ``.npz`` file; that child's second or two
counts in this script's wall time, as the lesson's own loading counts in the lesson's.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.torch_steps import LR, seed_net

BATCH, TEST_BATCH = 32, 500
_LOAD_IN_CHILD = """
import sys
import numpy as np
from tinydl.data import fashion_mnist
root = sys.argv[2] or None
train_x, train_y = fashion_mnist(root, train=True)
test_x, test_y = fashion_mnist(root, train=False)
np.savez(sys.argv[1], train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y)
"""


def load_fashion_mnist(data: str | None) -> dict[str, np.ndarray]:
    """{train_x, train_y, test_x, test_y}: Fashion-MNIST as ``tinydl.data.fashion_mnist`` finds
    and reads it (``data`` first, then $TINYDL_DATA, ~/.cache/tinydl, /usr/share/datasets), in a
    child process so that tinydl is never imported beside torch. Images uint8 (N, 28, 28),
    labels int64 (N,)."""
    with tempfile.TemporaryDirectory() as folder:
        arrays = Path(folder) / "fashion_mnist.npz"
        child = subprocess.run([sys.executable, "-c", _LOAD_IN_CHILD, str(arrays), data or ""],
                               capture_output=True, text=True, check=False)
        if child.returncode != 0:
            raise RuntimeError(f"lesson07_torch: loading Fashion-MNIST failed:\n{child.stderr.strip()}")
        with np.load(arrays) as loaded:
            return {name: loaded[name] for name in loaded.files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder with the Fashion-MNIST files (default: "
                        "where lesson 07 looks)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_fashion_mnist(args.data)
    train_x, train_y, test_x, test_y = (data[name] for name in ("train_x", "train_y", "test_x", "test_y"))

    def as_batch(images: np.ndarray) -> torch.Tensor:  # uint8 (B, 28, 28) -> float32 (B, 1, 28, 28)
        return torch.from_numpy(images[:, None].astype(np.float32) / 255.0)

    torch.manual_seed(3)
    order_rng = np.random.default_rng(3)
    model = seed_net(torch, "seed002")
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
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
