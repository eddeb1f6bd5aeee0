"""Declarations of the regression, divergence and margin losses (one OpSpec each), with every
``reduction`` drawn.

tests/test_ops_generated.py runs them: forward against the NumPy formulas below (from the
definitions in PyTorch's documentation), gradcheck, gradgradcheck, float32, stand-in device
and PyTorch forward and backward. Inputs keep differences away from the losses' kinks (|d| at
0 or at beta/delta, hinges at 0) so central differences stay on one branch.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl.functional as F
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch.nn.functional as TF
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    TF = None

REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](losses)


def _np_logsigmoid(x):
    return -np.logaddexp(0, -x)


@st.composite
def _pair_apart(draw, kinks=(0.0,)):
    """input, target of one shape whose difference stays >= 0.1 away from every kink (±)."""
    shape = draw(S.shapes(1, 3))
    x = draw(S.arrays(shape))
    gap = draw(S.away_from_zero(shape, 0.1, 2.0))
    for kink in kinks:
        near = np.abs(np.abs(gap) - kink) < 0.1
        gap = np.where(near, np.sign(gap) * (kink + 0.2), gap)
    return [x, x - gap, draw(st.sampled_from(REDUCTIONS))]


@st.composite
def _log_probabilities(draw, log_target):
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    logits = draw(S.arrays((n, c)))
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    raw = draw(S.positive_arrays((n, c), 0.1, 1.0))
    target = raw / raw.sum(1, keepdims=True)
    return [log_p, np.log(target) if log_target else target,
            draw(st.sampled_from(REDUCTIONS + ("batchmean",)))]


@st.composite
def _counts(draw):
    shape = draw(S.shapes(1, 2))
    counts = draw(hnp.arrays(np.float64, shape, elements=st.integers(0, 5).map(float)))
    return [draw(S.arrays(shape, -2.0, 2.0)), counts, draw(st.sampled_from(REDUCTIONS))]


@st.composite
def _gaussian(draw):
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return [draw(S.arrays(shape)), draw(S.arrays(shape)), draw(S.positive_arrays(shape, 0.2, 2)),
            draw(st.sampled_from(REDUCTIONS))]


def _signs(draw, shape):
    return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0])))


@st.composite
def _scores_and_signs(draw, margin=0.0):
    """x1, x2 (N,) with x1 - x2 away from ±margin (the hinge), and targets ±1."""
    n = draw(st.integers(1, 4))
    x2 = draw(S.arrays((n,)))
    gap = draw(S.away_from_zero((n,), 0.1, 2.0))
    gap = np.where(np.abs(np.abs(gap) - margin) < 0.1, np.sign(gap) * (margin + 0.2), gap)
    return [x2 + gap, x2, _signs(draw, (n,)), draw(st.sampled_from(REDUCTIONS))]


@st.composite
def _embedding_pairs(draw):
    n, d = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    x1 = draw(S.away_from_zero((n, d), 0.3, 3.0))
    x2 = x1 + draw(S.away_from_zero((n, d), 0.3, 3.0))
    return [x1, x2, _signs(draw, (n,)), draw(st.sampled_from(REDUCTIONS))]


@st.composite
def _triplets(draw):
    n, d = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    anchor = draw(S.arrays((n, d)))
    positive = anchor + draw(S.away_from_zero((n, d), 0.3, 1.0))
    negative = anchor + draw(S.away_from_zero((n, d), 0.3, 3.0))
    return [anchor, positive, negative, draw(st.sampled_from(REDUCTIONS))]


@st.composite
def _distances_and_signs(draw):
    n = draw(st.integers(1, 4))
    x = draw(S.arrays((n,), 0.0, 2.0))
    x = np.where(np.abs(x - 0.75) < 0.1, 0.5, x)  # away from the margin's hinge
    return [x, _signs(draw, (n,)), draw(st.sampled_from(REDUCTIONS))]


@st.composite
def _multilabel(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    targets = draw(hnp.arrays(np.float64, (n, c), elements=st.sampled_from([0.0, 1.0])))
    return [draw(S.arrays((n, c))), targets, draw(S.positive_arrays((c,), 0.5, 2.0)),
            draw(st.sampled_from(REDUCTIONS))]


@st.composite
def _multiclass(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    scores = draw(S.distinct_arrays((n, c), spacing=0.3)) * 1.0
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    # hinge at margin 0.9 - x[y] + x[i] = 0: the distinct spacing 0.3 keeps 0.9 +- 0.1 away only
    # when shifted by 0.05, so move every score off the 0.3-grid
    scores = scores + np.arange(c) * 0.01
    return [scores, labels, draw(S.positive_arrays((c,), 0.5, 2.0)),
            draw(st.sampled_from(REDUCTIONS))]


def _np_huber(d, delta):
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def _np_kl(log_p, target, reduction, log_target):
    pointwise = (np.exp(target) * (target - log_p) if log_target
                 else target * (np.log(target) - log_p))
    if reduction == "batchmean":
        return pointwise.sum() / log_p.shape[0]
    return _reduce(pointwise, reduction)


def _np_poisson_full(x, t, reduction):
    stirling = np.where(t > 1, t * np.log(np.maximum(t, 1)) - t
                        + 0.5 * np.log(2 * np.pi * np.maximum(t, 1)), 0)
    return _reduce(np.exp(x) - t * x + stirling, reduction)


def _np_cosine_embedding(a, b, y, reduction, margin=0.2):
    cos = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return _reduce(np.where(y == 1, 1 - cos, np.maximum(cos - margin, 0)), reduction)


def _np_triplet(a, p, n, reduction, margin=1.0):
    d_ap = np.linalg.norm(a - p + 1e-6, axis=1)
    d_an = np.linalg.norm(a - n + 1e-6, axis=1)
    return _reduce(np.maximum(d_ap - d_an + margin, 0), reduction)


def _np_multi_margin(x, y, w, reduction, margin=0.9):
    n, c = x.shape
    losses = np.zeros(n)
    for i in range(n):
        for j in range(c):
            if j != y[i]:
                losses[i] += w[y[i]] * max(0.0, margin - x[i, y[i]] + x[i, j]) ** 2 / c
    return _reduce(losses, reduction)


def _np_multilabel(x, t, w, reduction):
    per_class = -w * (t * _np_logsigmoid(x) + (1 - t) * _np_logsigmoid(-x))
    return _reduce(per_class.mean(1), reduction)


def _spec(name, fn, reference, inputs, torch_fn, differentiable=(0,), **options):
    return OpSpec(name=name, fn=fn, reference=reference, inputs=inputs, torch_fn=torch_fn,
                  differentiable=differentiable, **options)


SPECS = [
    _spec("l1_loss", lambda x, t, r: F.l1_loss(x, t, reduction=r),
          lambda x, t, r: _reduce(np.abs(x - t), r), _pair_apart(),
          lambda x, t, r: TF.l1_loss(x, t, reduction=r), (0, 1)),
    _spec("smooth_l1_loss", lambda x, t, r: F.smooth_l1_loss(x, t, reduction=r, beta=0.7),
          lambda x, t, r: _reduce(_np_huber(x - t, 0.7) / 0.7, r), _pair_apart((0.0, 0.7)),
          lambda x, t, r: TF.smooth_l1_loss(x, t, reduction=r, beta=0.7), (0, 1)),
    _spec("huber_loss", lambda x, t, r: F.huber_loss(x, t, reduction=r, delta=1.3),
          lambda x, t, r: _reduce(_np_huber(x - t, 1.3), r), _pair_apart((0.0, 1.3)),
          lambda x, t, r: TF.huber_loss(x, t, reduction=r, delta=1.3), (0, 1)),
    _spec("kl_div", lambda x, t, r: F.kl_div(x, t, reduction=r),
          lambda x, t, r: _np_kl(x, t, r, False), _log_probabilities(log_target=False),
          lambda x, t, r: TF.kl_div(x, t, reduction=r), (0, 1)),
    _spec("kl_div_log_target", lambda x, t, r: F.kl_div(x, t, reduction=r, log_target=True),
          lambda x, t, r: _np_kl(x, t, r, True), _log_probabilities(log_target=True),
          lambda x, t, r: TF.kl_div(x, t, reduction=r, log_target=True), (0, 1)),
    _spec("poisson_nll_loss_full",
          lambda x, t, r: F.poisson_nll_loss(x, t, full=True, reduction=r),
          _np_poisson_full, _counts(),
          lambda x, t, r: TF.poisson_nll_loss(x, t, full=True, reduction=r)),
    _spec("gaussian_nll_loss",
          lambda x, t, v, r: F.gaussian_nll_loss(x, t, v, full=True, reduction=r),
          lambda x, t, v, r: _reduce(0.5 * (np.log(v) + (x - t) ** 2 / v + np.log(2 * np.pi)),
                                     r), _gaussian(),
          lambda x, t, v, r: TF.gaussian_nll_loss(x, t, v, full=True, reduction=r), (0, 1, 2)),
    _spec("margin_ranking_loss",
          lambda a, b, y, r: F.margin_ranking_loss(a, b, y, margin=0.5, reduction=r),
          lambda a, b, y, r: _reduce(np.maximum(-y * (a - b) + 0.5, 0), r),
          _scores_and_signs(margin=0.5),
          lambda a, b, y, r: TF.margin_ranking_loss(a, b, y, margin=0.5, reduction=r), (0, 1)),
    _spec("soft_margin_loss", lambda x, _, y, r: F.soft_margin_loss(x, y, reduction=r),
          lambda x, _, y, r: _reduce(np.logaddexp(0, -y * x), r), _scores_and_signs(),
          lambda x, _, y, r: TF.soft_margin_loss(x, y, reduction=r)),
    _spec("hinge_embedding_loss",
          lambda x, y, r: F.hinge_embedding_loss(x, y, margin=0.75, reduction=r),
          lambda x, y, r: _reduce(np.where(y == 1, x, np.maximum(0.75 - x, 0)), r),
          _distances_and_signs(),
          lambda x, y, r: TF.hinge_embedding_loss(x, y, margin=0.75, reduction=r)),
    _spec("cosine_embedding_loss",
          lambda a, b, y, r: F.cosine_embedding_loss(a, b, y, margin=0.2, reduction=r),
          _np_cosine_embedding, _embedding_pairs(),
          lambda a, b, y, r: TF.cosine_embedding_loss(a, b, y, margin=0.2, reduction=r), (0, 1),
          forward_atol=1e-7),
    _spec("triplet_margin_loss",
          lambda a, p, n, r: F.triplet_margin_loss(a, p, n, reduction=r),
          _np_triplet, _triplets(),
          lambda a, p, n, r: TF.triplet_margin_loss(a, p, n, reduction=r), (0, 1, 2)),
    _spec("multilabel_soft_margin_loss",
          lambda x, t, w, r: F.multilabel_soft_margin_loss(x, t, weight=w, reduction=r),
          _np_multilabel, _multilabel(),
          lambda x, t, w, r: TF.multilabel_soft_margin_loss(x, t, weight=w, reduction=r)),
    _spec("multi_margin_loss_p2",
          lambda x, y, w, r: F.multi_margin_loss(x, y, p=2, margin=0.9, weight=w, reduction=r),
          _np_multi_margin, _multiclass(),
          lambda x, y, w, r: TF.multi_margin_loss(x, y, p=2, margin=0.9, weight=w, reduction=r)),
]
