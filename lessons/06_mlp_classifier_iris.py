"""06 — An MLP classifier on iris, Keras style

Teaches: training with tinydl.train.fit instead of a hand-written loop (History of
per-epoch losses and metrics, validation after every epoch, loss and accuracy curves);
standardising features with statistics of the training part only; a seeded stratified split.
Seed system: seed 003's Keras model, Dense(64, relu) -> Dense(64, relu) -> Dense(3), Adam,
cross-entropy, 100 epochs, batch size 16, 80/20 split; test accuracy >= 0.95.

Run:  python lessons/06_mlp_classifier_iris.py [--quick] [--out runs/]
"""
# %% Imports and arguments
import argparse
from pathlib import Path

import numpy as np

import tinydl
from tinydl import nn, optim
from tinydl.data import DataLoader, TensorDataset, iris, train_test_split
from tinydl.train import evaluate, fit

parser = argparse.ArgumentParser(description="06 — An MLP classifier on iris, Keras style")
parser.add_argument("--quick", action="store_true", help="a few epochs only (smoke test)")
parser.add_argument("--out", default="runs", help="folder for the figures (default runs/)")
args = parser.parse_args()
out = Path(args.out)
tinydl.manual_seed(3)

# %% Data: 80/20 split with every species in the same proportion in both parts
data = iris()
X_train, X_test, y_train, y_test = train_test_split(data.X, data.y, test_size=0.2, seed=3,
                                                    stratify=data.y)
mean, std = X_train.mean(axis=0), X_train.std(axis=0)
X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
print(f"train {X_train.shape} (per class {np.bincount(y_train).tolist()}), "
      f"test {X_test.shape} (per class {np.bincount(y_test).tolist()})")
train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=16, shuffle=True)
test_loader = DataLoader(TensorDataset(X_test, y_test), batch_size=16)

# %% The model: Keras's Dense(64, activation="relu") is Linear + ReLU
model = nn.Sequential(
    nn.Linear(4, 64), nn.ReLU(),      # Dense(64, relu)
    nn.Linear(64, 64), nn.ReLU(),     # Dense(64, relu)
    nn.Linear(64, 3),                 # Dense(3): logits; CrossEntropyLoss applies the softmax
)
print(model.summary())

# %% Train: Adam, cross-entropy, 100 epochs, evaluating on the test part after each epoch
epochs = 5 if args.quick else 100
history = fit(model, train_loader, nn.CrossEntropyLoss(), optim.Adam(model.parameters()),
              epochs=epochs, val_loader=test_loader, metrics=["accuracy"])
for epoch in sorted({0, epochs // 4, epochs // 2, epochs - 1}):
    print(f"epoch {epoch + 1:3d}  loss {history['loss'][epoch]:.4f}  "
          f"accuracy {history['accuracy'][epoch]:.3f}  val_loss "
          f"{history['val_loss'][epoch]:.4f}  val_accuracy {history['val_accuracy'][epoch]:.3f}")

# %% Final scores
test = evaluate(model, test_loader, nn.CrossEntropyLoss(), metrics=["accuracy"])
print(f"test loss {test['loss']:.4f}")
print(f"test accuracy {test['accuracy']:.4f} (seed 003's bar: >= 0.95)")

# %% Curves
history.plot(out / "06_history.png")
print(f"saved {out / '06_history.png'}")
