"""Pooling over 1-d, 2-d and 3-d inputs: max, average, adaptive, and max-unpooling.

max_pool2d is the ``MaxPool2d`` primitive of ``tinydl.ops.conv`` (a gather of each window's
largest value, whose backward scatters the gradient back); with dilation, ceil_mode or
return_indices it finds the window maxima first and gathers them with ``MaxPoolGather``.
Average pooling is composed. 1-d pools run as 2-d ones on height-1 images; 3-d pools are
separable (a box's max or mean is the max or mean over depth of the (H, W) windows' ones),
so they are a 2-d pool over (H, W) followed by one over depth.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import no_grad
from tinydl.errors import ShapeError
from tinydl.functional.conv import check_image, conv_output_size, pair
from tinydl.ops import conv as conv_ops
from tinydl.ops.common import as_tensor
from tinydl.ops.shape import stack
from tinydl.tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "max_unpool2d"]


def _pool_args(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> tuple:
    check_image(op, x)
    kernel = pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else pair(op, "stride", stride, 1)
    padding = pair(op, "padding", padding, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size "
                         f"{kernel} (as in PyTorch), so every window holds a real pixel")
    return kernel, stride, padding


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Largest value in each kernel_size window. (N, C, H, W) -> (N, C, OH, OW).

    stride defaults to kernel_size (non-overlapping windows); padding counts as -infinity.
    The gradient goes to the position of each window's maximum (the first one on ties).
    ceil_mode rounds the output size up (a last, partial window when it starts inside the
    input). return_indices also returns each maximum's flat position h*W + w in its plane
    (int64, for ``max_unpool2d``).
    """
    x = as_tensor(x)
    kernel, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    dilation = pair("max_pool2d", "dilation", dilation, 1)
    conv_output_size("max_pool2d", x.shape, kernel, stride, padding, dilation)
    if dilation == (1, 1) and not ceil_mode and not return_indices:
        return conv_ops.max_pool2d(x, kernel, stride, padding)
    extra = _ceil_mode_extra(x.shape[2:], kernel, stride, padding, dilation) if ceil_mode \
        else (0, 0)
    _, indices = conv_ops.max_pool2d_windows(x.data, kernel, stride, padding, dilation, extra)
    out = conv_ops.MaxPoolGather.apply(x, indices=indices)
    return (out, Tensor(indices)) if return_indices else out


def _ceil_mode_extra(size: tuple, kernel: tuple, stride: tuple, padding: tuple,
                     dilation: tuple) -> tuple[int, int]:
    """Rows/columns to add past the padding so the output size rounds up, PyTorch's rule: the
    last window must start inside the input or its left padding."""
    extra = []
    for n, k, s, p, d in zip(size, kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        out = -(-(n + 2 * p - span) // s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
        extra.append(max(0, (out - 1) * s + span - (n + 2 * p)))
    return tuple(extra)


def max_unpool2d(x: Tensor, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """The partial inverse of max_pool2d: each value put back at its recorded position, zeros
    elsewhere. x, indices (N, C, H, W) -> (N, C, OH, OW), OH = (H - 1)*stride - 2*padding +
    kernel (or ``output_size``'s last two entries)."""
    x = as_tensor(x)
    check_image("max_unpool2d", x)
    kernel = pair("max_unpool2d", "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else pair("max_unpool2d", "stride", stride, 1)
    padding = pair("max_unpool2d", "padding", padding, 0)
    if output_size is None:
        out_hw = tuple((n - 1) * s - 2 * p + k for n, s, p, k in
                       zip(x.shape[2:], stride, padding, kernel))
    else:
        out_hw = tuple(output_size)[-2:]
    index_array = indices.data if isinstance(indices, Tensor) else x.xp.asarray(indices)
    if tuple(index_array.shape) != tuple(x.shape):
        raise ShapeError(f"max_unpool2d: indices shape {tuple(index_array.shape)} must equal the "
                         f"input shape {x.shape}")
    if index_array.size and int(index_array.max()) >= out_hw[0] * out_hw[1]:
        raise ValueError(f"max_unpool2d: an index {int(index_array.max())} is outside the output "
                         f"plane {out_hw}; pass output_size=")
    if index_array.size and int(index_array.min()) < 0:
        raise ValueError(f"max_unpool2d: index {int(index_array.min())} is negative; indices are "
                         "flat positions h*W + w in the output plane (max_pool2d's return_indices)")
    return conv_ops.MaxPoolScatter.apply(x, indices=index_array,
                                         x_shape=(*x.shape[:2], *out_hw))


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean of each kernel_size window. (N, C, H, W) -> (N, C, OH, OW).

    stride defaults to kernel_size. Padding adds zeros; count_include_pad=False divides each
    window by the number of real pixels in it instead of by kh*kw.
    """
    x = as_tensor(x)
    kernel, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    if ceil_mode:
        raise NotImplementedError("avg_pool2d: ceil_mode=True is not supported; pad the input "
                                  "(F.pad) so the windows fit, or use ceil_mode=False")
    n, channels, height, width = x.shape
    oh, ow = conv_output_size("avg_pool2d", x.shape, kernel, stride, padding, (1, 1))
    # Each channel is pooled on its own: treat (N, C) as N*C one-channel images.
    single = x.reshape(n * channels, 1, height, width)
    cols = conv_ops.unfold(single, kernel, stride, padding, (1, 1))  # (kh*kw, N*C*OH*OW)
    sums = cols.sum(0).reshape(n, channels, oh, ow)
    if divisor_override:
        return sums * (1.0 / divisor_override)
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
    out_h, out_w = _adaptive_size("adaptive_avg_pool2d", x, output_size)
    height, width = x.shape[2], x.shape[3]
    if height % out_h == 0 and width % out_w == 0:  # equal windows: one avg_pool2d
        kernel = (height // out_h, width // out_w)
        return avg_pool2d(x, kernel, kernel)
    return _adaptive_cells(x, (out_h, out_w), lambda cell, axis: cell.mean(axis))


def adaptive_max_pool2d(x: Tensor, output_size: Any, return_indices: bool = False) -> Tensor:
    """Max-pool to a fixed (OH, OW), with adaptive_avg_pool2d's windows.
    (N, C, H, W) -> (N, C, OH, OW). Tied maxima share the gradient (PyTorch picks one)."""
    x = as_tensor(x)
    check_image("adaptive_max_pool2d", x)
    if return_indices:
        raise NotImplementedError("adaptive_max_pool2d: return_indices=True is not supported; "
                                  "use max_pool2d(..., return_indices=True) with a fixed kernel")
    size = _adaptive_size("adaptive_max_pool2d", x, output_size)
    return _adaptive_cells(x, size, lambda cell, axis: cell.amax(axis))


def _adaptive_size(op: str, x: Tensor, output_size: Any) -> tuple[int, int]:
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(x.shape[2 + i] if s is None else s for i, s in enumerate(output_size))
    return pair(op, "output_size", output_size, 1)


def _adaptive_cells(x: Tensor, size: tuple, reduce: Any) -> Tensor:
    """Each output cell is ``reduce`` over its adaptive window (rows, then columns)."""
    out_h, out_w = size
    height, width = x.shape[2], x.shape[3]
    rows = []
    for i in range(out_h):  # loops over output cells only (a handful), not over pixels
        top, bottom = (i * height) // out_h, -((-(i + 1) * height) // out_h)
        band = reduce(x[:, :, top:bottom, :], 2)                     # (N, C, W)
        cells = []
        for j in range(out_w):
            left, right = (j * width) // out_w, -((-(j + 1) * width) // out_w)
            cells.append(reduce(band[:, :, left:right], 2))          # (N, C)
        rows.append(stack(cells, axis=2))                            # (N, C, OW)
    return stack(rows, axis=2)                                       # (N, C, OH, OW)


# ---------------------------------------------------------------------------------------------
# 1-d pools (2-d pools of height-1 images) and 3-d pools (a 2-d pool, then one over depth)
# ---------------------------------------------------------------------------------------------


def _single(op: str, name: str, value: Any) -> int:
    """An int or a 1-tuple, as an int."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, int):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}")
    return value


def _pool1d(op: str, pool2d: Any, x: Tensor, kernel_size: Any, stride: Any, padding: Any,
            **options: Any) -> Any:
    x = as_tensor(x)
    if x.ndim != 3:
        raise ShapeError(f"{op}: input must be 3-D (N, C, L), got shape {x.shape}")
    kernel = _single(op, "kernel_size", kernel_size)
    stride = kernel if stride is None else _single(op, "stride", stride)
    result = pool2d(x.unsqueeze(2), (1, kernel), (1, stride), (0, _single(op, "padding", padding)),
                    **options)
    if isinstance(result, tuple):
        return tuple(r.squeeze(2) for r in result)
    return result.squeeze(2)


def max_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """Largest value in each window of a sequence: (N, C, L) -> (N, C, OL)."""
    return _pool1d("max_pool1d", max_pool2d, x, kernel_size, stride, padding,
                   dilation=(1, _single("max_pool1d", "dilation", dilation)),
                   ceil_mode=ceil_mode, return_indices=return_indices)


def avg_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean of each window of a sequence: (N, C, L) -> (N, C, OL)."""
    return _pool1d("avg_pool1d", avg_pool2d, x, kernel_size, stride, padding,
                   ceil_mode=ceil_mode, count_include_pad=count_include_pad)


def _adaptive1d(op: str, pool2d: Any, x: Tensor, output_size: Any) -> Tensor:
    x = as_tensor(x)
    if x.ndim != 3:
        raise ShapeError(f"{op}: input must be (N, C, L), got shape {x.shape}")
    return pool2d(x.unsqueeze(2), (1, _single(op, "output_size", output_size))).squeeze(2)


def adaptive_avg_pool1d(x: Tensor, output_size: Any) -> Tensor:
    """Average-pool a sequence to ``output_size`` positions: (N, C, L) -> (N, C, output_size)."""
    return _adaptive1d("adaptive_avg_pool1d", adaptive_avg_pool2d, x, output_size)


def adaptive_max_pool1d(x: Tensor, output_size: Any) -> Tensor:
    """Max-pool a sequence to ``output_size`` positions: (N, C, L) -> (N, C, output_size)."""
    return _adaptive1d("adaptive_max_pool1d", adaptive_max_pool2d, x, output_size)


def _pool3d(op: str, pool2d: Any, x: Tensor, kernel_size: Any, stride: Any, padding: Any,
            **options: Any) -> Tensor:
    """pool2d over (H, W) of every depth slice, then over depth with (kd, 1) windows."""
    from tinydl.functional.conv import triple
    x = as_tensor(x)
    if x.ndim != 5:
        raise ShapeError(f"{op}: input must be 5-D (N, C, D, H, W), got shape {x.shape}")
    kernel = triple(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else triple(op, "stride", stride, 1)
    padding = triple(op, "padding", padding, 0)
    n, channels, depth, height, width = x.shape
    planes = pool2d(x.reshape(n, channels * depth, height, width), kernel[1:], stride[1:],
                    padding[1:], **options)                      # (N, C*D, OH, OW)
    oh, ow = planes.shape[2], planes.shape[3]
    columns = planes.reshape(n, channels, depth, oh * ow)
    out = pool2d(columns, (kernel[0], 1), (stride[0], 1), (padding[0], 0), **options)
    return out.reshape(n, channels, out.shape[2], oh, ow)


def max_pool3d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor:
    """Largest value in each 3-d window: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""
    if return_indices or dilation not in (1, (1, 1, 1)):
        raise NotImplementedError("max_pool3d: return_indices and dilation are not supported "
                                  "(the 3-d pool is separable only without them)")
    return _pool3d("max_pool3d", max_pool2d, x, kernel_size, stride, padding,
                   ceil_mode=ceil_mode)


def avg_pool3d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean of each 3-d window: (N, C, D, H, W) -> (N, C, OD, OH, OW)."""
    if divisor_override:
        raise NotImplementedError("avg_pool3d: divisor_override is not supported; multiply by "
                                  "kd*kh*kw / divisor instead")
    return _pool3d("avg_pool3d", avg_pool2d, x, kernel_size, stride, padding,
                   ceil_mode=ceil_mode, count_include_pad=count_include_pad)
