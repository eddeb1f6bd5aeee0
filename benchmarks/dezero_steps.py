"""The benchmark workloads in DeZero, the framework of the book "Deep Learning from Scratch 3".

DeZero (``pip install dezero==0.0.13``, NumPy only) is the second peer of ``python -m
benchmarks``, beside PyTorch. This module imports NumPy and DeZero and nothing else of the
benchmarked libraries: it runs in a DeZero worker process (benchmarks/worker.py checks that
neither tinydl nor torch got in). Each builder takes ``quick`` (unused: the sizes are the
table's) and returns one step, with the same model sizes, batch, data (benchmarks/problems.py)
and optimizer (Adam, lr 1e-3) as the tinydl and torch steps:

    step = mlp(quick=False)     # one DeZero training step of the MLP 784-256-256-10; returns the loss
    step()

What DeZero runs, where it differs from the others:

* dtype. The inputs are float32, and so are the weights: the builders cast them to float32,
  because on NumPy 2 DeZero's own initialisers return float64 (``randn(...).astype(float32) *
  np.sqrt(1 / I)``: a NumPy float64 scalar promotes under NEP 50). The forward stays float32.
  The backward does not: SoftmaxCrossEntropy.backward scales by ``np.array(1 / N)`` and
  ``1 - y`` in Tanh's backward is an int64 array, both non-weak under NEP 50, so the gradients
  are float64 (the GEMMs of the backward run in double precision); Adam's in-place update keeps
  the parameters float32. That is DeZero 0.0.13 on NumPy 2 as a user gets it; it is not patched.
* optimizer. ``dezero.optimizers.Adam(alpha=1e-3)``, betas 0.9, 0.999, eps 1e-8; it adds eps to
  sqrt(v) before the bias correction (eps is in effect scaled by sqrt(1 - beta2^t)).
* threads. DeZero has no set_num_threads: the "1 thread" setting limits NumPy's BLAS with
  threadpoolctl (benchmarks/worker.py).
* LSTM. ``dezero.layers.LSTM`` is one cell with one bias per gate (PyTorch's b_ih + b_hh is the
  same function); the step runs it over the 64 time steps from a zero state and backpropagates
  the sum of all outputs, as ``out.sum().backward()`` does. DeZero has no requires_grad: it
  also computes the gradient of the input sequence, which the others skip.
* Not expressible: GPT-mini and the SDPA rows (UNSUPPORTED_GPT, UNSUPPORTED_SDPA below).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks import problems

LR = 1e-3
# Why a workload has no DeZero step: it would need new DeZero Functions, not a model built from its own.
NO_BATCHED_MATMUL = ("DeZero 0.0.13 has no batched matmul (its MatMul is ndarray.dot, whose backward "
                     "transposes every axis)")
UNSUPPORTED_SDPA = NO_BATCHED_MATMUL
UNSUPPORTED_GPT = NO_BATCHED_MATMUL + ", no layer norm and no GELU"


def import_dezero():
    """DeZero 0.0.13, made importable on NumPy >= 1.24.

    Its transforms module uses ``np.int`` (removed in NumPy 1.24) as a default argument, so the
    import fails; the alias is set back to the builtin int first, in this process only.
    """
    if "int" not in vars(np):
        np.int = int
    import dezero

    return dezero


def training_step(model, inputs: np.ndarray, labels: np.ndarray) -> Callable[[], float]:
    """One DeZero Adam step (cleargrads, forward, softmax cross-entropy, backward, update) returning the loss.

    ``model`` maps a batch (N, ...) to logits (N, classes); its parameters are cast to float32.
    """
    dezero = import_dezero()
    F = dezero.functions
    _cast_parameters(model, inputs)
    optimizer = dezero.optimizers.Adam(alpha=LR).setup(model)

    def step() -> float:
        model.cleargrads()
        loss = F.softmax_cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.update()
        return float(loss.data)

    return step


def _cast_parameters(model, sample: np.ndarray) -> None:
    """Cast every parameter to float32; DeZero creates deferred weights on the first call, so run one."""
    dezero = import_dezero()
    with dezero.no_grad():
        model(sample[:1])
    for parameter in model.params():
        parameter.data = parameter.data.astype(np.float32)


def mlp_from(weights: list[tuple[np.ndarray, np.ndarray]]):
    """A DeZero Sequential MLP (Linear, ReLU, ..., Linear) starting from (W (out, in), b (out,)) per layer."""
    dezero = import_dezero()
    layers = []
    for W, b in weights:
        linear = dezero.layers.Linear(W.shape[0], in_size=W.shape[1])
        linear.W.data, linear.b.data = np.ascontiguousarray(W.T), b.copy()  # DeZero stores W as (in, out)
        layers += [linear, dezero.functions.relu]
    return dezero.models.Sequential(*layers[:-1])


def mlp(quick: bool) -> Callable[[], float]:
    """MLP 784-256-256-10, batch 128: the weights of bench_mlp (same first loss as tinydl and torch)."""
    X, y, weights = problems.mlp_problem()
    return training_step(mlp_from(weights), X, y)


def iris(quick: bool) -> Callable[[], float]:
    """Iris MLP 4-64-64-3, batch 16."""
    features, labels = problems.iris_batch()
    weights = problems.linear_weights(problems.IRIS_SIZES, np.random.default_rng(1))
    return training_step(mlp_from(weights), features, labels)


def seed_cnn(name: str):
    """A DeZero model of tinydl.models.Seed002Net or Seed004Net (same layers and shapes)."""
    dezero = import_dezero()
    F, L = dezero.functions, dezero.layers

    class Seed002(dezero.Model):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = L.Conv2d(32, 3, in_channels=1), L.Conv2d(64, 3, in_channels=32)
            self.conv3 = L.Conv2d(64, 3, in_channels=64)
            self.fc1, self.fc2 = L.Linear(64, in_size=576), L.Linear(10, in_size=64)

        def forward(self, x):
            x = F.relu(F.pooling(self.conv1(x), 2, stride=2))      # (N, 32, 13, 13)
            x = F.relu(F.pooling(self.conv2(x), 2, stride=2))      # (N, 64, 5, 5)
            x = F.relu(self.conv3(x))                              # (N, 64, 3, 3)
            return self.fc2(F.relu(self.fc1(F.flatten(x))))        # (N, 10)

    class Seed004(dezero.Model):
        def __init__(self):
            super().__init__()
            self.conv1 = L.Conv2d(32, 3, pad=1, in_channels=3)
            self.conv2 = L.Conv2d(64, 3, pad=1, in_channels=32)
            self.fc1, self.fc2 = L.Linear(128, in_size=64 * 8 * 8), L.Linear(10, in_size=128)

        def forward(self, x):
            x = F.relu(F.pooling(self.conv1(x), 2, stride=2))      # (N, 32, 16, 16)
            x = F.relu(F.pooling(self.conv2(x), 2, stride=2))      # (N, 64, 8, 8)
            return self.fc2(F.relu(self.fc1(F.flatten(x))))        # (N, 10)

    return Seed002() if name == "seed002" else Seed004()


def cnn(name: str) -> Callable[[bool], Callable[[], float]]:
    """The builder of seed net ``name``'s Adam step on a batch of 64 (DeZero's own initialisation, seed 0)."""

    def build(quick: bool) -> Callable[[], float]:
        np.random.seed(0)  # DeZero initialises from NumPy's global generator
        images, labels = problems.cnn_batch(name)
        return training_step(seed_cnn(name), images, labels)

    return build


def lstm(quick: bool) -> Callable[[], None]:
    """LSTM in 32, hidden 128, over T 64 with batch 32: forward and backward of the sum of all outputs."""
    dezero = import_dezero()
    F = dezero.functions
    np.random.seed(0)
    cell = dezero.layers.LSTM(problems.LSTM_HIDDEN, in_size=problems.LSTM_INPUT)
    sequence = problems.lstm_sequence()
    for parameter in cell.params():
        parameter.data = parameter.data.astype(np.float32)

    def step() -> None:
        cell.cleargrads()
        cell.reset_state()
        total = None
        for x_t in sequence:
            step_sum = F.sum(cell(x_t))
            total = step_sum if total is None else total + step_sum
        total.backward()

    return step


def overhead(quick: bool) -> Callable[[], None]:
    """Forward and backward of (a + b).sum() on one-element float32 Variables."""
    dezero = import_dezero()
    a = dezero.Variable(np.array([1.0], dtype=np.float32))
    b = dezero.Variable(np.array([2.0], dtype=np.float32))

    def step() -> None:
        a.cleargrad()
        b.cleargrad()
        dezero.functions.sum(a + b).backward()

    return step
