"""Functions for sequence models: embedding lookup and layer normalisation.

The embedding lookup is composed of tinydl's primitive ops (indexing, where). Layer norm's
core, ``Normalize``, is one Function with a hand-written backward (a fused node instead of
seven), still differentiable twice. They are re-exported by
``tinydl.functional``: use them as ``F.embedding`` and ``F.layer_norm``.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import Context, Function, is_grad_enabled
from tinydl.backend import backend_of
from tinydl.errors import DTypeError, ShapeError
from tinydl.kernels import registry
from tinydl.kernels.normalization import normalize_backward_formula
from tinydl.ops.common import as_tensor
from tinydl.ops.elementwise import where
from tinydl.tensor import Tensor


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
    indices = as_tensor(indices)
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


class Normalize(Function):
    """(x - mean) / sqrt(var + eps) over ``axes`` (biased variance): LayerNorm's core.

    Forward and backward are kernels on arrays (tinydl.kernels.normalization: one graph node
    instead of seven); when backward is recorded (create_graph=True) it recomputes with
    tinydl ops, so second derivatives work.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, axes: tuple = (-1,), eps: float = 1e-5) -> Any:
        x_hat, rstd = _kernel("normalize_forward", x)(x, axes, eps)
        ctx.save_for_backward(x_hat, rstd)  # x_hat is also the output: no extra memory
        return x_hat

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        axes, eps = ctx.params["axes"], ctx.params["eps"]
        if is_grad_enabled():  # backward is being recorded: the same formula in tinydl ops
            x = ctx.inputs[0]
            centered = x - x.mean(axis=axes, keepdims=True)
            rstd = 1.0 / ((centered * centered).mean(axis=axes, keepdims=True) + eps).sqrt()
            return normalize_backward_formula(centered * rstd, rstd, grad, axes)
        x_hat, rstd = ctx.saved_values
        dx = _kernel("normalize_backward", x_hat)(x_hat, rstd, grad.data, axes)
        return Tensor(dx.astype(grad.dtype, copy=False), dtype=grad.dtype)


def _kernel(op_name: str, array: Any):
    """The registered kernel for ``op_name`` on the device that owns ``array``."""
    return registry.get(op_name, backend_of(array).device_type)


def layer_norm(x: Tensor, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last dims: (x - mean) / sqrt(var + eps) * weight + bias.

    Shapes: x (..., *normalized_shape); weight and bias normalized_shape -> same as x.
    The variance is the biased one (divided by n), as in PyTorch and the LayerNorm paper.
    """
    normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                        else tuple(normalized_shape))
    count = len(normalized_shape)
    if count == 0 or x.ndim < count or tuple(x.shape[x.ndim - count:]) != normalized_shape:
        raise ShapeError(f"layer_norm: input of shape {x.shape} must end with normalized_shape "
                         f"{normalized_shape}; pass the size of the last dim(s), e.g. "
                         f"{x.shape[-1:] if x.ndim else '(n,)'}")
    for name, param in (("weight", weight), ("bias", bias)):
        if param is not None and tuple(param.shape) != normalized_shape:
            raise ShapeError(f"layer_norm: {name} has shape {param.shape}, expected "
                             f"normalized_shape {normalized_shape}")
    axes = tuple(range(x.ndim - count, x.ndim))
    out = Normalize.apply(x, axes=axes, eps=float(eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out
