"""PyTorch's ``torch.utils`` path for the data tools: ``tinydl.utils.data`` IS ``tinydl.data``
(``from tinydl.utils.data import DataLoader`` works as in PyTorch)."""
from tinydl.utils import data  # noqa: F401
