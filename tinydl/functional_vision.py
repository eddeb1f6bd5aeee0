"""Convolution, pooling and batch normalisation, the functions a CNN is built from.

Re-exported by ``tinydl.functional``, so they are called as ``F.conv2d``, ``F.max_pool2d``,
``F.avg_pool2d``, ``F.adaptive_avg_pool2d`` and ``F.batch_norm``, with PyTorch's signatures.
Images are NCHW: (batch, channels, height, width).

The primitives live in ``tinydl.ops.conv``: ``Im2Col`` (cut every sliding window out of the
image into a column of one big matrix) and its adjoint ``Col2Im`` (add the columns back),
and the max-pool gather/scatter pair. Convolution is then one matrix product:

    cols = im2col(x)                  # (C*kh*kw, N*OH*OW): one column per output pixel
    out  = W.reshape(O, C*kh*kw) @ cols     # (O, N*OH*OW): one BLAS call
    out  -> (N, O, OH, OW)

and its gradients come from the matmul's and Im2Col's backward (Col2Im), which are written in
tinydl ops, so second derivatives work too. Batch norm is composed of mean/var/arithmetic ops.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import no_grad
from tinydl.errors import DTypeError, ShapeError
from tinydl.ops import conv as conv_ops
from tinydl.ops.common import as_tensor
from tinydl.ops.shape import stack
from tinydl.tensor import Tensor

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "batch_norm"]


# ---------------------------------------------------------------------------------------------
# Argument checking shared by conv and pools
# ---------------------------------------------------------------------------------------------


def _pair(op: str, name: str, value: Any, minimum: int) -> tuple[int, int]:
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


def _check_image(op: str, x: Tensor) -> None:
    if x.ndim != 4:
        raise ShapeError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}; for a "
                         "single image add the batch axis with x.unsqueeze(0)")
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a float tensor, got {x.dtype}; convert it with "
                         ".float() (and scale uint8 pixels to [0, 1])")


def _output_size(op: str, x_shape: tuple, kernel: tuple, stride: tuple, padding: tuple,
                 dilation: tuple) -> tuple[int, int]:
    """(OH, OW) = floor((H + 2p - d*(k-1) - 1) / s) + 1, or an error if the kernel is too big."""
    sizes = []
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
        sizes.append((padded - span) // stride[axis] + 1)
    return sizes[0], sizes[1]


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
    _check_image("conv2d", x)
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
    stride = _pair("conv2d", "stride", stride, 1)
    padding = _pair("conv2d", "padding", padding, 0)
    dilation = _pair("conv2d", "dilation", dilation, 1)
    n, channels = x.shape[0], x.shape[1]
    out_channels, _, kh, kw = weight.shape
    oh, ow = _output_size("conv2d", x.shape, (kh, kw), stride, padding, dilation)

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


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> tuple:
    _check_image(op, x)
    kernel = _pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
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
    _output_size("max_pool2d", x.shape, kernel, stride, padding, (1, 1))
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
    oh, ow = _output_size("avg_pool2d", x.shape, kernel, stride, padding, (1, 1))
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
    _check_image("adaptive_avg_pool2d", x)
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    out_h, out_w = _pair("adaptive_avg_pool2d", "output_size", output_size, 1)
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


# ---------------------------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------------------------


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

