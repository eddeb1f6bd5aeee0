"""08a — Data augmentation: the same CNN with and without it

Teaches: random crops, mirror images, small rotations and zooms as a way to get more out of a
small training set; that augmentation runs on whole batches inside the DataLoader (a new
random setting per image, seeded by tinydl.manual_seed) and only on the training data; how
to read the gap between training and test accuracy (overfitting) and how augmentation
narrows it.
Seed system: seed 004's network and training (Adam lr 1e-3, batch 64) with seed 004's
rotation/scale/crop augmentation, on CIFAR-10 when its files are here (--data DIR or
$TINYDL_DATA), otherwise on tinydl's generated shapes; a small training set on purpose.

Run:  python lessons/08a_data_augmentation.py [--quick] [--data DIR] [--out runs/]
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
from tinydl.data import DataLoader, TensorDataset, cifar10, make_shapes
from tinydl.data import transforms as T
from tinydl.models import Seed004Net
from tinydl.plot import plot_curves, plot_image_grid

parser = argparse.ArgumentParser(description="08a — Data augmentation")
parser.add_argument("--quick", action="store_true", help="a few hundred images, five epochs")
parser.add_argument("--epochs", type=int, default=15, help="epochs per run (default 15)")
parser.add_argument("--train-size", type=int, default=2000, help="training images (default 2000)")
parser.add_argument("--data", default=None, help="folder holding CIFAR-10; default "
                    "$TINYDL_DATA, then ~/.cache/tinydl; generated shapes when absent")
parser.add_argument("--out", default="runs", help="folder for the figures (default runs/)")
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
tinydl.manual_seed(4)
n_train = 320 if args.quick else args.train_size
n_test = 320 if args.quick else 2000


# %% Data: a deliberately small training set, so that the network can memorise it
def load_images():
    """(train_x, train_y, test_x, test_y, description) with uint8 images (N, 3, 32, 32)."""
    folders = [args.data, os.environ.get("TINYDL_DATA"), Path.home() / ".cache" / "tinydl"]
    for folder in [f for f in folders if f]:
        try:
            train_x, train_y = cifar10(folder, train=True)
            test_x, test_y = cifar10(folder, train=False)
        except FileNotFoundError:
            continue
        return (train_x[:n_train], train_y[:n_train], test_x[:n_test], test_y[:n_test],
                f"CIFAR-10 from {folder}")
    images, labels = make_shapes(n_train + n_test, size=32, seed=8)
    images = np.round(images * 255).astype(np.uint8)
    return (images[:n_train], labels[:n_train], images[n_train:], labels[n_train:],
            "CIFAR-10 not found, so generated shapes (tinydl.data.make_shapes) stand in")


train_x, train_y, test_x, test_y, description = load_images()
print(f"data: {description}; {len(train_x):,} training and {len(test_x):,} test images")

# %% Two input pipelines. Augmentation goes between "to float" and "normalise"; the test
# images are never augmented: we want to measure the network on the real thing.
plain = T.Compose([T.ToFloat(), T.Normalize(0.5, 0.5)])
augmented = T.Compose([
    T.ToFloat(),
    T.RandomCrop(32, padding=4),                       # shift by up to 4 pixels
    T.RandomHorizontalFlip(),                          # mirror half of the images
    T.RandomAffine(degrees=10, scale=(0.9, 1.1)),      # rotate up to ±10°, zoom ±10%
    T.Normalize(0.5, 0.5),
])
examples = np.repeat(train_x[:1], 8, axis=0)           # one image, eight random versions
plot_image_grid(np.concatenate([plain(train_x[:1]), augmented(examples)[:7]]), rows=1, cols=8,
                path=out / "08a_augmented_examples.png")
print(f"saved {out / '08a_augmented_examples.png'} (the original, then seven augmented copies)")


# %% One training run: seed 004's net and optimizer, test accuracy after each epoch
def accuracy(model, loader):
    model.eval()
    correct = 0
    with tinydl.no_grad():
        for images, labels in loader:
            correct += int((model(images).numpy().argmax(axis=1) == labels.numpy()).sum())
    return correct / len(loader.dataset)


def train(transform, name):
    tinydl.manual_seed(4)  # same initial weights and batch order for both runs
    model = Seed004Net()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    train_loader = DataLoader(TensorDataset(train_x, train_y), batch_size=64, shuffle=True,
                              transform=transform)
    clean_train_loader = DataLoader(TensorDataset(train_x, train_y), batch_size=256,
                                    transform=plain)
    test_loader = DataLoader(TensorDataset(test_x, test_y), batch_size=256, transform=plain)
    curves = {"train": [], "test": []}
    for epoch in range(5 if args.quick else args.epochs):
        start = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
        curves["train"].append(accuracy(model, clean_train_loader))
        curves["test"].append(accuracy(model, test_loader))
        print(f"{name:>17}  epoch {epoch + 1:2d}  train accuracy {curves['train'][-1]:.3f}  "
              f"test accuracy {curves['test'][-1]:.3f}  ({time.perf_counter() - start:.1f} s)",
              flush=True)
    return curves


without = train(plain, "no augmentation")
with_aug = train(augmented, "with augmentation")

# %% Compare: the train-test gap is the overfitting; augmentation should shrink it
for name, curves in (("no augmentation", without), ("with augmentation", with_aug)):
    gap = curves["train"][-1] - curves["test"][-1]
    print(f"{name}: final train accuracy {curves['train'][-1]:.3f}, test accuracy "
          f"{curves['test'][-1]:.3f}, gap {gap:.3f}")
plot_curves({"no augmentation: train": without["train"], "no augmentation: test": without["test"],
             "with augmentation: train": with_aug["train"],
             "with augmentation: test": with_aug["test"]},
            path=out / "08a_accuracy.png", xlabel="epoch", ylabel="accuracy",
            title="Same network, with and without augmentation")
print(f"saved {out / '08a_accuracy.png'}")
