"""Vision helpers with torchvision's names: ``from tinydl.vision import transforms`` reads like
``from torchvision import transforms``.

``tinydl.vision.transforms`` works on ONE image at a time (a sample of a Dataset, as
torchvision's do); ``tinydl.data.transforms`` works on whole NumPy batches (N, C, H, W) inside
a DataLoader. Use the first in a Dataset's ``__getitem__``, the second as
``DataLoader(..., transform=...)``.
"""
from tinydl.vision import transforms

__all__ = ["transforms"]
