"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d (see ``tinydl.functional.conv``).

All share ``_ConvNd``: PyTorch's constructor arguments, parameter names, layouts and init
(weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in from the weight's shape), so a
PyTorch state_dict loads by name.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy

from tinydl import functional as F
from tinydl.nn import init
from tinydl.nn.module import Module, Parameter
from tinydl.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(value: Any, dims: int) -> tuple:
    return (value,) * dims if isinstance(value, int) else tuple(int(v) for v in value)


class _ConvNd(Module):
    """Shared by the convolution layers. Shapes: x (N, in_channels, *spatial) ->
    (N, out_channels, *out_spatial); weight (out_channels, in_channels/groups, *kernel_size)
    ((in_channels, out_channels/groups, *kernel_size) when transposed), bias (out_channels,).

    padding: an int, a tuple, "valid" (none) or "same" (output as large as the input; stride 1;
    an odd total puts the extra at the end, as PyTorch). padding_mode: "zeros", "reflect",
    "replicate" or "circular" (the input is padded with ``F.pad`` first).
    """

    dims = 2
    transposed = False
    function: Callable[..., Tensor]

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None,
                 output_padding: Any = 0):
        super().__init__()
        name, dims = type(self).__name__, self.dims
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels "
                             f"{out_channels} must both be divisible by groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = _tuple(kernel_size, dims), _tuple(stride, dims)
        self.dilation, self.padding_mode = _tuple(dilation, dims), padding_mode
        self.output_padding = _tuple(output_padding, dims)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{name}: padding must be an int, a pair, 'valid' or 'same', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1,) * dims:
                raise ValueError(f"{name}: padding='same' needs stride 1, got stride "
                                 f"{self.stride}; give the padding as numbers instead")
            self.padding = padding
        else:
            self.padding = _tuple(padding, dims)
        dtype = numpy.float32 if dtype is None else dtype
        shape = ((in_channels, out_channels // groups) if self.transposed
                 else (out_channels, in_channels // groups)) + self.kernel_size
        self.weight = Parameter(numpy.zeros(shape), dtype=dtype)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(±1/sqrt(fan_in))
        if bias:
            fan_in = shape[1] * math.prod(self.kernel_size)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            self.bias = Parameter(numpy.zeros(out_channels), dtype=dtype)
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)
        if device is not None:
            self.to(device)

    def _padding_pairs(self) -> list[tuple[int, int]]:
        """(before, after) per spatial dim."""
        if self.padding == "valid":
            return [(0, 0)] * self.dims
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            return [(t // 2, t - t // 2) for t in totals]
        return [(p, p) for p in self.padding]

    def forward(self, x: Tensor) -> Tensor:
        padding = self.padding
        if self.padding_mode != "zeros" or (self.dims == 3 and isinstance(padding, str)):
            flat = [w for pair in reversed(self._padding_pairs()) for w in pair]
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            x = F.pad(x, tuple(flat), mode=mode)
            padding = 0
        return type(self).function(x, self.weight, self.bias, self.stride, padding,
                                   self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0,) * self.dims, "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) sequences."""
    dims = 1
    function = staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    """2-D convolution over NCHW images, with PyTorch's parameter names, layout and init.

    Shapes: x (N, in_channels, H, W) -> (N, out_channels, OH, OW), with
    OH = floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1 (OW likewise).
    groups=in_channels (with out_channels a multiple) is a depthwise convolution.
    """
    dims = 2
    function = staticmethod(F.conv2d)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C, D, H, W) volumes (no padding strings: give numbers)."""
    dims = 3
    function = staticmethod(F.conv3d)


class _ConvTransposeNd(_ConvNd):
    """Transposed convolution (the gradient of a convolution with respect to its input; a
    learned upsampling). OH = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding
    + 1. Only zero padding (as PyTorch). forward(x, output_size=None): output_size picks the
    output_padding that gives that size."""

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None):
        if padding_mode != "zeros" or isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: only numeric zero padding is supported "
                             f"(as in PyTorch), got padding={padding!r}, "
                             f"padding_mode={padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, x: Tensor, output_size: Any = None) -> Tensor:
        extra = self.output_padding
        if output_size is not None:
            wanted = tuple(output_size)[-self.dims:]
            smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                        zip(x.shape[-self.dims:], self.stride, self.padding, self.dilation,
                            self.kernel_size)]
            extra = tuple(w - s for w, s in zip(wanted, smallest))
        return type(self).function(x, self.weight, self.bias, self.stride, self.padding, extra,
                                   self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution: (N, C, L) -> (N, O, OL)."""
    dims = 1
    function = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution: (N, C, H, W) -> (N, O, OH, OW)."""
    dims = 2
    function = staticmethod(F.conv_transpose2d)
