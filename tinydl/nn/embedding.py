"""Embedding: a learned lookup table from integer ids (tokens, positions) to vectors;
EmbeddingBag: the sum, mean or max of each bag of ids' vectors."""
from __future__ import annotations

from typing import Any

import numpy

from tinydl import functional as F
from tinydl.autograd import no_grad
from tinydl.errors import ShapeError
from tinydl.functional.embedding import normalize_padding_idx
from tinydl.nn import init
from tinydl.nn.module import Module, Parameter
from tinydl.tensor import Tensor


class Embedding(Module):
    """Row ``i`` of ``weight`` for each id ``i``. Shapes: ids (*) int -> (*, embedding_dim).

    weight (num_embeddings, embedding_dim) starts N(0, 1), as in PyTorch. With
    ``padding_idx`` that row starts at zero and never receives a gradient, so padding tokens
    map to a fixed zero vector.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype: Any = None):
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"Embedding: num_embeddings and embedding_dim must be positive, got "
                             f"{num_embeddings} and {embedding_dim}")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = normalize_padding_idx(padding_idx, num_embeddings, "Embedding")
        dtype = numpy.float32 if dtype is None else dtype
        self.weight = Parameter(numpy.zeros((num_embeddings, embedding_dim)), dtype=dtype)
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An Embedding holding a copy of ``embeddings`` (num_embeddings, embedding_dim).

        freeze: leave the table out of training (requires_grad False).
        """
        table = embeddings if isinstance(embeddings, Tensor) else Tensor(embeddings)
        if table.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be 2-D "
                             f"(num_embeddings, embedding_dim), got shape {table.shape}")
        layer = cls(table.shape[0], table.shape[1], padding_idx, dtype=table.dtype)
        layer.weight.data = table.data.copy()
        layer.weight.requires_grad_(not freeze)
        return layer

    def forward(self, ids: Any) -> Tensor:
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


class EmbeddingBag(Module):
    """Sum, mean or max of the embeddings of each bag of ids (a bag-of-words encoder).

    forward(input, offsets=None, per_sample_weights=None): input (B, L) (each row a bag) or
    (L,) with offsets (B,) -> (B, embedding_dim). weight (num_embeddings, embedding_dim)
    starts N(0, 1) (the padding_idx row at zero), as in PyTorch.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight: Any = None, include_last_offset: bool = False,
                 padding_idx: int | None = None, device: Any = None, dtype: Any = None):
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("EmbeddingBag: max_norm, scale_grad_by_freq and sparse "
                                      "are not supported")
        self.num_embeddings, self.embedding_dim, self.mode = num_embeddings, embedding_dim, mode
        self.include_last_offset = include_last_offset
        self.padding_idx = normalize_padding_idx(padding_idx, num_embeddings, "EmbeddingBag")
        dtype = numpy.float32 if dtype is None else dtype
        self.weight = Parameter(numpy.zeros((num_embeddings, embedding_dim)), dtype=dtype)
        if _weight is not None:
            self.weight.data[...] = _weight.data if isinstance(_weight, Tensor) else _weight
        else:
            init.normal_(self.weight)
            if self.padding_idx is not None:
                self.weight.data[self.padding_idx] = 0
        if device is not None:
            self.to(device)

    def forward(self, input: Any, offsets: Any = None,
                per_sample_weights: Any = None) -> Tensor:
        return F.embedding_bag(input, self.weight, offsets, mode=self.mode,
                               per_sample_weights=per_sample_weights,
                               include_last_offset=self.include_last_offset,
                               padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}{padding}"
