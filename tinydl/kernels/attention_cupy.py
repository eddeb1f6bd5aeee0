"""Scaled dot-product attention on the GPU with CuPy: cuBLAS matmuls and fused elementwise
kernels for the softmax weights and the softmax backward.

Same arguments and results as tinydl.kernels.attention's reference (see its docstring), on
CuPy arrays: q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv); mask bool, broadcastable to
(B, H, Tq, Tk), True = attend; forward -> (out, lse), backward -> (dq, dk, dv).

    scores  = (scale q) @ k^T                      cuBLAS (xp.matmul)
    weights = keep ? exp(scores - shift) : 0       one fused kernel (_shifted_exp)
    out     = (weights @ v) / rowsum(weights)      cuBLAS
    dS      = P * (dout @ v^T - rowsum(dout*out))  one fused kernel (_softmax_backward)

This module imports CuPy at the top: it is imported only when the registry picks the
"cupy" kernel for a "cuda" array (tinydl.kernels.attention registers lazy wrappers), never
on a machine without CuPy.

NOTE: written without a GPU at hand; the dispatch to it is tested on the CPU, the kernels
themselves have not run on a GPU yet.
"""

import math

import cupy

from tinydl.kernels.attention import _broadcast_mask, _check_qkv, _keep_matrix, _resolve_scale

# weights = exp(score - shift) where the key is visible and the row has a finite shift, else 0
_shifted_exp = cupy.ElementwiseKernel(
    "T score, T shift, bool keep", "T weight",
    "weight = (keep && isfinite(shift)) ? exp(score - shift) : (T)0",
    "tinydl_attention_shifted_exp")

# dS = P * (dP - row_dot)
_softmax_backward = cupy.ElementwiseKernel(
    "T prob, T dprob, T row_dot", "T dscore",
    "dscore = prob * (dprob - row_dot)",
    "tinydl_attention_softmax_backward")


def _scores_and_keep(op, q, k, mask, causal, scale):
    """(scores (B, H, Tq, Tk), keep bool broadcastable to it, scale)."""
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    scale = _resolve_scale(op, scale, D)
    keep = _keep_matrix(_broadcast_mask(op, mask, (B, H, Tq, Tk), cupy), causal, Tq, Tk, cupy)
    if keep is None:
        keep = cupy.ones((1, 1, 1, 1), dtype=bool)  # every key visible
    scores = cupy.matmul(q * scale, k.swapaxes(-1, -2))  # (B, H, Tq, Tk)
    return scores, keep, scale


def attention_forward_cupy(q, k, v, mask=None, causal=False, scale=None):
    """Attention forward on CuPy arrays -> (out (B, H, Tq, Dv), lse (B, H, Tq))."""
    op = "attention_forward_cupy"
    _check_qkv(op, q, k, v, numpy_only=False)
    scores, keep, _ = _scores_and_keep(op, q, k, mask, causal, scale)
    masked = cupy.where(keep, scores, -math.inf)
    row_max = masked.max(axis=-1, keepdims=True) if scores.shape[-1] else \
        cupy.full(scores.shape[:-1] + (1,), -math.inf, dtype=q.dtype)  # (B, H, Tq, 1)
    weights = _shifted_exp(scores, row_max, keep)
    row_sum = weights.sum(axis=-1, keepdims=True)
    empty = row_sum == 0
    out = cupy.matmul(weights, v) / cupy.where(empty, 1, row_sum)
    lse = cupy.where(empty, -math.inf, row_max + cupy.log(cupy.where(empty, 1, row_sum)))
    return out, lse[..., 0]


def attention_backward_cupy(q, k, v, mask, causal, scale, out, lse, dout):
    """Attention backward on CuPy arrays -> (dq, dk, dv); recomputes P from lse."""
    op = "attention_backward_cupy"
    _check_qkv(op, q, k, v, numpy_only=False)
    scores, keep, scale = _scores_and_keep(op, q, k, mask, causal, scale)
    probs = _shifted_exp(scores, lse[..., None], keep)  # (B, H, Tq, Tk); 0 for empty rows
    dv = cupy.matmul(probs.swapaxes(-1, -2), dout)
    dscores = cupy.matmul(dout, v.swapaxes(-1, -2))
    row_dot = (dout * out).sum(axis=-1, keepdims=True)  # (B, H, Tq, 1)
    _softmax_backward(probs, dscores, row_dot, dscores)  # in place: element i reads only i
    dq = cupy.matmul(dscores, k * scale)
    dk = cupy.matmul(dscores.swapaxes(-1, -2), q * scale)
    return dq, dk, dv
