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

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "unfold", "fold", "pad"]


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
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation (deep learning's "convolution"), as ``torch.nn.functional.conv2d``.

    Shapes: x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,) -> (N, O, OH, OW) with
    OH = floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1 (OW likewise).
    stride, padding, dilation: an int or a (height, width) pair; padding adds zeros, and may be
    "valid" (none) or "same" (output as large as the input, stride 1; an odd total puts the
    extra row/column at the bottom/right, as PyTorch). groups: the channels split into
    ``groups`` independent convolutions (groups = C is a depthwise convolution).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    check_image("conv2d", x)
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: weight must be 4-D (out_channels, in_channels, kh, kw), got "
                         f"shape {weight.shape}")
    if not isinstance(groups, int) or groups < 1 or x.shape[1] % groups or \
            weight.shape[0] % groups:
        raise ValueError(f"conv2d: groups={groups} must be a positive int dividing both the "
                         f"input channels {x.shape[1]} and the output channels {weight.shape[0]}")
    if weight.shape[1] * groups != x.shape[1]:
        raise ShapeError(f"conv2d: input has {x.shape[1]} channels (shape {x.shape}) but the "
                         f"weight expects {weight.shape[1] * groups} (shape {weight.shape}, "
                         f"groups={groups}); the weight's second dim times groups must equal "
                         "the input's channel dim")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ShapeError(f"conv2d: bias must have shape ({weight.shape[0]},) (one per output "
                         f"channel), got {bias.shape}")
    if weight.dtype != x.dtype:
        raise DTypeError(f"conv2d: input is {x.dtype} but weight is {weight.dtype}; convert one "
                         "of them (model.float() or x.double())")
    stride = pair("conv2d", "stride", stride, 1)
    dilation = pair("conv2d", "dilation", dilation, 1)
    x, padding = resolve_padding("conv2d", x, padding, weight.shape[2:], stride, dilation)
    n = x.shape[0]
    out_channels, group_channels, kh, kw = weight.shape
    oh, ow = conv_output_size("conv2d", x.shape, (kh, kw), stride, padding, dilation)

    cols = conv_ops.unfold(x, (kh, kw), stride, padding, dilation)  # (C*kh*kw, N*OH*OW)
    if groups == 1:  # one matrix product, the bias added in place
        w2d = weight.reshape(out_channels, group_channels * kh * kw)   # (O, C*kh*kw)
        out = conv_ops.conv_product(w2d, cols, bias, n)                # (O, N*OH*OW)
    else:  # one batched matmul: (G, O/G, C/G*kh*kw) @ (G, C/G*kh*kw, N*OH*OW)
        w3d = weight.reshape(groups, out_channels // groups, group_channels * kh * kw)
        out = (w3d @ cols.reshape(groups, group_channels * kh * kw, -1)).reshape(
            out_channels, -1)
        if bias is not None:
            out = out + bias.reshape(out_channels, 1)
    # (O, N*OH*OW) -> (O, N, OH, OW) -> (N, O, OH, OW); a view, no copy
    return out.reshape(out_channels, n, oh, ow).permute(1, 0, 2, 3)


def resolve_padding(op: str, x: Tensor, padding: Any, kernel: tuple, stride: tuple,
                    dilation: tuple) -> tuple[Tensor, tuple]:
    """(x, padding pair) for conv2d: "valid" is no padding; "same" pads dilation*(k-1) in all,
    half on each side, the odd one at the bottom/right (padding x itself when uneven)."""
    if not isinstance(padding, str):
        return x, pair(op, "padding", padding, 0)
    if padding == "valid":
        return x, (0, 0)
    if padding != "same":
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got "
                         f"{padding!r}")
    if stride != (1, 1):
        raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}; give the "
                         "padding as numbers instead")
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
    if totals[0] % 2 or totals[1] % 2:  # uneven: pad the extra row/column at the end
        x = pad(x, (totals[1] // 2, totals[1] - totals[1] // 2,
                    totals[0] // 2, totals[0] - totals[0] // 2))
        return x, (0, 0)
    return x, (totals[0] // 2, totals[1] // 2)


def _as_width_one_image(x: Tensor, op: str) -> Tensor:
    """(N, C, L) -> (N, C, 1, L), so 1-d layers run as 2-d ones of height 1."""
    if x.ndim != 3:
        raise ShapeError(f"{op}: input must be 3-D (N, C, L), got shape {x.shape}; for a "
                         "single sequence add the batch axis with x.unsqueeze(0)")
    return x.unsqueeze(2)


def _height_one(value: Any, fill: int) -> Any:
    """An int or 1-tuple of a 1-d layer as the 2-d pair (fill, value); strings pass through."""
    if isinstance(value, str):
        return value
    value = value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
    return (fill, value)


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution: x (N, C, L), weight (O, C/groups, k) -> (N, O, OL); conv2d on
    height-1 images."""
    x = _as_width_one_image(as_tensor(x), "conv1d")
    out = conv2d(x, as_tensor(weight).unsqueeze(2), bias, _height_one(stride, 1),
                 _height_one(padding, 0), _height_one(dilation, 1), groups)
    return out.squeeze(2)


def triple(op: str, name: str, value: Any, minimum: int) -> tuple[int, int, int]:
    """An int or three ints, as (depth, height, width); each at least ``minimum``."""
    values = (value,) * 3 if isinstance(value, int) else tuple(value)
    if len(values) != 3 or not all(isinstance(v, int) for v in values):
        raise TypeError(f"{op}: {name} must be an int or three ints (depth, height, width), "
                        f"got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return values


def conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """3-D convolution: x (N, C, D, H, W), weight (O, C/groups, kd, kh, kw) -> (N, O, OD, OH, OW).

    Computed as kd 2-d convolutions: depth tap k of the kernel sees the depth slices
    k*dilation, k*dilation + stride, ... of the input, each batched as N*OD images, and the
    kd results add up. No padding strings (give numbers).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if x.ndim != 5 or weight.ndim != 5:
        raise ShapeError(f"conv3d: input must be (N, C, D, H, W) and weight (O, C/groups, kd, "
                         f"kh, kw), got shapes {x.shape} and {weight.shape}")
    (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = (
        triple("conv3d", "stride", stride, 1), triple("conv3d", "padding", padding, 0),
        triple("conv3d", "dilation", dilation, 1))
    if pd:
        x = pad(x, (0, 0, 0, 0, pd, pd))
    n, depth, kd = x.shape[0], x.shape[2], weight.shape[2]
    out_depth = (depth - dd * (kd - 1) - 1) // sd + 1
    if out_depth < 1:
        raise ShapeError(f"conv3d: input depth {depth - 2 * pd} (padded to {depth}) is smaller "
                         f"than the dilated kernel depth {dd * (kd - 1) + 1}")
    out = None
    for k in range(kd):
        start = k * dd
        slices = x[:, :, start:start + sd * (out_depth - 1) + 1:sd]     # (N, C, OD, H, W)
        images = slices.permute(0, 2, 1, 3, 4).reshape(n * out_depth, x.shape[1], *x.shape[3:])
        tap = conv2d(images, weight[:, :, k], None, (sh, sw), (ph, pw), (dh, dw), groups)
        out = tap if out is None else out + tap                         # (N*OD, O, OH, OW)
    out = out.reshape(n, out_depth, *out.shape[1:]).permute(0, 2, 1, 3, 4)
    if bias is not None:
        out = out + bias.reshape(-1, 1, 1, 1)
    return out


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """Transposed convolution (the gradient of conv2d with respect to its input), as
    ``torch.nn.functional.conv_transpose2d``: each input pixel spreads a weighted kernel onto
    the output, overlapping windows add up (``fold``, the adjoint of im2col).

    Shapes: x (N, C, H, W), weight (C, O/groups, kh, kw), bias (O,) -> (N, O, OH, OW) with
    OH = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    check_image("conv_transpose2d", x)
    if weight.ndim != 4 or weight.shape[0] != x.shape[1] or x.shape[1] % groups:
        raise ShapeError(f"conv_transpose2d: weight must be (in_channels={x.shape[1]}, "
                         f"out_channels/groups, kh, kw) with in_channels divisible by "
                         f"groups={groups}; got weight {weight.shape} for input {x.shape}")
    stride = pair("conv_transpose2d", "stride", stride, 1)
    padding = pair("conv_transpose2d", "padding", padding, 0)
    dilation = pair("conv_transpose2d", "dilation", dilation, 1)
    extra = pair("conv_transpose2d", "output_padding", output_padding, 0)
    if extra[0] >= max(stride[0], dilation[0]) or extra[1] >= max(stride[1], dilation[1]):
        raise ValueError(f"conv_transpose2d: output_padding {extra} must be smaller than "
                         f"stride {stride} or dilation {dilation}")
    n, in_channels, height, width = x.shape
    kh, kw = weight.shape[2], weight.shape[3]
    out_channels = weight.shape[1] * groups
    out_hw = [(size - 1) * s - 2 * p + d * (k - 1) + e + 1 for size, s, p, d, k, e in
              zip((height, width), stride, padding, dilation, (kh, kw), extra)]
    pixels = x.permute(1, 0, 2, 3).reshape(groups, in_channels // groups, n * height * width)
    w3d = weight.reshape(groups, in_channels // groups, -1)          # (G, C/G, O/G*kh*kw)
    cols = (w3d.transpose(1, 2) @ pixels).reshape(out_channels * kh * kw, -1)
    out = conv_ops.fold(cols, (n, out_channels, *out_hw), (kh, kw), stride, padding, dilation)
    if bias is not None:
        out = out + bias.reshape(out_channels, 1, 1)
    return out


def conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """1-D transposed convolution: x (N, C, L), weight (C, O/groups, k) -> (N, O, OL)."""
    x = _as_width_one_image(as_tensor(x), "conv_transpose1d")
    out = conv_transpose2d(x, as_tensor(weight).unsqueeze(2), bias, _height_one(stride, 1),
                           _height_one(padding, 0), _height_one(output_padding, 0), groups,
                           _height_one(dilation, 1))
    return out.squeeze(2)


def unfold(x: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Tensor:
    """Sliding windows as columns, PyTorch's layout: (N, C, H, W) -> (N, C*kh*kw, L), L the
    number of window positions (im2col with the batch axis first)."""
    x = as_tensor(x)
    check_image("unfold", x)
    kernel = pair("unfold", "kernel_size", kernel_size, 1)
    dilation, padding = pair("unfold", "dilation", dilation, 1), pair("unfold", "padding",
                                                                       padding, 0)
    stride = pair("unfold", "stride", stride, 1)
    conv_output_size("unfold", x.shape, kernel, stride, padding, dilation)
    cols = conv_ops.unfold(x, kernel, stride, padding, dilation)      # (C*kh*kw, N*L)
    return cols.reshape(cols.shape[0], x.shape[0], -1).permute(1, 0, 2)


def fold(x: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Tensor:
    """The adjoint of ``unfold``: add columns (N, C*kh*kw, L) back onto (N, C, *output_size)
    (overlaps add up)."""
    x = as_tensor(x)
    kernel = pair("fold", "kernel_size", kernel_size, 1)
    out_h, out_w = pair("fold", "output_size", output_size, 1)
    dilation, padding = pair("fold", "dilation", dilation, 1), pair("fold", "padding", padding, 0)
    stride = pair("fold", "stride", stride, 1)
    per_window = kernel[0] * kernel[1]
    if x.ndim != 3 or x.shape[1] % per_window:
        raise ShapeError(f"fold: input must be (N, C*kh*kw, L) with dim 1 divisible by "
                         f"kh*kw={per_window}, got shape {x.shape}")
    n, channels = x.shape[0], x.shape[1] // per_window
    windows = conv_ops.output_size(out_h, out_w, *kernel, stride, padding, dilation)
    if windows[0] * windows[1] != x.shape[2]:
        raise ShapeError(f"fold: output_size {(out_h, out_w)} with kernel {kernel}, stride "
                         f"{stride}, padding {padding}, dilation {dilation} has "
                         f"{windows[0] * windows[1]} windows, but the input has L={x.shape[2]}")
    cols = x.permute(1, 0, 2).reshape(x.shape[1], -1)
    return conv_ops.fold(cols, (n, channels, out_h, out_w), kernel, stride, padding, dilation)


# ---------------------------------------------------------------------------------------------
# Padding
# ---------------------------------------------------------------------------------------------




def _edge_indices(size: int, before: int, after: int, mode: str, xp: Any) -> Any:
    """Source index of every position of a padded axis: reflect mirrors without repeating the
    edge, replicate repeats the edge, circular wraps around."""
    positions = xp.arange(-before, size + after)
    if mode == "replicate":
        return positions.clip(0, size - 1)
    if mode == "circular":
        return xp.mod(positions, size)
    period = 2 * (size - 1)  # reflect: ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
    folded = xp.mod(xp.abs(positions), period) if period else positions * 0
    return xp.where(folded >= size, period - folded, folded)


def pad(x: Tensor, pad: tuple, mode: str = "constant", value: float | None = None) -> Tensor:
    """PyTorch-style padding: ``pad`` lists (left, right) pairs starting from the LAST dim.

    F.pad(x, (1, 1, 2, 2)) pads the last dim by 1 on each side and the one before by 2.
    mode: "constant" (``value``, default 0), "reflect" (mirror, edge not repeated; each pad
    smaller than the dim), "replicate" (repeat the edge) or "circular" (wrap around; each pad
    at most the dim). Non-constant modes pad at most the last 3 dims, as PyTorch.
    """
    x = as_tensor(x)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected pairs for at most {x.ndim} dims, got {pad}")
    if mode == "constant":
        widths = [(0, 0)] * x.ndim
        for i in range(len(pad) // 2):
            widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        return pad_numpy_style(x, tuple(widths), 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    if len(pad) // 2 > 3 or len(pad) // 2 > x.ndim - 1:
        raise ValueError(f"pad: mode {mode!r} pads at most the last 3 dims and never the first "
                         f"(batch) dim; got pad {pad} for input of shape {x.shape}")
    for i in range(len(pad) // 2):
        axis = x.ndim - 1 - i
        before, after, size = pad[2 * i], pad[2 * i + 1], x.shape[axis]
        limit = size - 1 if mode == "reflect" else size
        if max(before, after) > limit or min(before, after) < 0:
            raise ValueError(f"pad: {mode} padding ({before}, {after}) of dim {axis} (size "
                             f"{size}) must be between 0 and {limit}")
        index = _edge_indices(size, before, after, mode, x.xp)
        x = x[(slice(None),) * axis + (index,)]
    return x
