"""Pooling layers (1-d, 2-d, 3-d, adaptive, unpooling), each wrapping its tinydl.functional."""
from __future__ import annotations

from typing import Any

from tinydl import functional as F
from tinydl.nn.function_layer import FunctionLayer
from tinydl.nn.module import Module
from tinydl.tensor import Tensor


class MaxPool2d(Module):
    """Largest value in each window. (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x: Tensor) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean of each window. (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel_size."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average-pool any (H, W) down to ``output_size``. (N, C, H, W) -> (N, C, OH, OW)."""

    def __init__(self, output_size: Any):
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxPool1d(FunctionLayer):
    """Largest value in each window of a sequence: (N, C, L) -> (N, C, OL)."""
    function = staticmethod(F.max_pool1d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__(kernel_size=kernel_size, stride=stride, padding=padding,
                         dilation=dilation, return_indices=return_indices, ceil_mode=ceil_mode)


class MaxPool3d(MaxPool1d):
    """Largest value in each 3-d window: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""
    function = staticmethod(F.max_pool3d)


class AvgPool1d(FunctionLayer):
    """Mean of each window of a sequence: (N, C, L) -> (N, C, OL)."""
    function = staticmethod(F.avg_pool1d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__(kernel_size=kernel_size, stride=stride, padding=padding,
                         ceil_mode=ceil_mode, count_include_pad=count_include_pad)


class AvgPool3d(FunctionLayer):
    """Mean of each 3-d window: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""
    function = staticmethod(F.avg_pool3d)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None):
        super().__init__(kernel_size=kernel_size, stride=stride, padding=padding,
                         ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                         divisor_override=divisor_override)


class AdaptiveMaxPool2d(FunctionLayer):
    """Max-pool any (H, W) down to ``output_size``: (N, C, H, W) -> (N, C, OH, OW)."""
    function = staticmethod(F.adaptive_max_pool2d)

    def __init__(self, output_size: Any, return_indices: bool = False):
        super().__init__(output_size=output_size, return_indices=return_indices)


class AdaptiveAvgPool1d(FunctionLayer):
    """Average-pool any length down to ``output_size``: (N, C, L) -> (N, C, output_size)."""
    function = staticmethod(F.adaptive_avg_pool1d)

    def __init__(self, output_size: Any):
        super().__init__(output_size=output_size)


class AdaptiveMaxPool1d(AdaptiveAvgPool1d):
    """Max-pool any length down to ``output_size``: (N, C, L) -> (N, C, output_size)."""
    function = staticmethod(F.adaptive_max_pool1d)


class MaxUnpool2d(Module):
    """Undo MaxPool2d(return_indices=True): forward(x, indices, output_size=None) puts each
    value back where its maximum was, zeros elsewhere."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Tensor, indices: Any, output_size: Any = None) -> Tensor:
        return F.max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                              output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
