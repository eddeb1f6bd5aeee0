"""Linear and Bilinear layers and the shape-only layers Flatten, Unflatten and Identity."""
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


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: Unflatten(1, (2, 5)) turns (N, 10) into
    (N, 2, 5) (the inverse of Flatten). One entry of unflattened_size may be -1."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        dim = self.dim + x.ndim if self.dim < 0 else self.dim
        if not 0 <= dim < x.ndim:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for an input of shape "
                             f"{x.shape}")
        known = math.prod(n for n in self.unflattened_size if n != -1)
        if (-1 not in self.unflattened_size and known != x.shape[dim]) or \
                (-1 in self.unflattened_size and (known == 0 or x.shape[dim] % known)):
            raise ValueError(f"Unflatten: cannot split dim {self.dim} of size {x.shape[dim]} "
                             f"(input shape {x.shape}) into {self.unflattened_size}; their "
                             "product must equal that size")
        return x.reshape(x.shape[:dim] + self.unflattened_size + x.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Bilinear(Module):
    """y = x1^T A x2 + b, one matrix A per output. Shapes: x1 (..., in1), x2 (..., in2) ->
    (..., out). Weight (out, in1, in2) and bias (out,) start as PyTorch's: U(±1/sqrt(in1))."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        dtype = numpy.float32 if dtype is None else dtype
        bound = 1.0 / math.sqrt(in1_features)
        self.weight = Parameter(numpy.zeros((out_features, in1_features, in2_features)),
                                dtype=dtype)
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(numpy.zeros(out_features), dtype=dtype)
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
