"""Dropout: zero random elements while training, so no unit can rely on another."""
from __future__ import annotations

from tinydl.errors import ShapeError
from tinydl.ops.common import as_tensor
from tinydl.random import generator
from tinydl.tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d"]


def dropout(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
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



def _channel_dropout(op: str, x: Tensor, p: float, training: bool, spatial_dims: int) -> Tensor:
    """Zero whole channels: one keep/drop draw per (sample, channel), broadcast over the
    ``spatial_dims`` trailing dims; an unbatched input (C, ...) is one sample."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: p must be in [0, 1], got {p}")
    if x.ndim not in (spatial_dims + 1, spatial_dims + 2):
        raise ShapeError(f"{op}: input must be (N, C, ...) or (C, ...) with {spatial_dims} "
                         f"spatial dims, got shape {x.shape}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    mask_shape = x.shape[:x.ndim - spatial_dims] + (1,) * spatial_dims
    keep = generator().random(mask_shape) >= p
    scale = (keep / (1.0 - p)).astype(x.dtype)
    return x * x.xp.asarray(scale)


def dropout1d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Drop whole channels of (N, C, L) or (C, L) sequences with probability p."""
    return _channel_dropout("dropout1d", x, p, training, 1)


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Drop whole channels (feature maps) of (N, C, H, W) or (C, H, W) with probability p."""
    return _channel_dropout("dropout2d", x, p, training, 2)


def dropout3d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Drop whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p."""
    return _channel_dropout("dropout3d", x, p, training, 3)
