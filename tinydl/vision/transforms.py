"""Per-SAMPLE image transforms with torchvision's names, arguments and shapes.

Each transform takes one image and returns one image, so it belongs in a Dataset:

    transform = transforms.Compose([
        transforms.ToTensor(),                          # (H, W, C) uint8 -> (C, H, W) float32 in [0, 1]
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26)),
    ])
    image = transform(pixels)                           # in a Dataset's __getitem__

After ToTensor an image is a (C, H, W) Tensor; the other transforms take a Tensor (and give a
Tensor) or a (C, H, W) NumPy array (and give an array). Random choices come from tinydl's
generator: ``tinydl.manual_seed`` repeats them, and DataLoader workers each get their own
stream (see tinydl/data/worker.py). For whole batches inside a DataLoader (faster: no loop
over images), use ``tinydl.data.transforms`` instead.

    Compose, Lambda, ToTensor, Normalize, RandomCrop, CenterCrop, RandomHorizontalFlip,
    RandomVerticalFlip
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinydl.data import transforms as batch_transforms
from tinydl.random import generator
from tinydl.tensor import Tensor

__all__ = ["Compose", "Lambda", "ToTensor", "Normalize", "RandomCrop", "CenterCrop",
           "RandomHorizontalFlip", "RandomVerticalFlip"]


def _image(op: str, image: Any) -> tuple[np.ndarray, bool]:
    """(the image as a (C, H, W) array, whether it came as a Tensor)."""
    is_tensor = isinstance(image, Tensor)
    array = image.numpy() if is_tensor else image
    if not isinstance(array, np.ndarray) or array.ndim != 3:
        shape = getattr(array, "shape", None)
        raise TypeError(f"{op}: expected one image as a (C, H, W) Tensor or array, got "
                        f"{type(image).__name__} of shape {shape}; apply ToTensor() first (it "
                        "turns (H, W, C) pixels into (C, H, W)), or use tinydl.data.transforms "
                        "for whole (N, C, H, W) batches")
    return array, is_tensor


def _like(array: np.ndarray, is_tensor: bool) -> Any:
    return Tensor(np.ascontiguousarray(array), dtype=array.dtype) if is_tensor else array


def _pair(op: str, size: Any) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    if isinstance(size, (tuple, list)) and len(size) in (1, 2):
        return int(size[0]), int(size[-1])
    raise ValueError(f"{op}: size must be an int or a pair (h, w), got {size!r}")


class Compose:
    """Apply ``transforms`` one after another."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got "
                                f"{type(t).__name__}")

    def __call__(self, image: Any) -> Any:
        for transform in self.transforms:
            image = transform(image)
        return image

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class Lambda:
    """Use any function as a transform: Lambda(lambda x: x * 2)."""

    def __init__(self, lambd: Callable[[Any], Any]):
        if not callable(lambd):
            raise TypeError(f"Lambda: expected a callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, image: Any) -> Any:
        return self.lambd(image)


class ToTensor:
    """Pixels -> a (C, H, W) Tensor: (H, W, C) or (H, W) uint8 arrays (or PIL images) become
    float32 in [0, 1] (divided by 255); other dtypes are only transposed, as in torchvision."""

    def __call__(self, pic: Any) -> Tensor:
        array = pic if isinstance(pic, np.ndarray) else np.asarray(pic)
        if array.ndim == 2:
            array = array[:, :, None]  # (H, W) -> (H, W, 1)
        if array.ndim != 3:
            raise ValueError(f"ToTensor: expected an image of shape (H, W) or (H, W, C), got "
                             f"shape {array.shape}")
        chw = np.ascontiguousarray(array.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            chw = chw.astype(np.float32) / np.float32(255)
        return Tensor(chw, dtype=chw.dtype)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """(image - mean[c]) / std[c] for each channel c of a (C, H, W) float image."""

    def __init__(self, mean: Any, std: Any, inplace: bool = False):
        self.batch = batch_transforms.Normalize(mean, std)
        self.mean, self.std = self.batch.mean, self.batch.std

    def __call__(self, image: Any) -> Any:
        array, is_tensor = _image("Normalize", image)
        if array.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a float image, got dtype {array.dtype}; "
                            "apply ToTensor() first")
        return _like(self.batch(array[None])[0], is_tensor)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
              "symmetric": "symmetric"}


class RandomCrop:
    """Cut a size×size window at a random place, after padding the image by ``padding``
    (an int for every side, (left/right, top/bottom), or (left, top, right, bottom)).
    pad_if_needed pads an image smaller than the crop; padding_mode: constant (with
    ``fill``), edge, reflect or symmetric."""

    def __init__(self, size: Any, padding: Any = None, pad_if_needed: bool = False,
                 fill: float = 0, padding_mode: str = "constant"):
        self.size = _pair("RandomCrop", size)
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {sorted(_PAD_MODES)}, "
                             f"got {padding_mode!r}")
        if isinstance(padding, int):
            padding = (padding,) * 4
        elif isinstance(padding, (tuple, list)) and len(padding) == 2:
            padding = (padding[0], padding[1], padding[0], padding[1])
        elif padding is not None and (not isinstance(padding, (tuple, list)) or len(padding) != 4):
            raise ValueError(f"RandomCrop: padding must be an int or a sequence of 2 or 4 ints, "
                             f"got {padding!r}")
        self.padding = None if padding is None else tuple(int(p) for p in padding)
        self.pad_if_needed, self.fill, self.padding_mode = pad_if_needed, fill, padding_mode

    def _pad(self, array: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
        widths = ((0, 0), (top, bottom), (left, right))
        if self.padding_mode == "constant":
            return np.pad(array, widths, constant_values=self.fill)
        return np.pad(array, widths, mode=_PAD_MODES[self.padding_mode])

    def __call__(self, image: Any) -> Any:
        array, is_tensor = _image("RandomCrop", image)
        if self.padding is not None:
            array = self._pad(array, *self.padding)
        crop_h, crop_w = self.size
        height, width = array.shape[1:]
        if self.pad_if_needed and width < crop_w:
            array = self._pad(array, crop_w - width, 0, crop_w - width, 0)
        if self.pad_if_needed and height < crop_h:
            array = self._pad(array, 0, crop_h - height, 0, crop_h - height)
        height, width = array.shape[1:]
        if height < crop_h or width < crop_w:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the (padded) "
                             f"image ({height}, {width}); pass padding= or pad_if_needed=True")
        rng = generator()
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        return _like(array[:, top:top + crop_h, left:left + crop_w], is_tensor)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class CenterCrop:
    """Cut the size×size window in the middle of the image (rounding as torchvision)."""

    def __init__(self, size: Any):
        self.size = _pair("CenterCrop", size)

    def __call__(self, image: Any) -> Any:
        array, is_tensor = _image("CenterCrop", image)
        crop_h, crop_w = self.size
        height, width = array.shape[1:]
        if height < crop_h or width < crop_w:
            raise ValueError(f"CenterCrop: crop size {self.size} is larger than the image "
                             f"({height}, {width})")
        top = int(round((height - crop_h) / 2.0))
        left = int(round((width - crop_w) / 2.0))
        return _like(array[:, top:top + crop_h, left:left + crop_w], is_tensor)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomHorizontalFlip:
    """Mirror the image left-right with probability p."""

    axis = -1

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, image: Any) -> Any:
        array, is_tensor = _image(type(self).__name__, image)
        if generator().random() < self.p:
            return _like(np.flip(array, axis=self.axis), is_tensor)
        return image

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror the image top-bottom with probability p."""

    axis = -2
