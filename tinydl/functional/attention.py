"""Scaled dot-product attention, written with tinydl ops (the NumPy reference).

    weights = softmax(q @ k^T * scale + mask)      (..., Tq, Tk)
    out     = weights @ v                          (..., Tq, Ev)

Masks follow PyTorch's ``F.scaled_dot_product_attention``: a boolean mask is True where a
query may attend to a key; a float mask is added to the scores (-inf blocks a key). A query
row whose keys are all blocked gets zero weights, a zero output and zero gradients (never
NaN).

Two paths compute the same thing:

* composed (``attention_composed``, ``attention_with_weights``): a handful of tinydl ops, the
  readable version; it keeps the (..., Tq, Tk) weights alive until backward.
* fused (tinydl.ops.attention.FusedAttention): one Function running the attention kernels
  of the kernel registry (NumPy reference, Numba with TINYDL_KERNELS=numba, CuPy on cuda).

``scaled_dot_product_attention`` takes the fused path whenever it can: no dropout, a boolean
mask (or none), and query, key and value of one float dtype with the same leading dims. A
float mask or dropout takes the composed path. Both are differentiable twice.
"""
from __future__ import annotations

import math
from typing import Any

from tinydl.errors import DTypeError, ShapeError
from tinydl.functional.dropout import dropout
from tinydl.ops.attention import fused_attention
from tinydl.ops.common import as_tensor
from tinydl.ops.elementwise import where
from tinydl.ops.nn import softmax
from tinydl.tensor import Tensor

#: the score given to blocked keys: exp(BLOCKED - max) is exactly 0, and no overflow warnings
BLOCKED_SCORE = -1e30


def causal_mask(num_queries: int, num_keys: int, xp: Any) -> Any:
    """Boolean (Tq, Tk) array, True where key j <= query i (top-left aligned, as PyTorch)."""
    return xp.tril(xp.ones((num_queries, num_keys), dtype=bool))


def _split_mask(attn_mask: Any, like: Tensor) -> tuple[Any, Tensor | None]:
    """A mask as (allowed: bool array or None, additive: float Tensor or None)."""
    xp = like.xp
    mask = attn_mask if isinstance(attn_mask, Tensor) else None
    data = attn_mask.data if mask is not None else attn_mask
    if type(data) is not type(like.data):
        data = xp.asarray(data)  # a host (NumPy) mask for device scores, or a list
    if data.dtype == bool:
        return data, None
    if data.dtype.kind != "f":
        raise DTypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = attend) "
                         f"or float (added to the scores), got {data.dtype}")
    if mask is None or type(mask.data) is not type(data):
        mask = Tensor(data, dtype=data.dtype)
    if mask.dtype != like.dtype:
        mask = mask.astype(like.dtype)  # no silent float32 -> float64 promotion of the scores
        data = mask.data
    blocked = xp.isneginf(data)
    if not bool(blocked.any()):
        return None, mask
    # -inf entries become "not allowed"; the rest stays additive (and differentiable)
    return ~blocked, where(~blocked, mask, 0.0)


def _broadcasts(mask_shape: tuple, scores_shape: tuple) -> bool:
    """True when a mask of ``mask_shape`` broadcasts to ``scores_shape`` without growing it."""
    if len(mask_shape) > len(scores_shape):
        return False
    return all(m in (1, s) for m, s in zip(reversed(mask_shape), reversed(scores_shape)))


def _check_shapes(query: Tensor, key: Tensor, value: Tensor) -> None:
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim < 2:
            raise ShapeError(f"{op}: {name} must have at least 2 dims (..., T, E), got shape "
                             f"{t.shape}")
    if query.shape[-1] != key.shape[-1]:
        raise ShapeError(f"{op}: query {query.shape} and key {key.shape} must share the last "
                         f"(embedding) dim: {query.shape[-1]} != {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"{op}: key {key.shape} and value {value.shape} must have the same "
                         f"number of positions (dim -2): {key.shape[-2]} != {value.shape[-2]}")


def attention_with_weights(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None,
                           dropout_p: float = 0.0, is_causal: bool = False,
                           scale: float | None = None) -> tuple[Tensor, Tensor]:
    """Like ``scaled_dot_product_attention`` but also returns the weights (..., Tq, Tk).

    The returned weights are the ones multiplied with ``value`` (after dropout, if any).
    """
    query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
    _check_shapes(query, key, value)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got "
                         f"{dropout_p}")
    num_queries, num_keys = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    scores = (query * scale) @ key.swapaxes(-1, -2)  # (..., Tq, Tk); scaling q costs less
    xp = scores.xp
    allowed, additive = (None, None) if attn_mask is None else _split_mask(attn_mask, scores)
    mask_shape = next((m.shape for m in (allowed, additive) if m is not None), None)
    if mask_shape is not None and not _broadcasts(mask_shape, scores.shape):
        raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {mask_shape} "
                         f"does not broadcast to the scores' shape {scores.shape} "
                         "(..., Tq, Tk)")
    if is_causal:
        causal = causal_mask(num_queries, num_keys, xp)
        allowed = causal if allowed is None else allowed & causal
    if additive is not None:
        scores = scores + additive
    if allowed is not None:
        scores = where(allowed, scores, BLOCKED_SCORE)
    weights = softmax(scores, -1)                                     # (..., Tq, Tk)
    if allowed is not None:
        has_keys = allowed.any(axis=-1, keepdims=True)                # (..., Tq, 1)
        if not bool(has_keys.all()):
            # a row with every key blocked: softmax spread it evenly; zero it instead
            weights = weights * has_keys.astype(weights.dtype)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return weights @ value, weights


def attention_composed(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any = None,
                       dropout_p: float = 0.0, is_causal: bool = False,
                       scale: float | None = None) -> Tensor:
    """``scaled_dot_product_attention`` by the composed path only (for teaching/comparison).

    Same arguments and shapes as ``scaled_dot_product_attention``.
    """
    out, _ = attention_with_weights(query, key, value, attn_mask, dropout_p, is_causal, scale)
    return out


def _fused_mask(attn_mask: Any, like: Tensor) -> tuple[bool, Any]:
    """(usable, mask): the mask as a bool array on ``like``'s device, or (False, None) when
    it is a float mask (those take the composed path)."""
    if attn_mask is None:
        return True, None
    data = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
    if type(data) is not type(like.data):
        data = like.xp.asarray(data)  # a host (NumPy) mask for device tensors, or a list
    return data.dtype == bool, data


def _as_4d_shape(leading: tuple) -> tuple[int, int]:
    """(B, H) for the fused kernels from the leading dims (...) of (..., T, E)."""
    if len(leading) == 0:
        return 1, 1
    if len(leading) == 1:
        return 1, leading[0]
    return math.prod(leading[:-1]), leading[-1]


def _try_fused(query: Tensor, key: Tensor, value: Tensor, attn_mask: Any, is_causal: bool,
               scale: float) -> Tensor | None:
    """Attention through FusedAttention, or None when the inputs need the composed path."""
    leading = query.shape[:-2]
    if key.shape[:-2] != leading or value.shape[:-2] != leading \
            or not query.dtype == key.dtype == value.dtype or query.dtype.kind != "f" \
            or query.dtype.itemsize not in (4, 8) or query.shape[-1] == 0 or value.shape[-1] == 0:
        return None
    usable, mask = _fused_mask(attn_mask, query)
    if not usable:
        return None
    num_queries, num_keys = query.shape[-2], key.shape[-2]
    scores_shape = leading + (num_queries, num_keys)
    if mask is not None and not _broadcasts(mask.shape, scores_shape):
        raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} "
                         f"does not broadcast to the scores' shape {scores_shape} "
                         "(..., Tq, Tk)")
    batch, heads = _as_4d_shape(leading)
    if mask is not None:
        if len(leading) > 2:  # merging leading dims of a broadcast mask needs its full shape
            mask = query.xp.broadcast_to(mask, scores_shape)
            mask = mask.reshape(batch, heads, num_queries, num_keys)
        else:  # prepend the missing axes: (Tk,), (Tq, Tk), (H, Tq, Tk) -> 4-D
            mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    q4 = query.reshape(batch, heads, num_queries, query.shape[-1])      # (B, H, Tq, E)
    k4 = key.reshape(batch, heads, num_keys, key.shape[-1])             # (B, H, Tk, E)
    v4 = value.reshape(batch, heads, num_keys, value.shape[-1])         # (B, H, Tk, Ev)
    out = fused_attention(q4, k4, v4, mask, is_causal, scale)           # (B, H, Tq, Ev)
    return out.reshape(*leading, num_queries, value.shape[-1])


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:
    """softmax(q @ k^T * scale + mask) @ v, with PyTorch's signature and mask convention.

    Shapes: query (..., Tq, E), key (..., Tk, E), value (..., Tk, Ev) -> (..., Tq, Ev).
    attn_mask: broadcastable to (..., Tq, Tk); bool (True = may attend) or float (added to
        the scores, -inf blocks). is_causal: query i sees keys 0..i only (combined with
        attn_mask when both are given). scale: default 1/sqrt(E).
    dropout_p: drop attention weights with this probability (applied whenever > 0, as in
        PyTorch; pass 0.0 in evaluation).
    Runs the fused kernels when it can (see the module docstring), else the composed ops.
    """
    if dropout_p == 0.0:
        query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
        _check_shapes(query, key, value)
        resolved_scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
        out = _try_fused(query, key, value, attn_mask, is_causal, resolved_scale)
        if out is not None:
            return out
    return attention_composed(query, key, value, attn_mask, dropout_p, is_causal, scale)
