"""06a — Metrics and training strategies on handwritten digits

Teaches: judging a classifier by more than accuracy (precision, recall and F1 per class and
macro-averaged, the confusion matrix); three common ways to train better than "a fixed
learning rate for a fixed number of epochs": a cosine learning-rate schedule, weight decay
(AdamW) and early stopping on a validation set, each compared against plain training.
Seed system: seeds 001/004's evaluation metrics and training strategies (learning-rate
schedules, regularisation, early stopping) on the 8x8 digits data set.

Run:  python lessons/06a_metrics_and_training_strategies.py [--quick] [--out runs/]
"""
# %% Imports and arguments
import argparse
from pathlib import Path

import numpy as np

import tinydl
from tinydl import nn, optim
from tinydl.data import DataLoader, TensorDataset, digits, train_test_split
from tinydl.metrics import accuracy, classification_report, confusion_matrix, f1_score, precision, recall
from tinydl.optim.lr_scheduler import CosineAnnealingLR
from tinydl.plot import plot_confusion_matrix, plot_curves
from tinydl.train import EarlyStopping, fit, predict

parser = argparse.ArgumentParser(description="06a — Metrics and training strategies on digits")
parser.add_argument("--quick", action="store_true", help="a few epochs only (smoke test)")
parser.add_argument("--out", default="runs", help="folder for the figures (default runs/)")
args = parser.parse_args()
out = Path(args.out)
tinydl.manual_seed(1)

# %% Data: 1797 digits of 8x8 pixels (values 0..16); train / validation / test = 64/16/20 %
data = digits()
X = data.X / 16.0                                           # pixels to [0, 1]
X_rest, X_test, y_rest, y_test = train_test_split(X, data.y, test_size=0.2, seed=1,
                                                  stratify=data.y)
X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.2, seed=1,
                                                  stratify=y_rest)
print(f"train {len(X_train)}, validation {len(X_val)}, test {len(X_test)} images")
train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True)
val_loader = DataLoader(TensorDataset(X_val, y_val), batch_size=256)
EPOCHS = 3 if args.quick else 60


def make_model():
    """The same starting weights for every strategy (the seed is reset first)."""
    tinydl.manual_seed(1)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


# %% Four ways to train the same network
def plain():
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    return model, dict(optimizer=opt)


def cosine_schedule():
    # lr_t = lr_min + (lr_0 - lr_min) (1 + cos(pi t / T)) / 2: large steps first, tiny at the end
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    return model, dict(optimizer=opt, scheduler=CosineAnnealingLR(opt, T_max=EPOCHS))


def weight_decay():
    # AdamW shrinks every weight a little each step: p <- p (1 - lr * weight_decay)
    model = make_model()
    return model, dict(optimizer=optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05))


def early_stopping():
    # stop once val_loss has not improved for 5 epochs; keep the best epoch's weights
    model = make_model()
    stopper = EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    return model, dict(optimizer=optim.Adam(model.parameters(), lr=1e-3), callbacks=[stopper])


STRATEGIES = {"plain": plain, "cosine schedule": cosine_schedule,
              "weight decay": weight_decay, "early stopping": early_stopping}

# %% Train each and score it on the test set
results, val_curves, models = {}, {}, {}
for name, build in STRATEGIES.items():
    model, settings = build()
    history = fit(model, train_loader, nn.CrossEntropyLoss(), epochs=EPOCHS,
                  val_loader=val_loader, metrics=["accuracy"], progress=False, **settings)
    predicted = predict(model, X_test).argmax(axis=1)        # (N, 10) logits -> (N,) labels
    results[name] = {
        "epochs": len(history),
        "accuracy": accuracy(y_test, predicted),
        "precision": precision(y_test, predicted, average="macro"),
        "recall": recall(y_test, predicted, average="macro"),
        "f1": f1_score(y_test, predicted, average="macro"),
        "best val_loss": min(history["val_loss"]),
        "final val_loss": history["val_loss"][-1],
    }
    val_curves[name] = history["val_loss"]
    models[name] = predicted

# %% The comparison table (macro averages: every digit counts the same)
print(f"\n{'strategy':16s} {'epochs':>6s} {'accuracy':>9s} {'precision':>9s} {'recall':>7s} "
      f"{'F1':>6s} {'best val_loss':>13s} {'final val_loss':>14s}")
for name, r in results.items():
    print(f"{name:16s} {r['epochs']:6d} {r['accuracy']:9.4f} {r['precision']:9.4f} "
          f"{r['recall']:7.4f} {r['f1']:6.4f} {r['best val_loss']:13.4f} "
          f"{r['final val_loss']:14.4f}")
print("(early stopping's final weights are those of its best epoch)")

# %% Per-class view of the plain model: where does it go wrong?
predicted = models["plain"]
print("\nplain training, per class on the test set:")
print(classification_report(y_test, predicted, class_names=data.class_names))
cm = confusion_matrix(y_test, predicted, num_classes=10)
off_diagonal = cm - np.diag(np.diag(cm))
true_digit, predicted_digit = np.unravel_index(off_diagonal.argmax(), cm.shape)
print(f"most frequent confusion: {true_digit} read as {predicted_digit} "
      f"(count {off_diagonal.max()})")
plot_confusion_matrix(cm, class_names=data.class_names, path=out / "06a_confusion_matrix.png")
plot_curves(val_curves, path=out / "06a_val_loss.png", xlabel="epoch",
            ylabel="validation cross-entropy", title="Digits: training strategies compared")
print(f"saved {out / '06a_confusion_matrix.png'} and {out / '06a_val_loss.png'}")
