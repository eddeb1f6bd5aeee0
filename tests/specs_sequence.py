"""Declarations of the sequence-model Functions (fused LSTM and GRU recurrences, and
LayerNorm's Normalize and AffineNormalize).

The references are the recurrences written step by step in plain NumPy; the torch oracle
runs torch's own LSTM/GRU cell functions step by step on the same pre-projected inputs.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinydl.ops.normalization import AffineNormalize, Normalize
from tinydl.ops.recurrent import GRUSequence, LSTMSequence
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    torch = None


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_lstm(projected, w_hh, h0, c0, reverse):
    steps = range(projected.shape[0] - 1, -1, -1) if reverse else range(projected.shape[0])
    h, c, outputs = h0, c0, np.zeros(projected.shape[:2] + h0.shape[-1:])
    for t in steps:
        i, f, g, o = np.split(projected[t] + h @ w_hh.T, 4, axis=-1)
        c = _np_sigmoid(f) * c + _np_sigmoid(i) * np.tanh(g)
        h = _np_sigmoid(o) * np.tanh(c)
        outputs[t] = h
    return outputs, c


def _np_gru(projected, w_hh, b_hh, h0, reverse):
    steps = range(projected.shape[0] - 1, -1, -1) if reverse else range(projected.shape[0])
    h, outputs = h0, np.zeros(projected.shape[:2] + h0.shape[-1:])
    for t in steps:
        gi_r, gi_z, gi_n = np.split(projected[t], 3, axis=-1)
        gh_r, gh_z, gh_n = np.split(h @ w_hh.T + b_hh, 3, axis=-1)
        r, z = _np_sigmoid(gi_r + gh_r), _np_sigmoid(gi_z + gh_z)
        n = np.tanh(gi_n + r * gh_n)
        h = (1 - z) * n + z * h
        outputs[t] = h
    return outputs


def _torch_lstm(projected, w_hh, h0, c0, reverse):
    steps = range(projected.shape[0] - 1, -1, -1) if reverse else range(projected.shape[0])
    h, c, outputs = h0, c0, [None] * projected.shape[0]
    for t in steps:  # torch's own cell with a zero input part: gates = projected + h W_hh^T
        zeros = torch.zeros(projected.shape[1], 1, dtype=projected.dtype)
        w_ih = torch.zeros(w_hh.shape[0], 1, dtype=projected.dtype)
        h, c = torch.lstm_cell(zeros, (h, c), w_ih, w_hh, projected[t], None)
        outputs[t] = h
    return torch.stack(outputs), c


def _torch_gru(projected, w_hh, b_hh, h0, reverse):
    steps = range(projected.shape[0] - 1, -1, -1) if reverse else range(projected.shape[0])
    h, outputs = h0, [None] * projected.shape[0]
    for t in steps:
        zeros = torch.zeros(projected.shape[1], 1, dtype=projected.dtype)
        w_ih = torch.zeros(w_hh.shape[0], 1, dtype=projected.dtype)
        h = torch.gru_cell(zeros, h, w_ih, w_hh, projected[t], b_hh)
        outputs[t] = h
    return torch.stack(outputs)


@st.composite
def _recurrence_inputs(draw, gates, with_bias=False, with_cell=False):
    length, batch, size = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    arrays = [draw(S.arrays((length, batch, gates * size), -2, 2)),
              draw(S.arrays((gates * size, size), -1, 1))]
    if with_bias:
        arrays.append(draw(S.arrays((gates * size,), -1, 1)))
    arrays.append(draw(S.arrays((batch, size), -1, 1)))
    if with_cell:
        arrays.append(draw(S.arrays((batch, size), -1, 1)))
    return arrays + [draw(st.booleans())]


SPECS = [
    OpSpec("lstm_sequence",
           lambda p, w, h, c, rev: LSTMSequence.apply(p, w, h, c, reverse=rev),
           _np_lstm, _recurrence_inputs(4, with_cell=True), _torch_lstm),
    OpSpec("gru_sequence",
           lambda p, w, b, h, rev: GRUSequence.apply(p, w, b, h, reverse=rev),
           _np_gru, _recurrence_inputs(3, with_bias=True), _torch_gru),
]


def _np_normalize(x, axes):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)


@st.composite
def _normalize_inputs(draw):
    shape = draw(S.shapes(min_dims=1, max_dims=3, min_side=2))
    count = draw(st.integers(1, len(shape)))
    return [draw(S.arrays(shape)), tuple(range(len(shape) - count, len(shape)))]


SPECS.append(OpSpec(
    "layer_norm_normalize", lambda x, axes: Normalize.apply(x, axes=axes, eps=1e-5),
    _np_normalize, _normalize_inputs(),
    lambda x, axes: torch.nn.functional.layer_norm(x, x.shape[len(x.shape) - len(axes):]),
    differentiable=(0,)))


@st.composite
def _affine_normalize_inputs(draw):
    x, axes = draw(_normalize_inputs())
    weight_shape = x.shape[len(x.shape) - len(axes):]
    return [x, draw(S.arrays(weight_shape)), draw(S.arrays(weight_shape)), axes]


SPECS.append(OpSpec(
    "layer_norm_affine_normalize",
    lambda x, weight, bias, axes: AffineNormalize.apply(x, weight, bias, axes=axes, eps=1e-5),
    lambda x, weight, bias, axes: _np_normalize(x, axes) * weight + bias,
    _affine_normalize_inputs(),
    lambda x, weight, bias, axes: torch.nn.functional.layer_norm(x, weight.shape, weight, bias),
    differentiable=(0, 1, 2)))
