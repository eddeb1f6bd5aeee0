"""LayerNorm: normalise each sample over its last dims, then scale and shift (learned)."""
from __future__ import annotations

from typing import Any

import numpy

from tinydl import functional as F
from tinydl.nn.module import Module, Parameter
from tinydl.tensor import Tensor


class LayerNorm(Module):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last len(normalized_shape) dims.

    Shapes: x (..., *normalized_shape) -> same. weight starts at ones, bias at zeros;
    ``elementwise_affine=False`` drops both, ``bias=False`` drops only the bias.
    """

    def __init__(self, normalized_shape: Any, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None):
        super().__init__()
        self.normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                                 else tuple(normalized_shape))
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = numpy.float32 if dtype is None else dtype
        if elementwise_affine:
            self.weight = Parameter(numpy.ones(self.normalized_shape), dtype=dtype)
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = Parameter(numpy.zeros(self.normalized_shape), dtype=dtype)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                                              self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
