"""Image transforms that work on whole BATCHES: NumPy arrays (N, C, H, W) in, (N, C, H, W) out.

A DataLoader applies them to each batch of inputs (``DataLoader(ds, 64, transform=...)``), or
call one yourself: ``batch = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()])(batch)``.
Random transforms draw a separate setting for every image in the batch, all at once, from
tinydl's generator (``tinydl.manual_seed`` makes a run repeat). Nothing loops over images
or pixels: the geometry is done with index arithmetic on whole arrays.

    Compose(transforms)            apply several in order
    ToFloat(scale=1/255)           uint8 pixels -> float32 in [0, 1]; (N, H, W) gains C = 1
    Normalize(mean, std)           (x - mean[c]) / std[c] per channel
    RandomCrop(size, padding=0)    pad, then cut a size×size window at a random place
    RandomHorizontalFlip(p=0.5)    mirror left-right with probability p
    RandomRotation(degrees)        rotate by a random angle in [-degrees, degrees]
    RandomAffine(degrees, translate, scale)   rotation, shift and zoom in one resampling
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinydl.random import generator

__all__ = ["Compose", "ToFloat", "Normalize", "RandomCrop", "RandomHorizontalFlip",
           "RandomRotation", "RandomAffine"]


def _check_batch(op: str, batch: Any) -> np.ndarray:
    """The batch as a 4-D NumPy array, or an error that says what was expected."""
    if not isinstance(batch, np.ndarray):
        raise TypeError(f"{op}: expected a NumPy array of images (N, C, H, W), got "
                        f"{type(batch).__name__}; transforms run on the loader's NumPy batches, "
                        "before they become tensors (use tensor.numpy() for a Tensor)")
    if batch.ndim != 4:
        raise ValueError(f"{op}: expected a batch of images (N, C, H, W), got shape "
                         f"{batch.shape}; add the channel axis with batch[:, None] (grayscale) "
                         "or the batch axis with image[None] (one image)")
    return batch


def _range(op: str, name: str, value: Any, symmetric: bool) -> tuple[float, float]:
    """A number v -> (-v, v) (symmetric) or a (low, high) pair, checked."""
    if isinstance(value, (int, float)) and symmetric:
        if value < 0:
            raise ValueError(f"{op}: {name} must be >= 0 when given as one number, got {value}")
        return -float(value), float(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and value[0] <= value[1]:
        return float(value[0]), float(value[1])
    raise ValueError(f"{op}: {name} must be {'a number or ' if symmetric else ''}a pair "
                     f"(low, high) with low <= high, got {value!r}")


class Compose:
    """Apply ``transforms`` one after another: Compose([ToFloat(), Normalize(0.5, 0.5)])."""

    def __init__(self, transforms: Sequence[Callable[[np.ndarray], np.ndarray]]):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got "
                                f"{type(t).__name__}")

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        for transform in self.transforms:
            batch = transform(batch)
        return batch

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class ToFloat:
    """Pixels -> float32 times ``scale`` (default 1/255: uint8 0..255 -> 0..1).

    Shapes: (N, H, W) -> (N, 1, H, W) (a channel axis is added); (N, C, H, W) is kept.
    """

    def __init__(self, scale: float = 1.0 / 255.0):
        self.scale = float(scale)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[:, None]  # (N, H, W) -> (N, 1, H, W)
        _check_batch("ToFloat", batch)
        return batch.astype(np.float32) * np.float32(self.scale)

    def __repr__(self) -> str:
        return f"ToFloat(scale={self.scale:.6g})"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c. mean, std: one number or one per channel."""

    def __init__(self, mean: Any, std: Any):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be numbers or 1-D sequences, got "
                             f"shapes {self.mean.shape} and {self.std.shape}")
        if np.any(self.std <= 0):
            raise ValueError(f"Normalize: std must be positive, got {self.std.tolist()}")

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = _check_batch("Normalize", batch)
        channels = batch.shape[1]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values.size not in (1, channels):
                raise ValueError(f"Normalize: {name} has {values.size} values but the images "
                                 f"have {channels} channels (shape {batch.shape}); give one "
                                 "value or one per channel")
        dtype = batch.dtype if batch.dtype.kind == "f" else np.float32
        mean = self.mean.reshape(1, -1, 1, 1).astype(dtype)  # (1, C, 1, 1) against (N, C, H, W)
        std = self.std.reshape(1, -1, 1, 1).astype(dtype)
        return ((batch - mean) / std).astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    """Pad each image by ``padding`` pixels of ``fill``, then cut out a size×size window at a
    random position (a new one per image). (N, C, H, W) -> (N, C, size_h, size_w)."""

    def __init__(self, size: Any, padding: int = 0, fill: float = 0.0):
        self.size = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if min(self.size) < 1 or padding < 0:
            raise ValueError(f"RandomCrop: size must be positive and padding >= 0, got size "
                             f"{size} and padding {padding}")
        self.padding, self.fill = int(padding), fill

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = _check_batch("RandomCrop", batch)
        n, _, height, width = batch.shape
        p = self.padding
        padded = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.fill)
        crop_h, crop_w = self.size
        room_h, room_w = height + 2 * p - crop_h, width + 2 * p - crop_w
        if room_h < 0 or room_w < 0:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the padded "
                             f"images ({height + 2 * p}, {width + 2 * p}) (shape {batch.shape}, "
                             f"padding {p}); use a smaller size or more padding")
        rng = generator()
        top = rng.integers(0, room_h + 1, size=n)   # (N,) a window position per image
        left = rng.integers(0, room_w + 1, size=n)
        # windows[n, c, i, j] is the crop_h×crop_w window whose top-left corner is (i, j)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (crop_h, crop_w), axis=(2, 3))
        return windows[np.arange(n), :, top, left].copy()  # (N, C, crop_h, crop_w)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = _check_batch("RandomHorizontalFlip", batch)
        flip = generator().random(len(batch)) < self.p  # (N,) which images to mirror
        out = batch.copy()
        out[flip] = batch[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def affine_resample(batch: np.ndarray, angles: np.ndarray, scales: np.ndarray,
                    shifts: np.ndarray, interpolation: str = "bilinear",
                    fill: float = 0.0) -> np.ndarray:
    """Rotate, zoom and shift every image of a batch about its centre, each by its own amount.

    batch (N, C, H, W); angles (N,) in degrees, counter-clockwise as seen on screen;
    scales (N,) zoom factors (> 1 enlarges); shifts (N, 2) of (dy, dx) pixels.
    Each output pixel looks up where it came from (the inverse transform) and reads that point
    (bilinear: weighted from the 4 nearest pixels; nearest: the closest one); points outside
    the image read ``fill``. Returns float32 for integer input, else the input's dtype.
    """
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"affine_resample: interpolation must be 'bilinear' or 'nearest', got "
                         f"{interpolation!r}")
    n, channels, height, width = batch.shape
    dtype = batch.dtype if batch.dtype.kind == "f" else np.float32
    centre_y, centre_x = (height - 1) / 2.0, (width - 1) / 2.0
    theta = np.deg2rad(angles)[:, None, None]                       # (N, 1, 1)
    scale = np.asarray(scales, dtype=np.float64)[:, None, None]
    rows = np.arange(height, dtype=np.float64)[None, :, None]      # (1, H, 1)
    cols = np.arange(width, dtype=np.float64)[None, None, :]       # (1, 1, W)
    # Output pixel relative to the centre, shift removed: (N, H, W) each
    out_dy = rows - centre_y - shifts[:, 0, None, None]
    out_dx = cols - centre_x - shifts[:, 1, None, None]
    # Undo the rotation (y points down, so counter-clockwise on screen uses these signs) and zoom
    src_x = (out_dx * np.cos(theta) - out_dy * np.sin(theta)) / scale + centre_x
    src_y = (out_dx * np.sin(theta) + out_dy * np.cos(theta)) / scale + centre_y

    # A one-pixel frame of `fill` around every image: sources off the image read it.
    framed = np.pad(batch.astype(dtype, copy=False), ((0, 0), (0, 0), (1, 1), (1, 1)),
                    constant_values=fill)
    image_index = np.arange(n)[:, None, None]                       # (N, 1, 1)

    def read(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """framed pixels at integer source (y, x) (N, H, W) -> (N, C, H, W)."""
        y = np.clip(y, -1, height) + 1  # +1: the frame
        x = np.clip(x, -1, width) + 1
        return framed[image_index, :, y, x].transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)

    if interpolation == "nearest":
        return read(np.rint(src_y).astype(np.int64), np.rint(src_x).astype(np.int64))
    top, left = np.floor(src_y), np.floor(src_x)
    wy = (src_y - top).astype(dtype)[:, None]                       # (N, 1, H, W) row weight
    wx = (src_x - left).astype(dtype)[:, None]
    top, left = top.astype(np.int64), left.astype(np.int64)
    upper = read(top, left) * (1 - wx) + read(top, left + 1) * wx
    lower = read(top + 1, left) * (1 - wx) + read(top + 1, left + 1) * wx
    return (upper * (1 - wy) + lower * wy).astype(dtype, copy=False)


class RandomAffine:
    """Rotate by a random angle, shift and zoom, each image its own draw, one resampling.

    degrees: d (angles in [-d, d]) or (low, high); counter-clockwise positive.
    translate: (fy, fx) largest shift as a fraction of the height/width, or None.
    scale: (low, high) zoom range, or None (no zoom).
    interpolation: "bilinear" (default) or "nearest"; fill: value for pixels from outside.
    """

    def __init__(self, degrees: Any = 0.0, translate: Any = None, scale: Any = None,
                 interpolation: str = "bilinear", fill: float = 0.0):
        name = type(self).__name__
        self.degrees = _range(name, "degrees", degrees, symmetric=True)
        if translate is not None:
            if not (isinstance(translate, (tuple, list)) and len(translate) == 2
                    and all(0.0 <= float(f) <= 1.0 for f in translate)):
                raise ValueError(f"{name}: translate must be a pair (fy, fx) of fractions in "
                                 f"[0, 1], got {translate!r}")
            translate = (float(translate[0]), float(translate[1]))
        self.translate = translate
        self.scale = None if scale is None else _range(name, "scale", scale, symmetric=False)
        if self.scale is not None and self.scale[0] <= 0:
            raise ValueError(f"{name}: scale factors must be positive, got {scale}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"{name}: interpolation must be 'bilinear' or 'nearest', got "
                             f"{interpolation!r}")
        self.interpolation, self.fill = interpolation, fill

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = _check_batch(type(self).__name__, batch)
        n, _, height, width = batch.shape
        rng = generator()
        angles = rng.uniform(self.degrees[0], self.degrees[1], size=n)
        scales = np.ones(n) if self.scale is None else rng.uniform(*self.scale, size=n)
        shifts = np.zeros((n, 2))
        if self.translate is not None:
            most = np.array([self.translate[0] * height, self.translate[1] * width])
            shifts = rng.uniform(-1.0, 1.0, size=(n, 2)) * most     # (N, 2) of (dy, dx)
        return affine_resample(batch, angles, scales, shifts, self.interpolation, self.fill)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(degrees={self.degrees}, translate={self.translate}, "
                f"scale={self.scale}, interpolation={self.interpolation!r})")


class RandomRotation(RandomAffine):
    """Rotate each image by its own random angle in [-degrees, degrees] (or (low, high)),
    counter-clockwise positive, about its centre; corners from outside read ``fill``."""

    def __init__(self, degrees: Any, interpolation: str = "bilinear", fill: float = 0.0):
        super().__init__(degrees, interpolation=interpolation, fill=fill)

    def __repr__(self) -> str:
        return f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation!r})"

