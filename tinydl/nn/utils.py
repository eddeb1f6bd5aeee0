"""Gradient clipping, and parameters as one flat vector.

``parameters_to_vector(model.parameters())`` joins every parameter into one 1-D tensor (part
of the graph, so it can be differentiated); ``vector_to_parameters(vec, model.parameters())``
writes such a vector back (a copy of each slice, in each parameter's dtype).

Clipping keeps one bad batch from throwing the parameters far away.

Call between ``loss.backward()`` and ``optimizer.step()``:

    total = tinydl.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)

``clip_grad_norm_`` rescales all gradients together so that their joint norm is at most
``max_norm`` (the direction is kept); ``clip_grad_value_`` clamps each gradient entry to
[-clip_value, clip_value]. Both work on the gradient arrays directly (no graph).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tinydl.backend import get_array_module
from tinydl.errors import ShapeError
from tinydl.ops.shape import cat
from tinydl.tensor import Tensor


def _gradients(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The parameters that have a gradient (a single tensor counts as a list of one)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in params if p.grad is not None]


def _norm_of(grad: Any, norm_type: float) -> float:
    """The ``norm_type``-norm of one gradient array, as a Python float."""
    xp = get_array_module(grad)
    if norm_type == math.inf:
        return float(xp.max(xp.abs(grad))) if grad.size else 0.0
    if norm_type == 2.0:
        flat = grad.reshape(-1)
        return math.sqrt(float(xp.dot(flat, flat)))
    if norm_type == 1.0:
        return float(xp.sum(xp.abs(grad)))
    return float(xp.sum(xp.abs(grad) ** norm_type)) ** (1.0 / norm_type)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Scale every gradient by max_norm / (total_norm + 1e-6) when total_norm > max_norm.

    total_norm is the ``norm_type``-norm of all gradients joined into one vector (2: the
    Euclidean norm, ``math.inf``: the largest absolute entry). Returns total_norm before
    clipping, as a float. error_if_nonfinite: raise when it is NaN or infinite (otherwise the
    gradients become NaN, as in PyTorch).
    """
    norm_type = float(norm_type)
    if norm_type <= 0 and norm_type != math.inf:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive or math.inf, got "
                         f"{norm_type}")
    params = _gradients(parameters)
    if not params:
        return 0.0
    norms = [_norm_of(p.grad.data, norm_type) for p in params]
    if norm_type == math.inf:
        total = max(norms)
    else:
        total = math.fsum(n ** norm_type for n in norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total {norm_type}-norm of the gradients is "
                           f"{total}; some gradient holds NaN or Inf (look at the loss and the "
                           "learning rate, or pass error_if_nonfinite=False)")
    scale = max_norm / (total + 1e-6)
    if scale < 1.0 or not math.isfinite(total):
        for param in params:
            grad = param.grad
            # a new array: a gradient may be a read-only view shared with other tensors
            grad.data = grad.data * scale
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value]."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for param in _gradients(parameters):
        grad = param.grad
        grad.data = grad.xp.clip(grad.data, -clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and joined, in order: shape (total number of elements,)."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters (the inverse of
    parameters_to_vector); vec must hold exactly as many elements as the parameters."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, got {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.size for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ShapeError(f"vector_to_parameters: vec has shape {vec.shape}, but the parameters "
                         f"hold {total} elements; expected shape ({total},)")
    offset = 0
    for param in params:
        piece = vec.data[offset:offset + param.size].reshape(param.shape)
        param.data = piece.astype(param.dtype, copy=True)
        offset += param.size
