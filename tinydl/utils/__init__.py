"""``tinydl.utils.data`` is ``tinydl.data`` (PyTorch's path: ``from torch.utils.data import
DataLoader`` becomes ``from tinydl.utils.data import DataLoader``). The same module object is
registered under both names, so nothing is copied."""
import sys

from tinydl import data

sys.modules[__name__ + ".data"] = data

__all__ = ["data"]
