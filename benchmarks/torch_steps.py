"""The benchmark workloads in PyTorch, the reference peer: one step per workload.

This module imports NumPy and, through its callers or ``torch_or_none``, PyTorch; never tinydl:
a torch worker process of ``python -m benchmarks`` builds its steps from here, so tinydl's
import-time settings (its allocator tuning, its thread budget) never reach the torch figures
(benchmarks/worker.py checks it). The bench_*.py scripts, which compare the libraries inside
one process, take their torch twins from here too.

    step = mlp_step(*mlp_problem())     # one torch Adam step of the MLP; returns the loss
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.common import torch_or_none, training_step
from benchmarks.problems import LSTM_BATCH, LSTM_HIDDEN, LSTM_INPUT, LSTM_STEPS, attention_inputs

LR = 1e-3


# ---------------------------------------------------------------- MLP 784-256-256-10

def mlp_step(X: np.ndarray, y: np.ndarray, layers: list) -> Callable[[], float] | None:
    """One Adam step of the MLP 784-256-256-10 from (W (out, in), b) per layer; None without torch."""
    try:
        import torch
    except ImportError:
        return None
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for linear, (W, b) in zip(linears, layers):
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    return training_step(model, torch.from_numpy(X), torch.from_numpy(y), opt,
                         torch.nn.functional.cross_entropy)


# ---------------------------------------------------------------- seed CNNs (tinydl's layer names)

def seed_net(torch, name: str):
    """The seed net ``name`` ("seed002" or "seed004") in PyTorch, with tinydl's layer names.

    The op order is tinydl's models' (tinydl/models/cnn.py): pooling, then ReLU (the same values
    as the seeds' ReLU-then-pool, on a quarter of the elements), so the ratio compares the
    libraries, not two ways of writing the model.
    """
    tnn = torch.nn

    class TorchSeed002(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = tnn.Conv2d(1, 32, 3), tnn.Conv2d(32, 64, 3)
            self.conv3 = tnn.Conv2d(64, 64, 3)
            self.fc1, self.fc2 = tnn.Linear(576, 64), tnn.Linear(64, 10)

        def forward(self, x):
            x = torch.relu(torch.max_pool2d(self.conv1(x), 2))
            x = torch.relu(torch.max_pool2d(self.conv2(x), 2))
            x = torch.relu(self.conv3(x))
            return self.fc2(torch.relu(self.fc1(x.flatten(1))))

    class TorchSeed004(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = tnn.Conv2d(3, 32, 3, 1, 1), tnn.Conv2d(32, 64, 3, 1, 1)
            self.fc1, self.fc2 = tnn.Linear(64 * 8 * 8, 128), tnn.Linear(128, 10)

        def forward(self, x):
            x = torch.relu(torch.max_pool2d(self.conv1(x), 2))
            x = torch.relu(torch.max_pool2d(self.conv2(x), 2))
            return self.fc2(torch.relu(self.fc1(x.flatten(1))))

    return TorchSeed002() if name == "seed002" else TorchSeed004()


def cnn_step(torch, name: str, images: np.ndarray, labels: np.ndarray):
    """(one torch Adam step returning the loss, the torch model); seeded with torch.manual_seed(0)."""
    torch.manual_seed(0)
    torch_model = seed_net(torch, name)
    torch_opt = torch.optim.Adam(torch_model.parameters(), lr=LR)
    torch_x, torch_y = torch.from_numpy(images), torch.from_numpy(labels)
    return (training_step(torch_model, torch_x, torch_y, torch_opt,
                          torch.nn.functional.cross_entropy), torch_model)


# ---------------------------------------------------------------- LSTM, attention, GPT-mini, overhead

def lstm_step() -> Callable[[], None] | None:
    """Forward and backward of torch.nn.LSTM(32, 128) over (T 64, batch 32, 32); None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    layer = torch.nn.LSTM(LSTM_INPUT, LSTM_HIDDEN)
    x = torch.randn(LSTM_STEPS, LSTM_BATCH, LSTM_INPUT)

    def step() -> None:
        layer.zero_grad()
        out, _ = layer(x)
        out.sum().backward()

    return step


def sdpa_step(length: int) -> Callable[[], None] | None:
    """Forward and backward of causal scaled_dot_product_attention on (8, 4, length, 32); None without torch."""
    torch = torch_or_none()
    if torch is None:
        return None
    q, k, v = (torch.from_numpy(a).requires_grad_(True) for a in attention_inputs(length))

    def step() -> None:
        for t in (q, k, v):
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()

    return step


def gpt_step(torch, sizes: dict, idx: np.ndarray, targets: np.ndarray):
    """One AdamW step of a GPT equivalent to tinydl's (pre-norm, fused qkv, tanh GELU, tied head)."""
    nn, functional = torch.nn, torch.nn.functional
    n_embd, n_head = sizes["n_embd"], sizes["n_head"]

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
            self.c_attn, self.attn_proj = nn.Linear(n_embd, 3 * n_embd), nn.Linear(n_embd, n_embd)
            self.c_fc, self.mlp_proj = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)

        def forward(self, x):
            batch, steps, channels = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(channels, dim=2)
            q, k, v = (t.view(batch, steps, n_head, channels // n_head).transpose(1, 2)
                       for t in (q, k, v))
            y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).reshape(batch, steps, channels))
            return x + self.mlp_proj(functional.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(sizes["vocab_size"], n_embd)
            self.wpe = nn.Embedding(sizes["block_size"], n_embd)
            self.h = nn.ModuleList([Block() for _ in range(sizes["n_layer"])])
            self.ln_f = nn.LayerNorm(n_embd)

        def forward(self, idx, targets):
            positions = torch.arange(idx.shape[1])
            x = self.wte(idx) + self.wpe(positions)
            for block in self.h:
                x = block(x)
            logits = self.ln_f(x) @ self.wte.weight.T  # tied output layer
            return functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    model = TorchGPT()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    torch_idx, torch_targets = torch.from_numpy(idx), torch.from_numpy(targets)

    def step():
        loss = model(torch_idx, torch_targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def overhead_step(torch):
    """Forward and backward of (a + b).sum() on one-element torch tensors."""
    a = torch.tensor([1.0], requires_grad=True)
    b = torch.tensor([2.0], requires_grad=True)

    def step():
        a.grad = b.grad = None
        (a + b).sum().backward()

    return step
