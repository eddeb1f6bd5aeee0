"""Activation layers: each wraps the function of the same name in tinydl.functional.

Most are ``FunctionLayer`` subclasses (tinydl/nn/function_layer.py): the constructor's
arguments (PyTorch's, in PyTorch's order) are passed to the function on every call.
"""
from __future__ import annotations

from typing import Any

import numpy

from tinydl import functional as F
from tinydl.nn.function_layer import FunctionLayer
from tinydl.nn.module import Module, Parameter
from tinydl.tensor import Tensor


class ReLU(Module):
    """max(x, 0)"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x))"""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x)"""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    """x·Φ(x); approximate="tanh" for GPT-2's formula."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else f"approximate='{self.approximate}'"


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(Module):
    """softmax along ``dim``"""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax) along ``dim``"""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Dropout(Module):
    """Zero each element with probability p in training and scale the rest by 1/(1-p)
    (inverted dropout); the identity in eval mode."""

    function = staticmethod(F.dropout)

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1), got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Dropout1d(Dropout):
    """Zero whole channels of (N, C, L) with probability p (scaled by 1/(1-p)) in training."""
    function = staticmethod(F.dropout1d)


class Dropout2d(Dropout):
    """Zero whole feature maps of (N, C, H, W) with probability p in training."""
    function = staticmethod(F.dropout2d)


class Dropout3d(Dropout):
    """Zero whole channels of (N, C, D, H, W) with probability p in training."""
    function = staticmethod(F.dropout3d)


class SiLU(FunctionLayer):
    """x * sigmoid(x)"""
    function = staticmethod(F.silu)

    def __init__(self, inplace: bool = False):
        super().__init__(inplace=inplace)


class Mish(SiLU):
    """x * tanh(softplus(x))"""
    function = staticmethod(F.mish)


class ReLU6(SiLU):
    """min(max(x, 0), 6)"""
    function = staticmethod(F.relu6)


class Hardswish(SiLU):
    """x * relu6(x + 3) / 6"""
    function = staticmethod(F.hardswish)


class Hardsigmoid(SiLU):
    """relu6(x + 3) / 6"""
    function = staticmethod(F.hardsigmoid)


class SELU(SiLU):
    """scale * elu(x, alpha) with the self-normalising constants"""
    function = staticmethod(F.selu)


class Softplus(FunctionLayer):
    """log(1 + exp(beta * x)) / beta (x above threshold)"""
    function = staticmethod(F.softplus)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__(beta=beta, threshold=threshold)


class ELU(FunctionLayer):
    """x for x > 0, alpha * (exp(x) - 1) otherwise"""
    function = staticmethod(F.elu)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__(alpha=alpha, inplace=inplace)


class CELU(ELU):
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise"""
    function = staticmethod(F.celu)


class Hardtanh(FunctionLayer):
    """x clipped to [min_val, max_val]"""
    function = staticmethod(F.hardtanh)

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__(min_val=min_val, max_val=max_val, inplace=inplace)


class RReLU(Module):
    """Randomised leaky relu: a random slope in [lower, upper] per element while training,
    their mean in eval mode."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.rrelu(x, self.lower, self.upper, self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}"


class PReLU(Module):
    """leaky_relu with a learned slope ``weight``: one shared (num_parameters=1) or one per
    channel (dim 1 of the input). Parameter: weight (num_parameters,), filled with ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None):
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(numpy.full((num_parameters,), init, dtype=dtype or numpy.float32))
        if device is not None:
            self.to(device)

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class LogSigmoid(FunctionLayer):
    """log(sigmoid(x))"""
    function = staticmethod(F.logsigmoid)

    def __init__(self):
        super().__init__()


class Softsign(LogSigmoid):
    """x / (1 + |x|)"""
    function = staticmethod(F.softsign)


class Tanhshrink(LogSigmoid):
    """x - tanh(x)"""
    function = staticmethod(F.tanhshrink)


class Softmin(FunctionLayer):
    """softmax(-x) along ``dim``"""
    function = staticmethod(F.softmin)

    def __init__(self, dim: int | None = None):
        super().__init__(dim=dim)


class GLU(FunctionLayer):
    """first half * sigmoid(second half) along ``dim``"""
    function = staticmethod(F.glu)

    def __init__(self, dim: int = -1):
        super().__init__(dim=dim)


class Threshold(FunctionLayer):
    """x where x > threshold, else value"""
    function = staticmethod(F.threshold)

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__(threshold=threshold, value=value, inplace=inplace)


class Hardshrink(FunctionLayer):
    """x where |x| > lambd, else 0"""
    function = staticmethod(F.hardshrink)

    def __init__(self, lambd: float = 0.5):
        super().__init__(lambd=lambd)


class Softshrink(Hardshrink):
    """x shrunk towards 0 by lambd (0 inside [-lambd, lambd])"""
    function = staticmethod(F.softshrink)


class CosineSimilarity(FunctionLayer):
    """cosine of the angle between x1 and x2 along ``dim``"""

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__(dim=dim, eps=eps)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(FunctionLayer):
    """p-norm distance between x1 and x2 along the last dim"""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__(p=p, eps=eps, keepdim=keepdim)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.p, self.eps, self.keepdim)
