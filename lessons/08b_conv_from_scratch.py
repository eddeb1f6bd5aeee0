"""08b — Convolution from scratch: im2col turns it into one matrix product

Teaches: what a convolution layer computes, written as loops over output pixels; how im2col
cuts every window of every image out as a column, so that all the loops become ONE matrix
product W (O, C*kh*kw) @ cols (C*kh*kw, N*OH*OW) that BLAS runs fast; that col2im (adding
the columns back) is its gradient; and what the first layer of a trained CNN learns to look
for (its 5×5 filters, shown as pictures).
Seed system: the convolution inside seeds 002 and 004's networks (tinydl.functional.conv2d
checked against the loops here), and LeNet-5 trained on Fashion-MNIST for the filters
(generated shapes stand in when Fashion-MNIST is not installed).

Run:  python lessons/08b_conv_from_scratch.py [--quick] [--out runs/]
"""
# %% Imports and arguments
import argparse
import time
from pathlib import Path

import numpy as np

import tinydl
import tinydl.functional as F
from tinydl import nn, optim
from tinydl.data import DataLoader, DatasetNotFoundError, TensorDataset, fashion_mnist, make_shapes
from tinydl.data import transforms as T
from tinydl.models import LeNet5
from tinydl.ops.conv import im2col
from tinydl.plot import plot_image_grid
from tinydl.train import evaluate, fit

parser = argparse.ArgumentParser(description="08b — Convolution from scratch")
parser.add_argument("--quick", action="store_true", help="small sizes, a short training run")
parser.add_argument("--out", default="runs", help="folder for the figures (default runs/)")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
tinydl.manual_seed(8)
rng = np.random.default_rng(8)


# %% 1. Convolution as loops: each output pixel is a window of the input times the filter
def conv2d_loops(x, w, b, stride=1, padding=0):
    """x (N, C, H, W), w (O, C, kh, kw), b (O,) -> (N, O, OH, OW), one output pixel at a time."""
    n, c, height, width = x.shape
    o, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    y = np.zeros((n, o, oh, ow), dtype=x.dtype)
    for image in range(n):
        for out_channel in range(o):
            for i in range(oh):
                for j in range(ow):
                    window = x[image, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    y[image, out_channel, i, j] = np.sum(window * w[out_channel]) + b[out_channel]
    return y


# %% 2. im2col on a 4x4 image and a 2x2 filter: nine windows -> nine columns
tiny = np.array([[1, 2, 9, 8]] * 4, dtype=np.float32).reshape(1, 1, 4, 4)  # dark | bright
print("a 4x4 image, dark on the left, bright on the right:\n", tiny[0, 0])
cols = im2col(tiny, 2, 2, (1, 1), (0, 0), (1, 1))      # (1*2*2, 1*3*3): one column per window
print("im2col, every 2x2 window as a column (4 rows = window pixels, 9 columns = windows):\n",
      cols)
kernel = np.array([[[[-1.0, 1.0], [-1.0, 1.0]]]], dtype=np.float32)  # right minus left: edges
as_matmul = (kernel.reshape(1, 4) @ cols).reshape(1, 1, 3, 3)        # (1, 4) @ (4, 9)
print("the filter [[-1, 1], [-1, 1]] as W (1, 4) @ cols (4, 9), reshaped to 3x3 (large where "
      "the brightness jumps):\n", as_matmul[0, 0])
by_loops = conv2d_loops(tiny, kernel, np.zeros(1))
print("the loops give the same:", np.array_equal(as_matmul, by_loops))

# %% 3. The same at a realistic size: loops vs im2col + one matmul (tinydl's conv2d)
n = 4 if args.quick else 16
x = rng.standard_normal((n, 3, 16, 16)).astype(np.float32)
w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
b = rng.standard_normal(16).astype(np.float32)
start = time.perf_counter()
by_loops = conv2d_loops(x, w, b, padding=1)
loop_seconds = time.perf_counter() - start
start = time.perf_counter()
by_matmul = F.conv2d(tinydl.tensor(x), tinydl.tensor(w), tinydl.tensor(b), padding=1).numpy()
matmul_seconds = time.perf_counter() - start
print(f"conv2d on {x.shape} with {w.shape} filters: largest difference loops vs im2col "
      f"{np.abs(by_loops - by_matmul).max():.2e}")
print(f"loops {loop_seconds * 1e3:.1f} ms, im2col + matmul {matmul_seconds * 1e3:.2f} ms "
      f"({loop_seconds / matmul_seconds:.0f}x faster)")

# %% 4. A picture of the patches: a 28x28 image cut into 7x7 windows (stride 7: 16 patches)
try:
    train_images, train_labels = fashion_mnist(train=True)
    test_images, test_labels = fashion_mnist(train=False)
    image_size, source = 28, "Fashion-MNIST"
except DatasetNotFoundError:
    shapes, labels = make_shapes(12_000, size=32, seed=8)
    gray = np.round(shapes.mean(axis=1) * 255).astype(np.uint8)      # (N, 32, 32) grayscale
    train_images, train_labels = gray[:10_000], labels[:10_000]
    test_images, test_labels = gray[10_000:], labels[10_000:]
    image_size, source = 32, "generated shapes (Fashion-MNIST is not installed)"
print(f"images for the rest: {source}")
picture = T.ToFloat()(train_images[:1])                              # (1, 1, H, W)
patch = image_size // 4
patches = im2col(picture, patch, patch, (patch, patch), (0, 0), (1, 1))  # (49 or 64, 16)
patches = patches.T.reshape(16, 1, patch, patch)                     # one column -> one patch
plot_image_grid(picture, rows=1, cols=1, path=out / "08b_image.png")
plot_image_grid(patches, rows=4, cols=4, path=out / "08b_patches.png")
print(f"saved {out / '08b_image.png'} and its 16 im2col columns as patches: "
      f"{out / '08b_patches.png'}")

# %% 5. What the first layer learns: LeNet-5's six 5x5 filters, before and after training
model = LeNet5(image_size=image_size)
plot_image_grid(model.conv1.weight.numpy(), rows=1, cols=6, path=out / "08b_filters_initial.png")
count = 2_000 if args.quick else 10_000
loader = DataLoader(TensorDataset(train_images[:count], train_labels[:count]), batch_size=32,
                    shuffle=True, transform=T.ToFloat())
test_loader = DataLoader(TensorDataset(test_images[:2000], test_labels[:2000]), batch_size=500,
                         transform=T.ToFloat())
fit(model, loader, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
    epochs=1 if args.quick else 3)
print(f"LeNet-5 after training on {count:,} images: test accuracy "
      f"{evaluate(model, test_loader, metrics=['accuracy'])['accuracy']:.3f}")
plot_image_grid(model.conv1.weight.numpy(), rows=1, cols=6, path=out / "08b_filters_learned.png")
print(f"saved {out / '08b_filters_initial.png'} and {out / '08b_filters_learned.png'} "
      "(light = positive weight: the filters respond to edges and strokes)")
