"""The matrix products of the seed CNNs' convolutions, each in the orientations tried.

    python -m benchmarks.bench_conv_products [--threads 1] [--clock cpu]

For every convolution of seed-002 and seed-004 (batch 64, float32) it times the three
products of one training step, as ``tinydl.ops.conv.ConvProduct`` runs them and in other
orientations giving the same matrix (memory order included: each variant's result is laid out
as the step needs it):

* forward: weight (O, K) @ cols (K, L), L = N*OH*OW;
* weight gradient: grad (O, L) @ cols^T as one product, (cols @ grad^T)^T (what the step runs
  for large gradients), and image by image (``weight_gradient``: one batched matmul over the
  N images, summed; what it runs for O*K <= SMALL_WEIGHT_GRADIENT);
* input gradient: weight^T (K, O) @ grad (O, L), and with a contiguous copy of weight^T.

This is the measurement behind ``weight_gradient``'s rule. ``--clock cpu`` with
``--threads 1`` measures per-core work, steady on a busy machine.
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks.bench_kernels import CLOCKS, limit_threads, time_case
from tinydl.ops import conv as conv_ops

# (name, O, C, H, W after padding, N): each convolution is 3x3, stride 1
CONVOLUTIONS = [("seed-004 conv1", 32, 3, 34, 34, 64), ("seed-004 conv2", 64, 32, 18, 18, 64),
                ("seed-002 conv1", 32, 1, 28, 28, 64), ("seed-002 conv2", 64, 32, 13, 13, 64),
                ("seed-002 conv3", 64, 64, 5, 5, 64)]


def products(out_channels: int, channels: int, height: int, width: int, images: int) -> dict:
    """{variant: a function computing it} for one convolution's products (float32)."""
    rng = np.random.default_rng(0)
    rows, per_image = channels * 9, (height - 2) * (width - 2)
    weight = rng.standard_normal((out_channels, rows), dtype=np.float32)
    cols = rng.standard_normal((rows, images * per_image), dtype=np.float32)
    grad = rng.standard_normal((out_channels, images * per_image), dtype=np.float32)

    variants = {"forward W @ cols": lambda: weight @ cols,
                "dW grad @ cols^T": lambda: grad @ cols.T,
                "dW (cols @ grad^T)^T": lambda: (cols @ grad.T).T,
                "dcols W^T @ grad": lambda: weight.T @ grad,
                "dcols copy(W^T) @ grad": lambda: np.ascontiguousarray(weight.T) @ grad}
    if out_channels * rows <= conv_ops.SMALL_WEIGHT_GRADIENT:
        variants["dW image by image"] = lambda: conv_ops.weight_gradient(grad, cols, images)
    return variants


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="cap BLAS's threads")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args(argv)
    names = list(products(1, 1, 3, 3, 1))  # every variant (a 1x1 output: all of them)
    print(f"median {args.clock} ms per product, threads: {args.threads or 'default'} "
          "(dW image by image: only where O*K <= SMALL_WEIGHT_GRADIENT)\n")
    print("| convolution (O, K, L) | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    with limit_threads(args.threads, None):
        for name, out_channels, channels, height, width, images in CONVOLUTIONS:
            variants = products(out_channels, channels, height, width, images)
            times = time_case(variants, rounds=3, repeats=5, clock=CLOCKS[args.clock])
            size = f"({out_channels}, {channels * 9}, {images * (height - 2) * (width - 2)})"
            cells = [f"{times[key]:.2f}" if key in times else "–" for key in names]
            print(f"| {name} {size} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
