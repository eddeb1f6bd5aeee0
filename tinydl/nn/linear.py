"""Linear (fully connected) layer and the shape-only layers Flatten and Identity."""
from __future__ import annotations

import math

import numpy

from tinydl import functional as F
from tinydl.nn import init
from tinydl.nn.module import Module, Parameter
from tinydl.tensor import Tensor


class Linear(Module):
    """y = x @ W^T + b. Shapes: x (..., in_features) -> y (..., out_features).

    Weight (out_features, in_features) and bias (out_features,) start as PyTorch's do:
    U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        dtype = numpy.float32 if dtype is None else dtype
        self.weight = Parameter(numpy.zeros((out_features, in_features)), dtype=dtype)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(±1/sqrt(in_features))
        if bias:
            self.bias = Parameter(numpy.zeros(out_features), dtype=dtype)
            bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...) (dims start_dim..end_dim merged)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x
