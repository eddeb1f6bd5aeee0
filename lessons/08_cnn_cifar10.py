"""08 — A CNN on CIFAR-10, PyTorch style

Teaches: the PyTorch training loop written out (zero_grad, forward, loss, backward, step);
colour images (N, 3, 32, 32) scaled and normalised per channel by the DataLoader's transform;
measuring test accuracy after every epoch; the shape arithmetic of padded 3×3 convolutions
and 2×2 poolings (and why the seed's flatten size 64*6*6 was wrong: it is 64*8*8).
Seed system: seed 004's PyTorch network (Conv2d(3, 32, 3, 1, 1) -> MaxPool 2 ->
Conv2d(32, 64, 3, 1, 1) -> MaxPool 2 -> Linear(4096, 128) -> Linear(128, 10); Adam lr 1e-3,
batch 64, 10 epochs, test accuracy printed per epoch) on CIFAR-10 when its files are on this
machine (--data DIR or $TINYDL_DATA), otherwise on tinydl's generated shapes (make_shapes).

Run:  python lessons/08_cnn_cifar10.py [--quick] [--data DIR] [--out runs/]
"""
# %% Imports and arguments
import argparse
import os
import time
from pathlib import Path

import numpy as np

import tinydl
import tinydl.functional as F
from tinydl import optim
from tinydl.data import CIFAR10_CLASSES, SHAPES_CLASSES, DataLoader, TensorDataset, cifar10, make_shapes
from tinydl.data import transforms as T
from tinydl.models import Seed004Net
from tinydl.plot import plot_curves, plot_image_grid

parser = argparse.ArgumentParser(description="08 — A CNN on CIFAR-10, PyTorch style")
parser.add_argument("--quick", action="store_true", help="a few hundred images, six epochs")
parser.add_argument("--epochs", type=int, default=10, help="epochs of the full run (default 10)")
parser.add_argument("--data", default=None, help="folder holding CIFAR-10 (binary or Python "
                    "version); default $TINYDL_DATA, then ~/.cache/tinydl")
parser.add_argument("--out", default="runs", help="folder for the figures (default runs/)")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
tinydl.manual_seed(4)


# %% Data: CIFAR-10 if it is here, otherwise generated shapes of the same size (uint8 both)
def load_images(data_arg, quick):
    """(train_x, train_y, test_x, test_y, class names, description); images uint8 (N, 3, 32, 32)."""
    folders = [data_arg, os.environ.get("TINYDL_DATA"), Path.home() / ".cache" / "tinydl"]
    for folder in [f for f in folders if f]:
        try:
            train_x, train_y = cifar10(folder, train=True)
            test_x, test_y = cifar10(folder, train=False)
        except FileNotFoundError:
            continue
        if quick:
            train_x, train_y = train_x[:640], train_y[:640]
            test_x, test_y = test_x[:320], test_y[:320]
        return train_x, train_y, test_x, test_y, CIFAR10_CLASSES, f"CIFAR-10 from {folder}"
    n_train, n_test = (640, 320) if quick else (10_000, 2_000)
    images, labels = make_shapes(n_train + n_test, size=32, seed=4)  # float32 in [0, 1]
    images = np.round(images * 255).astype(np.uint8)                 # stored like CIFAR-10
    return (images[:n_train], labels[:n_train], images[n_train:], labels[n_train:],
            SHAPES_CLASSES, f"CIFAR-10 not found, so generated shapes (tinydl.data.make_shapes, "
            f"{n_train + n_test:,} images of 10 kinds of shape) stand in")


train_x, train_y, test_x, test_y, class_names, description = load_images(args.data, args.quick)
print(f"data: {description}")
print(f"train {train_x.shape} {train_x.dtype}, test {test_x.shape}")

# As the seed's transforms.Compose([ToTensor(), Normalize((0.5,)*3, (0.5,)*3)]): pixels to
# [0, 1], then (x - 0.5) / 0.5 per channel, so inputs lie in [-1, 1]. Applied per batch.
to_inputs = T.Compose([T.ToFloat(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
train_loader = DataLoader(TensorDataset(train_x, train_y), batch_size=64, shuffle=True,
                          transform=to_inputs)
test_loader = DataLoader(TensorDataset(test_x, test_y), batch_size=256, transform=to_inputs)

# %% The model, and the shapes flowing through it
model = Seed004Net()
x = tinydl.tensor(to_inputs(train_x[:2]))
print(f"input                       {x.shape}")
h = F.max_pool2d(F.relu(model.conv1(x)), 2)
print(f"conv1 (3x3, pad 1) + pool   {h.shape}   padding 1 keeps 32, the pool halves it")
h = F.max_pool2d(F.relu(model.conv2(h)), 2)
print(f"conv2 (3x3, pad 1) + pool   {h.shape}    -> flatten: 64*8*8 = {h[0].numel()} features "
      f"(the seed's 64*6*6 = {64 * 6 * 6} would not fit)")
print(model.summary())

# %% Train: the loop every PyTorch script writes, then test accuracy after each epoch
optimizer = optim.Adam(model.parameters(), lr=1e-3)
epochs = 6 if args.quick else args.epochs
losses, accuracies = [], []
for epoch in range(epochs):
    start = time.perf_counter()
    model.train()
    running_loss = 0.0
    for images, labels in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    model.eval()
    correct = total = 0
    with tinydl.no_grad():
        for images, labels in test_loader:
            predicted = model(images).argmax(axis=1)
            correct += int((predicted.numpy() == labels.numpy()).sum())
            total += len(labels)
    losses.append(running_loss / len(train_loader))
    accuracies.append(100.0 * correct / total)
    print(f"Epoch [{epoch + 1}/{epochs}], Loss: {losses[-1]:.4f}, "
          f"Test Accuracy: {accuracies[-1]:.2f}%  ({time.perf_counter() - start:.1f} s)",
          flush=True)
print(f"final test accuracy {accuracies[-1]:.2f}%")

# %% Figures: the curves, and sixteen test images with their predictions
plot_curves({"train loss": losses}, path=out / "08_loss.png", xlabel="epoch", ylabel="loss")
plot_curves({"test accuracy (%)": accuracies}, path=out / "08_test_accuracy.png", xlabel="epoch",
            ylabel="%")
with tinydl.no_grad():
    scores = model(tinydl.tensor(to_inputs(test_x[:16]))).numpy()
plot_image_grid(test_x[:16], labels=test_y[:16], predictions=scores, class_names=class_names,
                rows=2, cols=8, path=out / "08_predictions.png")
print(f"saved {out / '08_loss.png'}, {out / '08_test_accuracy.png'}, {out / '08_predictions.png'}")
