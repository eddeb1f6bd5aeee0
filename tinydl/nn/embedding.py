"""Embedding: a learned lookup table from integer ids (tokens, positions) to vectors."""
from __future__ import annotations

from typing import Any

import numpy

from tinydl import functional as F
from tinydl.functional.embedding import normalize_padding_idx
from tinydl.autograd import no_grad
from tinydl.errors import ShapeError
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
                        padding_idx: int | None = None) -> "Embedding":
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
