"""Conv2d: a learned bank of filters slid over an image (see ``tinydl.functional.conv2d``)."""
from __future__ import annotations

import math
from typing import Any

import numpy

from tinydl import functional as F
from tinydl.nn import init
from tinydl.nn.module import Module, Parameter
from tinydl.tensor import Tensor


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class Conv2d(Module):
    """2-D convolution over NCHW images, with PyTorch's parameter names, layout and init.

    Shapes: x (N, in_channels, H, W) -> (N, out_channels, OH, OW), with
    OH = floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1 (OW likewise).
    weight (out_channels, in_channels, kh, kw) and bias (out_channels,) start as in PyTorch:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels*kh*kw.
    padding: an int, a pair, "valid" (no padding, as Keras) or "same" (output as large as the
    input; stride 1 only; when the total padding is odd the extra row/column goes at the
    bottom/right, as in PyTorch).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, bias: bool = True, dtype: Any = None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.dilation = _pair(dilation)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'valid' or 'same', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"Conv2d: padding='same' needs stride 1, got stride "
                                 f"{self.stride}; give the padding as numbers instead")
            self.padding = padding
        else:
            self.padding = _pair(padding)
        dtype = numpy.float32 if dtype is None else dtype
        kh, kw = self.kernel_size
        self.weight = Parameter(numpy.zeros((out_channels, in_channels, kh, kw)), dtype=dtype)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # = U(±1/sqrt(fan_in))
        if bias:
            fan_in = in_channels * kh * kw
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            self.bias = Parameter(numpy.zeros(out_channels), dtype=dtype)
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        padding = self.padding
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            if totals[0] % 2 or totals[1] % 2:  # uneven: pad the extra row/column first
                x = F.pad(x, (totals[1] // 2, totals[1] - totals[1] // 2,
                              totals[0] // 2, totals[0] - totals[0] // 2))
                padding = (0, 0)
            else:
                padding = (totals[0] // 2, totals[1] // 2)
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.bias is None:
            text += ", bias=False"
        return text
