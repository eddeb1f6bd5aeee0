"""03 — Linear regression with MSE and SGD

Teaches: the training loop every later lesson uses (forward, loss, backward, step) on the
simplest model there is, y = X @ w + b; mean squared error; mini-batch SGD from a DataLoader;
checking what was learned against the known answer and the closed-form least-squares fit.
Seed system: linear regression trained by gradient descent on synthetic data with known
coefficients, watching the MSE fall epoch by epoch.

Run:  python lessons/03_linear_regression.py [--quick] [--out runs/]
"""
# %% Imports and arguments
import argparse
from pathlib import Path

import numpy as np

import tinydl
from tinydl import nn, optim
from tinydl.data import DataLoader, TensorDataset, make_regression
from tinydl.plot import plot_curves

parser = argparse.ArgumentParser(description="03 — Linear regression with MSE and SGD")
parser.add_argument("--quick", action="store_true", help="a few epochs only (smoke test)")
parser.add_argument("--out", default="runs", help="folder for the figures (default runs/)")
args = parser.parse_args()
out = Path(args.out)
tinydl.manual_seed(0)

# %% Data with a known answer: y = X @ true_coef + 2.0 + noise
N_FEATURES, TRUE_BIAS = 3, 2.0
X, y, true_coef = make_regression(n_samples=500, n_features=N_FEATURES, noise=0.1, seed=3,
                                  bias=TRUE_BIAS)
y = y[:, None]  # (500,) -> (500, 1): one target per sample, like the model's output
loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
print(f"data: X {X.shape}, y {y.shape}; true coefficients {np.round(true_coef, 4)}, "
      f"bias {TRUE_BIAS}")

# %% Model, loss, optimizer
# nn.Linear(3, 1) holds weight (1, 3) and bias (1,): prediction = X @ weight.T + bias
model = nn.Linear(N_FEATURES, 1)
loss_fn = nn.MSELoss()                          # mean over the batch of (prediction - y)^2
optimizer = optim.SGD(model.parameters(), lr=0.05)

# %% The training loop
epochs = 3 if args.quick else 40
losses = []
for epoch in range(epochs):
    total, count = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()                   # forget the previous batch's gradients
        loss = loss_fn(model(xb), yb)           # forward
        loss.backward()                         # d loss / d weight and d loss / d bias
        optimizer.step()                        # w <- w - lr * grad
        total += loss.item() * len(xb)
        count += len(xb)
    losses.append(total / count)
    if epoch % 10 == 0 or epoch == epochs - 1:
        print(f"epoch {epoch + 1:3d}  mse {losses[-1]:.6f}")

# %% What did it learn?
learned_coef = model.weight.numpy()[0]          # (1, 3) -> (3,)
learned_bias = float(model.bias.numpy()[0])
# the closed-form least-squares answer for comparison: solve [X 1] @ [w; b] = y
design = np.hstack([X, np.ones((len(X), 1), np.float32)])   # (500, 4)
exact = np.linalg.lstsq(design.astype(np.float64), y[:, 0].astype(np.float64), rcond=None)[0]
print(f"true coefficients:      {np.round(true_coef, 4)}  bias {TRUE_BIAS:.4f}")
print(f"learned coefficients:   {np.round(learned_coef, 4)}  bias {learned_bias:.4f}")
print(f"least-squares solution: {np.round(exact[:3], 4)}  bias {exact[3]:.4f}")
coef_error = float(np.max(np.abs(learned_coef - true_coef)))
print(f"max |learned - true| coefficient: {coef_error:.4f}")
print(f"final train MSE: {losses[-1]:.6f} (noise variance 0.1^2 = 0.01)")

# %% Loss curve
plot_curves({"train MSE": losses}, path=out / "03_loss_curve.png", xlabel="epoch",
            ylabel="mean squared error", title="Linear regression: MSE per epoch", logy=True)
print(f"saved {out / '03_loss_curve.png'}")
