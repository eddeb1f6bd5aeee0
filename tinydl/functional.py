"""Composite functions, the names a user imports as ``F`` (``import tinydl.functional as F``).

These are built from the primitives in ``tinydl.ops``, so their gradients come for free.
Losses, convolution, pooling, normalisation and attention live in modules of their own and are
re-exported at the bottom, so ``F.cross_entropy`` or ``F.conv2d`` works as in PyTorch.
"""
from __future__ import annotations

from typing import Any

from tinydl.ops.common import as_tensor
from tinydl.ops.elementwise import where
from tinydl.ops.linalg import matmul
from tinydl.ops.nn import gelu, log_softmax, relu, sigmoid, softmax, tanh
from tinydl.ops.reduce import logsumexp
from tinydl.ops.shape import pad as pad_numpy_style
from tinydl.random import generator
from tinydl.tensor import Tensor

__all__ = ["linear", "relu", "sigmoid", "tanh", "gelu", "leaky_relu", "softmax", "log_softmax",
           "logsumexp", "dropout", "pad", "one_hot", "silu"]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight^T + bias. Shapes: x (..., in), weight (out, in), bias (out,) -> (..., out)."""
    out = matmul(x, weight.swapaxes(-1, -2))
    return out if bias is None else out + bias


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, negative_slope * x elsewhere."""
    return where(x.data > 0, x, x * negative_slope)


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return x * sigmoid(x)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p, scale survivors by 1/(1-p).

    The identity when ``training`` is False or p == 0. The mask is drawn from tinydl's
    generator, so a seeded run repeats.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    keep = generator().random(x.shape) >= p  # drawn on the CPU for repeatability
    scale = (keep / (1.0 - p)).astype(x.dtype)
    return x * x.xp.asarray(scale)


def pad(x: Tensor, pad: tuple, value: float = 0.0) -> Tensor:
    """PyTorch-style padding: ``pad`` lists (left, right) pairs starting from the LAST dim.

    F.pad(x, (1, 1, 2, 2)) pads the last dim by 1 on each side and the one before by 2.
    """
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected pairs for at most {x.ndim} dims, got {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return pad_numpy_style(x, tuple(widths), value)


def one_hot(labels: Any, num_classes: int, dtype: Any = None) -> Tensor:
    """Integer labels (N,) -> (N, num_classes) of zeros and ones (float32 by default)."""
    labels = as_tensor(labels)
    xp = labels.xp
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got {labels.dtype}")
    if labels.size and (int(labels.data.min()) < 0 or int(labels.data.max()) >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), got values from "
                         f"{int(labels.data.min())} to {int(labels.data.max())}")
    out = xp.eye(num_classes, dtype=dtype or "float32")[labels.data]
    return Tensor(out, dtype=out.dtype)

from tinydl.functional_attention import scaled_dot_product_attention  # noqa: E402
from tinydl.functional_sequence import embedding, layer_norm  # noqa: E402
from tinydl.losses import (binary_cross_entropy, binary_cross_entropy_with_logits,  # noqa: E402,F401
                           cross_entropy, mse_loss, nll_loss)
