"""Pooling: ``max_pool2d``, ``avg_pool2d`` and ``adaptive_avg_pool2d`` (NCHW images).

max_pool2d is the ``MaxPool2d`` primitive of ``tinydl.ops.conv`` (a gather of each window's
largest value, whose backward scatters the gradient back); average pooling is composed.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import no_grad
from tinydl.functional.conv import check_image, conv_output_size, pair
from tinydl.ops import conv as conv_ops
from tinydl.ops.common import as_tensor
from tinydl.ops.shape import stack
from tinydl.tensor import Tensor

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> tuple:
    check_image(op, x)
    kernel = pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else pair(op, "stride", stride, 1)
    padding = pair(op, "padding", padding, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel} (as in PyTorch), so every window holds a real pixel")
    return kernel, stride, padding


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Largest value in each kernel_size window. (N, C, H, W) -> (N, C, OH, OW).

    stride defaults to kernel_size (non-overlapping windows); padding counts as -infinity.
    The gradient goes to the position of each window's maximum (the first one on ties).
    """
    x = as_tensor(x)
    kernel, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    conv_output_size("max_pool2d", x.shape, kernel, stride, padding, (1, 1))
    return conv_ops.max_pool2d(x, kernel, stride, padding)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               count_include_pad: bool = True) -> Tensor:
    """Mean of each kernel_size window. (N, C, H, W) -> (N, C, OH, OW).

    stride defaults to kernel_size. Padding adds zeros; count_include_pad=False divides each
    window by the number of real pixels in it instead of by kh*kw.
    """
    x = as_tensor(x)
    kernel, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    n, channels, height, width = x.shape
    oh, ow = conv_output_size("avg_pool2d", x.shape, kernel, stride, padding, (1, 1))
    # Each channel is pooled on its own: treat (N, C) as N*C one-channel images.
    single = x.reshape(n * channels, 1, height, width)
    cols = conv_ops.unfold(single, kernel, stride, padding, (1, 1))  # (kh*kw, N*C*OH*OW)
    sums = cols.sum(0).reshape(n, channels, oh, ow)
    if count_include_pad or padding == (0, 0):
        return sums * (1.0 / (kernel[0] * kernel[1]))
    with no_grad():  # how many real pixels each window covers: pool an image of ones
        ones = Tensor(x.xp.ones((1, 1, height, width), dtype=x.dtype))
        counts = conv_ops.unfold(ones, kernel, stride, padding, (1, 1)).sum(0)
    return sums / counts.reshape(1, 1, oh, ow)


def adaptive_avg_pool2d(x: Tensor, output_size: Any) -> Tensor:
    """Average-pool to a fixed (OH, OW) whatever the input size, as PyTorch does.

    Output cell i along an axis of length L averages input rows floor(i*L/O) ..
    ceil((i+1)*L/O) - 1, so windows may differ in size and overlap. (N, C, H, W) -> (N, C, OH, OW).
    output_size: an int or a pair; None in a pair keeps that input dim.
    """
    x = as_tensor(x)
    check_image("adaptive_avg_pool2d", x)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    out_h, out_w = pair("adaptive_avg_pool2d", "output_size", output_size, 1)
    height, width = x.shape[2], x.shape[3]
    if height % out_h == 0 and width % out_w == 0:  # equal windows: one avg_pool2d
        kernel = (height // out_h, width // out_w)
        return avg_pool2d(x, kernel, kernel)
    rows = []
    for i in range(out_h):  # loops over output cells only (a handful), not over pixels
        top, bottom = (i * height) // out_h, -((-(i + 1) * height) // out_h)
        band = x[:, :, top:bottom, :].mean(2)                      # (N, C, W)
        cells = []
        for j in range(out_w):
            left, right = (j * width) // out_w, -((-(j + 1) * width) // out_w)
            cells.append(band[:, :, left:right].mean(2))             # (N, C)
        rows.append(stack(cells, axis=2))                            # (N, C, OW)
    return stack(rows, axis=2)                                       # (N, C, OH, OW)

