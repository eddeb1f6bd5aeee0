"""Activations composed of primitives: ``leaky_relu`` and ``silu``.

relu, sigmoid, tanh, gelu, softmax and log_softmax are primitives (``tinydl.ops.nn``);
``tinydl.functional`` re-exports them next to these.
"""
from __future__ import annotations

from tinydl.ops.common import as_tensor
from tinydl.ops.elementwise import where
from tinydl.ops.nn import sigmoid
from tinydl.tensor import Tensor

__all__ = ["leaky_relu", "silu"]


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, negative_slope * x elsewhere."""
    x = as_tensor(x)
    return where(x.data > 0, x, x * negative_slope)


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    x = as_tensor(x)
    return x * sigmoid(x)

