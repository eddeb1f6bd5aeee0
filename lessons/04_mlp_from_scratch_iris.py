"""04 — An MLP from scratch on iris, then the same net in tinydl

Teaches: what backpropagation computes, by writing it out by hand in NumPy for a two-layer
network (sigmoid hidden layer, softmax output, cross-entropy), and checking that tinydl's
autograd gives the same gradients (to 1e-10 in float64); then training both side by side.
Seed system: seed 003's hand-written NumPy MLP on iris (sigmoid activations, manual
backprop, full-batch gradient descent, test accuracy printed).

Run:  python lessons/04_mlp_from_scratch_iris.py [--quick] [--out runs/]
"""
# %% Imports and arguments
import argparse
from pathlib import Path

import numpy as np

import tinydl
import tinydl.functional as F
from tinydl import nn, optim
from tinydl.data import iris, train_test_split
from tinydl.metrics import accuracy
from tinydl.plot import plot_curves

parser = argparse.ArgumentParser(description="04 — An MLP from scratch on iris")
parser.add_argument("--quick", action="store_true", help="a few epochs only (smoke test)")
parser.add_argument("--out", default="runs", help="folder for the figures (default runs/)")
args = parser.parse_args()
out = Path(args.out)
tinydl.manual_seed(3)

# %% Data: 150 flowers, 4 measurements, 3 species; 80/20 stratified split, standardised
data = iris()
X_train, X_test, y_train, y_test = train_test_split(data.X, data.y, test_size=0.2, seed=3,
                                                    stratify=data.y)
mean, std = X_train.mean(axis=0), X_train.std(axis=0)       # statistics of the training part only
X_train = ((X_train - mean) / std).astype(np.float64)       # float64: exact gradient comparison
X_test = ((X_test - mean) / std).astype(np.float64)
print(f"train {X_train.shape}, test {X_test.shape}, classes {data.class_names}")

N_IN, N_HIDDEN, N_OUT = 4, 10, 3


# %% The network by hand in NumPy
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def softmax(z):
    shifted = np.exp(z - z.max(axis=1, keepdims=True))      # subtract the row max: no overflow
    return shifted / shifted.sum(axis=1, keepdims=True)


class NumpyMLP:
    """x -> sigmoid(x @ W1 + b1) -> softmax(. @ W2 + b2); weights stored as (in, out)."""

    def __init__(self, rng):
        self.W1 = rng.normal(0.0, 1.0 / np.sqrt(N_IN), (N_IN, N_HIDDEN))
        self.b1 = np.zeros(N_HIDDEN)
        self.W2 = rng.normal(0.0, 1.0 / np.sqrt(N_HIDDEN), (N_HIDDEN, N_OUT))
        self.b2 = np.zeros(N_OUT)

    def forward(self, X):
        """X (N, 4) -> class probabilities (N, 3); keeps what backward needs."""
        self.X = X
        self.a1 = sigmoid(X @ self.W1 + self.b1)              # (N, 10) hidden activations
        self.probs = softmax(self.a1 @ self.W2 + self.b2)     # (N, 3)
        return self.probs

    def loss(self, y):
        """Mean cross-entropy: -log of the probability given to the right class."""
        return float(-np.mean(np.log(self.probs[np.arange(len(y)), y])))

    def backward(self, y):
        """Gradients of the mean cross-entropy, by the chain rule, layer by layer."""
        n = len(y)
        one_hot = np.eye(N_OUT)[y]                            # (N, 3)
        dz2 = (self.probs - one_hot) / n                      # softmax + cross-entropy combined
        grads = {"W2": self.a1.T @ dz2, "b2": dz2.sum(axis=0)}
        da1 = dz2 @ self.W2.T                                 # back through the second layer
        dz1 = da1 * self.a1 * (1.0 - self.a1)                 # sigmoid'(z) = s(z) (1 - s(z))
        grads.update(W1=self.X.T @ dz1, b1=dz1.sum(axis=0))
        return grads

    def sgd_step(self, grads, lr):
        for name, grad in grads.items():
            setattr(self, name, getattr(self, name) - lr * grad)


scratch = NumpyMLP(np.random.default_rng(3))

# %% The same network in tinydl, starting from the same weights
model = nn.Sequential(nn.Linear(N_IN, N_HIDDEN, dtype=tinydl.float64), nn.Sigmoid(),
                      nn.Linear(N_HIDDEN, N_OUT, dtype=tinydl.float64))
# tinydl (like PyTorch) stores weight as (out, in) and computes x @ weight.T
model[0].weight.data[...] = scratch.W1.T
model[0].bias.data[...] = scratch.b1
model[2].weight.data[...] = scratch.W2.T
model[2].bias.data[...] = scratch.b2
print(model)

# %% Do the gradients agree?
inputs, labels = tinydl.tensor(X_train, dtype=tinydl.float64), tinydl.tensor(y_train)
scratch.forward(X_train)
hand_grads = scratch.backward(y_train)
loss = F.cross_entropy(model(inputs), labels)               # softmax + cross-entropy from logits
loss.backward()
auto_grads = {"W1": model[0].weight.grad.numpy().T, "b1": model[0].bias.grad.numpy(),
              "W2": model[2].weight.grad.numpy().T, "b2": model[2].bias.grad.numpy()}
max_grad_diff = max(float(np.max(np.abs(hand_grads[k] - auto_grads[k]))) for k in hand_grads)
print(f"loss: by hand {scratch.loss(y_train):.12f}, tinydl {loss.item():.12f}")
print(f"max |hand-written gradient - tinydl gradient| = {max_grad_diff:.3e}")
assert max_grad_diff < 1e-10, "the hand-written backward pass disagrees with autograd"

# %% Train both with full-batch gradient descent, side by side
LR = 0.5
epochs = 20 if args.quick else 1000
optimizer = optim.SGD(model.parameters(), lr=LR)
hand_losses, tinydl_losses = [], []
for epoch in range(epochs):
    scratch.forward(X_train)
    hand_losses.append(scratch.loss(y_train))
    scratch.sgd_step(scratch.backward(y_train), LR)

    optimizer.zero_grad()
    loss = F.cross_entropy(model(inputs), labels)
    loss.backward()
    optimizer.step()
    tinydl_losses.append(loss.item())
    if epoch % 200 == 0 or epoch == epochs - 1:
        print(f"epoch {epoch + 1:4d}  loss by hand {hand_losses[-1]:.6f}  "
              f"tinydl {tinydl_losses[-1]:.6f}")
max_loss_diff = max(abs(a - b) for a, b in zip(hand_losses, tinydl_losses))
print(f"max loss difference over training: {max_loss_diff:.3e}")

# %% Test accuracy
hand_test_acc = accuracy(y_test, scratch.forward(X_test))
with tinydl.no_grad():
    tinydl_test_acc = accuracy(y_test, model(tinydl.tensor(X_test, dtype=tinydl.float64)))
print(f"test accuracy: by hand {hand_test_acc:.4f}, tinydl {tinydl_test_acc:.4f}")

# %% Loss curve
plot_curves({"NumPy by hand": hand_losses, "tinydl": tinydl_losses},
            path=out / "04_loss_curve.png", xlabel="epoch", ylabel="cross-entropy",
            title="Iris MLP: hand-written vs tinydl")
print(f"saved {out / '04_loss_curve.png'}")
