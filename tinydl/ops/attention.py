"""Fused scaled-dot-product attention: one Function whose forward and backward are kernels.

    out = softmax(scale * q @ k^T, masked) @ v        q (B, H, Tq, D), k (B, H, Tk, D),
                                                      v (B, H, Tk, Dv) -> out (B, H, Tq, Dv)

The composed version (tinydl.functional.attention.attention_composed) records about ten graph
nodes and keeps the (Tq, Tk) weights alive until backward. ``FusedAttention`` records one node
and keeps only out and the row log-sum-exp ``lse`` (B, H, Tq). Its forward and backward are
the kernels in tinydl.kernels.attention, chosen per device by the kernel registry:

    cpu    the Numba kernel with TINYDL_KERNELS=numba (tiled, O(T d) extra memory),
           else the NumPy reference (TINYDL_KERNELS=numpy forces it). The reference builds
           the (Tq, Tk) weights anyway, so with it forward keeps them for backward
           (attention_forward_keeping_weights) instead of recomputing them. Those two
           formulas also have Numba versions with one (batch, head) per work item, which run
           without a mask where they run on the thread pool (_per_head_kernel).
    cuda   the CuPy kernel when CuPy is installed (tinydl.kernels.attention_cupy)
    other  the NumPy reference, written against xp (runs on any array module)

Masks are boolean (True = attend), broadcastable to (B, H, Tq, Tk); ``causal`` adds the
top-left aligned causal mask. A query row with every key masked gets zeros and zero
gradients.

Second derivatives: when backward itself is being recorded (``create_graph=True``), the
gradients are recomputed with tinydl ops from q, k and v, so they can be differentiated again
(this rebuilds the (Tq, Tk) weights). Otherwise backward runs the kernel on arrays.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import Context, Function, is_grad_enabled
from tinydl.backend import backend_of, get_array_module
from tinydl.kernels import attention as attention_kernels
from tinydl.kernels import registry

### BEGIN FASTER task 5.1
### END FASTER
### BEGIN FASTER task 5.2
from tinydl.kernels.attention import (
    attention_backward_from_weights,
    attention_forward_keeping_weights,
    attention_forward_reference,
)

### END FASTER
from tinydl.ops.elementwise import where
from tinydl.ops.nn import softmax
from tinydl.ops.shape import stack
from tinydl.tensor import Tensor
from tinydl.threads import numba_layer_planned, split_over_batch

#: the score given to masked keys in the recorded (twice-differentiable) backward
_BLOCKED_SCORE = -1e30
#: queries per block of the blocked causal path (_forward_causal_blocks)
CAUSAL_BLOCK = 64
#: score elements (B H Tq Tk) from which the NumPy attention runs as slices of the batch on
#: the threads (threads.split_over_batch). Measured with default threads on the 2-core machine
#: (fresh process each, three rounds): causal B8 H4 d32 T256 (2.1M scores) took 9.5-10.9 ms
#: a step split against 11.4-12.4 ms unsplit; at T128 (524k) split lost, 4.4-5.2 against
#: 4.2-4.3 ms.
SPLIT_MIN_WORK = 1_048_576
#: the most keys for which the per-head Numba kernels run (above, the NumPy attention split
#: over the batch does; _per_head_kernel), by the Numba threading layer they run on. On
#: workqueue, whose pool is slow to wake, they took 11.7-14.2 ms a T256 step against the split
#: 9.5-10.9 (as above); at T128 they won: 3.8-4.2 ms against 4.4-5.2 split, and GPT-mini (B32
#: T128) 304-326 ms against 338-345 ms. On TBB they win at T256 too: 7.1-7.5 ms against
#: 8.4-8.8 ms split (default threads, fresh process each, three rounds, 2026-11-30).
HEADS_MAX_KEYS = {"tbb": 256, "workqueue": 128}


def _kernel(op_name: str, array: Any):
    """The registered kernel for ``op_name`` on the device that owns ``array``."""
    return registry.get(op_name, backend_of(array).device_type)


class FusedAttention(Function):
    """q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv) -> out (B, H, Tq, Dv).

    params: mask (bool array broadcastable to (B, H, Tq, Tk), True = attend, or None),
    causal (bool), scale (float).
    """

    @staticmethod
    def forward(ctx: Context, q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False,
                scale: float = 1.0) -> Any:
        forward_kernel = _kernel("attention_forward", q)
        ### BEGIN FASTER task 5.1
        per_head = (_per_head_kernel("attention_forward_keeping_weights", q, k)
                    if forward_kernel is attention_forward_reference and mask is None else None)
        if per_head is not None:
            # One Numba kernel over every (batch, head), on the thread pool, no BLAS.
            out, weights, row_sum = per_head(q, k, v, None, causal, scale)
            ctx.save_for_backward(out, None, weights, row_sum)
            return out
        if forward_kernel is attention_forward_reference and _causal_blocks(q, k, mask, causal):
            # Causal self-attention in blocks of queries, each with the keys it can see: the
            # hidden upper triangle of the (Tq, Tk) weights is mostly never computed.
            out, *weights = split_over_batch(
                _forward_causal_blocks, [q, k, v], _score_count(q, k), scale, min_work=SPLIT_MIN_WORK)
            ctx.save_for_backward(out, None, weights, None)
            return out
        if forward_kernel is attention_forward_reference:
            # The reference builds the (Tq, Tk) weights anyway: keep them for backward
            # instead of recomputing them there (same results, two passes fewer).
            out, weights, row_sum = split_over_batch(
                _forward_keeping_weights, [q, k, v, _full_mask(mask, q, k)], _score_count(q, k),
                causal, scale, min_work=SPLIT_MIN_WORK)
            ctx.save_for_backward(out, None, weights, row_sum)
            return out
        ### END FASTER
        out, lse = forward_kernel(q, k, v, mask, causal, scale)
        ctx.save_for_backward(out, lse, None, None)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Tensor) -> tuple:
        q, k, v = ctx.inputs
        mask, causal, scale = ctx.params["mask"], ctx.params["causal"], ctx.params["scale"]
        if is_grad_enabled():  # backward is being recorded: the formulas in tinydl ops
            return _backward_in_ops(q, k, v, mask, causal, scale, grad_out)
        out, lse, weights, row_sum = ctx.saved_values
        ### BEGIN FASTER task 5.2
        if isinstance(weights, list):  # causal blocks: [weights, row_sum] of each block
            grads = split_over_batch(
                _backward_causal_blocks, [q.data, k.data, v.data, out, grad_out.data, *weights],
                _score_count(q, k), scale, min_work=SPLIT_MIN_WORK)
            return tuple(Tensor(g, dtype=g.dtype) for g in grads)
        if weights is not None:
            per_head = _per_head_kernel("attention_backward_from_weights", q.data, k.data)
            if per_head is not None:  # one Numba kernel over every (batch, head), no BLAS
                grads = per_head(q.data, k.data, v.data, scale, weights, row_sum, out,
                                 grad_out.data, causal)
            else:
                grads = split_over_batch(
                    attention_backward_from_weights_in_order,
                    [q.data, k.data, v.data, weights, row_sum, out, grad_out.data],
                    _score_count(q, k), scale, min_work=SPLIT_MIN_WORK)
            return tuple(Tensor(g, dtype=g.dtype) for g in grads)
        ### END FASTER
        grads = _kernel("attention_backward", q.data)(q.data, k.data, v.data, mask, causal,
                                                      scale, out, lse, grad_out.data)
        return tuple(Tensor(g, dtype=g.dtype) for g in grads)


def _per_head_kernel(op_name: str, q: Any, k: Any):
    """The registered kernel of ``op_name`` when it is the per-head Numba version (not the
    NumPy one), there are at least HEADS_PARALLEL_MIN_WORK scores (tinydl.kernels.attention)
    and the keys are at most HEADS_MAX_KEYS; else None. They run on one thread too (their
    serial copies): causal SDPA B8 H4 d32, one thread, CPU time a step, median of 7 blocks in
    three alternating pairs of fresh processes (2026-12-01, on an AVX2 CPU): T256 21.7-22.2
    ms against 23.5-24.6 ms for the NumPy formulas; GPT-mini 500-542 against 564-579 ms."""
    device = backend_of(q).device_type
    if registry.chosen_name(op_name, device) != "numba" \
            or _score_count(q, k) < attention_kernels.HEADS_PARALLEL_MIN_WORK:
        return None
    if k.shape[2] > HEADS_MAX_KEYS.get(numba_layer_planned(), HEADS_MAX_KEYS["workqueue"]):
        return None
    return registry.get(op_name, device)


def _score_count(q: Any, k: Any) -> int:
    """B * H * Tq * Tk: the size of the score matrix, the work of the NumPy attention."""
    return q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2]


def _full_mask(mask: Any, q: Any, k: Any) -> Any:
    """The mask broadcast to (B, H, Tq, Tk) (a view), so it splits with q along the batch."""
    if mask is None:
        return None
    shape = (q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    return backend_of(q).xp.broadcast_to(mask, shape)


### BEGIN FASTER task 5.1
def _causal_blocks(q: Any, k: Any, mask: Any, causal: bool) -> bool:
    """Whether attention runs in blocks of CAUSAL_BLOCK queries: causal self-attention (as
    many queries as keys, no other mask) on CPU arrays with at least two blocks."""
    return (causal and mask is None and q.shape[2] == k.shape[2] >= 2 * CAUSAL_BLOCK
            and backend_of(q).device_type == "cpu")


def _block_bounds(length: int) -> list:
    """(start, stop) of each block of CAUSAL_BLOCK queries (the last one may be longer)."""
    starts = list(range(0, length - CAUSAL_BLOCK + 1, CAUSAL_BLOCK))
    return [(start, stop) for start, stop in zip(starts, starts[1:] + [length])]


def _forward_causal_blocks(q: Any, k: Any, v: Any, scale: float) -> tuple:
    """Causal attention block by block: queries start:stop see keys 0:stop, key j only when
    j <= query i (a mask for the last stop - start keys). q, k, v (B, H, T, D).

    Returns (out (B, H, T, Dv), weights and row_sum of block 0, of block 1, ...), the
    results of attention_forward_keeping_weights for each block.
    """
    xp = backend_of(q).xp
    outs, parts = [], []
    for start, stop in _block_bounds(q.shape[2]):
        sees = xp.arange(stop)[None, :] <= xp.arange(start, stop)[:, None]  # (stop-start, stop)
        out, weights, row_sum = attention_forward_keeping_weights(
            q[:, :, start:stop], k[:, :, :stop], v[:, :, :stop], None if start == 0 else sees,
            start == 0, scale)
        outs.append(out)
        parts += [weights, row_sum]
    return (xp.concatenate(outs, axis=2), *parts)


def _forward_keeping_weights(q: Any, k: Any, v: Any, mask: Any, causal: bool,
                             scale: float) -> tuple:
    return attention_forward_keeping_weights(q, k, v, mask, causal, scale)
### END FASTER


### BEGIN FASTER task 5.2
def _backward_causal_blocks(q: Any, k: Any, v: Any, out: Any, dout: Any, *rest: Any) -> tuple:
    """dq, dk, dv of ``_forward_causal_blocks``; rest: its weights and row sums, then scale.

    The last block sees every key: its dk and dv start the sums, to which each earlier block
    adds its own (over the keys it sees).
    """
    *parts, scale = rest
    dq_blocks, dk, dv = [], None, None
    for block, (start, stop) in reversed(list(enumerate(_block_bounds(q.shape[2])))):
        weights, row_sum = parts[2 * block], parts[2 * block + 1]
        rows = slice(start, stop)
        block_dq, block_dk, block_dv = attention_backward_from_weights(
            q[:, :, rows], k[:, :, :stop], v[:, :, :stop], scale, weights, row_sum,
            out[:, :, rows], dout[:, :, rows])
        dq_blocks.insert(0, block_dq)
        if dk is None:
            dk, dv = block_dk, block_dv
        else:
            dk[:, :, :stop] += block_dk
            dv[:, :, :stop] += block_dv
    return backend_of(q).xp.concatenate(dq_blocks, axis=2), dk, dv


def attention_backward_from_weights_in_order(q, k, v, weights, row_sum, out, dout, scale):
    """``attention_backward_from_weights`` with the batched arrays first (for split_over_batch)."""
    return attention_backward_from_weights(q, k, v, scale, weights, row_sum, out, dout)
### END FASTER


def _backward_in_ops(q: Tensor, k: Tensor, v: Tensor, mask: Any, causal: bool, scale: float,
                     grad_out: Tensor) -> tuple:
    """dq, dk, dv with tinydl ops (differentiable again), from the weights P (B, H, Tq, Tk).

        dv = P^T @ dout;  dP = dout @ v^T;  dS = P * (dP - rowsum(dP * P))
        dq = scale * dS @ k;  dk = scale * dS^T @ q
    """
    xp = q.xp
    num_queries, num_keys = q.shape[-2], k.shape[-2]
    allowed = mask
    if causal:
        lower = xp.tril(xp.ones((num_queries, num_keys), dtype=bool))  # (Tq, Tk)
        allowed = lower if allowed is None else allowed & lower
    scores = (q * scale) @ k.swapaxes(-1, -2)                            # (B, H, Tq, Tk)
    if allowed is not None:
        scores = where(allowed, scores, _BLOCKED_SCORE)
    probs = softmax(scores, -1)
    if allowed is not None:
        has_keys = xp.broadcast_to(allowed, scores.shape).any(axis=-1, keepdims=True)
        probs = probs * has_keys.astype(probs.dtype)                     # empty rows: 0
    grad_probs = grad_out @ v.swapaxes(-1, -2)                           # (B, H, Tq, Tk)
    grad_scores = probs * (grad_probs - (grad_probs * probs).sum(axis=-1, keepdims=True))
    grad_q = (grad_scores @ k) * scale
    grad_k = (grad_scores.swapaxes(-1, -2) @ q) * scale
    grad_v = probs.swapaxes(-1, -2) @ grad_out
    return grad_q, grad_k, grad_v


def fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Any = None, causal: bool = False,
                    scale: float = 1.0) -> Tensor:
    """Attention of 4-D tensors through one fused Function (see the module docstring).

    q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv) -> (B, H, Tq, Dv); mask a bool array on
    q's device, broadcastable to (B, H, Tq, Tk), or None.
    """
    return FusedAttention.apply(q, k, v, mask=mask, causal=bool(causal), scale=float(scale))


class SplitHeads(Function):
    """qkv (B, T, 3C) -> q, k, v (B, H, T, C / H), each contiguous: a fused q/k/v projection
    cut into heads (head h of q is the columns h D : (h + 1) D of q's C).

    params: heads (H). One node: forward is three copies (one per output) and backward one
    copy back into (B, T, 3C), instead of reshape, permute, a copy and a split forward and a
    concatenate and a copy backward. A recorded backward uses tinydl ops.
    """

    @staticmethod
    def forward(ctx: Context, qkv: Any, heads: int = 1) -> tuple:
        xp = get_array_module(qkv)
        batch, steps, width = qkv.shape
        parts = qkv.reshape(batch, steps, 3, heads, width // (3 * heads)).transpose(2, 0, 3, 1, 4)
        return tuple(xp.ascontiguousarray(part) for part in parts)

    @staticmethod
    def backward(ctx: Context, dq: Tensor, dk: Tensor, dv: Tensor) -> Tensor:
        batch, heads, steps, dim = dq.shape
        if is_grad_enabled():  # backward is being recorded: the same copy in tinydl ops
            return stack([dq, dk, dv]).permute(1, 3, 0, 2, 4).reshape(batch, steps, 3 * heads * dim)
        xp = get_array_module(dq.data)
        merged = xp.empty((batch, steps, 3, heads, dim), dtype=dq.dtype)  # (B, T, 3, H, D)
        for index, grad in enumerate((dq, dk, dv)):
            merged[:, :, index] = grad.data.transpose(0, 2, 1, 3)
        return Tensor(merged.reshape(batch, steps, 3 * heads * dim), dtype=dq.dtype)


def split_heads(qkv: Tensor, heads: int) -> tuple:
    """q, k, v (B, H, T, C / H) from qkv (B, T, 3C), the output of a fused projection."""
    batch, steps, width = qkv.shape
    if width % (3 * heads):
        raise ValueError(f"split_heads: the last axis of qkv {tuple(qkv.shape)} must be 3 * heads * "
                         f"head_dim for heads={heads}; it is {width}")
    return SplitHeads.apply(qkv, heads=int(heads))
