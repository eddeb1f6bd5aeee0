"""Dropout: zero random elements while training, so no unit can rely on another."""
from __future__ import annotations

from tinydl.ops.common import as_tensor
from tinydl.random import generator
from tinydl.tensor import Tensor

__all__ = ["dropout"]


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p, scale survivors by 1/(1-p).

    The identity when ``training`` is False or p == 0. The mask is drawn from tinydl's
    generator, so a seeded run repeats.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    keep = generator().random(x.shape) >= p  # drawn on the CPU for repeatability
    scale = (keep / (1.0 - p)).astype(x.dtype)
    return x * x.xp.asarray(scale)

