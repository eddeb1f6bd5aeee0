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

__all__ = ["embedding", "embedding_bag", "one_hot"]


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


def _bag_membership(indices: Any, offsets: Any, include_last_offset: bool, xp: Any) -> tuple:
    """(flat ids (L,), membership (B, L) bool): bag b holds the ids at positions
    offsets[b] .. offsets[b + 1] - 1 (the last bag runs to the end)."""
    if indices.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: offsets must be None for a 2-D input (each row "
                             "is a bag)")
        bags, length = indices.shape
        owner = xp.repeat(xp.arange(bags), length)
        return indices.reshape(-1), owner[None, :] == xp.arange(bags)[:, None]
    if indices.ndim != 1 or offsets is None:
        raise ShapeError(f"embedding_bag: input must be 2-D (B, L), or 1-D with offsets (B,), "
                         f"got shape {indices.shape} with offsets {offsets}")
    starts = xp.asarray(offsets.data if isinstance(offsets, Tensor) else offsets).astype(
        xp.int64).reshape(-1)
    ends = xp.concatenate([starts[1:], xp.asarray([indices.shape[0]])])
    if include_last_offset:
        starts, ends = starts[:-1], starts[1:]
    if starts.size and (int(starts[0]) != 0 or bool(xp.any(ends < starts))):
        raise ValueError(f"embedding_bag: offsets must start at 0 and never decrease, got "
                         f"{starts.tolist()}")
    position = xp.arange(indices.shape[0])
    return indices, (position[None, :] >= starts[:, None]) & (position[None, :] < ends[:, None])


def embedding_bag(input: Any, weight: Tensor, offsets: Any = None,
                  max_norm: float | None = None, norm_type: float = 2.0,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sum, mean or max of the embeddings in each bag, without building (B, L, D) lookups
    for sum and mean (one (B, L) @ (L, D) product).

    Shapes: input (B, L) ids (each row a bag) or (L,) ids with offsets (B,) (bag starts);
    weight (num_embeddings, D) -> (B, D). per_sample_weights (like input) scales each id's row
    (mode "sum" only). Ids equal to padding_idx are left out of their bag; an empty bag gives
    zeros.
    """
    indices = as_tensor(input)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: max_norm, scale_grad_by_freq and sparse are "
                                  "not supported")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError(f"embedding_bag: per_sample_weights only works with mode='sum', got "
                         f"mode={mode!r}")
    _check_indices(indices, weight.shape[0], "embedding_bag")
    xp = weight.xp
    ids, members = _bag_membership(xp.asarray(indices.data), offsets, include_last_offset, xp)
    padding_idx = normalize_padding_idx(padding_idx, weight.shape[0], "embedding_bag")
    if padding_idx is not None:
        members = members & (ids != padding_idx)[None, :]
    rows = weight[ids]                                               # (L, D)
    if mode == "max":
        candidates = where(members[:, :, None], rows.unsqueeze(0), -float("inf"))
        best = candidates.amax(1)                                    # (B, D)
        return where(members.any(1)[:, None], best, 0.0)
    if per_sample_weights is not None:
        rows = rows * as_tensor(per_sample_weights).reshape(-1, 1)
    totals = Tensor(members, dtype=weight.dtype) @ rows             # (B, D)
    if mode == "sum":
        return totals
    counts = members.sum(1).clip(1, None).astype(weight.dtype)[:, None]
    return totals / counts


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
