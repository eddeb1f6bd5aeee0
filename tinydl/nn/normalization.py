"""Batch normalisation layers BatchNorm1d and BatchNorm2d (``tinydl.functional.batch_norm``)."""
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
