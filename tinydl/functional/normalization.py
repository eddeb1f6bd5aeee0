"""Normalisation: ``layer_norm`` (over the last dims), ``batch_norm`` (per channel over the
batch), ``group_norm`` (per sample over channel groups), ``instance_norm`` (per sample and
channel) and ``local_response_norm`` (across neighbouring channels).

Both are compositions: layer_norm is ``AffineNormalize`` when it has a weight and a bias of
x's dtype, else it scales and shifts the output of ``Normalize`` (both in
``tinydl.ops.normalization``, one fused node with a hand-written backward); batch_norm is
mean/var/arithmetic ops. Use them as ``F.layer_norm`` and ``F.batch_norm``.
"""
from __future__ import annotations

from typing import Any

from tinydl.errors import ShapeError
from tinydl.ops.common import as_tensor
from tinydl.ops.normalization import AffineNormalize, Normalize
from tinydl.ops.shape import pad as pad_numpy_style
from tinydl.tensor import Tensor

__all__ = ["layer_norm", "batch_norm", "group_norm", "instance_norm", "local_response_norm"]


def layer_norm(x: Tensor, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last dims: (x - mean) / sqrt(var + eps) * weight + bias.

    Shapes: x (..., *normalized_shape); weight and bias normalized_shape -> same as x.
    The variance is the biased one (divided by n), as in PyTorch and the LayerNorm paper.
    """
    x = as_tensor(x)
    normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                        else tuple(normalized_shape))
    count = len(normalized_shape)
    if count == 0 or x.ndim < count or tuple(x.shape[x.ndim - count:]) != normalized_shape:
        raise ShapeError(f"layer_norm: input of shape {x.shape} must end with normalized_shape "
                         f"{normalized_shape}; pass the size of the last dim(s), e.g. "
                         f"{x.shape[-1:] if x.ndim else '(n,)'}")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and tuple(param.shape) != normalized_shape:
            raise ShapeError(f"layer_norm: {name} has shape {param.shape}, expected "
                             f"normalized_shape {normalized_shape}")
    axes = tuple(range(x.ndim - count, x.ndim))
    if weight is not None and bias is not None and weight.dtype == bias.dtype == x.dtype:
        return AffineNormalize.apply(x, weight, bias, axes=axes, eps=float(eps))
    out = Normalize.apply(x, axes=axes, eps=float(eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel to mean 0, variance 1, then scale by weight and shift by bias.

    Shapes: x (N, C), (N, C, L) or (N, C, H, W); running stats, weight, bias (C,).
    training=True: use this batch's mean and (biased) variance over every axis but the
    channel axis, and update running_mean/running_var in place (when given) as
    running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance
    (as PyTorch does). training=False: use the running statistics (or, when they are None,
    the batch's own statistics).
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input must be (N, C) or (N, C, ...), got shape {x.shape}")
    channels = x.shape[1]
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        if value is not None and tuple(value.shape) != (channels,):
            raise ShapeError(f"batch_norm: {name} must have shape ({channels},) for input of "
                             f"shape {x.shape} (one value per channel), got {tuple(value.shape)}")
    axes = (0,) + tuple(range(2, x.ndim))  # every axis except the channel axis
    per_channel = (1, channels) + (1,) * (x.ndim - 2)  # (C,) broadcast against x
    use_batch_stats = training or running_mean is None or running_var is None
    if use_batch_stats:
        count = x.size // channels
        if training and count < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel to "
                             f"estimate a variance, got input of shape {x.shape}; use a larger "
                             "batch or call model.eval()")
        mean = x.mean(axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axes, keepdims=True)  # biased, as used to normalise
        if training and running_mean is not None and running_var is not None:
            _update_running_stats(running_mean, running_var, mean, var, count, momentum)
    else:
        mean = running_mean.detach().reshape(per_channel)
        var = running_var.detach().reshape(per_channel)
        centered = x - mean
    out = centered * (var + eps) ** -0.5
    if weight is not None:
        out = out * weight.reshape(per_channel)
    if bias is not None:
        out = out + bias.reshape(per_channel)
    return out


def _update_running_stats(running_mean: Tensor, running_var: Tensor, mean: Tensor, var: Tensor,
                          count: int, momentum: float) -> None:
    """running = (1 - momentum) * running + momentum * batch, in the buffers' own arrays."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm: momentum must be in [0, 1], got {momentum}")
    unbiased = var.data.reshape(-1) * (count / (count - 1))  # (C,)
    running_mean.data *= 1.0 - momentum
    running_mean.data += mean.data.reshape(-1) * momentum
    running_var.data *= 1.0 - momentum
    running_var.data += unbiased * momentum



def _per_channel(x: Tensor, out: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """out * weight + bias with (C,) parameters broadcast along x's channel dim 1."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each sample over groups of C/num_groups channels (and all positions), then
    scale and shift per channel. Shapes: x (N, C, ...), weight and bias (C,) -> x's shape.
    Independent of the batch size (no running statistics)."""
    x = as_tensor(x)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ShapeError(f"group_norm: the {x.shape[1] if x.ndim > 1 else 0} channels of input "
                         f"{x.shape} must split into num_groups={num_groups} equal groups")
    grouped = x.reshape(x.shape[0], num_groups, -1)
    out = Normalize.apply(grouped, axes=(2,), eps=float(eps)).reshape(x.shape)
    return _per_channel(x, out, weight, bias)


def instance_norm(x: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each (sample, channel) over its positions (style transfer's normalisation).
    Shapes: x (N, C, ...), running stats, weight, bias (C,). With use_input_stats and running
    stats given, those are updated with the mean over the batch of each instance's statistics
    (variance unbiased); without use_input_stats the running statistics normalise instead."""
    x = as_tensor(x)
    if x.ndim < 3:
        raise ShapeError(f"instance_norm: input must be (N, C, ...) with at least one spatial "
                         f"dim, got shape {x.shape}")
    if not use_input_stats:
        return batch_norm(x, running_mean, running_var, weight, bias, training=False, eps=eps)
    spatial = tuple(range(2, x.ndim))
    out = Normalize.apply(x, axes=spatial, eps=float(eps))
    if running_mean is not None and running_var is not None:
        count = x.size // (x.shape[0] * x.shape[1])
        mean = x.data.mean(axis=spatial)                                   # (N, C)
        var = x.data.var(axis=spatial)
        _update_running_stats(running_mean, running_var, Tensor(mean.mean(0), dtype=x.dtype),
                              Tensor(var.mean(0), dtype=x.dtype), count, momentum)
    return _per_channel(x, out, weight, bias)


def local_response_norm(x: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """AlexNet's normalisation across channels: x / (k + alpha/size · Σ x²)^beta, the sum over
    the ``size`` channels around each one (zeros past the edges). x (N, C, ...) -> x's shape."""
    x = as_tensor(x)
    if x.ndim < 3:
        raise ShapeError(f"local_response_norm: input must be (N, C, ...) with at least one "
                         f"spatial dim, got shape {x.shape}")
    channels = x.shape[1]
    squares = x * x
    widths = ((0, 0), (size // 2, (size - 1) // 2)) + ((0, 0),) * (x.ndim - 2)
    padded = pad_numpy_style(squares, widths)
    window_sum = padded[:, 0:channels]
    for offset in range(1, size):
        window_sum = window_sum + padded[:, offset:offset + channels]
    return x / (window_sum * (alpha / size) + k) ** beta
