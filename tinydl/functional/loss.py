"""Loss functions, with PyTorch's names and semantics (``F.cross_entropy``, ``F.mse_loss``, ...).

Each loss takes a ``reduction``: ``"mean"`` (the default), ``"sum"``, or ``"none"`` (one loss per
element or per sample). The losses are composed from tinydl ops, so their gradients (and second
derivatives) come from the ops' own backward passes. Two small primitives, ``Softplus`` and
``BinaryCrossEntropy``, live in ``tinydl.ops.loss`` because no composition of existing ops is
both stable and exact at every point.

Cross-entropy applies ``log_softmax`` over the class dimension first (stable for logits of
±1e4) and then picks the target's log-probability by integer indexing, so integer labels never
turn float32 logits into float64.
"""
from __future__ import annotations

import math
from typing import Any

from tinydl import backend
from tinydl.backend import get_array_module
from tinydl.errors import DTypeError, ShapeError
from tinydl.ops.common import as_tensor
from tinydl.ops.elementwise import where

### BEGIN FASTER task 3.2
from tinydl.ops.loss import BinaryCrossEntropy, SoftmaxCrossEntropy, Softplus

### END FASTER
from tinydl.ops.nn import log_softmax
from tinydl.tensor import Tensor

__all__ = ["mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "l1_loss", "smooth_l1_loss", "huber_loss",
           "kl_div", "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss",
           "margin_ranking_loss", "triplet_margin_loss", "hinge_embedding_loss",
           "multilabel_soft_margin_loss", "soft_margin_loss", "multi_margin_loss"]

_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------------------------
# Helpers shared by the losses
# ---------------------------------------------------------------------------------------------


def check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, "
                         f"got {reduction!r}")


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _float_input(op: str, input: Any) -> Tensor:  # PyTorch's argument name
    input = as_tensor(input)
    if input.dtype.kind != "f":
        raise DTypeError(f"{op}: input must be a floating tensor, got {input.dtype}; convert it "
                         "with .float()")
    return input


def _float_target(op: str, target: Any, input: Tensor) -> Tensor:
    """The target as a Tensor of the input's float dtype on the input's device."""
    if not isinstance(target, Tensor):
        target = as_tensor(target, input)
    if target.device != input.device:
        target = target.to(input.device)
    if target.dtype != input.dtype:
        target = target.astype(input.dtype)
    return target


def _optional_weight(op: str, value: Any, input: Tensor) -> Tensor | None:
    """An optional weight (array, list or Tensor) as a Tensor of the input's dtype and device."""
    return None if value is None else _float_target(op, value, input)


def _divide_or_nan(total: Tensor, denominator: float) -> Tensor:
    """total / denominator; NaN (as in PyTorch) when nothing was counted."""
    if denominator == 0:
        return total * float("nan")
    return total / denominator


# ---------------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------------


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean((input - target)^2).

    Shapes: input and target must have the same shape (any); the result is a scalar, or that
    shape for reduction="none". Unlike PyTorch, shapes that differ are an error rather than a
    silent broadcast: (N, 1) against (N,) would broadcast to (N, N), a classic bug.
    """
    check_reduction("mse_loss", reduction)
    input = _float_input("mse_loss", input)
    target = _float_target("mse_loss", target, input)
    if input.shape != target.shape:
        raise ShapeError(f"mse_loss: input shape {input.shape} and target shape {target.shape} "
                         "differ; reshape one to the other (e.g. pred.reshape(-1) for a (N, 1) "
                         "prediction against (N,) targets)")
    diff = input - target
    return _reduce(diff * diff, reduction)


# ---------------------------------------------------------------------------------------------
# Classification: nll_loss and cross_entropy
# ---------------------------------------------------------------------------------------------


def _on_device(values: Any, input: Tensor) -> Any:
    """Numbers, a list, an array or a Tensor's data, as an array on the input's device."""
    array = values.data if isinstance(values, Tensor) else values
    if not hasattr(array, "dtype"):
        return input.xp.asarray(array)  # a Python number or list
    if backend.get_array_module(array) is not input.xp:
        array = backend.to_device(array, input.device)
    return array


def _class_weight(op: str, weight: Any, input: Tensor, num_classes: int) -> Any:
    """Class weights as an array (C,) of the input's dtype on its device, or None."""
    if weight is None:
        return None
    array = _on_device(weight, input)
    if tuple(array.shape) != (num_classes,):
        raise ShapeError(f"{op}: weight must have one entry per class, shape ({num_classes},), "
                         f"got shape {tuple(array.shape)}")
    return array.astype(input.dtype, copy=False)


def _integer_labels(op: str, target: Any, input: Tensor, class_axis: int) -> Any:
    """Integer class labels as an array on the input's device, shape-checked."""
    array = _on_device(target, input)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: target must hold integer class labels, got dtype {array.dtype}; "
                         "convert it with .long()")
    expected = input.shape[:class_axis] + input.shape[class_axis + 1:]
    if tuple(array.shape) != expected:
        raise ShapeError(f"{op}: integer target of shape {tuple(array.shape)} does not fit input "
                         f"of shape {input.shape}: class labels need shape {expected} (the input's "
                         f"shape without its class dim {class_axis})")
    return array


def _check_label_range(op: str, labels: Any, num_classes: int, ignore_index: int,
                       input_shape: tuple) -> Any:
    """The mask of labels that count (not ignore_index); raise for a label outside [0, C)."""
    xp = get_array_module(labels)
    keep = labels != ignore_index
    bad = keep & ((labels < 0) | (labels >= num_classes))
    if bool(xp.any(bad)):
        first_bad = int(labels[bad].reshape(-1)[0])
        raise IndexError(f"{op}: target contains label {first_bad}, outside [0, {num_classes}) for "
                         f"input of shape {input_shape} with {num_classes} classes; labels must "
                         f"be 0..{num_classes - 1} (or ignore_index={ignore_index})")
    return keep


def _pick(log_probs: Tensor, labels: Any, keep: Any) -> Tensor:
    """log_probs[n, labels[n, ...], ...]: the target class's log-probability per sample.

    Shapes: log_probs (N, C, d1, ..., dk), labels (N, d1, ..., dk) -> (N, d1, ..., dk).
    Ignored positions pick class 0 (their loss is masked out afterwards).
    """
    xp = log_probs.xp
    safe = labels if keep is None else xp.where(keep, labels, 0)
    shape = labels.shape
    ### BEGIN SOLUTION task 3.2
    # HINT: index log_probs with (arange over N, labels, arange over each d_i), all broadcast
    index = []
    for axis, size in enumerate(shape):
        # an arange along this axis, shaped to broadcast against labels: (1, .., size, .., 1)
        index.append(xp.arange(size).reshape(tuple(size if i == axis else 1
                                                    for i in range(len(shape)))))
    index.insert(1, safe)
    return log_probs[tuple(index)]
    ### END SOLUTION


def _nll_parts(op: str, log_probs: Tensor, target: Any, weight: Any,
               ignore_index: int) -> tuple[Tensor, Any, float]:
    """Per-sample weighted losses (N, d1, ...), the mask of counted samples, and the
    denominator of the "mean" reduction.

    The denominator is the sum of the weights of the counted samples (their number when there
    are no class weights): PyTorch's weighted mean.
    """
    labels = _integer_labels(op, target, log_probs, class_axis=1)
    num_classes = log_probs.shape[1]
    keep = _check_label_range(op, labels, num_classes, ignore_index, log_probs.shape)
    xp = log_probs.xp
    all_kept = bool(xp.all(keep))
    picked = _pick(log_probs, labels, None if all_kept else keep)
    if weight is not None:
        sample_weight = weight[xp.where(keep, labels, 0)]
        if not all_kept:
            sample_weight = sample_weight * keep.astype(sample_weight.dtype)
        return picked * (-sample_weight), keep, float(xp.sum(sample_weight))
    if all_kept:
        return -picked, keep, float(picked.size)
    mask = keep.astype(log_probs.dtype)
    return picked * (-mask), keep, float(xp.sum(mask))


def _finish(losses: Tensor, denominator: float, reduction: str) -> Tensor:
    if reduction == "none":
        return losses
    total = losses.sum()
    return total if reduction == "sum" else _divide_or_nan(total, denominator)


def _batched(input: Tensor, target: Any, op: str) -> tuple[Tensor, Any, bool]:
    """Lift an unbatched (C,) input (and its target) to a batch of one."""
    if input.ndim == 0:
        raise ShapeError(f"{op}: input must have a class dim: (C,), (N, C) or (N, C, d1, ...), "
                         "got a scalar")
    if input.ndim > 1:
        return input, target, False
    if isinstance(target, Tensor):
        target = target.reshape((1,) + target.shape)
    else:
        array = _on_device(target, input)
        target = array.reshape((1,) + tuple(array.shape))
    return input.reshape(1, input.shape[0]), target, True


def nll_loss(input: Any, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer class labels, given log-probabilities.

    Shapes: input (N, C) or (N, C, d1, ..., dk) (or (C,) unbatched) of log-probabilities;
    target (N,) or (N, d1, ..., dk) integer labels in [0, C) or ``ignore_index``; weight (C,).
    Returns a scalar, or (N, d1, ...) for reduction="none" (0 at ignored positions).
    "mean" divides by the summed weights of the counted targets, as PyTorch does.
    """
    check_reduction("nll_loss", reduction)
    input = _float_input("nll_loss", input)
    input, target, unbatched = _batched(input, target, "nll_loss")
    weight = _class_weight("nll_loss", weight, input, input.shape[1])
    losses, _, denominator = _nll_parts("nll_loss", input, target, weight, ignore_index)
    out = _finish(losses, denominator, reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def cross_entropy(input: Any, target: Any, weight: Any = None,  # PyTorch's name
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and integer labels or class probabilities.

    Shapes: input (N, C) or (N, C, d1, ..., dk) logits (or (C,) unbatched). target is either
    integer labels (N,) / (N, d1, ..., dk) in [0, C) or ``ignore_index``, or class
    probabilities of the input's shape (floats). weight (C,) rescales each class.
    label_smoothing ε mixes the target with the uniform distribution: (1-ε)·target + ε/C.
    Returns a scalar, or (N, d1, ...) for reduction="none".

    With integer labels "mean" divides by the summed weights of the non-ignored targets; with
    probabilities it divides by the number of samples N·d1·...·dk (PyTorch's rules).
    """
    check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    input = _float_input("cross_entropy", input)
    input, target, unbatched = _batched(input, target, "cross_entropy")
    num_classes = input.shape[1]
    weight = _class_weight("cross_entropy", weight, input, num_classes)
    if not hasattr(target, "dtype"):
        target = _on_device(target, input)  # a Python list of labels or probabilities
    ### BEGIN FASTER task 3.2
    if _fusable(input, target, weight, reduction, label_smoothing):
        labels = _integer_labels("cross_entropy", target, input, class_axis=1)
        if _all_labels_counted(labels, num_classes, ignore_index):
            return SoftmaxCrossEntropy.apply(input, labels=labels, reduction=reduction)
    ### END FASTER
    log_probs = log_softmax(input, axis=1)
    target_dtype = target.dtype
    if target_dtype.kind == "f":
        out = _cross_entropy_probabilities(log_probs, target, weight, reduction, label_smoothing)
    elif target_dtype.kind in "iu":
        out = _cross_entropy_labels(log_probs, target, weight, ignore_index, reduction,
                                    label_smoothing)
    else:
        raise DTypeError(f"cross_entropy: target must hold integer class labels or float class "
                         f"probabilities, got dtype {target_dtype}")
    return out.reshape(()) if unbatched and reduction == "none" else out


def _all_labels_counted(labels: Any, num_classes: int, ignore_index: int) -> bool:
    """Whether every label lies in [0, C) and none can be ``ignore_index``: the fused node's
    case. Two reductions (min and max) instead of _check_label_range's five array passes, which
    were a tenth of a small classifier's cross-entropy; any other case (an ignored or a bad
    label) goes the general way, which raises for a bad one."""
    if labels.size == 0 or 0 <= ignore_index < num_classes:
        return False
    return 0 <= int(labels.min()) and int(labels.max()) < num_classes


def _fusable(input: Tensor, target: Any, weight: Any, reduction: str,
             label_smoothing: float) -> bool:
    """Whether cross_entropy can be the one fused node (SoftmaxCrossEntropy)."""
    return (input.ndim == 2 and target.dtype.kind in "iu" and weight is None
            and label_smoothing == 0.0 and reduction in ("mean", "sum"))


def _weight_along_classes(weight: Any, ndim: int) -> Any:
    """Class weights (C,) shaped (C, 1, ..., 1) to broadcast against (N, C, d1, ..., dk)."""
    return weight.reshape((weight.shape[0],) + (1,) * (ndim - 2))


def _cross_entropy_labels(log_probs: Tensor, target: Any, weight: Any, ignore_index: int,
                          reduction: str, label_smoothing: float) -> Tensor:
    losses, keep, denominator = _nll_parts("cross_entropy", log_probs, target, weight,
                                           ignore_index)
    if label_smoothing == 0.0:
        return _finish(losses, denominator, reduction)
    # PyTorch's formula: (1-ε)·nll + ε/C·smooth, where smooth = -Σ_c w_c·log p_c per sample,
    # zero at ignored positions and reduced with the same denominator as nll.
    weighted = log_probs if weight is None else log_probs * _weight_along_classes(
        weight, log_probs.ndim)
    smooth = -weighted.sum(axis=1)
    if not bool(log_probs.xp.all(keep)):
        smooth = smooth * keep.astype(log_probs.dtype)
    num_classes = log_probs.shape[1]
    return (_finish(losses, denominator, reduction) * (1.0 - label_smoothing)
            + _finish(smooth, denominator, reduction) * (label_smoothing / num_classes))


def _cross_entropy_probabilities(log_probs: Tensor, target: Any, weight: Any, reduction: str,
                                 label_smoothing: float) -> Tensor:
    target = _float_target("cross_entropy", target, log_probs)
    if target.shape != log_probs.shape:
        raise ShapeError(f"cross_entropy: float target of shape {target.shape} does not fit input "
                         f"of shape {log_probs.shape}: class probabilities need the input's shape; "
                         "for class labels pass an integer tensor (e.g. target.long())")
    num_classes = log_probs.shape[1]
    if label_smoothing > 0.0:
        target = target * (1.0 - label_smoothing) + label_smoothing / num_classes
    products = log_probs * target
    if weight is not None:
        products = products * _weight_along_classes(weight, log_probs.ndim)
    losses = -products.sum(axis=1)  # (N, d1, ..., dk)
    return _finish(losses, float(losses.size), reduction)


# ---------------------------------------------------------------------------------------------
# Binary classification
# ---------------------------------------------------------------------------------------------


def _check_same_shape(op: str, input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        raise ShapeError(f"{op}: target shape {target.shape} must equal input shape {input.shape}; "
                         "reshape the target (e.g. y.reshape(-1, 1) for a (N, 1) output)")


def binary_cross_entropy(input: Any, target: Any, weight: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities: -w·(t·log(p) + (1-t)·log(1-p)).

    Shapes: input (probabilities in [0, 1]) and target (in [0, 1]) of the same shape; weight
    broadcasts against them. Logs are clamped at -100 as in PyTorch. For raw scores (logits)
    use ``binary_cross_entropy_with_logits``, which is more accurate.
    """
    op = "binary_cross_entropy"
    check_reduction(op, reduction)
    input = _float_input(op, input)
    target = _float_target(op, target, input)
    _check_same_shape(op, input, target)
    xp = input.xp
    for name, values in (("input", input.data), ("target", target.data)):
        outside = (values < 0) | (values > 1)
        if bool(xp.any(outside)):
            example = float(values[outside].reshape(-1)[0])
            hint = " (apply sigmoid first, or use binary_cross_entropy_with_logits)" \
                if name == "input" else ""
            raise ValueError(f"{op}: every {name} value must lie in [0, 1], found {example}{hint}")
    losses = BinaryCrossEntropy.apply(input, target)
    weight = _optional_weight(op, weight, input)
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy on logits x: sigmoid and log fused, stable for x = ±1e4.

    loss = (1 - t)·x + (1 + (pos_weight - 1)·t)·softplus(-x), times weight.
    Shapes: input and target the same shape (N, ...); weight broadcasts against them;
    pos_weight (C,) broadcasts along the last dim (weighs the positive class per output).
    """
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    input = _float_input(op, input)
    target = _float_target(op, target, input)
    _check_same_shape(op, input, target)
    softplus_of_minus_x = Softplus.apply(-input)
    pos_weight = _optional_weight(op, pos_weight, input)
    if pos_weight is None:
        losses = (1.0 - target) * input + softplus_of_minus_x
    else:
        log_weight = (pos_weight - 1.0) * target + 1.0
        losses = (1.0 - target) * input + log_weight * softplus_of_minus_x
    weight = _optional_weight(op, weight, input)
    if weight is not None:
        losses = losses * weight
    return _reduce(losses, reduction)


# ---------------------------------------------------------------------------------------------
# More regression losses: elementwise on (input - target)
# ---------------------------------------------------------------------------------------------


def _pair(op: str, input: Any, target: Any, reduction: str,
          same_shape: bool = True) -> tuple[Tensor, Tensor]:
    """The checked (input, target) pair every loss below starts from."""
    check_reduction(op, reduction)
    input = _float_input(op, input)
    target = _float_target(op, target, input)
    if same_shape:
        _check_same_shape(op, input, target)
    return input, target


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean absolute error |input - target|. Shapes: input and target alike -> scalar."""
    input, target = _pair("l1_loss", input, target, reduction)
    return _reduce((input - target).abs(), reduction)


def _quadratic_then_linear(diff: Tensor, edge: float, linear_slope: float) -> Tensor:
    """0.5·d²/edge·slope inside |d| < edge, slope·(|d| - edge/2) outside (smooth at the edge)."""
    size = abs(diff.data)
    quadratic = diff * diff * (0.5 * linear_slope / edge)
    linear = (diff.abs() - 0.5 * edge) * linear_slope
    return where(size < edge, quadratic, linear)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """0.5·d²/beta where |d| < beta, |d| - beta/2 elsewhere (d = input - target); beta=0 is L1."""
    input, target = _pair("smooth_l1_loss", input, target, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return _reduce((input - target).abs(), reduction)
    return _reduce(_quadratic_then_linear(input - target, beta, 1.0), reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """0.5·d² where |d| < delta, delta·(|d| - delta/2) elsewhere: smooth_l1 scaled by delta."""
    input, target = _pair("huber_loss", input, target, reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _reduce(_quadratic_then_linear(input - target, delta, delta), reduction)


def poisson_nll_loss(input: Any, target: Any, log_input: bool = True,
                     full: bool = False, size_average: Any = None, eps: float = 1e-8,
                     reduce: Any = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of a Poisson target with rate exp(input) (log_input=True) or
    input: exp(x) - t·x, or x - t·log(x + eps). full adds Stirling's term for t > 1."""
    input, target = _pair("poisson_nll_loss", input, target, reduction, same_shape=False)
    if log_input:
        losses = input.exp() - target * input
    else:
        losses = input - target * (input + eps).log()
    if full:
        t = target.data
        safe = t.clip(1, None)
        stirling = safe * input.xp.log(safe) - safe + 0.5 * input.xp.log(2 * math.pi * safe)
        losses = losses + Tensor(input.xp.where(t > 1, stirling, 0), dtype=input.dtype)
    return _reduce(losses, reduction)


def gaussian_nll_loss(input: Any, target: Any, var: Any, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of target under N(input, var): 0.5·(log var + (x - t)²/var)
    (+ 0.5·log 2π when full). var: input's shape, or without its last dim, or 1 there
    (one variance shared by the last dim). var is clamped at eps for the value only, as in
    PyTorch (the gradient passes through the clamp)."""
    op = "gaussian_nll_loss"
    input, target = _pair(op, input, target, reduction, same_shape=False)
    var = _float_target(op, var, input)
    if var.ndim == input.ndim - 1 and tuple(var.shape) == tuple(input.shape[:-1]):
        var = var.unsqueeze(-1)
    if bool(input.xp.any(var.data < 0)):
        raise ValueError(f"{op}: var has negative entries")
    var = var + (var.clip(eps, None) - var).detach()
    diff = input - target
    losses = (var.log() + diff * diff / var) * 0.5
    if full:
        losses = losses + 0.5 * math.log(2 * math.pi)
    return _reduce(losses, reduction)


def kl_div(input: Any, target: Any, size_average: Any = None, reduce: Any = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) pointwise: target·(log target - input), 0 where target is 0;
    with log_target the target is given as log-probabilities. input holds log-probabilities.
    reduction="batchmean" divides the sum by the batch size (the true KL divergence);
    "mean" (the default, as in PyTorch) averages over every element."""
    op = "kl_div"
    batchmean = reduction == "batchmean"
    input, target = _pair(op, input, target, "sum" if batchmean else reduction,
                          same_shape=False)
    if log_target:
        losses = target.exp() * (target - input)
    else:
        positive = target.data > 0
        log_t = where(positive, target, 1.0).log()
        losses = where(positive, target * (log_t - input), 0.0)
    if batchmean:
        return losses.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(losses, reduction)


# ---------------------------------------------------------------------------------------------
# Margin and embedding losses (targets are +1 / -1)
# ---------------------------------------------------------------------------------------------


def margin_ranking_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:
    """max(0, -target·(input1 - input2) + margin): input1 should rank higher when target = 1.
    Shapes: input1, input2, target (N,) -> scalar (or (N,))."""
    input1, target = _pair("margin_ranking_loss", input1, target, reduction, same_shape=False)
    return _reduce((-target * (input1 - input2) + margin).relu(), reduction)


def hinge_embedding_loss(input: Any, target: Any, margin: float = 1.0,
                         reduction: str = "mean") -> Tensor:
    """input where target = 1, max(0, margin - input) where target = -1 (input: distances)."""
    input, target = _pair("hinge_embedding_loss", input, target, reduction, same_shape=False)
    positive = where(target.data == 1, input, 0.0)
    negative = where(target.data == -1, (margin - input).relu(), 0.0)
    return _reduce(positive + negative, reduction)


def soft_margin_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target·input)) for targets ±1."""
    input, target = _pair("soft_margin_loss", input, target, reduction)
    return _reduce(Softplus.apply(-target * input), reduction)


def multilabel_soft_margin_loss(input: Any, target: Any, weight: Any = None,
                                reduction: str = "mean") -> Tensor:
    """Per-class binary cross-entropy on logits, averaged over the C classes of each sample.
    Shapes: input (N, C) logits, target (N, C) in {0, 1}, weight (C,) -> scalar (or (N,))."""
    op = "multilabel_soft_margin_loss"
    input, target = _pair(op, input, target, reduction)
    losses = target * Softplus.apply(-input) + (1.0 - target) * Softplus.apply(input)
    weight = _optional_weight(op, weight, input)
    if weight is not None:
        losses = losses * weight
    return _reduce(losses.mean(-1), reduction)


def multi_margin_loss(input: Any, target: Any, p: int = 1, margin: float = 1.0,
                      weight: Any = None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge: sum over classes i != y of max(0, margin - x[y] + x[i])^p, divided
    by C (and times weight[y]). Shapes: input (N, C) or (C,), target (N,) or () integer labels."""
    op = "multi_margin_loss"
    check_reduction(op, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p=1 and p=2 are supported (as in PyTorch), got {p}")
    input = _float_input(op, input)
    batched = input.ndim == 2
    scores = input if batched else input.reshape(1, -1)
    num_classes = scores.shape[1]
    labels = _integer_labels(op, as_tensor(target).reshape(-1), scores, 1)
    if bool(scores.xp.any((labels < 0) | (labels >= num_classes))):
        raise IndexError(f"{op}: target labels must be in [0, {num_classes}) for input of shape "
                         f"{input.shape}, got {labels.tolist()}")
    rows = scores.xp.arange(scores.shape[0])
    correct = scores[rows, labels].reshape(-1, 1)                       # (N, 1)
    hinge = (scores - correct + margin).relu()
    if p == 2:
        hinge = hinge * hinge
    not_target = scores.xp.arange(num_classes)[None, :] != labels[:, None]
    hinge = where(not_target, hinge, 0.0)
    weight = _class_weight(op, weight, scores, num_classes)
    if weight is not None:
        hinge = hinge * weight[labels][:, None]
    losses = hinge.sum(1) / num_classes
    return _reduce(losses if batched else losses.reshape(()), reduction)


def cosine_embedding_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target = 1, max(0, cos(x1, x2) - margin) where target = -1.
    Shapes: input1, input2 (N, D) or (D,); target (N,) or () -> scalar (or (N,))."""
    op = "cosine_embedding_loss"
    check_reduction(op, reduction)
    input1, input2 = _float_input(op, input1), _float_input(op, input2)
    target = _on_device(target, input1)
    epsilon = 1e-12  # PyTorch's: keeps a zero vector's cosine finite
    dot = (input1 * input2).sum(-1)
    norms = ((input1 * input1).sum(-1) + epsilon) * ((input2 * input2).sum(-1) + epsilon)
    cosine = dot / norms.sqrt()
    losses = where(target == 1, 1.0 - cosine, 0.0) + where(target == -1,
                                                           (cosine - margin).relu(), 0.0)
    return _reduce(losses, reduction)


def triplet_margin_loss(anchor: Any, positive: Any, negative: Any, margin: float = 1.0,
                        p: float = 2.0, eps: float = 1e-6, swap: bool = False,
                        size_average: Any = None, reduce: Any = None,
                        reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) with d the p-norm pairwise distance; swap uses
    min(d(a, n), d(p, n)) as the negative distance. Shapes: (N, D) each -> scalar (or (N,))."""
    from tinydl.functional.activation import pairwise_distance
    check_reduction("triplet_margin_loss", reduction)
    to_positive = pairwise_distance(anchor, positive, p, eps)
    to_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        to_negative = to_negative.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((to_positive - to_negative + margin).relu(), reduction)
