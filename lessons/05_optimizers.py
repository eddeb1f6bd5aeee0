"""05 — Optimizers: SGD, momentum and Adam

Teaches: the update rules of the three optimizers most training uses, written out next to the
code that applies them; that tinydl.optim follows those formulas exactly (the hand-written and
library trajectories agree); how they behave on a curved valley (the Rosenbrock function) and
on a small neural network.
Seed system: seeds 001/004's optimizer formulas (gradient descent, momentum, Adam with bias
correction), compared on the Rosenbrock function and on an MLP.

Run:  python lessons/05_optimizers.py [--quick] [--out runs/]
"""
# %% Imports and arguments
import argparse
from pathlib import Path

import numpy as np

import tinydl
import tinydl.functional as F
from tinydl import nn, optim
from tinydl.data import DataLoader, TensorDataset, make_spirals
from tinydl.plot import plot_curves
from tinydl.train import evaluate, fit

parser = argparse.ArgumentParser(description="05 — Optimizers: SGD, momentum and Adam")
parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
parser.add_argument("--out", default="runs", help="folder for the figures (default runs/)")
args = parser.parse_args()
out = Path(args.out)
tinydl.manual_seed(4)

# %% The Rosenbrock function: a long curved valley with its minimum f = 0 at (1, 1)
#    f(x, y) = (1 - x)^2 + 100 (y - x^2)^2


def rosenbrock_numpy(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_gradient(p):
    """(df/dx, df/dy), by hand: df/dx = -2(1 - x) - 400 x (y - x^2), df/dy = 200 (y - x^2)."""
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def rosenbrock(p):
    """The same function on a tinydl tensor p of shape (2,), so autograd can differentiate it."""
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


START = np.array([-1.5, 2.0])
STEPS = 50 if args.quick else 2000
SETTINGS = {  # name: (learning rate, extra settings)
    "SGD": (1e-3, {}),
    "momentum": (1e-3, {"momentum": 0.9}),
    "Adam": (2e-2, {"betas": (0.9, 0.999), "eps": 1e-8}),
}


# %% The three update rules, by hand (g is the gradient at p; t counts steps from 1)
def sgd_by_hand(lr, steps):
    p, path = START.copy(), []
    for _ in range(steps):
        g = rosenbrock_gradient(p)
        p = p - lr * g                         # p <- p - lr * g
        path.append(p)
    return np.array(path)


def momentum_by_hand(lr, steps, momentum):
    p, v, path = START.copy(), np.zeros(2), []
    for _ in range(steps):
        g = rosenbrock_gradient(p)
        v = momentum * v + g                   # v <- mu * v + g   (a running sum of gradients)
        p = p - lr * v                         # p <- p - lr * v
        path.append(p)
    return np.array(path)


def adam_by_hand(lr, steps, betas, eps):
    beta1, beta2 = betas
    p, m, s, path = START.copy(), np.zeros(2), np.zeros(2), []
    for t in range(1, steps + 1):
        g = rosenbrock_gradient(p)
        m = beta1 * m + (1 - beta1) * g        # m <- b1 m + (1 - b1) g      (mean of g)
        s = beta2 * s + (1 - beta2) * g * g    # s <- b2 s + (1 - b2) g^2    (mean of g^2)
        m_hat = m / (1 - beta1 ** t)           # bias correction: m and s start at 0
        s_hat = s / (1 - beta2 ** t)
        p = p - lr * m_hat / (np.sqrt(s_hat) + eps)   # p <- p - lr m_hat / (sqrt(s_hat) + eps)
        path.append(p)
    return np.array(path)


BY_HAND = {"SGD": sgd_by_hand, "momentum": momentum_by_hand, "Adam": adam_by_hand}
OPTIMIZERS = {"SGD": optim.SGD, "momentum": optim.SGD, "Adam": optim.Adam}


# %% The same with tinydl.optim: autograd gives g, the optimizer applies the rule
def with_tinydl(name, lr, steps, **settings):
    # a copy of START: the optimizer updates p's data in place
    p = tinydl.tensor(START.copy(), dtype=tinydl.float64, requires_grad=True)
    optimizer = OPTIMIZERS[name]([p], lr=lr, **settings)
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        rosenbrock(p).backward()
        optimizer.step()
        path.append(p.numpy().copy())
    return np.array(path)


rosenbrock_curves = {}
for name, (lr, settings) in SETTINGS.items():
    hand = BY_HAND[name](lr, STEPS, **settings)
    library = with_tinydl(name, lr, STEPS, **settings)
    difference = float(np.max(np.abs(hand - library)))
    assert difference < 1e-8, f"{name}: tinydl.optim departs from the formula by {difference}"
    values = [rosenbrock_numpy(p) for p in library]
    rosenbrock_curves[name] = values
    x, y = library[-1]
    print(f"Rosenbrock {name:8s} lr={lr:g}: after {STEPS} steps f={values[-1]:.3e} at "
          f"({x:.4f}, {y:.4f}); by hand vs tinydl max diff {difference:.1e}")

plot_curves(rosenbrock_curves, path=out / "05_rosenbrock.png", xlabel="step",
            ylabel="f(x, y)", title="Rosenbrock from (-1.5, 2): SGD vs momentum vs Adam",
            logy=True)
print(f"saved {out / '05_rosenbrock.png'}")

# %% On a neural network: an MLP on three interleaved spirals
X, y = make_spirals(n_samples=600, classes=3, noise=0.2, seed=4)
loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
epochs = 3 if args.quick else 60
MLP_SETTINGS = {"SGD": (0.1, {}), "momentum": (0.1, {"momentum": 0.9}), "Adam": (0.01, {})}
mlp_curves = {}
for name, (lr, settings) in MLP_SETTINGS.items():
    tinydl.manual_seed(4)  # the same initial weights and batch order for every optimizer
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 3))
    optimizer = OPTIMIZERS[name](model.parameters(), lr=lr, **settings)
    history = fit(model, loader, F.cross_entropy, optimizer, epochs=epochs, progress=False)
    mlp_curves[name] = history["loss"]
    result = evaluate(model, DataLoader(TensorDataset(X, y), batch_size=600),
                      metrics=["accuracy"])
    print(f"spirals MLP {name:8s} lr={lr:g}: final loss {history['loss'][-1]:.4f}, "
          f"train accuracy {result['accuracy']:.3f}")

plot_curves(mlp_curves, path=out / "05_mlp.png", xlabel="epoch", ylabel="cross-entropy",
            title="Spirals MLP: SGD vs momentum vs Adam")
print(f"saved {out / '05_mlp.png'}")
