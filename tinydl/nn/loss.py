"""Loss layers: Modules that hold a loss's settings and call the function in tinydl.functional.

    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    loss = criterion(logits, labels)

Class weights are registered as buffers, so ``criterion.to("cuda")`` moves them along.
"""
from __future__ import annotations

from typing import Any

from tinydl import functional as F
from tinydl.functional.loss import check_reduction
from tinydl.nn.module import Module
from tinydl.tensor import Tensor


def _as_buffer(value: Any) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(value, dtype=getattr(value, "dtype", None))  # a float64 array stays float64


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error. Shapes: input and target (same shape) -> scalar (or that shape)."""

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002 (PyTorch's name)
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross-entropy on logits. Shapes: input (N, C[, d1, ...]); target (N[, d1, ...]) integer
    labels or (N, C[, d1, ...]) probabilities -> scalar (or (N[, d1, ...]))."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, weight=self.weight,
                                    ignore_index=self.ignore_index, reduction=self.reduction,
                                    label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        extras = [super().extra_repr()]
        if self.ignore_index != -100:
            extras.append(f"ignore_index={self.ignore_index}")
        if self.label_smoothing:
            extras.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(extras)


class NLLLoss(_Loss):
    """Negative log-likelihood on log-probabilities (after LogSoftmax). Shapes as
    CrossEntropyLoss with integer labels."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities in [0, 1]. Shapes: input and target the same."""

    def __init__(self, weight: Any = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                           reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (sigmoid built in, stable). Shapes: input and target the
    same; pos_weight (C,) weighs the positives of each output along the last dim."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.register_buffer("pos_weight", _as_buffer(pos_weight))

    def forward(self, input: Any, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                       reduction=self.reduction,
                                                       pos_weight=self.pos_weight)
