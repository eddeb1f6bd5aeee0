"""Declarations of the losses (one OpSpec each); test_ops_generated.py and test_backend.py run them.

Besides the three primitives of tinydl/ops/loss.py (Softplus, BinaryCrossEntropy and the fused
SoftmaxCrossEntropy, declared as cross_entropy_fused_*), three composed
losses are declared too, so they also get gradcheck, gradgradcheck, the float32 check, the
stand-in device run and the PyTorch comparison (tests/test_losses.py covers the rest against
PyTorch). References are plain NumPy.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl.functional as F
from tinydl.ops.loss import Softplus
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    torch = TF = None


def _np_log_softmax(x, axis=1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _np_pick(log_probs, labels):
    """log_probs[n, labels[n, ...], ...] with NumPy's take_along_axis."""
    return np.take_along_axis(log_probs, labels[:, None], axis=1)[:, 0]


@st.composite
def _logits_and_labels(draw, ignore=False):
    """Logits (N, C[, d]) and integer labels (N[, d]) (some -100 when ``ignore``)."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    extra = draw(st.sampled_from([(), (2,)]))
    logits = draw(S.arrays((n, c) + extra))
    low = -1 if ignore else 0
    labels = draw(hnp.arrays(np.int64, (n,) + extra, elements=st.integers(low, c - 1)))
    labels = np.where(labels == -1, -100, labels)
    if ignore and (labels == -100).all():
        labels.flat[0] = 0
    return [logits, labels]


@st.composite
def _logits_and_valid_labels(draw):
    """Logits (N, C) and labels (N,) all in [0, C): the fused SoftmaxCrossEntropy case."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return [draw(S.arrays((n, c))), labels]


@st.composite
def _logits_and_probabilities(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    logits = draw(S.arrays((n, c)))
    raw = draw(S.positive_arrays((n, c), 0.1, 1.0))
    return [logits, raw / raw.sum(axis=1, keepdims=True)]


@st.composite
def _weighted_labels(draw):
    logits, labels = draw(_logits_and_labels(ignore=True))
    weight = draw(S.positive_arrays((logits.shape[1],), 0.2, 2.0))
    return [logits, labels, weight]


def _ce_labels_reference(logits, labels, weight=None, smoothing=0.0):
    log_probs = _np_log_softmax(logits)
    keep = labels != -100
    safe = np.where(keep, labels, 0)
    w = np.ones(logits.shape[1]) if weight is None else weight
    sample_w = w[safe] * keep
    nll = -(_np_pick(log_probs, safe) * sample_w).sum() / sample_w.sum()
    w_b = w.reshape((-1,) + (1,) * (logits.ndim - 2))
    smooth = (-(log_probs * w_b).sum(axis=1) * keep).sum() / sample_w.sum()
    return (1 - smoothing) * nll + smoothing / logits.shape[1] * smooth


def _bce_reference(p, t):
    return -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


def _bce_logits_reference(x, t, pos_weight):
    softplus_minus_x = np.logaddexp(0, -x)
    return ((1 - t) * x + (1 + (pos_weight - 1) * t) * softplus_minus_x).mean()


def _probabilities_and_targets():
    return S.shapes(min_dims=1, max_dims=3).flatmap(
        lambda shape: S.inputs(S.arrays(shape, 0.05, 0.95), S.arrays(shape, 0.01, 0.99)))


def _logits_targets_pos_weight():
    return S.shapes(min_dims=1, max_dims=3).flatmap(
        lambda shape: S.inputs(S.arrays(shape), S.arrays(shape, 0.0, 1.0),
                               S.arrays(shape[-1:], 0.5, 3.0)))


SPECS = [
    OpSpec(
        name="softplus",
        fn=lambda x: Softplus.apply(x),
        reference=lambda x: np.logaddexp(0, x),
        inputs=S.shapes().flatmap(lambda shape: S.inputs(S.arrays(shape))),
        torch_fn=lambda x: TF.softplus(x),
    ),
    OpSpec(
        name="binary_cross_entropy",
        fn=lambda p, t: F.binary_cross_entropy(p, t, reduction="none"),
        reference=_bce_reference,
        inputs=_probabilities_and_targets(),
        torch_fn=lambda p, t: TF.binary_cross_entropy(p, t, reduction="none"),
    ),
    OpSpec(
        name="binary_cross_entropy_with_logits",
        fn=lambda x, t, w: F.binary_cross_entropy_with_logits(x, t, pos_weight=w),
        reference=_bce_logits_reference,
        inputs=_logits_targets_pos_weight(),
        torch_fn=lambda x, t, w: TF.binary_cross_entropy_with_logits(x, t, pos_weight=w),
        differentiable=(0, 1),
    ),
    OpSpec(
        name="cross_entropy_weighted_ignored_smoothed",
        fn=lambda x, y, w: F.cross_entropy(x, y, weight=w, label_smoothing=0.2),
        reference=lambda x, y, w: _ce_labels_reference(x, y, w, 0.2),
        inputs=_weighted_labels(),
        torch_fn=lambda x, y, w: TF.cross_entropy(x, y, weight=w, label_smoothing=0.2),
        differentiable=(0,),
    ),
    OpSpec(
        name="cross_entropy_fused_mean",
        fn=lambda x, y: F.cross_entropy(x, y),
        reference=lambda x, y: -_np_pick(_np_log_softmax(x), y).mean(),
        inputs=_logits_and_valid_labels(),
        torch_fn=lambda x, y: TF.cross_entropy(x, y),
        differentiable=(0,),
    ),
    OpSpec(
        name="cross_entropy_fused_sum",
        fn=lambda x, y: F.cross_entropy(x, y, reduction="sum"),
        reference=lambda x, y: -_np_pick(_np_log_softmax(x), y).sum(),
        inputs=_logits_and_valid_labels(),
        torch_fn=lambda x, y: TF.cross_entropy(x, y, reduction="sum"),
        differentiable=(0,),
    ),
    OpSpec(
        name="cross_entropy_probabilities",
        fn=lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1),
        reference=lambda x, p: -(_np_log_softmax(x) * (0.9 * p + 0.1 / x.shape[1])).sum(1).mean(),
        inputs=_logits_and_probabilities(),
        torch_fn=lambda x, p: TF.cross_entropy(x, p, label_smoothing=0.1),
    ),
]
