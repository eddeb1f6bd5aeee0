"""Activations composed of primitives, with PyTorch's names and arguments.

relu, sigmoid, tanh, gelu, softmax and log_softmax are primitives (``tinydl.ops.nn``), and so
is ``Softplus`` (``tinydl.ops.loss``); everything here is built from them and from elementwise
ops, so gradients and second derivatives come for free. ``tinydl.functional`` re-exports all.

Piecewise functions pick their branch with ``where(condition, a, b)`` on the input's values;
the gradient flows through the branch that was picked, as in PyTorch (at a kink, torch's choice
of side is followed: e.g. relu6's gradient is 0 at exactly 0 and 6).
``inplace=`` is accepted for PyTorch compatibility and ignored: the result is a new tensor.
"""
from __future__ import annotations

import math
from typing import Any

from tinydl.errors import ShapeError
from tinydl.ops.common import as_tensor
from tinydl.ops.elementwise import where
from tinydl.ops.loss import Softplus
from tinydl.ops.nn import sigmoid, softmax, tanh
from tinydl.ops.reduce import sum as reduce_sum
from tinydl.random import generator
from tinydl.tensor import Tensor

__all__ = ["leaky_relu", "silu", "softplus", "elu", "selu", "celu", "mish", "relu6",
           "hardswish", "hardsigmoid", "hardtanh", "prelu", "rrelu", "logsigmoid", "softsign",
           "softmin", "glu", "tanhshrink", "threshold", "hardshrink", "softshrink", "normalize",
           "cosine_similarity", "pairwise_distance"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, negative_slope * x elsewhere."""
    x = as_tensor(x)
    return where(x.data > 0, x, x * negative_slope)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    x = as_tensor(x)
    return x * sigmoid(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta; x itself where beta * x > threshold (as PyTorch)."""
    x = as_tensor(x)
    scaled = x * beta if beta != 1.0 else x
    smooth = Softplus.apply(scaled)
    if beta != 1.0:
        smooth = smooth * (1.0 / beta)
    return where(scaled.data > threshold, x, smooth)


def _exp_minus_one(x: Tensor) -> Tensor:
    """exp(x) - 1 for the non-positive branch of the ELU family (values above 0 are masked)."""
    return x.minimum(0.0).exp() - 1.0


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return where(x.data > 0, x, _exp_minus_one(x) * alpha)


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al."""
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x / alpha) - 1) otherwise."""
    return where(x.data > 0, x, _exp_minus_one(x * (1.0 / alpha)) * alpha)


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    return x * tanh(Softplus.apply(as_tensor(x)))


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clipped to [min_val, max_val]; gradient 0 outside (and at the edges, as PyTorch)."""
    inside = (x.data > min_val) & (x.data < max_val)
    return where(inside, x, x.clip(min_val, max_val).detach())


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between."""
    return relu6(x + 3.0) * (1.0 / 6.0)


def hardswish(x: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 (MobileNetV3); gradient 0 below -3 and 1 above 3."""
    return where(x.data >= 3.0, x, x * hardsigmoid(x))


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """leaky_relu with a learned slope: one per channel (dim 1), or a single one.

    Shapes: x (N, C, ...) or (C,) ...; weight (C,) or (1,).
    """
    if weight.size != 1:
        channel_axis = 1 if x.ndim >= 2 else 0
        if x.ndim == 0 or weight.size != x.shape[channel_axis]:
            raise ShapeError(f"prelu: weight has {weight.size} values but the input of shape "
                             f"{x.shape} has {x.shape[channel_axis] if x.ndim else 0} channels "
                             "(dim 1); use num_parameters=1 or the channel count")
        weight = weight.reshape((-1,) + (1,) * (x.ndim - channel_axis - 1))
    else:
        weight = weight.reshape(())
    return where(x.data > 0, x, x * weight)


def rrelu(x: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomised leaky relu: slope (lower + upper) / 2 in eval mode; in training each
    negative element gets its own slope drawn uniformly from [lower, upper] by tinydl's
    generator (so the draws differ from torch's)."""
    if not training:
        return leaky_relu(x, (lower + upper) / 2.0)
    slopes = generator().uniform(lower, upper, size=x.shape).astype(x.dtype)
    return where(x.data > 0, x, x * x.xp.asarray(slopes))


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for large |x|."""
    return -Softplus.apply(-as_tensor(x))


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return x / (x.abs() + 1.0)


def softmin(x: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim``; dim=None picks PyTorch's legacy default (0 for 0-, 1- and
    3-d inputs, 1 otherwise; torch warns about it, so pass dim)."""
    x = as_tensor(x)
    if dtype is not None:
        x = x.astype(dtype)
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return softmax(-x, dim)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: split ``dim`` in halves a, b and return a * sigmoid(b)."""
    size = x.shape[dim]
    if size % 2:
        raise ShapeError(f"glu: dim {dim} of the input (shape {x.shape}) has odd size {size}; "
                         "it must split into two equal halves")
    a, b = x.split(size // 2, dim)
    return a * sigmoid(b)


def tanhshrink(x: Tensor) -> Tensor:
    """x - tanh(x)."""
    return x - tanh(x)


def threshold(x: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value``."""
    return where(x.data > threshold, x, value)


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    return where(abs(x.data) > lambd, x, 0.0)


def softshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    shrunk = where(x.data > 0, x - lambd, x + lambd)
    return where(abs(x.data) > lambd, shrunk, 0.0)


# ---------------------------------------------------------------------------------------------
# Distances and normalisation of vectors
# ---------------------------------------------------------------------------------------------


def _vector_norm(x: Tensor, p: float, dim: Any, keepdim: bool) -> Tensor:
    if p == 2:
        return (x * x).sum(dim, keepdims=keepdim).sqrt()
    if p == 1:
        return x.abs().sum(dim, keepdims=keepdim)
    if math.isinf(p):
        return x.abs().amax(dim, keepdims=keepdim)
    return (x.abs() ** p).sum(dim, keepdims=keepdim) ** (1.0 / p)


def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_p along dim, eps): unit vectors along ``dim`` (shape unchanged)."""
    norm = _vector_norm(as_tensor(x), p, dim, keepdim=True)
    return x / norm.clip(eps, None)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """<x1, x2> / (max(||x1||, eps) * max(||x2||, eps)) along ``dim`` (inputs broadcast),
    torch's formula since 1.12. The result drops ``dim``."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    n1 = _vector_norm(x1, 2, dim, keepdim=True).clip(eps, None)
    n2 = _vector_norm(x2, 2, dim, keepdim=True).clip(eps, None)
    return reduce_sum((x1 / n1) * (x2 / n2), dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p along the last dim: (N, D), (N, D) -> (N,)."""
    difference = as_tensor(x1) - x2 + eps
    return _vector_norm(difference, p, -1, keepdim)
