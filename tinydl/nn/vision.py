"""Resampling layers: Upsample, PixelShuffle, PixelUnshuffle, Unfold, Fold (each wraps the
``tinydl.functional`` function of the same name, with PyTorch's constructor arguments)."""
from __future__ import annotations

from typing import Any

from tinydl import functional as F
from tinydl.nn.function_layer import FunctionLayer


class Upsample(FunctionLayer):
    """Resize (N, C, *spatial) by ``size`` or ``scale_factor`` (``F.interpolate``)."""
    function = staticmethod(F.interpolate)

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__(size=size, scale_factor=scale_factor, mode=mode,
                         align_corners=align_corners,
                         recompute_scale_factor=recompute_scale_factor)


class PixelShuffle(FunctionLayer):
    """(N, C*r*r, H, W) -> (N, C, H*r, W*r)."""
    function = staticmethod(F.pixel_shuffle)

    def __init__(self, upscale_factor: int):
        super().__init__(upscale_factor=upscale_factor)


class PixelUnshuffle(FunctionLayer):
    """(N, C, H*r, W*r) -> (N, C*r*r, H, W)."""
    function = staticmethod(F.pixel_unshuffle)

    def __init__(self, downscale_factor: int):
        super().__init__(downscale_factor=downscale_factor)


class Unfold(FunctionLayer):
    """Sliding windows as columns: (N, C, H, W) -> (N, C*kh*kw, L)."""
    function = staticmethod(F.unfold)

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1):
        super().__init__(kernel_size=kernel_size, dilation=dilation, padding=padding,
                         stride=stride)


class Fold(FunctionLayer):
    """Columns added back onto an image: (N, C*kh*kw, L) -> (N, C, *output_size)."""
    function = staticmethod(F.fold)

    def __init__(self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
                 stride: Any = 1):
        super().__init__(output_size=output_size, kernel_size=kernel_size, dilation=dilation,
                         padding=padding, stride=stride)
