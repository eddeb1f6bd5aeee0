"""Normalisation layers over channels: BatchNorm1d/2d, InstanceNorm1d/2d (the same
parameters and buffers, per-sample statistics), GroupNorm and LocalResponseNorm."""
from __future__ import annotations

from typing import Any

import numpy

from tinydl import functional as F
from tinydl.errors import ShapeError
from tinydl.nn.module import Module, Parameter
from tinydl.tensor import Tensor


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: parameters weight, bias (C,) and buffers running_mean,
    running_var (C,) and num_batches_tracked (a 0-d int64), named as in PyTorch."""

    expected_dims: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype: Any = None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = numpy.float32 if dtype is None else dtype
        if affine:
            self.weight = Parameter(numpy.ones(num_features), dtype=dtype)
            self.bias = Parameter(numpy.zeros(num_features), dtype=dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(numpy.zeros(num_features), dtype=dtype))
            self.register_buffer("running_var", Tensor(numpy.ones(num_features), dtype=dtype))
            self.register_buffer("num_batches_tracked", Tensor(numpy.array(0, dtype=numpy.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if x.ndim not in self.expected_dims:
            raise ShapeError(f"{name}: expected input of shape {self.layout}, got {x.shape}")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{name}({self.num_features}): input has {x.shape[1]} channels "
                             f"(shape {x.shape}); the channel axis is axis 1")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # a cumulative average over every batch seen so far
                momentum = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch_stats, momentum=momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): each of the C features normalised over the batch
    (and over L). Training: batch statistics, running averages updated; eval: running ones."""

    expected_dims = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) images: each channel normalised over the batch and all
    pixels. Training: batch statistics, running averages updated; eval: running ones."""

    expected_dims = (4,)
    layout = "(N, C, H, W)"


class _InstanceNorm(_BatchNorm):
    """Shared by InstanceNorm1d/2d: each (sample, channel) normalised over its positions.
    PyTorch's defaults differ from batch norm's: affine=False, track_running_stats=False."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, dtype: Any = None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if x.ndim not in self.expected_dims:
            raise ShapeError(f"{name}: expected input of shape {self.layout}, got {x.shape}")
        unbatched = x.ndim == self.expected_dims[0]
        if unbatched:
            x = x.unsqueeze(0)
        if x.shape[1] != self.num_features and self.affine:
            raise ShapeError(f"{name}({self.num_features}): input has {x.shape[1]} channels "
                             f"(shape {x.shape}); the channel axis is axis 1")
        use_input_stats = self.training or not self.track_running_stats
        momentum = 0.1 if self.momentum is None else self.momentum
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              use_input_stats, momentum, self.eps)
        return out.squeeze(0) if unbatched else out


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or (C, L): each sequence channel normalised on its own."""

    expected_dims = (2, 3)
    layout = "(N, C, L) or (C, L)"


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or (C, H, W): each image channel normalised on its own."""

    expected_dims = (3, 4)
    layout = "(N, C, H, W) or (C, H, W)"


class GroupNorm(Module):
    """Normalise each sample over groups of channels, then scale and shift per channel.
    Shapes: x (N, num_channels, ...) -> x's shape; weight, bias (num_channels,)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels {num_channels} must be divisible by "
                             f"num_groups {num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = (num_groups, num_channels,
                                                                     eps, affine)
        dtype = numpy.float32 if dtype is None else dtype
        if affine:
            self.weight = Parameter(numpy.ones(num_channels), dtype=dtype)
            self.bias = Parameter(numpy.zeros(num_channels), dtype=dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if device is not None:
            self.to(device)

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LocalResponseNorm(Module):
    """x / (k + alpha/size · Σ x² over ``size`` neighbouring channels)^beta."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
