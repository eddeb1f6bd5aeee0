"""Scaled dot-product attention kernels on arrays (NumPy in, NumPy out).

    scores = scale * q @ k^T            (B, H, Tq, Tk), masked entries set to -inf
    out    = softmax(scores) @ v        (B, H, Tq, Dv)
    lse    = logsumexp(scores, axis=-1) (B, H, Tq), kept for the backward pass

Shapes: q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv); float32 or float64, all alike.

Masks follow PyTorch's boolean convention for scaled_dot_product_attention: ``mask`` is a
bool array broadcastable to (B, H, Tq, Tk) where True means "this query may attend to this
key". A key-padding mask ``keep`` of shape (B, Tk) is passed as ``keep[:, None, None, :]``
(a bare 2-D mask is read as (Tq, Tk), by broadcasting). ``causal=True`` additionally lets
query i see only keys j <= i (top-left aligned, like PyTorch's ``is_causal``); mask and causal
may be combined. A query row whose keys are all masked gets out = 0 and lse = -inf (PyTorch
gives NaN there), and its backward gives zero gradients.

Three versions, each a forward and a backward function with the same arguments and results:
- ``attention_forward_reference`` / ``attention_backward_reference``: the plain formula over
  the full Tq x Tk score matrix.
- ``attention_forward_tiled_numpy`` / ``attention_backward_tiled_numpy``: the same over blocks
  of keys with an online softmax (flash-attention style); extra memory O(Tq * block).
- ``attention_forward_numba`` / ``attention_backward_numba``: tiled Numba kernels, parallel
  over batch x heads (and query tiles), that never build a Tq x Tk array. The backward recomputes the
  probabilities from q, k and lse (flash-attention-2 style, with D_i = rowsum(dout * out)).

The CPU default keeps the weights from forward to backward instead
(``attention_forward_keeping_weights`` / ``attention_backward_from_weights``); their Numba
versions, one (batch, head) per work item, are in the section "Numba, per head".
"""

import importlib.util
import math

import numpy as np

from tinydl.backend import backend_of, get_array_module
from tinydl.kernels import registry
from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.fast_exp import exp_float32, exp_float64, exp_in_its_dtype

prange = range  # compiled kernels see numba.prange here (see _jit.py)

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Tile size of the Numba kernels: a tile is BLOCK queries x BLOCK keys.
BLOCK = 64


# ----------------------------------------------------------------------------- input checks

def _check_qkv(op, q, k, v, numpy_only=True):
    """Validate q, k, v; return (B, H, Tq, Tk, D, Dv).

    numpy_only=False (the reference, written against xp) also accepts CuPy/stand-in arrays.
    """
    for name, array in (("q", q), ("k", k), ("v", v)):
        is_array = isinstance(array, np.ndarray) if numpy_only else hasattr(array, "ndim")
        if not is_array or array.ndim != 4:
            shape = getattr(array, "shape", None)
            raise ValueError(
                f"{op}: {name} must be a 4-D NumPy array (batch, heads, tokens, features), "
                f"got {type(array).__name__} with shape {shape}; add the missing axes with "
                f"{name}[None] or reshape"
            )
    if np.dtype(q.dtype) not in _FLOAT_DTYPES or not (q.dtype == k.dtype == v.dtype):
        raise TypeError(
            f"{op}: q, k, v must all be float32 or all float64, got {q.dtype}, {k.dtype}, "
            f"{v.dtype}; convert with .astype(np.float32)"
        )
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    Dv = v.shape[3]
    if k.shape != (B, H, Tk, D) or v.shape[:3] != (B, H, Tk) or D == 0 or Dv == 0:
        raise ValueError(
            f"{op}: shapes q {q.shape}, k {k.shape}, v {v.shape} do not fit q (B, H, Tq, D), "
            f"k (B, H, Tk, D), v (B, H, Tk, Dv) with D, Dv >= 1: batch, heads and D must match "
            f"between q and k, and k and v must have the same number of keys"
        )
    return B, H, Tq, Tk, D, Dv


def _broadcast_mask(op, mask, scores_shape, xp=np):
    """The mask as a read-only bool view of shape (B, H, Tq, Tk) (no copy), or None."""
    if mask is None:
        return None
    mask = xp.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(
            f"{op}: mask must be a bool array (True = attend), got dtype {mask.dtype}; for a "
            f"0/1 mask use mask.astype(bool), for an additive mask (0 or -inf) use "
            f"np.isfinite(mask)"
        )
    try:
        return xp.broadcast_to(mask, scores_shape)
    except ValueError:
        raise ValueError(
            f"{op}: mask of shape {mask.shape} does not broadcast to the scores' shape "
            f"(B, H, Tq, Tk) = {scores_shape}; a key-padding mask of shape (B, Tk) must be "
            f"passed as mask[:, None, None, :]"
        ) from None


def _resolve_scale(op, scale, D):
    if scale is None:
        return 1.0 / math.sqrt(D)
    scale = float(scale)  # a Python float keeps float32 math in float32
    if not math.isfinite(scale):
        raise ValueError(f"{op}: scale must be a finite number, got {scale}")
    return scale


def _check_backward_arrays(op, shapes, q, out, lse, dout):
    B, H, Tq, Tk, D, Dv = shapes
    expected = {"out": (B, H, Tq, Dv), "lse": (B, H, Tq), "dout": (B, H, Tq, Dv)}
    for name, array in (("out", out), ("lse", lse), ("dout", dout)):
        if not hasattr(array, "ndim") or array.shape != expected[name] \
                or array.dtype != q.dtype:
            raise ValueError(
                f"{op}: {name} must be a {q.dtype} array of shape {expected[name]}, got "
                f"{getattr(array, 'dtype', type(array).__name__)} with shape "
                f"{getattr(array, 'shape', None)}; pass the out and lse the forward returned"
            )


def _keep_matrix(mask4, causal, Tq, Tk, xp=np):
    """mask AND causal as one bool array broadcastable to (B, H, Tq, Tk), or None."""
    keep = mask4
    if causal:
        lower = xp.tril(xp.ones((Tq, Tk), dtype=bool))  # (Tq, Tk): key j <= query i
        keep = lower if keep is None else keep & lower
    return keep


def _softmax_parts(scores):
    """Row max, exp weights and row sum of masked scores (-inf = masked), safe for empty rows.

    scores: (..., Tk). Returns (safe_max (..., 1), weights (..., Tk), row_sum (..., 1)) where
    safe_max is the row max, or 0 for a row with no finite score (so exp gives 0, not NaN).
    """
    xp = get_array_module(scores)
    if scores.shape[-1] == 0:  # no keys at all: every row is empty
        zeros = xp.zeros(scores.shape[:-1] + (1,), dtype=scores.dtype)
        return zeros, scores, zeros
    row_max = scores.max(axis=-1, keepdims=True)
    safe_max = xp.where(xp.isneginf(row_max), 0, row_max)
    weights = xp.exp(scores - safe_max)
    return safe_max, weights, weights.sum(axis=-1, keepdims=True)


def _finish_rows(acc, row_max, row_sum):
    """out = acc / row_sum and lse = row_max + log(row_sum), with 0 and -inf for empty rows."""
    xp = get_array_module(acc)
    empty = row_sum == 0
    out = acc / xp.where(empty, 1, row_sum)
    # log(0) would be -inf with a warning; empty rows get -inf explicitly instead
    lse = xp.where(empty, -math.inf, row_max + xp.log(xp.where(empty, 1, row_sum)))
    return out, lse[..., 0]


# ----------------------------------------------------------------------------- NumPy reference

def attention_forward_reference(q, k, v, mask=None, causal=False, scale=None):
    """Attention by the plain formula over the full score matrix.

    q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv); mask bool, broadcastable to
    (B, H, Tq, Tk), True = attend; scale defaults to 1/sqrt(D).
    Returns (out (B, H, Tq, Dv), lse (B, H, Tq)).
    """
    op = "attention_forward_reference"
    xp = get_array_module(q)
    B, H, Tq, Tk, D, Dv = _check_qkv(op, q, k, v, numpy_only=False)
    scale = _resolve_scale(op, scale, D)
    keep = _keep_matrix(_broadcast_mask(op, mask, (B, H, Tq, Tk), xp), causal, Tq, Tk, xp)
    ### BEGIN SOLUTION task 5.1
    # HINT: scores = q @ k^T * scale; -inf where keep is False; then _softmax_parts and _finish_rows
    scores = (q @ k.swapaxes(-1, -2)) * scale  # (B, H, Tq, Tk)
    scores = scores if keep is None else xp.where(keep, scores, -math.inf)  # masked pairs: -inf
    safe_max, weights, row_sum = _softmax_parts(scores)
    return _finish_rows(weights @ v, safe_max, row_sum)
    ### END SOLUTION


def attention_backward_reference(q, k, v, mask, causal, scale, out, lse, dout):
    """Gradients of attention by the plain formula.

    Inputs as for the forward, plus out (B, H, Tq, Dv) and lse (B, H, Tq) from the forward
    and dout (B, H, Tq, Dv), the gradient of the loss with respect to out.
    Returns (dq (B, H, Tq, D), dk (B, H, Tk, D), dv (B, H, Tk, Dv)).

        P  = exp(scores - lse)             dv = P^T @ dout
        dP = dout @ v^T                    dS = P * (dP - rowsum(dout * out))
        dq = scale * dS @ k                dk = scale * dS^T @ q
    (rowsum(dout * out) equals rowsum(P * dP), the softmax Jacobian's correction term.)
    """
    op = "attention_backward_reference"
    xp = get_array_module(q)
    shapes = _check_qkv(op, q, k, v, numpy_only=False)
    B, H, Tq, Tk, D, Dv = shapes
    _check_backward_arrays(op, shapes, q, out, lse, dout)
    scale = _resolve_scale(op, scale, D)
    keep = _keep_matrix(_broadcast_mask(op, mask, (B, H, Tq, Tk), xp), causal, Tq, Tk, xp)
    lse_col = lse[..., None]  # (B, H, Tq, 1)
    ### BEGIN SOLUTION task 5.2
    # HINT: P = exp(scores - lse); dv = P^T dout; dS = P * (dout v^T - rowsum(dout*out)); dq, dk from dS
    scores = (q @ k.swapaxes(-1, -2)) * scale  # (B, H, Tq, Tk)
    scores = scores if keep is None else xp.where(keep, scores, -math.inf)  # masked pairs: -inf
    # Rows with lse = -inf have every score at -inf: subtracting 0 keeps their probs at 0.
    probs = xp.exp(scores - xp.where(xp.isneginf(lse_col), 0, lse_col))
    dv = probs.swapaxes(-1, -2) @ dout  # (B, H, Tk, Dv)
    dprobs = dout @ v.swapaxes(-1, -2)  # (B, H, Tq, Tk)
    row_dot = (dout * out).sum(axis=-1, keepdims=True)  # (B, H, Tq, 1): rowsum(P * dP)
    dscores = probs * (dprobs - row_dot)
    dq = (dscores @ k) * scale
    dk = (dscores.swapaxes(-1, -2) @ q) * scale
    return dq, dk, dv
    ### END SOLUTION


# ----------------------------------------------------------------------------- NumPy, weights kept

### BEGIN FASTER task 5.1
def attention_forward_keeping_weights(q, k, v, mask=None, causal=False, scale=None):
    """The reference forward that also returns what its backward needs, so nothing is redone.

    Same arguments as ``attention_forward_reference``. Returns (out (B, H, Tq, Dv),
    weights (B, H, Tq, Tk), row_sum (B, H, Tq, 1)) where weights = exp(scores - row max) are
    the unnormalised softmax weights (0 where masked) and out = (weights @ v) / row_sum.
    Fewer passes over the (Tq, Tk) array than the reference: q is scaled before the matmul
    and the weights are never divided by their row sums (out is, (Tq, Dv) instead).
    Used by tinydl.ops.attention when the NumPy reference is the chosen kernel: the score
    matrix is O(T^2) there anyway, and keeping it makes the backward two matmuls cheaper.
    """
    op = "attention_forward_keeping_weights"
    xp = get_array_module(q)
    B, H, Tq, Tk, D, Dv = _check_qkv(op, q, k, v, numpy_only=False)
    scale = _resolve_scale(op, scale, D)
    mask4 = _broadcast_mask(op, mask, (B, H, Tq, Tk), xp)
    scores = (q * scale) @ k.swapaxes(-1, -2)  # (B, H, Tq, Tk)
    softmax_weights = registry.get("attention_softmax_weights", backend_of(scores).device_type)
    weights, row_sum = softmax_weights(scores, mask4, causal)
    out = (weights @ v) / xp.where(row_sum == 0, 1, row_sum)
    return out, weights, row_sum
### END FASTER


def attention_softmax_weights_reference(scores, mask=None, causal=False):
    """The unnormalised softmax weights of attention scores and their row sums.

    scores (B, H, Tq, Tk), overwritten; mask bool broadcastable to (B, H, Tq, Tk), True =
    attend, or None; causal: query i sees keys j <= i only. Returns (weights (B, H, Tq, Tk),
    row_sum (B, H, Tq, 1)) with weights = exp(scores - row max), 0 where masked: softmax is
    weights / row_sum. A row with every key masked gets weights 0 and row_sum 0.
    """
    xp = get_array_module(scores)
    B, H, Tq, Tk = scores.shape
    keep = _keep_matrix(mask, causal, Tq, Tk, xp)
    if keep is not None:
        scores = xp.where(keep, scores, -math.inf)
    if Tk == 0:
        row_max = xp.zeros((B, H, Tq, 1), dtype=scores.dtype)
    else:
        row_max = scores.max(axis=-1, keepdims=True)
        row_max = xp.where(xp.isneginf(row_max), 0, row_max)  # empty rows: exp(-inf - 0) = 0
    scores -= row_max
    weights = xp.exp(scores, out=scores)  # in place: the scores are not needed again
    return weights, weights.sum(axis=-1, keepdims=True)  # row sums: 0 for an empty row


### BEGIN FASTER task 5.2
def attention_backward_from_weights(q, k, v, scale, weights, row_sum, out, dout, causal=False):
    """Gradients from the results of ``attention_forward_keeping_weights``.

    q (B, H, Tq, D), k (B, H, Tk, D), v (B, H, Tk, Dv), out and dout (B, H, Tq, Dv); scale as
    given to the forward (None = 1/sqrt(D)); causal: the forward was causal (its weights are 0
    past the diagonal; unused here, the Numba version skips them). Returns (dq, dk, dv). With P = weights / row_sum
    and dout_n = dout / row_sum (a (Tq, Dv) division instead of a (Tq, Tk) one):
        dv = weights^T @ dout_n
        dS = weights * (dout_n @ v^T - rowsum(dout * out) / row_sum)
        dq = scale dS @ k;  dk = scale dS^T @ q
    The scale rides on the (Tq, 1) and (Tq, Dv) factors of dS (scale dS = weights *
    ((scale dout_n) @ v^T - rowsum(dout * out) scale / row_sum)), so k and q are not scaled.
    """
    xp = get_array_module(q)
    scale = _resolve_scale("attention_backward_from_weights", scale, q.shape[-1])
    inverse_sum = 1 / xp.where(row_sum == 0, 1, row_sum)  # (B, H, Tq, 1)
    dout_n = dout * inverse_sum  # (B, H, Tq, Dv)
    dv = weights.swapaxes(-1, -2) @ dout_n  # (B, H, Tk, Dv)
    dscores = (dout_n * scale) @ v.swapaxes(-1, -2)  # (B, H, Tq, Tk), scale dP
    score_gradients = registry.get("attention_score_gradients", backend_of(q).device_type)
    dscores = score_gradients(dscores, weights, dout, out, inverse_sum * scale)  # scale dS
    dq = dscores @ k
    dk = dscores.swapaxes(-1, -2) @ q
    return dq, dk, dv
### END FASTER


def attention_score_gradients_reference(dweights, weights, dout, out, inverse_sum):
    """The gradient of the scores from that of the normalised weights, in place in dweights.

    dweights (B, H, Tq, Tk) = (dout / row_sum) @ v^T; weights (B, H, Tq, Tk), unnormalised
    (exp(score - row max)); dout, out (B, H, Tq, Dv); inverse_sum (B, H, Tq, 1) = 1 / row_sum.
    Returns dS = weights * (dweights - rowsum(dout * out) / row_sum), (B, H, Tq, Tk).
    """
    dweights -= (dout * out).sum(axis=-1, keepdims=True) * inverse_sum
    dweights *= weights
    return dweights


# ----------------------------------------------------------------------------- NumPy, tiled

def _block_keep(mask4, causal, Tq, start, stop):
    """Which (query, key) pairs of keys start:stop are kept, broadcastable to (B,H,Tq,n), or None."""
    keep = None if mask4 is None else mask4[..., start:stop]
    if causal:
        lower = np.arange(start, stop)[None, :] <= np.arange(Tq)[:, None]  # (Tq, stop - start)
        keep = lower if keep is None else keep & lower
    return keep


### BEGIN FASTER task 5.1
def attention_forward_tiled_numpy(q, k, v, mask=None, causal=False, scale=None, block_size=64):
    """Attention with an online softmax over blocks of ``block_size`` keys (flash-attention style).

    Same arguments and results as ``attention_forward_reference``. Only a (B, H, Tq, block)
    slice of the scores exists at a time: for each block the running row max m, row sum l
    and output accumulator are rescaled by exp(m_old - m_new) and the block is added in.
    """
    op = "attention_forward_tiled_numpy"
    B, H, Tq, Tk, D, Dv = _check_qkv(op, q, k, v)
    scale = _resolve_scale(op, scale, D)
    mask4 = _broadcast_mask(op, mask, (B, H, Tq, Tk))
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"{op}: block_size must be a positive int, got {block_size!r}")
    row_max = np.full((B, H, Tq, 1), -np.inf, dtype=q.dtype)  # running max (shift of exp)
    row_sum = np.zeros((B, H, Tq, 1), dtype=q.dtype)  # running sum of exp(scores - row_max)
    acc = np.zeros((B, H, Tq, Dv), dtype=q.dtype)  # running sum of exp(...) * v
    key_stop = min(Tk, Tq) if causal else Tk  # with causal, keys past the last query are unseen
    for start in range(0, key_stop, block_size):
        stop = min(start + block_size, key_stop)
        scores = (q @ k[:, :, start:stop].swapaxes(-1, -2)) * scale  # (B, H, Tq, n)
        keep = _block_keep(mask4, causal, Tq, start, stop)
        if keep is not None:
            scores = np.where(keep, scores, -np.inf)
        new_max = np.maximum(row_max, scores.max(axis=-1, keepdims=True))
        safe_new = np.where(np.isneginf(new_max), 0, new_max)
        correction = np.exp(row_max - safe_new)  # 0 while a row has seen no key yet
        weights = np.exp(scores - safe_new)  # (B, H, Tq, n), 0 where masked
        row_sum = row_sum * correction + weights.sum(axis=-1, keepdims=True)
        acc = acc * correction + weights @ v[:, :, start:stop]
        row_max = new_max
    safe_max = np.where(np.isneginf(row_max), 0, row_max)
    return _finish_rows(acc, safe_max, row_sum)
### END FASTER


### BEGIN FASTER task 5.2
def attention_backward_tiled_numpy(q, k, v, mask, causal, scale, out, lse, dout, block_size=64):
    """``attention_backward_reference`` computed over blocks of ``block_size`` keys.

    Same arguments and results; only a (B, H, Tq, block) slice of the probabilities exists at
    a time, recomputed from q, k and lse.
    """
    op = "attention_backward_tiled_numpy"
    shapes = _check_qkv(op, q, k, v)
    B, H, Tq, Tk, D, Dv = shapes
    _check_backward_arrays(op, shapes, q, out, lse, dout)
    scale = _resolve_scale(op, scale, D)
    mask4 = _broadcast_mask(op, mask, (B, H, Tq, Tk))
    if not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"{op}: block_size must be a positive int, got {block_size!r}")
    lse_col = lse[..., None]  # (B, H, Tq, 1)
    safe_lse = np.where(np.isneginf(lse_col), 0, lse_col)
    row_dot = np.sum(dout * out, axis=-1, keepdims=True)  # (B, H, Tq, 1)
    dq = np.zeros_like(q)
    dk = np.zeros_like(k)
    dv = np.zeros_like(v)
    for start in range(0, Tk, block_size):
        stop = min(start + block_size, Tk)
        k_block, v_block = k[:, :, start:stop], v[:, :, start:stop]  # (B, H, n, D), (B, H, n, Dv)
        scores = (q @ k_block.swapaxes(-1, -2)) * scale  # (B, H, Tq, n)
        keep = _block_keep(mask4, causal, Tq, start, stop)
        if keep is not None:
            scores = np.where(keep, scores, -np.inf)
        probs = np.exp(scores - safe_lse)
        dv[:, :, start:stop] = probs.swapaxes(-1, -2) @ dout
        dscores = probs * (dout @ v_block.swapaxes(-1, -2) - row_dot)  # (B, H, Tq, n)
        dq += dscores @ k_block
        dk[:, :, start:stop] = dscores.swapaxes(-1, -2) @ q
    dq *= scale
    dk *= scale
    return dq, dk, dv
### END FASTER


# ----------------------------------------------------------------------------- Numba

# How the Numba kernels are written so that LLVM vectorises them without fastmath:
# - every heavy inner loop runs over a contiguous axis of length BLOCK (64) and never sums
#   into one scalar (a sum in a fixed order cannot be vectorised without fastmath); a product
#   C = A @ B is written "for m: for k: for n: C[m, n] += A[m, k] * B[k, n]". That is why
#   some tiles are kept transposed (names ending in _t).
# - Numba checks every signed index for negative values (Python's x[-1]); in an inner loop that
#   check blocks vectorisation, so inner loops run over unsigned (np.uint64) ranges, and the
#   offsets they add (k0_u, q0_u) are unsigned too.
# - exp is computed by exp_float64 (tinydl/kernels/fast_exp.py): libm's exp is a function
#   call, which stops vectorisation.

_F32_ZERO = np.float32(0)


### BEGIN FASTER task 5.1
@jit(parallel=True)
def _attention_forward_kernel(qT, k, v, keep, has_mask, causal, scale, neg_inf, out, lse):
    """qT (B,H,D,Tq), k (B,H,Tk,D), v (B,H,Tk,Dv), keep (2,B,H,Tq,Tk) bool -> out, lse (in place).

    One work item = one tile of BLOCK queries of one (batch, head); it walks the keys in
    blocks of BLOCK with an online softmax. The tile is held transposed, scores_t[j, i], so
    every step runs along the query axis i. Scratch per work item: 2 BLOCK x BLOCK tiles, a
    Dv x BLOCK accumulator and 5 BLOCK vectors.
    """
    B, H, D, Tq = qT.shape
    Tk = k.shape[2]
    Dv = v.shape[3]
    n_qblocks = (Tq + BLOCK - 1) // BLOCK
    for work in prange(B * H * n_qblocks):
        b = work // (H * n_qblocks)
        h = (work // n_qblocks) % H
        q0 = (work % n_qblocks) * BLOCK
        nq = min(BLOCK, Tq - q0)
        nq_u, q0_u = np.uint64(nq), np.uint64(q0)
        scores_t = np.empty((BLOCK, BLOCK), dtype=qT.dtype)  # scores_t[j, i]
        weights_t = np.empty((BLOCK, BLOCK), dtype=qT.dtype)  # exp(scores_t[j, i] - shift[i])
        acc_t = np.zeros((Dv, BLOCK), dtype=qT.dtype)  # acc_t[e, i] = sum_j weight v[j, e]
        row_max = np.full(BLOCK, neg_inf, dtype=qT.dtype)  # running max of row i's scores
        row_sum = np.zeros(BLOCK, dtype=qT.dtype)  # running sum of exp(score - row max)
        new_max = np.empty(BLOCK, dtype=qT.dtype)
        shift = np.empty(BLOCK, dtype=qT.dtype)  # new_max, or 0 while row i has seen no key
        correction = np.empty(BLOCK, dtype=qT.dtype)  # exp(old max - new max)
        key_stop = min(Tk, q0 + nq) if causal else Tk  # causal: later keys are unseen
        for k0 in range(0, key_stop, BLOCK):
            nk = min(BLOCK, key_stop - k0)
            # scores_t[j, i] = scale * k[k0 + j] . q[q0 + i], -inf where masked
            for j in range(nk):
                for i in range(nq_u):
                    scores_t[j, i] = 0
                for d in range(D):
                    k_jd = k[b, h, k0 + j, d]
                    for i in range(nq_u):
                        scores_t[j, i] += k_jd * qT[b, h, d, q0_u + i]
                kj_u = np.uint64(k0 + j)
                for i in range(nq_u):
                    if causal and kj_u > q0_u + i:
                        scores_t[j, i] = neg_inf
                    else:
                        scores_t[j, i] *= scale
                if has_mask:
                    for i in range(nq):
                        if not keep[0, b, h, q0 + i, k0 + j]:
                            scores_t[j, i] = neg_inf
            # online softmax: new row max, the factor that rescales the old sums, new weights
            for i in range(nq_u):
                new_max[i] = row_max[i]
            for j in range(nk):
                for i in range(nq_u):
                    new_max[i] = max(new_max[i], scores_t[j, i])
            for i in range(nq_u):
                seen = new_max[i] != neg_inf
                shift[i] = new_max[i] if seen else 0
                correction[i] = exp_float64(row_max[i] - shift[i]) if seen else 1
                row_sum[i] *= correction[i]
                row_max[i] = new_max[i]
            for j in range(nk):
                for i in range(nq_u):
                    weights_t[j, i] = exp_float64(scores_t[j, i] - shift[i])
                    row_sum[i] += weights_t[j, i]
            # acc_t[e, i] = acc_t[e, i] * correction[i] + sum_j v[k0 + j, e] * weights_t[j, i]
            for e in range(Dv):
                for i in range(nq_u):
                    acc_t[e, i] *= correction[i]
            for j in range(nk):
                for e in range(Dv):
                    v_je = v[b, h, k0 + j, e]
                    for i in range(nq_u):
                        acc_t[e, i] += v_je * weights_t[j, i]
        for i in range(nq):
            if row_sum[i] == 0:  # every key masked: out = 0, lse = -inf
                for e in range(Dv):
                    out[b, h, q0 + i, e] = 0
                lse[b, h, q0 + i] = neg_inf
            else:
                for e in range(Dv):
                    out[b, h, q0 + i, e] = acc_t[e, i] / row_sum[i]
                lse[b, h, q0 + i] = row_max[i] + np.log(row_sum[i])
### END FASTER


### BEGIN FASTER task 5.2
@jit(parallel=True)
def _attention_backward_kernel(q, k, kT, vT, keep, has_mask, causal, scale, neg_inf,
                               out, lse, dout, dq, dk, dv):
    """Gradients into dq, dk, dv (written in full). One work item = one (batch, head).

    q, dq (B,H,Tq,D); k, dk (B,H,Tk,D); kT (B,H,D,Tk); vT (B,H,Dv,Tk); dv (B,H,Tk,Dv).
    For each tile of BLOCK queries x BLOCK keys: recompute P = exp(scale q.k - lse) and
    dS = P * (dout.v - D_i) with D_i = rowsum(dout * out), then add dout^T P to dv, q^T dS
    to dk and dS k to dq (times scale). Scratch per work item: 3 tiles, (D + Dv) x BLOCK
    accumulators for the key block and a D x Tq accumulator for dq.
    """
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    Dv = vT.shape[2]
    for work in prange(B * H):
        b = work // H
        h = work % H
        probs = np.empty((BLOCK, BLOCK), dtype=q.dtype)  # probs[i, j]
        dscores = np.empty((BLOCK, BLOCK), dtype=q.dtype)  # dscores[i, j]
        dscores_t = np.empty((BLOCK, BLOCK), dtype=q.dtype)  # dscores_t[j, i]
        dk_t = np.empty((D, BLOCK), dtype=q.dtype)  # dk_t[d, j]: this key block's dk, transposed
        dv_t = np.empty((Dv, BLOCK), dtype=q.dtype)  # dv_t[e, j]
        dq_t = np.zeros((D, Tq), dtype=q.dtype)  # dq_t[d, i]: the whole head's dq, transposed
        row_dot = np.zeros(Tq, dtype=q.dtype)  # D_i = dout_i . out_i
        for i in range(Tq):
            for e in range(Dv):
                row_dot[i] += dout[b, h, i, e] * out[b, h, i, e]
        for k0 in range(0, Tk, BLOCK):
            nk = min(BLOCK, Tk - k0)
            nk_u, k0_u = np.uint64(nk), np.uint64(k0)
            dk_t[:, :] = 0
            dv_t[:, :] = 0
            q_start = (k0 // BLOCK) * BLOCK if causal else 0  # earlier rows see no key here
            for q0 in range(q_start, Tq, BLOCK):
                nq = min(BLOCK, Tq - q0)
                nq_u, q0_u = np.uint64(nq), np.uint64(q0)
                for i in range(nq):
                    qi = q0 + i
                    qi_u = np.uint64(qi)
                    # probs[i, j] = exp(scale * q[qi] . k[k0 + j] - lse[qi]), 0 where masked
                    for j in range(nk_u):
                        probs[i, j] = 0
                    for d in range(D):
                        q_id = q[b, h, qi, d]
                        for j in range(nk_u):
                            probs[i, j] += q_id * kT[b, h, d, k0_u + j]
                    row_lse = lse[b, h, qi]
                    if row_lse == neg_inf:  # no visible key: the row's gradients are 0
                        for j in range(nk_u):
                            probs[i, j] = 0
                    else:
                        for j in range(nk_u):
                            if causal and k0_u + j > qi_u:
                                probs[i, j] = 0
                            else:
                                probs[i, j] = exp_float64(probs[i, j] * scale - row_lse)
                    if has_mask:
                        for j in range(nk):
                            if not keep[0, b, h, qi, k0 + j]:
                                probs[i, j] = 0
                    # dscores[i, j] = probs[i, j] * (dout[qi] . v[k0 + j] - row_dot[qi])
                    for j in range(nk_u):
                        dscores[i, j] = 0
                    for e in range(Dv):
                        dout_ie = dout[b, h, qi, e]
                        for j in range(nk_u):
                            dscores[i, j] += dout_ie * vT[b, h, e, k0_u + j]
                    for j in range(nk_u):
                        dscores[i, j] = probs[i, j] * (dscores[i, j] - row_dot[qi])
                    # dv_t[e, j] += dout[qi, e] * probs[i, j];  dk_t[d, j] += q[qi, d] * dscores[i, j]
                    for e in range(Dv):
                        dout_ie = dout[b, h, qi, e]
                        for j in range(nk_u):
                            dv_t[e, j] += dout_ie * probs[i, j]
                    for d in range(D):
                        q_id = q[b, h, qi, d]
                        for j in range(nk_u):
                            dk_t[d, j] += q_id * dscores[i, j]
                    for j in range(nk):
                        dscores_t[j, i] = dscores[i, j]
                # dq_t[d, q0 + i] += k[k0 + j, d] * dscores_t[j, i]
                for j in range(nk):
                    for d in range(D):
                        k_jd = k[b, h, k0 + j, d]
                        for i in range(nq_u):
                            dq_t[d, q0_u + i] += k_jd * dscores_t[j, i]
            for j in range(nk):
                for d in range(D):
                    dk[b, h, k0 + j, d] = dk_t[d, j] * scale
                for e in range(Dv):
                    dv[b, h, k0 + j, e] = dv_t[e, j]
        for i in range(Tq):
            for d in range(D):
                dq[b, h, i, d] = dq_t[d, i] * scale
### END FASTER


@jit(parallel=True, nogil=True)
def _shift_by_row_max_kernel(scores, keep, has_mask, causal, neg_inf):
    """scores (B, H, Tq, Tk), in place: masked entries -inf, the others minus their row's max.

    keep (2, B, H, Tq, Tk) bool (see _numba_keep). With causal, row i's keys past i are set to
    -inf without being read (NaN when the row holds a NaN, as in the reference). A row with no
    visible key is left all -inf. (float32 scores take _softmax_weights_float32_kernel.)
    """
    B, H, Tq, Tk = scores.shape
    for row in prange(B * H * Tq):
        values, visible = _masked_row(scores, keep, has_mask, causal, row, neg_inf)
        row_max = _visible_row_max(values, visible, neg_inf)
        if _holds_nan(values, visible):
            row_max = neg_inf - neg_inf  # NaN, as NumPy's max gives
        if row_max != neg_inf:
            for j in range(np.uint64(visible)):
                values[j] -= row_max
        hidden = neg_inf if row_max == row_max else row_max  # NaN in a row with a NaN score
        for j in range(visible, Tk):
            values[j] = hidden


@jit(parallel=True, reassociate=True, nogil=True)
def _row_sum_kernel(weights, queries, causal, row_sum):
    """row_sum (R,) = the sum of each row of weights (R, Tk), R = B H Tq; with causal, of row
    r's first r % queries + 1 entries (the rest are 0)."""
    Tk = weights.shape[1]
    for r in prange(weights.shape[0]):
        total = 0.0
        for j in range(np.uint64(min(r % queries + 1, Tk) if causal else Tk)):
            total += weights[r, j]
        row_sum[r] = total


@jit(inline=True)
def _masked_row(scores, keep, has_mask, causal, row, neg_inf):
    """(values, visible) of row ``row`` (of B H Tq) of scores (B, H, Tq, Tk): the row as a
    (Tk,) view, so loops over it load and store with unit stride (a 4-D index compiled to
    scatters), and how many keys it sees (i + 1 with causal). Masked entries among those are
    set to neg_inf (keep, has_mask as in _shift_by_row_max_kernel)."""
    B, H, Tq, Tk = scores.shape
    b, h, i = row // (H * Tq), (row // Tq) % H, row % Tq
    visible = min(i + 1, Tk) if causal else Tk
    if has_mask:
        for j in range(visible):
            if not keep[0, b, h, i, j]:
                scores[b, h, i, j] = neg_inf
    return scores[b, h, i], visible


@jit(inline=True)
def _larger_ignoring_nan(a, b):
    """b if b > a else a: a NaN b is passed over. That is exactly the CPU's vector max
    instruction, so eight chains of it run as one."""
    return b if b > a else a


@jit(inline=True)
def _visible_row_max(row, visible, neg_inf):
    """The max of the non-NaN values of row[:visible] (neg_inf when there are none), in eight
    running maxima that LLVM packs into one vector register: a NaN is passed over (callers
    check for one apart, _holds_nan). One chain of dependent comparisons waits on each
    comparison's latency (at T 256 the max pass took 1.7 ms a step with one chain, 0.8 ms
    with eight), and eight NaN-propagating chains (a >= b or a != a) do not vectorise: 0.66
    ns a value against 0.2 (T 256, one thread).
    """
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = neg_inf
    j = 0
    while j + 8 <= visible:
        m0 = _larger_ignoring_nan(m0, row[j])
        m1 = _larger_ignoring_nan(m1, row[j + 1])
        m2 = _larger_ignoring_nan(m2, row[j + 2])
        m3 = _larger_ignoring_nan(m3, row[j + 3])
        m4 = _larger_ignoring_nan(m4, row[j + 4])
        m5 = _larger_ignoring_nan(m5, row[j + 5])
        m6 = _larger_ignoring_nan(m6, row[j + 6])
        m7 = _larger_ignoring_nan(m7, row[j + 7])
        j += 8
    while j < visible:
        m0 = _larger_ignoring_nan(m0, row[j])
        j += 1
    low = _larger_ignoring_nan(_larger_ignoring_nan(m0, m1), _larger_ignoring_nan(m2, m3))
    high = _larger_ignoring_nan(_larger_ignoring_nan(m4, m5), _larger_ignoring_nan(m6, m7))
    return _larger_ignoring_nan(low, high)


@jit(inline=True)
def _holds_nan(row, visible):
    """Whether row[:visible] holds a NaN (counted in integers, which vectorises)."""
    count = 0
    for j in range(np.uint64(visible)):
        count += row[j] != row[j]
    return count > 0


@jit(inline=True)
def _visible_row_sum(row, visible):
    """The sum of row[:visible] in eight running sums (see _visible_row_max; a
    kernel allowed to reorder sums would vectorise it, but could reorder exp_float32's arithmetic)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = _F32_ZERO
    j = 0
    while j + 8 <= visible:
        s0 += row[j]
        s1 += row[j + 1]
        s2 += row[j + 2]
        s3 += row[j + 3]
        s4 += row[j + 4]
        s5 += row[j + 5]
        s6 += row[j + 6]
        s7 += row[j + 7]
        j += 8
    while j < visible:
        s0 += row[j]
        j += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@jit(parallel=True, fused_multiply_add=True, nogil=True)
def _softmax_weights_float32_kernel(scores, keep, has_mask, causal, row_sum):
    """float32 scores (B, H, Tq, Tk), in place: the weights exp(score - row max), 0 where
    masked (keep, has_mask, causal as in _shift_by_row_max_kernel); row_sum (B H Tq,) their
    sums. Three short passes over each row (max, exp, sum) instead of three kernels and NumPy's
    exp over the whole array (the causal half it skips included).

    A row holding a NaN score is NaN throughout, as in NumPy. The max pass passes NaN over
    (the fast vector max); while that max is finite a NaN weight can only come from a NaN
    score, so a NaN row sum marks the row, which is then filled with NaN. Under a +inf max
    (inf - inf is NaN too) the row is searched for a NaN first (rare).
    """
    B, H, Tq, Tk = scores.shape
    neg_inf, pos_inf = np.float32(-np.inf), np.float32(np.inf)
    for row in prange(B * H * Tq):
        weights, visible = _masked_row(scores, keep, has_mask, causal, row, neg_inf)
        row_max = _visible_row_max(weights, visible, neg_inf)
        if row_max == pos_inf and _holds_nan(weights, visible):
            row_max = neg_inf - neg_inf  # NaN: the whole row is
        shift = row_max if row_max != neg_inf else _F32_ZERO      # a row with no key: all 0
        for j in range(np.uint64(visible)):
            weights[j] = exp_float32(weights[j] - shift)
        hidden = _F32_ZERO if shift == shift else shift  # NaN when the shift is (a NaN score)
        for j in range(visible, Tk):
            weights[j] = hidden
        total = _visible_row_sum(weights, visible)
        if total != total and shift < pos_inf:  # a NaN score under a finite max
            weights[:] = total
        row_sum[row] = total


def attention_softmax_weights_numba(scores, mask=None, causal=False):
    """``attention_softmax_weights_reference`` with the masking, row max and row sums in Numba
    (skipping the causal mask's hidden half) and the exp by NumPy's vectorised exp."""
    if not isinstance(scores, np.ndarray) or np.dtype(scores.dtype) not in _FLOAT_DTYPES \
            or not scores.flags.c_contiguous:
        return attention_softmax_weights_reference(scores, mask, causal)
    keep, has_mask = _numba_keep(mask, scores.shape)
    B, H, Tq, Tk = scores.shape
    row_sum = np.empty((B, H, Tq, 1), dtype=scores.dtype)
    if scores.dtype == np.float32:  # one fused kernel, with its own vectorised exp
        _softmax_weights_float32_kernel(scores, keep, has_mask, bool(causal), row_sum.reshape(-1))
        return scores, row_sum
    _shift_by_row_max_kernel(scores, keep, has_mask, bool(causal), scores.dtype.type(-np.inf))
    weights = np.exp(scores, out=scores)
    _row_sum_kernel(weights.reshape(B * H * Tq, Tk), Tq, bool(causal), row_sum.reshape(-1))
    return weights, row_sum


@jit(parallel=True, reassociate=True, nogil=True)
def _score_gradients_kernel(dweights, weights, dout, out, inverse_sum):
    """dweights (R, Tk), in place: weights * (dweights - (dout_r . out_r) inverse_sum_r), with
    weights (R, Tk), dout and out (R, Dv), inverse_sum (R,); R = B H Tq."""
    for r in prange(dweights.shape[0]):
        row_dot = 0.0
        for e in range(np.uint64(dout.shape[1])):
            row_dot += dout[r, e] * out[r, e]
        correction = dweights.dtype.type(row_dot) * inverse_sum[r]
        for j in range(np.uint64(dweights.shape[1])):
            dweights[r, j] = weights[r, j] * (dweights[r, j] - correction)


def attention_score_gradients_numba(dweights, weights, dout, out, inverse_sum):
    """``attention_score_gradients_reference`` in one Numba pass over the (Tq, Tk) arrays."""
    arrays = (dweights, weights, dout, out, inverse_sum)
    if not all(isinstance(array, np.ndarray) and array.dtype == dweights.dtype for array in arrays) \
            or np.dtype(dweights.dtype) not in _FLOAT_DTYPES or not dweights.flags.c_contiguous:
        return attention_score_gradients_reference(*arrays)
    rows = dout.size // max(1, dout.shape[-1])  # B H Tq
    as_rows = [np.ascontiguousarray(array).reshape(rows, array.shape[-1])
               for array in (dweights, weights, dout, out)]  # dweights: a view (contiguous)
    _score_gradients_kernel(*as_rows, np.ascontiguousarray(inverse_sum).reshape(rows))
    return dweights


def _numba_keep(mask4, shape):
    """(keep, has_mask) for the Numba kernels; keep has shape (2, B, H, Tq, Tk), a view.

    Numba compiles one version of a kernel per memory layout of its arguments, and a mask
    view is sometimes contiguous and sometimes not. A leading axis of length 2 with stride 0
    makes every mask view non-contiguous, so each kernel compiles once per dtype; the
    kernels read keep[0, b, h, i, j]. Without a mask, keep is an all-True view.
    """
    if mask4 is None:
        return np.broadcast_to(np.True_, (2, *shape)), False
    return np.broadcast_to(mask4, (2, *shape)), True


### BEGIN FASTER task 5.1
def attention_forward_numba(q, k, v, mask=None, causal=False, scale=None):
    """Tiled attention forward in Numba; same arguments and results as the reference.

    Extra memory: a transposed copy of q (B, H, D, Tq) plus per-thread tiles; never Tq x Tk.
    """
    op = "attention_forward_numba"
    B, H, Tq, Tk, D, Dv = _check_qkv(op, q, k, v)
    scale = _resolve_scale(op, scale, D)
    keep, has_mask = _numba_keep(_broadcast_mask(op, mask, (B, H, Tq, Tk)), (B, H, Tq, Tk))
    dtype = q.dtype.type
    out = np.empty((B, H, Tq, Dv), dtype=q.dtype)
    lse = np.empty((B, H, Tq), dtype=q.dtype)
    contiguous = np.ascontiguousarray
    _attention_forward_kernel(
        contiguous(q.swapaxes(-1, -2)), contiguous(k), contiguous(v),  # qT: (B, H, D, Tq)
        keep, has_mask, bool(causal), dtype(scale), dtype(-np.inf), out, lse)
    return out, lse
### END FASTER


### BEGIN FASTER task 5.2
def attention_backward_numba(q, k, v, mask, causal, scale, out, lse, dout):
    """Tiled attention backward in Numba; same arguments and results as the reference.

    Recomputes the probabilities tile by tile from q, k and lse. Extra memory: transposed
    copies of k and v plus per-thread tiles; never Tq x Tk.
    """
    op = "attention_backward_numba"
    shapes = _check_qkv(op, q, k, v)
    B, H, Tq, Tk, D, Dv = shapes
    _check_backward_arrays(op, shapes, q, out, lse, dout)
    scale = _resolve_scale(op, scale, D)
    keep, has_mask = _numba_keep(_broadcast_mask(op, mask, (B, H, Tq, Tk)), (B, H, Tq, Tk))
    dtype = q.dtype.type
    dq = np.empty((B, H, Tq, D), dtype=q.dtype)
    dk = np.empty((B, H, Tk, D), dtype=q.dtype)
    dv = np.empty((B, H, Tk, Dv), dtype=q.dtype)
    contiguous = np.ascontiguousarray
    _attention_backward_kernel(
        contiguous(q), contiguous(k), contiguous(k.swapaxes(-1, -2)),  # kT: (B, H, D, Tk)
        contiguous(v.swapaxes(-1, -2)),  # vT: (B, H, Dv, Tk)
        keep, has_mask, bool(causal), dtype(scale), dtype(-np.inf),
        contiguous(out), contiguous(lse), contiguous(dout), dq, dk, dv)
    return dq, dk, dv
### END FASTER


# ----------------------------------------------------------------------------- Numba, per head

# The weights-keeping forward and backward above (attention_forward_keeping_weights and
# attention_backward_from_weights, the CPU default's formulas) as Numba kernels that give each
# (batch, head) to one thread (prange) and call no BLAS: the cores are used without waking
# BLAS's pool. Mask-free only (causal or not): a mask runs the NumPy version. A head goes
# ROW_GROUP query rows at a time; with causal, row i reads keys 0..i only, rounded up to
# KEY_BLOCK keys (past i its weights are 0), so the hidden upper triangle is skipped. Every
# matrix product is a sum of rows (_add_row_combinations, four targets and four rows a pass),
# whose inner loop runs along a contiguous axis and vectorises; k and v are transposed where
# that needs it.

#: causal rows read their keys in whole blocks of KEY_BLOCK (SIMD lanes, no scalar tail)
KEY_BLOCK = 16
#: query rows of one pass of the per-head kernels (the products of a group are register-blocked)
ROW_GROUP = 8
#: B H Tq Tk score elements from which tinydl.ops.attention runs the per-head kernels, and from
#: which they run on the thread pool: where a kernel alone gains from waking it (~131k
#: elements, benchmarks/bench_threads.py). They call no BLAS, so the reason for
#: threads.PARALLEL_MIN_WORK (a launch right after a GEMM fights BLAS's spinning threads) is
#: not theirs.
HEADS_PARALLEL_MIN_WORK = 131_072


@jit(inline=True)
def _add_row_combination(target, rows, coefficients, stop):
    """target[:stop] += sum_c coefficients[c] * rows[c, :stop], in place.

    target (>= stop,), rows (C, >= stop), coefficients (C,). Eight rows a pass over target
    (one load and store of it for eight products), then one at a time.
    """
    count = rows.shape[0]
    stop_u = np.uint64(stop)
    c = 0
    while c + 8 <= count:
        a0, a1, a2, a3 = coefficients[c], coefficients[c + 1], coefficients[c + 2], coefficients[c + 3]
        a4, a5, a6, a7 = coefficients[c + 4], coefficients[c + 5], coefficients[c + 6], coefficients[c + 7]
        row0, row1, row2, row3 = rows[c], rows[c + 1], rows[c + 2], rows[c + 3]
        row4, row5, row6, row7 = rows[c + 4], rows[c + 5], rows[c + 6], rows[c + 7]
        for i in range(stop_u):
            target[i] += (a0 * row0[i] + a1 * row1[i] + a2 * row2[i] + a3 * row3[i]
                          + a4 * row4[i] + a5 * row5[i] + a6 * row6[i] + a7 * row7[i])
        c += 8
    while c < count:
        a0, row0 = coefficients[c], rows[c]
        for i in range(stop_u):
            target[i] += a0 * row0[i]
        c += 1


@jit(inline=True)
def _add_row_combinations(targets, rows, coefficients, stop):
    """targets[:, :stop] += coefficients @ rows[:, :stop], in place: a small matrix product.

    targets (R, >= stop), rows (C, >= stop), coefficients (R, C). Four targets and four rows a
    pass (register blocking: each element of the four rows is loaded once for sixteen products,
    where one row combination at a time loads every row again for each target), the rest
    with _add_row_combination.
    """
    count_r, count_c = coefficients.shape
    stop_u = np.uint64(stop)
    r = 0
    while r + 4 <= count_r:
        t0, t1, t2, t3 = targets[r], targets[r + 1], targets[r + 2], targets[r + 3]
        c = 0
        while c + 4 <= count_c:
            row0, row1, row2, row3 = rows[c], rows[c + 1], rows[c + 2], rows[c + 3]
            a00, a01, a02, a03 = (coefficients[r, c], coefficients[r, c + 1],
                                  coefficients[r, c + 2], coefficients[r, c + 3])
            a10, a11, a12, a13 = (coefficients[r + 1, c], coefficients[r + 1, c + 1],
                                  coefficients[r + 1, c + 2], coefficients[r + 1, c + 3])
            a20, a21, a22, a23 = (coefficients[r + 2, c], coefficients[r + 2, c + 1],
                                  coefficients[r + 2, c + 2], coefficients[r + 2, c + 3])
            a30, a31, a32, a33 = (coefficients[r + 3, c], coefficients[r + 3, c + 1],
                                  coefficients[r + 3, c + 2], coefficients[r + 3, c + 3])
            for i in range(stop_u):
                x0, x1, x2, x3 = row0[i], row1[i], row2[i], row3[i]
                t0[i] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                t1[i] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                t2[i] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                t3[i] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
            c += 4
        if c < count_c:  # the last rows (fewer than four)
            for t in range(r, r + 4):
                _add_row_combination(targets[t], rows[c:], coefficients[t, c:], stop)
        r += 4
    while r < count_r:
        _add_row_combination(targets[r], rows, coefficients[r], stop)
        r += 1


@jit(inline=True)
def _transpose_into(matrix, result):
    """result (C, R) = matrix (R, C) transposed, written row by row (contiguous writes,
    strided reads: the faster order)."""
    for c in range(matrix.shape[1]):
        for r in range(matrix.shape[0]):
            result[c, r] = matrix[r, c]


@jit(inline=True)
def _transposed(matrix):
    """A contiguous copy of matrix (R, C) transposed, (C, R)."""
    result = np.empty((matrix.shape[1], matrix.shape[0]), dtype=matrix.dtype)
    _transpose_into(matrix, result)
    return result


@jit(inline=True)
def _keys_read(i, causal, Tk):
    """(seen, width) of query row i: the keys it sees and the keys a causal pass reads (seen
    rounded up to KEY_BLOCK, at most Tk)."""
    seen = min(i + 1, Tk) if causal else Tk
    return seen, min((seen + KEY_BLOCK - 1) // KEY_BLOCK * KEY_BLOCK, Tk)


### BEGIN FASTER task 5.1
@jit(parallel=True, reassociate=True, fused_multiply_add=True, parallel_min_work=HEADS_PARALLEL_MIN_WORK)
def _attention_forward_heads_kernel(q, k, v, causal, scale, out, weights, row_sum):
    """q (B,H,Tq,D), k (B,H,Tk,D), v (B,H,Tk,Dv) -> out (B,H,Tq,Dv), weights (B,H,Tq,Tk),
    row_sum (B,H,Tq,1), written in place (see the section comment).

    Query row i: scores_j = scale q_i . k_j for the keys it reads, m = their max over the
    keys it sees, weights_ij = exp(scores_j - m) (0 for unseen keys), l_i = sum_j weights_ij,
    out_i = sum_j weights_ij v_j / l_i. The max passes a NaN score over (_visible_row_max);
    its weight exp(NaN - m) still makes l_i, and so out_i, NaN.
    """
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    Dv = v.shape[3]
    neg_inf = q.dtype.type(-np.inf)
    for head in prange(B * H):
        b, h = head // H, head % H
        k_t = _transposed(k[b, h])  # (D, Tk)
        q_scaled = np.empty((ROW_GROUP, D), dtype=q.dtype)  # scale q_i, for the group's rows
        scores = np.empty((ROW_GROUP, Tk), dtype=q.dtype)
        out_rows = np.empty((ROW_GROUP, Dv), dtype=q.dtype)
        for first in range(0, Tq, ROW_GROUP):  # ROW_GROUP query rows at a time
            rows = min(ROW_GROUP, Tq - first)
            width = _keys_read(first + rows - 1, causal, Tk)[1]  # the widest row of the group
            for r in range(rows):
                for d in range(D):
                    q_scaled[r, d] = q[b, h, first + r, d] * scale
            scores[:rows, :width] = 0
            _add_row_combinations(scores[:rows], k_t, q_scaled[:rows], width)  # scale q_i . k_j
            for r in range(rows):
                i = first + r
                seen, row_width = _keys_read(i, causal, Tk)
                scores_row = scores[r]
                scores_row[seen:row_width] = -np.inf  # keys past i: weight exp(-inf) = 0
                row_max = _visible_row_max(scores_row, row_width, neg_inf)
                weights_row = weights[b, h, i]
                total = row_max * 0
                for j in range(np.uint64(row_width)):
                    weights_row[j] = exp_in_its_dtype(scores_row[j] - row_max)
                    total += weights_row[j]
                weights_row[row_width:] = 0
                row_sum[b, h, i, 0] = total
            # out_i = sum_j weights_ij v_j over the keys row i sees: the keys all the group's
            # rows see at once, then each row's own further keys (a NaN in a value past
            # what row i sees must not reach out_i through a weight of 0)
            shared = _keys_read(first, causal, Tk)[0]
            group_weights = weights[b, h, first:first + rows]
            out_rows[:rows] = 0
            _add_row_combinations(out_rows[:rows], v[b, h, :shared], group_weights[:, :shared], Dv)
            for r in range(rows):
                seen = _keys_read(first + r, causal, Tk)[0]
                _add_row_combination(out_rows[r], v[b, h, shared:seen], group_weights[r, shared:seen], Dv)
                for e in range(Dv):
                    out[b, h, first + r, e] = out_rows[r, e] / row_sum[b, h, first + r, 0]


def attention_forward_keeping_weights_numba(q, k, v, mask=None, causal=False, scale=None):
    """``attention_forward_keeping_weights`` in one Numba kernel, a (batch, head) per work item.

    Same arguments and results. Runs the NumPy version for a mask, for arrays that are not
    float32/float64 NumPy arrays, and without keys.
    """
    B, H, Tq, Tk, D, Dv = _check_qkv("attention_forward_keeping_weights_numba", q, k, v, numpy_only=False)
    if mask is not None or Tk == 0 or not _heads_kernel_takes(q, k, v):
        return attention_forward_keeping_weights(q, k, v, mask, causal, scale)
    scale = _resolve_scale("attention_forward_keeping_weights_numba", scale, D)
    out = np.empty((B, H, Tq, Dv), dtype=q.dtype)
    weights = np.empty((B, H, Tq, Tk), dtype=q.dtype)
    row_sum = np.empty((B, H, Tq, 1), dtype=q.dtype)
    _attention_forward_heads_kernel(np.ascontiguousarray(q), np.ascontiguousarray(k), np.ascontiguousarray(v),
                                    bool(causal), q.dtype.type(scale), out, weights, row_sum)
    return out, weights, row_sum
### END FASTER


### BEGIN FASTER task 5.2
@jit(parallel=True, reassociate=True, fused_multiply_add=True, parallel_min_work=HEADS_PARALLEL_MIN_WORK)
def _attention_backward_heads_kernel(q, k, v, weights, row_sum, out, dout, causal, scale,
                                     dq, dk, dv):
    """Gradients into dq (B,H,Tq,D), dk (B,H,Tk,D) and dv (B,H,Tk,Dv), written in full.
    q, k, v as for the forward, weights (B,H,Tq,Tk) and row_sum (B,H,Tq,1) from it, out and
    dout (B,H,Tq,Dv).

    The formulas of attention_backward_from_weights, for ROW_GROUP query rows at a time:
    dout_n_i = dout_i / l_i, dS_ij = weights_ij (dout_n_i . v_j - (dout_i . out_i) / l_i),
    dq_i = scale sum_j dS_ij k_j; then dv_j += sum_i weights_ij dout_n_i and
    dk_j += scale sum_i dS_ij q_i over the group's rows.
    """
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    Dv = v.shape[3]
    for head in prange(B * H):
        b, h = head // H, head % H
        dk_t = np.zeros((D, Tk), dtype=q.dtype)  # the head's dk and dv, transposed
        dv_t = np.zeros((Dv, Tk), dtype=q.dtype)
        v_t = _transposed(v[b, h])  # (Dv, Tk)
        dscores = np.empty((ROW_GROUP, Tk), dtype=q.dtype)
        group_weights = np.empty((ROW_GROUP, Tk), dtype=q.dtype)
        dout_n = np.empty((ROW_GROUP, Dv), dtype=q.dtype)
        q_scaled = np.empty((ROW_GROUP, D), dtype=q.dtype)
        dq_rows = np.empty((ROW_GROUP, D), dtype=q.dtype)
        corrections = np.empty(ROW_GROUP, dtype=q.dtype)
        for first in range(0, Tq, ROW_GROUP):
            rows = min(ROW_GROUP, Tq - first)
            width = _keys_read(first + rows - 1, causal, Tk)[1]  # the widest row of the group
            for r in range(rows):
                i = first + r
                one = scale * 0 + 1  # in q's dtype
                inverse = one / row_sum[b, h, i, 0] if row_sum[b, h, i, 0] != 0 else one
                row_dot = scale * 0
                for e in range(Dv):
                    row_dot += dout[b, h, i, e] * out[b, h, i, e]
                    dout_n[r, e] = dout[b, h, i, e] * inverse
                corrections[r] = row_dot * inverse
                for d in range(D):
                    q_scaled[r, d] = q[b, h, i, d] * scale
            dscores[:rows, :width] = 0
            _add_row_combinations(dscores[:rows], v_t, dout_n[:rows], width)  # dout_n_i . v_j
            for r in range(rows):
                weights_row, group_row, dscores_row = weights[b, h, first + r], group_weights[r], dscores[r]
                correction = corrections[r]
                for j in range(np.uint64(width)):  # weights are 0 past seen, and so is dS
                    group_row[j] = weights_row[j]  # a copy at hand (L1) for dv below
                    dscores_row[j] = weights_row[j] * (dscores_row[j] - correction)
            # dq_i = scale sum_j dS_ij k_j over the keys row i sees: those all the group's rows
            # see at once, then each row's own further keys
            shared = _keys_read(first, causal, Tk)[0]
            dq_rows[:rows] = 0
            _add_row_combinations(dq_rows[:rows], k[b, h, :shared], dscores[:rows, :shared], D)
            for r in range(rows):
                seen = _keys_read(first + r, causal, Tk)[0]
                _add_row_combination(dq_rows[r], k[b, h, shared:seen], dscores[r, shared:seen], D)
                for d in range(D):
                    dq[b, h, first + r, d] = dq_rows[r, d] * scale
            _add_row_combinations(dv_t, group_weights[:rows], dout_n[:rows].T, width)
            _add_row_combinations(dk_t, dscores[:rows], q_scaled[:rows].T, width)
        _transpose_into(dk_t, dk[b, h])
        _transpose_into(dv_t, dv[b, h])


def attention_backward_from_weights_numba(q, k, v, scale, weights, row_sum, out, dout, causal=False):
    """``attention_backward_from_weights`` in one Numba kernel, a (batch, head) per work item.

    Same arguments and results (causal: with it, row i reads keys 0..i only). Any weights
    (masked ones are 0); arrays that are not float32/float64 NumPy arrays run the NumPy version.
    """
    arrays = (q, k, v, weights, row_sum, out, dout)
    if not _heads_kernel_takes(*arrays) or k.shape[2] == 0:
        return attention_backward_from_weights(q, k, v, scale, weights, row_sum, out, dout, causal)
    B, H, Tq, D = q.shape
    Tk, Dv = v.shape[2], v.shape[3]
    scale = _resolve_scale("attention_backward_from_weights_numba", scale, D)
    dq = np.empty((B, H, Tq, D), dtype=q.dtype)
    dk = np.empty((B, H, Tk, D), dtype=q.dtype)
    dv = np.empty((B, H, Tk, Dv), dtype=q.dtype)
    contiguous = np.ascontiguousarray
    _attention_backward_heads_kernel(
        contiguous(q), contiguous(k), contiguous(v), contiguous(weights), contiguous(row_sum),
        contiguous(out), contiguous(dout), bool(causal), q.dtype.type(scale), dq, dk, dv)
    return dq, dk, dv
### END FASTER


def _heads_kernel_takes(*arrays):
    """Whether the per-head kernels run on these arrays: NumPy, all float32 or all float64."""
    return (all(isinstance(array, np.ndarray) for array in arrays)
            and np.dtype(arrays[0].dtype) in _FLOAT_DTYPES
            and all(array.dtype == arrays[0].dtype for array in arrays))


# Not the default yet: per core the Numba kernels run 0.9x-1.3x the speed of the reference
# at T = 128..256 (benchmarks/bench_kernels.py); their gain is memory, O(T d) instead of
# O(T^2). TINYDL_KERNELS=numba selects them.
registry.register("attention_forward", "numpy", attention_forward_reference)
### BEGIN FASTER task 5.1
registry.register("attention_forward", "numba", attention_forward_numba, available=numba_available,
         default=False)
### END FASTER
registry.register("attention_backward", "numpy", attention_backward_reference)
# The softmax weights of the NumPy forward: the Numba version is faster (benchmarks/bench_gpt.py).
registry.register("attention_softmax_weights", "numpy", attention_softmax_weights_reference)
registry.register("attention_softmax_weights", "numba", attention_softmax_weights_numba,
                  available=numba_available, default=True)
registry.register("attention_score_gradients", "numpy", attention_score_gradients_reference)
registry.register("attention_score_gradients", "numba", attention_score_gradients_numba,
                  available=numba_available, default=True)
### BEGIN FASTER task 5.2
registry.register("attention_backward", "numba", attention_backward_numba, available=numba_available,
         default=False)
### END FASTER
# The weights-keeping formulas of the CPU default, per head in Numba: the default, which
# tinydl.ops.attention runs with no mask, from HEADS_PARALLEL_MIN_WORK score elements on and
# with at most HEADS_MAX_KEYS keys, on any thread budget (docs/design-notes.md has the figures).
def _register_per_head(op_name, reference, numba_version):
    registry.register(op_name, "numpy", reference)
    registry.register(op_name, "numba", numba_version, available=numba_available)


### BEGIN FASTER task 5.1
_register_per_head("attention_forward_keeping_weights", attention_forward_keeping_weights,
                   attention_forward_keeping_weights_numba)
### END FASTER
### BEGIN FASTER task 5.2
_register_per_head("attention_backward_from_weights", attention_backward_from_weights,
                   attention_backward_from_weights_numba)
### END FASTER


# ----------------------------------------------------------------------------- CuPy (cuda)

def cupy_available() -> bool:
    """True when CuPy is installed (checked without importing it)."""
    return importlib.util.find_spec("cupy") is not None


### BEGIN FASTER task 5.1
def _attention_forward_cupy(*args):
    """tinydl.kernels.attention_cupy.attention_forward_cupy, imported on the first call."""
    from tinydl.kernels.attention_cupy import attention_forward_cupy  # needs CuPy

    return attention_forward_cupy(*args)
### END FASTER


### BEGIN FASTER task 5.2
def _attention_backward_cupy(*args):
    """tinydl.kernels.attention_cupy.attention_backward_cupy, imported on the first call."""
    from tinydl.kernels.attention_cupy import attention_backward_cupy

    return attention_backward_cupy(*args)
### END FASTER


# Chosen for arrays on "cuda" when CuPy is installed; untested on a GPU so far.
### BEGIN FASTER task 5.1
registry.register("attention_forward", "cupy", _attention_forward_cupy, available=cupy_available)
### END FASTER
### BEGIN FASTER task 5.2
registry.register("attention_backward", "cupy", _attention_backward_cupy, available=cupy_available)
### END FASTER
