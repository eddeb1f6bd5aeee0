"""Resampling images: ``interpolate`` (nearest and (bi/tri)linear) and ``pixel_shuffle``.

interpolate gathers source pixels by integer indexing (differentiable: the gradient scatters
back) and mixes neighbours with weights; linear modes work one spatial axis at a time (bilinear
is linear along H then along W), so one code path serves 1-d, 2-d and 3-d inputs.
pixel_shuffle and pixel_unshuffle are a reshape and a permute.
"""
from __future__ import annotations

import math
from typing import Any

from tinydl.errors import ShapeError
from tinydl.ops.common import as_tensor
from tinydl.tensor import Tensor

__all__ = ["interpolate", "upsample", "pixel_shuffle", "pixel_unshuffle"]

_LINEAR_MODES = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _output_sizes(x: Tensor, size: Any, scale_factor: Any) -> tuple[list[int], list[float]]:
    """Output sizes and the source-per-destination scales PyTorch uses: in/out for ``size``,
    1/scale_factor for ``scale_factor``."""
    spatial = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        sizes = [size] * len(spatial) if isinstance(size, int) else list(size)
        if len(sizes) != len(spatial):
            raise ShapeError(f"interpolate: size {size} needs {len(spatial)} entries for input "
                             f"of shape {x.shape}")
        return sizes, [n / s for n, s in zip(spatial, sizes)]
    factors = ([scale_factor] * len(spatial) if isinstance(scale_factor, (int, float))
               else list(scale_factor))
    if len(factors) != len(spatial):
        raise ShapeError(f"interpolate: scale_factor {scale_factor} needs {len(spatial)} entries "
                         f"for input of shape {x.shape}")
    return [int(math.floor(n * f)) for n, f in zip(spatial, factors)], [1.0 / f for f in factors]


def _take(x: Tensor, axis: int, index: Any) -> Tensor:
    return x[(slice(None),) * axis + (index,)]


def _linear_along(x: Tensor, axis: int, out_size: int, scale: float,
                  align_corners: bool) -> Tensor:
    """Linear interpolation along one axis: each output is (1-w)·x[i0] + w·x[i1]."""
    xp, size = x.xp, x.shape[axis]
    positions = xp.arange(out_size, dtype=x.dtype)
    if align_corners:
        source = positions * ((size - 1) / (out_size - 1) if out_size > 1 else 0.0)
    else:
        source = ((positions + 0.5) * scale - 0.5).clip(0, None)
    low = xp.floor(source).astype(xp.int64).clip(0, size - 1)
    high = (low + 1).clip(0, size - 1)
    weight = (source - low).astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    return _take(x, axis, low) * (1.0 - weight) + _take(x, axis, high) * weight


def interpolate(x: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize (N, C, *spatial) to ``size`` or ``spatial * scale_factor``, as PyTorch.

    mode "nearest": output i takes input floor(i * scale) (scale = in/out, or 1/scale_factor);
    "linear" (3-d input), "bilinear" (4-d), "trilinear" (5-d): weighted neighbours, with
    align_corners=True mapping the corner pixels' centres onto each other and False (the
    default) mapping the pixel edges (half-pixel offsets). No bicubic/area modes.
    """
    x = as_tensor(x)
    if x.ndim < 3:
        raise ShapeError(f"interpolate: input must be (N, C, ...spatial), got shape {x.shape}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    sizes, scales = _output_sizes(x, size, scale_factor)
    if recompute_scale_factor:
        scales = [n / s for n, s in zip(x.shape[2:], sizes)]
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError("interpolate: align_corners only applies to the linear modes")
        for offset, (out_size, scale) in enumerate(zip(sizes, scales)):
            source = x.xp.floor(x.xp.arange(out_size) * scale).astype(x.xp.int64)
            x = _take(x, 2 + offset, source.clip(0, x.shape[2 + offset] - 1))
        return x
    if mode not in _LINEAR_MODES:
        raise ValueError(f"interpolate: mode must be 'nearest', 'linear', 'bilinear' or "
                         f"'trilinear', got {mode!r}")
    if _LINEAR_MODES[mode] != x.ndim - 2:
        raise ShapeError(f"interpolate: mode {mode!r} needs a {_LINEAR_MODES[mode] + 2}-D input, "
                         f"got shape {x.shape}")
    for offset, (out_size, scale) in enumerate(zip(sizes, scales)):
        x = _linear_along(x, 2 + offset, out_size, scale, bool(align_corners))
    return x


def upsample(x: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """The older name of ``interpolate``."""
    return interpolate(x, size, scale_factor, mode, align_corners)


def pixel_shuffle(x: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange (N, C*r*r, H, W) into (N, C, H*r, W*r) (sub-pixel convolution's upsampling)."""
    x = as_tensor(x)
    r = upscale_factor
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ShapeError(f"pixel_shuffle: the channel dim of input {x.shape} must be divisible "
                         f"by upscale_factor**2 = {r * r}")
    *batch, channels, height, width = x.shape
    out = x.reshape(-1, channels // (r * r), r, r, height, width)
    out = out.permute(0, 1, 4, 2, 5, 3)                           # (B, C, H, r, W, r)
    return out.reshape(*batch, channels // (r * r), height * r, width * r)


def pixel_unshuffle(x: Tensor, downscale_factor: int) -> Tensor:
    """The inverse of pixel_shuffle: (N, C, H*r, W*r) -> (N, C*r*r, H, W)."""
    x = as_tensor(x)
    r = downscale_factor
    if x.ndim < 3 or x.shape[-1] % r or x.shape[-2] % r:
        raise ShapeError(f"pixel_unshuffle: height and width of input {x.shape} must be "
                         f"divisible by downscale_factor = {r}")
    *batch, channels, height, width = x.shape
    out = x.reshape(-1, channels, height // r, r, width // r, r)
    out = out.permute(0, 1, 3, 5, 2, 4)                           # (B, C, r, r, H/r, W/r)
    return out.reshape(*batch, channels * r * r, height // r, width // r)
