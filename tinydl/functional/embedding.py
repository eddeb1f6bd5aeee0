"""Index lookups: ``embedding`` (rows of a table picked by integer ids) and ``one_hot``.

``embedding`` is composed of tinydl's primitive ops (indexing, where): its gradient adds each
output row's gradient into the table row it came from. ``one_hot(ids, n)`` @ W equals
``embedding(ids, W)``, the same lookup as a (much larger) matmul.
"""
from __future__ import annotations

from typing import Any

from tinydl.errors import DTypeError, ShapeError
from tinydl.ops.common import as_tensor
from tinydl.ops.elementwise import where
from tinydl.tensor import Tensor

__all__ = ["embedding", "one_hot"]


def _check_indices(indices: Tensor, num_embeddings: int, op: str) -> None:
    if indices.dtype.kind not in "iu":
        raise DTypeError(f"{op}: indices must be integers, got {indices.dtype}; convert them "
                         "with .long() (token ids, not float values)")
    if indices.size:
        low, high = int(indices.data.min()), int(indices.data.max())
        if low < 0 or high >= num_embeddings:
            raise IndexError(f"{op}: indices must lie in [0, {num_embeddings}) for a table of "
                             f"{num_embeddings} rows, got values from {low} to {high}; is the "
                             "vocabulary larger than num_embeddings?")


def normalize_padding_idx(padding_idx: int | None, num_embeddings: int, op: str) -> int | None:
    """``padding_idx`` as a row number in [0, num_embeddings) (negative counts from the end)."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{op}: padding_idx {padding_idx} is outside the table of "
                         f"{num_embeddings} rows (valid: {-num_embeddings}..{num_embeddings - 1})")
    return padding_idx % num_embeddings


def embedding(indices: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` picked by integer ``indices``.

    Shapes: indices (*), weight (num_embeddings, embedding_dim) -> (*, embedding_dim).
    padding_idx: positions holding this index receive the row's value but pass no gradient to
    it, so the padding row stays as it is during training (as in PyTorch).
    """
    indices, weight = as_tensor(indices), as_tensor(weight)
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    _check_indices(indices, weight.shape[0], "embedding")
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0], "embedding")
    index = indices.data
    if type(index) is not type(weight.data):  # host ids for a device table, say
        index = weight.xp.asarray(index)
    rows = weight[index]                                   # (*, embedding_dim)
    if padding_idx is None or not rows.requires_grad:
        return rows
    not_padding = (index != padding_idx)[..., None]        # (*, 1), broadcasts over the dim
    return where(not_padding, rows, rows.detach())



def one_hot(labels: Any, num_classes: int, dtype: Any = None) -> Tensor:
    """Integer labels (N,) -> (N, num_classes) of zeros and ones (float32 by default)."""
    labels = as_tensor(labels)
    xp = labels.xp
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got {labels.dtype}")
    if labels.size and (int(labels.data.min()) < 0 or int(labels.data.max()) >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}), got values from "
                         f"{int(labels.data.min())} to {int(labels.data.max())}")
    out = xp.eye(num_classes, dtype=dtype or "float32")[labels.data]
    return Tensor(out, dtype=out.dtype)
