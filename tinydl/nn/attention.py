"""MultiheadAttention: PyTorch's layer, parameter names and mask conventions, on tinydl ops.

    q, k, v = query @ Wq^T + bq, key @ Wk^T + bk, value @ Wv^T + bv    (B, T, E) each
    split E into num_heads heads of E/num_heads       (B, T, E) -> (B, H, T, E/H)
    attention per head (F.scaled_dot_product_attention), heads joined back, out_proj

Masks here use nn.MultiheadAttention's convention (the opposite of F.scaled_dot_product_
attention's): in ``key_padding_mask`` and a boolean ``attn_mask``, True means "ignore this
key"; a float mask is added to the scores.
"""
from __future__ import annotations

from typing import Any

import numpy

from tinydl import functional as F
from tinydl.errors import DTypeError, ShapeError
from tinydl.functional.attention import attention_with_weights, causal_mask
from tinydl.nn import init
from tinydl.nn.linear import Linear
from tinydl.nn.module import Module, Parameter
from tinydl.ops.common import as_tensor
from tinydl.ops.shape import split
from tinydl.tensor import Tensor


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017) with torch.nn.MultiheadAttention's API.

    Parameters (PyTorch's names and layouts, so a torch state dict loads):
      in_proj_weight (3E, E) rows [Wq; Wk; Wv] and in_proj_bias (3E,), or, when kdim or vdim
      differ from E, q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim);
      out_proj.weight (E, E), out_proj.bias (E,).
    Shapes: query (Tq, B, E), key (Tk, B, kdim), value (Tk, B, vdim) -> (Tq, B, E); with
      batch_first=True the batch comes first; unbatched (T, E) inputs work too.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 batch_first: bool = False, kdim: int | None = None, vdim: int | None = None,
                 dtype: Any = None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0 or embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be a positive "
                             f"multiple of num_heads ({num_heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.dropout, self.batch_first = dropout, batch_first
        dtype = numpy.float32 if dtype is None else dtype
        self._same_dims = self.kdim == embed_dim and self.vdim == embed_dim
        if self._same_dims:
            self.in_proj_weight = Parameter(numpy.zeros((3 * embed_dim, embed_dim)), dtype=dtype)
            init.xavier_uniform_(self.in_proj_weight)
        else:
            self.q_proj_weight = Parameter(numpy.zeros((embed_dim, embed_dim)), dtype=dtype)
            self.k_proj_weight = Parameter(numpy.zeros((embed_dim, self.kdim)), dtype=dtype)
            self.v_proj_weight = Parameter(numpy.zeros((embed_dim, self.vdim)), dtype=dtype)
            for weight in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(weight)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(numpy.zeros(3 * embed_dim), dtype=dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    # ---- pieces of forward ---------------------------------------------------------------------
    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        """The three input projections; (B, T, dim) -> (B, T, E) each."""
        E = self.embed_dim
        biases = (None, None, None) if self.in_proj_bias is None else split(self.in_proj_bias, E)
        if self._same_dims:
            if query is key and key is value:  # self-attention: one matmul for all three
                return split(F.linear(query, self.in_proj_weight, self.in_proj_bias), E, axis=-1)
            weights = split(self.in_proj_weight, E)
        else:
            weights = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        return tuple(F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))

    def _split_heads(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        x = x.reshape(batch, length, self.num_heads, self.head_dim)  # (B, T, H, D)
        return x.permute(0, 2, 1, 3)                                   # (B, H, T, D)

    def _merged_mask(self, attn_mask: Any, key_padding_mask: Any, is_causal: bool, batch: int,
                     num_queries: int, num_keys: int, like: Tensor) -> Any:
        """One mask in F.scaled_dot_product_attention's convention, (B or 1, H or 1, Tq, Tk).

        Boolean masks stay boolean (True = may attend); if either is float, both become
        additive (blocked = -inf).
        """
        xp = like.xp
        parts = []
        if attn_mask is not None:
            mask = _as_mask(attn_mask, like, "attn_mask")
            if mask.ndim == 3:
                if mask.shape != (batch * self.num_heads, num_queries, num_keys):
                    raise ShapeError(f"MultiheadAttention: a 3-D attn_mask must have shape "
                                     f"(batch * num_heads, Tq, Tk) = "
                                     f"{(batch * self.num_heads, num_queries, num_keys)}, got "
                                     f"{mask.shape}")
                mask = mask.reshape(batch, self.num_heads, num_queries, num_keys)
            elif mask.shape != (num_queries, num_keys):
                raise ShapeError(f"MultiheadAttention: attn_mask must have shape (Tq, Tk) = "
                                 f"{(num_queries, num_keys)} or (batch * num_heads, Tq, Tk), got "
                                 f"{mask.shape}")
            parts.append(mask)
        if key_padding_mask is not None:
            mask = _as_mask(key_padding_mask, like, "key_padding_mask")
            if mask.shape != (batch, num_keys):
                raise ShapeError(f"MultiheadAttention: key_padding_mask must have shape "
                                 f"(batch, Tk) = {(batch, num_keys)}, got {mask.shape}")
            parts.append(mask.reshape(batch, 1, 1, num_keys))
        if is_causal:
            parts.append(Tensor(~causal_mask(num_queries, num_keys, xp)))
        if not parts:
            return None
        if all(p.dtype == bool for p in parts):
            ignored = parts[0].data
            for p in parts[1:]:
                ignored = ignored | p.data
            return ~ignored
        total = None
        for p in parts:
            if p.dtype == bool:  # True = ignore -> -inf, added like the float masks
                p = Tensor(xp.where(p.data, float("-inf"), 0.0).astype(like.dtype))
            total = p if total is None else total + p
        return total

    # ---- forward -------------------------------------------------------------------------------
    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                need_weights: bool = True, attn_mask: Any = None,
                average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
        """Returns (output, weights). output: like query but with E features. weights:
        (B, Tq, Tk) averaged over heads, or (B, H, Tq, Tk) with average_attn_weights=False,
        or None when need_weights=False.

        key_padding_mask (B, Tk): True marks padding keys to ignore. attn_mask (Tq, Tk) or
        (B*H, Tq, Tk): bool (True = may NOT attend) or float (added). is_causal: query i sees
        keys 0..i only (also applied when attn_mask is given; PyTorch treats it as a hint).
        """
        query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
        unbatched = query.ndim == 2
        if unbatched:  # (T, E) -> (1, T, E), batch first
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = _as_mask(key_padding_mask, query, "key_padding_mask")
                key_padding_mask = key_padding_mask.reshape(1, -1)               # (1, Tk)
        elif not self.batch_first:  # (T, B, E) -> (B, T, E)
            query, key, value = (t.swapaxes(0, 1) for t in (query, key, value))
        self._check_inputs(query, key, value)
        batch, num_queries, num_keys = query.shape[0], query.shape[1], key.shape[1]
        if query is key and key is value:
            q, k, v = self._project(query, query, query)
        else:
            q, k, v = self._project(query, key, value)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        mask = self._merged_mask(attn_mask, key_padding_mask, is_causal, batch, num_queries,
                                 num_keys, q)
        dropout_p = self.dropout if self.training else 0.0
        out, weights = attention_with_weights(q, k, v, mask, dropout_p)  # (B, H, Tq, D)
        out = out.permute(0, 2, 1, 3).reshape(batch, num_queries, self.embed_dim)  # (B, Tq, E)
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.swapaxes(0, 1)                                     # (Tq, B, E)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(1)                                    # (B, Tq, Tk)
        return out, (weights.squeeze(0) if unbatched else weights)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        expected = (("query", query, self.embed_dim), ("key", key, self.kdim),
                    ("value", value, self.vdim))
        for name, t, dim in expected:
            if t.ndim != 3 or t.shape[-1] != dim:
                layout = "(B, T, dim)" if self.batch_first else "(T, B, dim)"
                raise ShapeError(f"MultiheadAttention: {name} must be {layout} with dim {dim} "
                                 f"(or unbatched (T, dim)), got shape {t.shape}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ShapeError(f"MultiheadAttention: query {query.shape}, key {key.shape} and value "
                             f"{value.shape} must share the batch size, and key and value the "
                             "length")

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


def _as_mask(mask: Any, like: Tensor, name: str) -> Tensor:
    """A bool or float mask as a Tensor on ``like``'s device (floats in ``like``'s dtype)."""
    if not isinstance(mask, Tensor):
        array = like.xp.asarray(mask)
        mask = Tensor(array, dtype=array.dtype)
    if mask.dtype != bool and mask.dtype.kind != "f":
        raise DTypeError(f"MultiheadAttention: {name} must be bool (True = ignore) or float "
                         f"(added to the scores), got {mask.dtype}")
    if mask.dtype.kind == "f" and mask.dtype != like.dtype:
        mask = mask.astype(like.dtype)
    return mask
