"""Declaration of the fused attention Function (tinydl.ops.attention.FusedAttention).

The reference is the attention formula in plain NumPy; the torch oracle is PyTorch's
scaled_dot_product_attention. Inputs include boolean masks with fully masked query rows,
which give zeros (PyTorch gives NaN there, so the oracle lets such a row see every key and
multiplies its output by 0: the same zeros and zero gradients).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinydl.ops.attention import fused_attention, split_heads
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch
except ImportError:  # the torch comparison skips; the lambdas below are never called
    torch = None

SCALE = 0.6


def _allowed(mask, causal, num_queries, num_keys):
    """The bool (.., Tq, Tk) array of visible keys, or None."""
    allowed = mask
    if causal:
        lower = np.tril(np.ones((num_queries, num_keys), dtype=bool))
        allowed = lower if allowed is None else allowed & lower
    return allowed


def _np_attention(q, k, v, mask, causal):
    scores = q @ np.swapaxes(k, -1, -2) * SCALE                        # (B, H, Tq, Tk)
    allowed = _allowed(mask, causal, q.shape[-2], k.shape[-2])
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    row_max = scores.max(-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0)
    weights = np.exp(scores - row_max)
    sums = weights.sum(-1, keepdims=True)
    weights = weights / np.where(sums == 0, 1, sums)                  # empty rows stay 0
    return weights @ v


def _torch_attention(q, k, v, mask, causal):
    # the mask comes as a torch bool tensor: as a NumPy array, `mask & lower` stays bool
    # (a torch tensor & a NumPy array gives uint8, which scaled_dot_product_attention refuses)
    mask = None if mask is None else np.asarray(mask)
    allowed = _allowed(mask, causal, q.shape[-2], k.shape[-2])
    if allowed is None:
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=SCALE)
    allowed = np.broadcast_to(allowed, q.shape[:-2] + (q.shape[-2], k.shape[-2]))
    has_keys = allowed.any(-1, keepdims=True)                         # (B, H, Tq, 1)
    visible = torch.from_numpy(allowed | ~has_keys)                   # empty rows see all
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=visible,
                                                           scale=SCALE)
    return out * torch.from_numpy(has_keys.astype(np.float64))


@st.composite
def _attention_inputs(draw):
    batch, heads = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    num_queries, num_keys = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dim, value_dim = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    q = draw(S.arrays((batch, heads, num_queries, dim), -2, 2))
    k = draw(S.arrays((batch, heads, num_keys, dim), -2, 2))
    v = draw(S.arrays((batch, heads, num_keys, value_dim), -2, 2))
    mask_shape = draw(st.sampled_from([None, (num_queries, num_keys), (batch, 1, 1, num_keys),
                                       (batch, heads, num_queries, num_keys)]))
    mask = None
    if mask_shape is not None:
        mask = np.array(draw(st.lists(st.booleans(), min_size=int(np.prod(mask_shape)),
                                      max_size=int(np.prod(mask_shape))))).reshape(mask_shape)
    return [q, k, v, mask, draw(st.booleans())]


def _fused(q, k, v, mask, causal):
    mask = None if mask is None else q.xp.asarray(mask)  # the mask on q's device
    return fused_attention(q, k, v, mask, causal, SCALE)


@st.composite
def _qkv_inputs(draw):
    batch, steps, heads, dim = (draw(st.integers(1, 3)) for _ in range(4))
    return [draw(S.arrays((batch, steps, 3 * heads * dim))), heads]


def _np_split_heads(qkv, heads):
    batch, steps, width = qkv.shape
    dim = width // (3 * heads)
    return tuple(np.stack([qkv[:, :, (part * heads + h) * dim:(part * heads + h + 1) * dim]
                           for h in range(heads)], axis=1) for part in range(3))


def _torch_split_heads(qkv, heads):
    batch, steps, width = qkv.shape
    parts = qkv.view(batch, steps, 3, heads, width // (3 * heads)).permute(2, 0, 3, 1, 4)
    return tuple(parts[index].contiguous() for index in range(3))


SPECS = [
    OpSpec("fused_attention", _fused, _np_attention, _attention_inputs(), _torch_attention,
           differentiable=(0, 1, 2)),
    OpSpec("split_heads", split_heads, _np_split_heads, _qkv_inputs(), _torch_split_heads,
           differentiable=(0,)),
]
