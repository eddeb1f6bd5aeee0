"""Helpers the reference models share."""
from __future__ import annotations

from collections.abc import Callable

from tinydl.tensor import Tensor


def linear_rows(layer: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Apply a position-wise layer (a Linear, or a function of rows) to x (..., in) as one
    (N, in) matrix; returns (..., out).

    Every position is transformed the same way, so the batch and time axes can be merged
    into one axis of rows. The result is the same as ``layer(x)``, but NumPy sends a 2-D
    matrix product straight to BLAS, while for a stack of matrices (B, T, in) @ (in, out) it
    loops over the stack, which here is several times slower (and the weight gradient
    would be built per batch element and then summed).
    """
    lead = x.shape[:-1]
    rows = x.reshape(-1, x.shape[-1])  # (..., in) -> (N, in)
    out = layer(rows)                  # (N, out)
    return out.reshape(*lead, out.shape[-1])
