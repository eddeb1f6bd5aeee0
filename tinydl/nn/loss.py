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

    def forward(self, input: Any, target: Any) -> Tensor:  # PyTorch's name
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

    def forward(self, input: Any, target: Any) -> Tensor:
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

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction)


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities in [0, 1]. Shapes: input and target the same."""

    def __init__(self, weight: Any = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                           reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (sigmoid built in, stable). Shapes: input and target the
    same; pos_weight (C,) weighs the positives of each output along the last dim."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.register_buffer("pos_weight", _as_buffer(pos_weight))

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                       reduction=self.reduction,
                                                       pos_weight=self.pos_weight)


class _OptionsLoss(_Loss):
    """A loss whose keyword options (PyTorch's names) are stored as attributes of the same names
    and passed to ``function`` with the inputs: ``forward(*inputs) = function(*inputs, ...)``."""

    function: Any

    def __init__(self, reduction: str = "mean", **options: Any):
        super().__init__(reduction)
        self._option_names = tuple(options)
        for name, value in options.items():
            setattr(self, name, value)

    def forward(self, *inputs: Any) -> Tensor:
        options = {name: getattr(self, name) for name in self._option_names}
        return type(self).function(*inputs, reduction=self.reduction, **options)


class L1Loss(_OptionsLoss):
    """Mean absolute error. Shapes: input and target alike -> scalar (or that shape)."""
    function = staticmethod(F.l1_loss)

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean"):
        super().__init__(reduction)


class SoftMarginLoss(L1Loss):
    """log(1 + exp(-y·x)) for targets ±1."""
    function = staticmethod(F.soft_margin_loss)


class SmoothL1Loss(_OptionsLoss):
    """Quadratic below beta, linear above. Shapes as L1Loss."""
    function = staticmethod(F.smooth_l1_loss)

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 beta: float = 1.0):
        super().__init__(reduction, beta=beta)


class HuberLoss(_OptionsLoss):
    """Quadratic below delta, delta-sloped linear above. Shapes as L1Loss."""
    function = staticmethod(F.huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction, delta=delta)


class KLDivLoss(_OptionsLoss):
    """KL(target || exp(input)); reduction="batchmean" gives the true divergence per sample."""
    function = staticmethod(F.kl_div)

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean",
                 log_target: bool = False):
        batchmean = reduction == "batchmean"
        super().__init__("mean" if batchmean else reduction, log_target=log_target)
        self.reduction = reduction


class PoissonNLLLoss(_OptionsLoss):
    """Poisson negative log-likelihood (rate exp(input) when log_input)."""
    function = staticmethod(F.poisson_nll_loss)

    def __init__(self, log_input: bool = True, full: bool = False, size_average: Any = None,
                 eps: float = 1e-8, reduce: Any = None, reduction: str = "mean"):
        super().__init__(reduction, log_input=log_input, full=full, eps=eps)


class GaussianNLLLoss(_OptionsLoss):
    """Gaussian negative log-likelihood: forward(input, target, var)."""
    function = staticmethod(F.gaussian_nll_loss)

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction, full=full, eps=eps)


class CosineEmbeddingLoss(_OptionsLoss):
    """forward(x1, x2, y): 1 - cos for y = 1, max(0, cos - margin) for y = -1."""
    function = staticmethod(F.cosine_embedding_loss)

    def __init__(self, margin: float = 0.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean"):
        super().__init__(reduction, margin=margin)


class MarginRankingLoss(CosineEmbeddingLoss):
    """forward(x1, x2, y): max(0, -y·(x1 - x2) + margin)."""
    function = staticmethod(F.margin_ranking_loss)


class HingeEmbeddingLoss(_OptionsLoss):
    """forward(x, y): x for y = 1, max(0, margin - x) for y = -1."""
    function = staticmethod(F.hinge_embedding_loss)

    def __init__(self, margin: float = 1.0, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean"):
        super().__init__(reduction, margin=margin)


class TripletMarginLoss(_OptionsLoss):
    """forward(anchor, positive, negative): max(d(a, p) - d(a, n) + margin, 0)."""
    function = staticmethod(F.triplet_margin_loss)

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean"):
        super().__init__(reduction, margin=margin, p=p, eps=eps, swap=swap)


class MultiLabelSoftMarginLoss(_OptionsLoss):
    """Per-class logistic loss averaged over classes; weight (C,) is a buffer."""
    function = staticmethod(F.multilabel_soft_margin_loss)

    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self._option_names = ("weight",)


class MultiMarginLoss(_OptionsLoss):
    """Multi-class hinge loss on scores (N, C) and integer labels (N,)."""
    function = staticmethod(F.multi_margin_loss)

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None,
                 size_average: Any = None, reduce: Any = None, reduction: str = "mean"):
        super().__init__(reduction, p=p, margin=margin)
        self.register_buffer("weight", _as_buffer(weight))
        self._option_names = ("p", "margin", "weight")
