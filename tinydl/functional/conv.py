"""Convolution (``F.conv2d``) and padding (``F.pad``), with PyTorch's signatures.

Images are NCHW: (batch, channels, height, width). Pooling is in ``pooling.py``, batch norm in
``normalization.py``; the argument checks here (``pair``, ``check_image``) serve them too.

The primitives live in ``tinydl.ops.conv``: ``Im2Col`` (cut every sliding window out of the
image into a column of one big matrix) and its adjoint ``Col2Im`` (add the columns back),
and the max-pool gather/scatter pair. Convolution is then one matrix product:

    cols = im2col(x)                  # (C*kh*kw, N*OH*OW): one column per output pixel
    out  = W.reshape(O, C*kh*kw) @ cols     # (O, N*OH*OW): one BLAS call
    out  -> (N, O, OH, OW)

and its gradients come from the matmul's and Im2Col's backward (Col2Im), which are written in
tinydl ops, so second derivatives work too.
"""
from __future__ import annotations

from typing import Any

from tinydl.errors import DTypeError, ShapeError
from tinydl.ops import conv as conv_ops
from tinydl.ops.common import as_tensor
from tinydl.ops.shape import pad as pad_numpy_style
from tinydl.tensor import Tensor

__all__ = ["conv2d", "pad"]


# ---------------------------------------------------------------------------------------------
# Argument checking shared by conv and pools
# ---------------------------------------------------------------------------------------------


def pair(op: str, name: str, value: Any, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, as (height, width); each at least ``minimum``."""
    if isinstance(value, int) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints (height, width), "
                        f"got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return pair


def check_image(op: str, x: Tensor) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}; for a "
                         "single image add the batch axis with x.unsqueeze(0)")
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor, got {x.dtype}; convert it with "
                         ".float() (and scale uint8 pixels to [0, 1])")


def conv_output_size(op: str, x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple,
                     dilation: tuple) -> tuple[int, int]:
    """(OH, OW) from ``tinydl.ops.conv.output_size``, or an error if the kernel is too big."""
    for axis, name in ((0, "height"), (1, "width")):
        size = x_shape[2 + axis]
        span = dilation[axis] * (kernel[axis] - 1) + 1
        padded = size + 2 * padding[axis]
        if padded < span:
            raise ShapeError(
                f"{op}: input {name} {size} (padded to {padded}) is smaller than the "
                f"{'dilated ' if dilation[axis] > 1 else ''}kernel {name} {span}; input shape "
                f"{x_shape}, kernel {kernel}, padding {padding}, dilation {dilation}; use a "
                "smaller kernel, more padding or a larger image")
    return conv_ops.output_size(x_shape[2], x_shape[3], kernel[0], kernel[1], stride, padding,
                                dilation)


# ---------------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------------


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1) -> Tensor:
    """2-D cross-correlation (deep learning's "convolution"), as ``torch.nn.functional.conv2d``.

    Shapes: x (N, C, H, W), weight (O, C, kh, kw), bias (O,) -> (N, O, OH, OW) with
    OH = floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1 (OW likewise).
    stride, padding, dilation: an int or a (height, width) pair; padding adds zeros.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    check_image("conv2d", x)
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: weight must be 4-D (out_channels, in_channels, kh, kw), got "
                         f"shape {weight.shape}")
    if weight.shape[1] != x.shape[1]:
        raise ShapeError(f"conv2d: input has {x.shape[1]} channels (shape {x.shape}) but the "
                         f"weight expects {weight.shape[1]} (shape {weight.shape}); the weight's "
                         "second dim must equal the input's channel dim")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ShapeError(f"conv2d: bias must have shape ({weight.shape[0]},) (one per output "
                         f"channel), got {bias.shape}")
    if weight.dtype != x.dtype:
        raise DTypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}; convert one "
                         "of them (model.float() or x.double())")
    stride = pair("conv2d", "stride", stride, 1)
    padding = pair("conv2d", "padding", padding, 0)
    dilation = pair("conv2d", "dilation", dilation, 1)
    n, channels = x.shape[0], x.shape[1]
    out_channels, _, kh, kw = weight.shape
    oh, ow = conv_output_size("conv2d", x.shape, (kh, kw), stride, padding, dilation)

    cols = conv_ops.unfold(x, (kh, kw), stride, padding, dilation)  # (C*kh*kw, N*OH*OW)
    w2d = weight.reshape(out_channels, channels * kh * kw)          # (O, C*kh*kw)
    out = w2d @ cols                                                # (O, N*OH*OW)
    if bias is not None:
        out = out + bias.reshape(out_channels, 1)
    # (O, N*OH*OW) -> (O, N, OH, OW) -> (N, O, OH, OW); a view, no copy
    return out.reshape(out_channels, n, oh, ow).permute(1, 0, 2, 3)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------




def pad(x: Tensor, pad: tuple, value: float = 0.0) -> Tensor:
    """PyTorch-style padding: ``pad`` lists (left, right) pairs starting from the LAST dim.

    F.pad(x, (1, 1, 2, 2)) pads the last dim by 1 on each side and the one before by 2.
    """
    x = as_tensor(x)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected pairs for at most {x.ndim} dims, got {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return pad_numpy_style(x, tuple(widths), value)

