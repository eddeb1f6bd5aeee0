"""Declarations of the composed activations and vector distances (one OpSpec each).

tests/test_ops_generated.py runs them: forward against the NumPy formulas below (written from
the definitions, not from tinydl), gradcheck and gradgradcheck, float32 in/out, the stand-in
device and PyTorch's forward and backward. Piecewise activations draw inputs kept away from
their kinks, where a central difference straddles two branches.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import tinydl.functional as F
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch.nn.functional as TF
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    TF = None

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _away_from(kinks, low=-3.0, high=3.0, gap=0.05, min_dims=0, max_dims=3):
    """One array (in a list) with no value within ``gap`` of a kink (moved 2*gap past it)."""
    def shift(values):
        for kink in kinks:
            near = np.abs(values - kink) < gap
            values = np.where(near, kink + 2 * gap, values)
        return [values]
    return S.shapes(min_dims, max_dims).flatmap(lambda shape: S.arrays(shape, low, high)).map(
        shift)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@st.composite
def _channels_and_slopes(draw):
    """x (N, C, L) away from 0 and one slope per channel."""
    n, c, length = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return [draw(S.away_from_zero((n, c, length))), draw(S.arrays((c,), -1.0, 1.0))]


@st.composite
def _even_last_dim(draw):
    batch = draw(S.shapes(0, 2, max_side=3))
    return [draw(S.arrays(batch + (2 * draw(st.integers(1, 3)),)))]


@st.composite
def _vector_pairs(draw):
    """Two (N, D) arrays, away from zero and from each other elementwise (no norm near 0)."""
    n, d = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    first = draw(S.away_from_zero((n, d), 0.3, 3.0))
    return [first, first + draw(S.away_from_zero((n, d), 0.3, 3.0))]


def _spec(name, fn, reference, inputs, torch_fn, **options):
    return OpSpec(name=name, fn=fn, reference=reference, inputs=inputs, torch_fn=torch_fn,
                  **options)


SPECS = [
    _spec("softplus_beta_threshold", lambda x: F.softplus(x, beta=2.0, threshold=2.5),
          lambda x: np.where(2 * x > 2.5, x, np.logaddexp(0, 2 * x) / 2), _away_from([1.25]),
          lambda x: TF.softplus(x, beta=2.0, threshold=2.5)),
    _spec("elu", lambda x: F.elu(x, alpha=1.3), lambda x: _np_elu(x, 1.3), _away_from([0.0]),
          lambda x: TF.elu(x, alpha=1.3)),
    _spec("selu", F.selu, lambda x: _SELU_SCALE * _np_elu(x, _SELU_ALPHA), _away_from([0.0]),
          lambda x: TF.selu(x)),
    _spec("celu", lambda x: F.celu(x, alpha=0.7), lambda x: np.where(
        x > 0, x, 0.7 * np.expm1(np.minimum(x, 0) / 0.7)), _away_from([0.0]),
          lambda x: TF.celu(x, alpha=0.7)),
    _spec("silu", F.silu, lambda x: x * _np_sigmoid(x), _away_from([]), lambda x: TF.silu(x)),
    _spec("mish", F.mish, lambda x: x * np.tanh(np.logaddexp(0, x)), _away_from([]),
          lambda x: TF.mish(x)),
    _spec("relu6", F.relu6, lambda x: np.clip(x, 0, 6), _away_from([0.0, 6.0], -8.0, 8.0),
          lambda x: TF.relu6(x)),
    _spec("hardtanh", lambda x: F.hardtanh(x, -1.5, 0.5), lambda x: np.clip(x, -1.5, 0.5),
          _away_from([-1.5, 0.5]), lambda x: TF.hardtanh(x, -1.5, 0.5)),
    _spec("hardsigmoid", F.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1),
          _away_from([-3.0, 3.0], -4.0, 4.0), lambda x: TF.hardsigmoid(x)),
    _spec("hardswish", F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6,
          _away_from([-3.0, 3.0], -4.0, 4.0), lambda x: TF.hardswish(x)),
    _spec("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
          _away_from([0.0]), lambda x: TF.leaky_relu(x, 0.2)),
    _spec("prelu", F.prelu, lambda x, w: np.where(x > 0, x, w[None, :, None] * x),
          _channels_and_slopes(), lambda x, w: TF.prelu(x, w)),
    _spec("rrelu_eval", lambda x: F.rrelu(x, 0.1, 0.3, training=False),
          lambda x: np.where(x > 0, x, 0.2 * x), _away_from([0.0]),
          lambda x: TF.rrelu(x, 0.1, 0.3, training=False)),
    _spec("logsigmoid", F.logsigmoid, lambda x: -np.logaddexp(0, -x), _away_from([]),
          lambda x: TF.logsigmoid(x)),
    _spec("softsign", F.softsign, lambda x: x / (1 + np.abs(x)), _away_from([0.0]),
          lambda x: TF.softsign(x)),
    _spec("softmin", lambda x: F.softmin(x, dim=-1), lambda x: _np_softmax(-x, -1),
          _away_from([], min_dims=1), lambda x: TF.softmin(x, dim=-1)),
    _spec("glu", F.glu, lambda x: x[..., :x.shape[-1] // 2] * _np_sigmoid(
        x[..., x.shape[-1] // 2:]), _even_last_dim(), lambda x: TF.glu(x)),
    _spec("tanhshrink", F.tanhshrink, lambda x: x - np.tanh(x), _away_from([]),
          lambda x: TF.tanhshrink(x)),
    _spec("threshold", lambda x: F.threshold(x, 0.5, -2.0), lambda x: np.where(x > 0.5, x, -2.0),
          _away_from([0.5]), lambda x: TF.threshold(x, 0.5, -2.0)),
    _spec("hardshrink", lambda x: F.hardshrink(x, 0.5),
          lambda x: np.where(np.abs(x) > 0.5, x, 0.0), _away_from([-0.5, 0.5]),
          lambda x: TF.hardshrink(x, 0.5)),
    _spec("softshrink", lambda x: F.softshrink(x, 0.5),
          lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0), _away_from([-0.5, 0.5]),
          lambda x: TF.softshrink(x, 0.5)),
    _spec("normalize", lambda x, _: F.normalize(x, dim=1),
          lambda x, _: x / np.linalg.norm(x, axis=1, keepdims=True), _vector_pairs(),
          lambda x, _: TF.normalize(x, dim=1), differentiable=(0,)),
    _spec("normalize_p1", lambda x, _: F.normalize(x, p=1.0, dim=-1),
          lambda x, _: x / np.abs(x).sum(-1, keepdims=True), _vector_pairs(),
          lambda x, _: TF.normalize(x, p=1.0, dim=-1), differentiable=(0,)),
    _spec("cosine_similarity", F.cosine_similarity,
          lambda a, b: (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)),
          _vector_pairs(), lambda a, b: TF.cosine_similarity(a, b)),
    _spec("pairwise_distance", F.pairwise_distance,
          lambda a, b: np.linalg.norm(a - b + 1e-6, axis=-1), _vector_pairs(),
          lambda a, b: TF.pairwise_distance(a, b)),
    _spec("pairwise_distance_p3", lambda a, b: F.pairwise_distance(a, b, p=3.0, keepdim=True),
          lambda a, b: (np.abs(a - b + 1e-6) ** 3).sum(-1, keepdims=True) ** (1 / 3),
          _vector_pairs(), lambda a, b: TF.pairwise_distance(a, b, p=3.0, keepdim=True)),
]
