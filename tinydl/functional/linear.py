"""Bilinear maps: one matrix per output feature (``F.linear`` itself is a primitive in ops/nn.py)."""
from __future__ import annotations

from tinydl.tensor import Tensor


def bilinear(x1: Tensor, x2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y[..., k] = x1[..., :] @ weight[k] @ x2[..., :] + bias[k].

    Shapes: x1 (..., in1), x2 (..., in2), weight (out, in1, in2), bias (out,) -> (..., out).
    Computed as one matmul: (x1 @ W reshaped to (in1, out * in2)) times x2, summed over in2.
    """
    out_features, in1, in2 = weight.shape
    if x1.shape[-1] != in1 or x2.shape[-1] != in2 or x1.shape[:-1] != x2.shape[:-1]:
        raise ValueError(f"bilinear: inputs of shapes {x1.shape} and {x2.shape} do not fit a "
                         f"weight of shape {weight.shape}; expected (..., {in1}) and "
                         f"(..., {in2}) with the same leading dims")
    lead = x1.shape[:-1]
    mixed = x1.reshape(-1, in1) @ weight.permute(1, 0, 2).reshape(in1, out_features * in2)
    y = (mixed.reshape(-1, out_features, in2) * x2.reshape(-1, 1, in2)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (out_features,))
