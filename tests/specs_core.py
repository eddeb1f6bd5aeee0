"""Declarations of the core primitives (one OpSpec each); test_ops_generated.py runs them.

The references are written with NumPy directly (and scipy's erf), never with tinydl.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import standin
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

standin.register()  # the "standin" device, used by the to_device declaration

try:
    import torch
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    torch = None


def _erf(x):
    return np.vectorize(math.erf)(x)


def _np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


pair = S.broadcastable_shapes(2)
one = S.shapes()


@st.composite
def _with_axis(draw, values=S.arrays, min_dims=1):
    """An array and a valid axis for it (and keepdims)."""
    shape = draw(S.shapes(min_dims=min_dims))
    array = draw(values(shape))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return array, axis


def _binary(values_a=S.arrays, values_b=S.arrays):
    return pair.flatmap(lambda shapes: S.inputs(values_a(shapes[0]), values_b(shapes[1])))


def _unary(values=S.arrays, shapes=one):
    return shapes.flatmap(lambda shape: S.inputs(values(shape)))


@st.composite
def _matmul_inputs(draw):
    a_shape, b_shape = draw(S.matmul_shapes())
    return [draw(S.arrays(a_shape)), draw(S.arrays(b_shape))]


@st.composite
def _reduce_inputs(draw, values=S.arrays, min_side=1):
    shape = draw(S.shapes(min_dims=1, min_side=min_side))
    array = draw(values(shape))
    axes = draw(st.one_of(st.none(), st.lists(st.integers(0, len(shape) - 1), min_size=1,
                                               max_size=len(shape), unique=True).map(tuple)))
    keepdims = draw(st.booleans())
    return [array, axes, keepdims]


def _reduce_spec(name, td_fn, np_fn, torch_fn, values=S.arrays, min_side=1):
    """Reductions take (array, axes, keepdims): only input 0 is differentiable."""
    return OpSpec(
        name=name,
        fn=lambda x, axes, keepdims: td_fn(x, axes, keepdims),
        reference=lambda x, axes, keepdims: np.asarray(np_fn(x, axis=axes, keepdims=keepdims)),
        inputs=_reduce_inputs(values, min_side),
        torch_fn=torch_fn,
        differentiable=(0,),
    )


def _torch_dims(axes, ndim):
    return tuple(range(ndim)) if axes is None else axes


@st.composite
def _getitem_inputs(draw):
    shape = draw(S.shapes(min_dims=1, max_dims=3))
    array = draw(S.arrays(shape))
    kind = draw(st.sampled_from(["int", "slice", "newaxis", "int-array", "mask", "mixed"]))
    n = shape[0]
    if kind == "int":
        index = draw(st.integers(-n, n - 1))
    elif kind == "slice":
        start = draw(st.integers(0, n - 1))
        index = slice(start, draw(st.integers(start + 1, n)), draw(st.integers(1, 2)))
    elif kind == "newaxis":
        index = (None, slice(None))
    elif kind == "int-array":  # repeats allowed: backward must accumulate them
        index = np.asarray(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6)))
    elif kind == "mask":
        index = np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    else:
        index = (slice(None), ) + ((np.asarray(draw(st.lists(st.integers(0, shape[1] - 1),
                                                              min_size=1, max_size=4))),)
                                   if len(shape) > 1 else ())
    return [array, index]


@st.composite
def _setitem_inputs(draw):
    """An array, a value and an index to write it at (no repeated positions: the write order
    of repeats is unspecified in PyTorch)."""
    shape = draw(S.shapes(min_dims=1, max_dims=3))
    n = shape[0]
    kind = draw(st.sampled_from(["int", "slice", "int-array", "mask", "mixed"]))
    if kind == "int":
        index = draw(st.integers(-n, n - 1))
    elif kind == "slice":
        start = draw(st.integers(0, n - 1))
        index = slice(start, draw(st.integers(start + 1, n)))
    elif kind == "int-array":
        index = np.asarray(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n,
                                         unique=True)))
    elif kind == "mask":
        index = np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    else:  # an int and an index array with a slice between: PyTorch's placement of dims
        index = (draw(st.integers(0, n - 1)),) + (slice(None),) * (len(shape) - 2) + (
            (np.asarray([0]),) if len(shape) > 1 else ())
    target = _np_view_at(np.empty(shape), index).shape
    drop = draw(st.integers(0, len(target)))  # the value may broadcast over leading dims
    return [draw(S.arrays(shape)), draw(S.arrays(target[drop:])), index]


def _setitem(a, value, index):
    out = a * 1  # a non-leaf, so the in-place write is recorded
    out[index] = value
    return out


def _np_view_at(array, index):
    """array[index] with PyTorch's placement: an int in a tuple selects first (NumPy would
    treat it as one more index array and move the array dims to the front)."""
    if isinstance(index, tuple) and len(index) > 1 and isinstance(index[-1], np.ndarray):
        return array[index[0]][..., index[-1]]
    return array[index]


def _np_setitem(a, value, index):
    out = a.copy()
    if isinstance(index, tuple) and len(index) > 1 and isinstance(index[-1], np.ndarray):
        out[index[0]][..., index[-1]] = value  # out[index[0]] is a view: this writes into out
    else:
        out[index] = value
    return out


def _torch_setitem(a, value, index):
    out = a.clone()
    out[_torch_index(index)] = value
    return out


def _torch_index(index):
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return torch.from_numpy(index)
    return index


@st.composite
def _concat_inputs(draw):
    shape = list(draw(S.shapes(min_dims=1, max_dims=3)))
    axis = draw(st.integers(0, len(shape) - 1))
    count = draw(st.integers(1, 3))
    arrays = []
    for _ in range(count):
        shape[axis] = draw(st.integers(1, 3))
        arrays.append(draw(S.arrays(tuple(shape))))
    return arrays + [axis]


@st.composite
def _split_inputs(draw):
    shape = draw(S.shapes(min_dims=1, max_dims=3, min_side=2))
    axis = draw(st.integers(0, len(shape) - 1))
    size = draw(st.integers(1, shape[axis]))
    return [draw(S.arrays(shape)), size, axis]


@st.composite
def _transpose_inputs(draw):
    shape = draw(S.shapes(min_dims=1))
    perm = tuple(draw(st.permutations(list(range(len(shape))))))
    return [draw(S.arrays(shape)), perm]


@st.composite
def _reshape_inputs(draw):
    shape = draw(S.shapes())
    size = int(np.prod(shape))
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    first = draw(st.sampled_from(divisors))
    return [draw(S.arrays(shape)), (first, -1)]


@st.composite
def _broadcast_inputs(draw):
    small, big = draw(S.broadcastable_shapes(2))
    target = np.broadcast_shapes(small, big)
    return [draw(S.arrays(small)), tuple(target)]


@st.composite
def _pad_inputs(draw):
    shape = draw(S.shapes(min_dims=1, max_dims=3))
    widths = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape)
    return [draw(S.arrays(shape)), widths, draw(st.floats(-2, 2))]


@st.composite
def _where_inputs(draw):
    s_cond, s_a, s_b = draw(S.broadcastable_shapes(3))
    cond = draw(st.lists(st.booleans(), min_size=int(np.prod(s_cond)),
                         max_size=int(np.prod(s_cond)))) if s_cond else [draw(st.booleans())]
    return [np.asarray(cond).reshape(s_cond), draw(S.arrays(s_a)), draw(S.arrays(s_b))]


@st.composite
def _clip_inputs(draw):
    shape = draw(S.shapes())
    low = draw(st.floats(-2, 0))
    high = draw(st.floats(0.1, 2))
    values = draw(S.arrays(shape))
    # keep values away from the bounds so central differences do not straddle a kink
    values = np.where(np.abs(values - low) < 0.05, values + 0.1, values)
    values = np.where(np.abs(values - high) < 0.05, values + 0.1, values)
    return [values, low, high]


SPECS = [
    OpSpec("add", lambda a, b: a + b, np.add, _binary(), lambda a, b: a + b),
    OpSpec("sub", lambda a, b: a - b, np.subtract, _binary(), lambda a, b: a - b),
    OpSpec("mul", lambda a, b: a * b, np.multiply, _binary(), lambda a, b: a * b),
    OpSpec("div", lambda a, b: a / b, np.divide, _binary(S.arrays, S.positive_arrays),
           lambda a, b: a / b),
    OpSpec("neg", lambda a: -a, np.negative, _unary(), lambda a: -a),
    OpSpec("pow", lambda a, b: a ** b, np.power, _binary(S.positive_arrays, S.arrays),
           lambda a, b: a ** b),
    OpSpec("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, _unary(), lambda a: a ** 3),
    OpSpec("exp", td.exp, np.exp, _unary(), lambda a: a.exp()),
    OpSpec("log", td.log, np.log, _unary(S.positive_arrays), lambda a: a.log()),
    OpSpec("sqrt", td.sqrt, np.sqrt, _unary(S.positive_arrays), lambda a: a.sqrt()),
    OpSpec("abs", td.abs, np.abs, _unary(S.away_from_zero), lambda a: a.abs()),
    OpSpec("erf", td.erf, _erf, _unary(), lambda a: torch.erf(a)),
    OpSpec("maximum", td.maximum, np.maximum,
           pair.flatmap(lambda s: S.inputs(S.distinct_arrays(s[0]), S.distinct_arrays(s[1], 0.31))),
           lambda a, b: torch.maximum(a, b)),
    OpSpec("minimum", td.minimum, np.minimum,
           pair.flatmap(lambda s: S.inputs(S.distinct_arrays(s[0]), S.distinct_arrays(s[1], 0.31))),
           lambda a, b: torch.minimum(a, b)),
    OpSpec("clip", lambda a, lo, hi: td.clip(a, lo, hi), lambda a, lo, hi: np.clip(a, lo, hi),
           _clip_inputs(), lambda a, lo, hi: a.clamp(lo, hi), differentiable=(0,)),
    OpSpec("where", lambda c, a, b: td.where(c, a, b), np.where, _where_inputs(),
           lambda c, a, b: torch.where(c, a, b), differentiable=(1, 2)),
    OpSpec("cast", lambda a: a.float() * 1.0, lambda a: a.astype(np.float32), _unary(),
           lambda a: a.float(), eps=1e-2, forward_atol=1e-6, grad_atol=1e-3),
    OpSpec("relu", td.relu, lambda a: np.maximum(a, 0), _unary(S.away_from_zero),
           lambda a: torch.relu(a)),
    OpSpec("sigmoid", td.sigmoid, lambda a: 1 / (1 + np.exp(-a)), _unary(),
           lambda a: torch.sigmoid(a)),
    OpSpec("tanh", td.tanh, np.tanh, _unary(), lambda a: torch.tanh(a)),
    OpSpec("gelu", td.gelu, lambda a: 0.5 * a * (1 + _erf(a / math.sqrt(2))), _unary(),
           lambda a: torch.nn.functional.gelu(a)),
    OpSpec("gelu_tanh", lambda a: td.gelu(a, approximate="tanh"),
           lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3))),
           _unary(), lambda a: torch.nn.functional.gelu(a, approximate="tanh")),
    OpSpec("softmax", lambda a, axis: td.softmax(a, axis), _np_softmax, _with_axis().map(list),
           lambda a, axis: torch.softmax(a, axis), differentiable=(0,)),
    OpSpec("log_softmax", lambda a, axis: td.log_softmax(a, axis),
           lambda a, axis: np.log(_np_softmax(a, axis)), _with_axis().map(list),
           lambda a, axis: torch.log_softmax(a, axis), differentiable=(0,)),
    _reduce_spec("sum", td.sum, np.sum,
                 lambda x, axes, keepdims: x.sum(_torch_dims(axes, x.ndim), keepdim=keepdims)),
    _reduce_spec("mean", td.mean, np.mean,
                 lambda x, axes, keepdims: x.mean(_torch_dims(axes, x.ndim), keepdim=keepdims)),
    _reduce_spec("max", td.max, np.max,
                 lambda x, axes, keepdims: torch.amax(x, _torch_dims(axes, x.ndim), keepdim=keepdims),
                 values=S.distinct_arrays),
    _reduce_spec("min", td.min, np.min,
                 lambda x, axes, keepdims: torch.amin(x, _torch_dims(axes, x.ndim), keepdim=keepdims),
                 values=S.distinct_arrays),
    _reduce_spec("var", lambda x, axes, keepdims: td.var(x, axes, keepdims, correction=0),
                 lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims),
                 lambda x, axes, keepdims: torch.var(x, _torch_dims(axes, x.ndim), correction=0,
                                                     keepdim=keepdims)),
    _reduce_spec("var_unbiased", lambda x, axes, keepdims: td.var(x, axes, keepdims),
                 lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims, ddof=1),
                 lambda x, axes, keepdims: torch.var(x, _torch_dims(axes, x.ndim),
                                                     keepdim=keepdims),
                 min_side=2),
    _reduce_spec("std", lambda x, axes, keepdims: td.std(x, axes, keepdims),
                 lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims, ddof=1),
                 lambda x, axes, keepdims: torch.std(x, _torch_dims(axes, x.ndim),
                                                     keepdim=keepdims),
                 values=S.distinct_arrays, min_side=2),
    _reduce_spec("logsumexp", td.logsumexp, _np_logsumexp,
                 lambda x, axes, keepdims: torch.logsumexp(x, _torch_dims(axes, x.ndim),
                                                           keepdim=keepdims)),
    OpSpec("sum_to", lambda a, shape: td.sum_to(a, shape),
           lambda a, shape: np.sum(a, axis=tuple(range(a.ndim - len(shape))) + tuple(
               a.ndim - len(shape) + i for i, n in enumerate(shape) if n == 1),
               keepdims=True).reshape(shape),
           pair.flatmap(lambda s: S.inputs(S.arrays(np.broadcast_shapes(*s)), st.just(s[0]))),
           lambda a, shape: a.sum_to_size(shape) if shape else a.sum(), differentiable=(0,)),
    OpSpec("reshape", lambda a, shape: a.reshape(shape), lambda a, shape: a.reshape(shape),
           _reshape_inputs(), lambda a, shape: a.reshape(shape), differentiable=(0,)),
    OpSpec("transpose", lambda a, perm: a.permute(perm), lambda a, perm: a.transpose(perm),
           _transpose_inputs(), lambda a, perm: a.permute(perm), differentiable=(0,)),
    OpSpec("swapaxes", lambda a: a.swapaxes(0, -1), lambda a: np.swapaxes(a, 0, -1),
           _unary(shapes=S.shapes(min_dims=1)), lambda a: a.transpose(0, -1)),
    OpSpec("broadcast_to", lambda a, shape: a.broadcast_to(shape), np.broadcast_to,
           _broadcast_inputs(), lambda a, shape: a.expand(shape), differentiable=(0,)),
    OpSpec("squeeze_unsqueeze", lambda a: a.unsqueeze(0).unsqueeze(-1).squeeze(),
           lambda a: np.squeeze(a), _unary(), lambda a: a.unsqueeze(0).unsqueeze(-1).squeeze()),
    OpSpec("flatten", lambda a: a.flatten(), lambda a: a.reshape(-1), _unary(),
           lambda a: a.flatten()),
    OpSpec("concatenate", lambda *args: td.concatenate(args[:-1], axis=args[-1]),
           lambda *args: np.concatenate(args[:-1], axis=args[-1]), _concat_inputs(),
           lambda *args: torch.cat(args[:-1], dim=args[-1])),
    OpSpec("stack", lambda a, b: td.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1),
           S.shapes(min_dims=1).flatmap(lambda s: S.inputs(S.arrays(s), S.arrays(s))),
           lambda a, b: torch.stack([a, b], 1)),
    OpSpec("split", lambda a, size, axis: td.split(a, size, axis),
           lambda a, size, axis: tuple(np.split(a, range(size, a.shape[axis], size), axis)),
           _split_inputs(), lambda a, size, axis: torch.split(a, size, axis), differentiable=(0,)),
    OpSpec("getitem", lambda a, index: a[index], lambda a, index: a[index], _getitem_inputs(),
           lambda a, index: a[_torch_index(index)], differentiable=(0,)),
    OpSpec("setitem", _setitem, _np_setitem, _setitem_inputs(), _torch_setitem,
           differentiable=(0, 1)),
    OpSpec("pad", lambda a, widths, value: td.pad(a, widths, value),
           lambda a, widths, value: np.pad(a, widths, constant_values=value), _pad_inputs(),
           lambda a, widths, value: torch.nn.functional.pad(
               a, tuple(w for pair in reversed(widths) for w in pair), value=value),
           differentiable=(0,)),
    OpSpec("linear", lambda x, w, b: td.functional.linear(x, w, b), lambda x, w, b: x @ w.T + b,
           st.tuples(S.shapes(0, 2, 1, 3), st.integers(1, 4), st.integers(1, 4)).flatmap(
               lambda s: S.inputs(S.arrays(s[0] + (s[1],)), S.arrays((s[2], s[1])),
                                  S.arrays((s[2],)))),
           lambda x, w, b: torch.nn.functional.linear(x, w, b)),
    OpSpec("linear_no_bias", lambda x, w: td.functional.linear(x, w), lambda x, w: x @ w.T,
           st.tuples(S.shapes(0, 2, 1, 3), st.integers(1, 4), st.integers(1, 4)).flatmap(
               lambda s: S.inputs(S.arrays(s[0] + (s[1],)), S.arrays((s[2], s[1])))),
           lambda x, w: torch.nn.functional.linear(x, w)),
    OpSpec("matmul", lambda a, b: a @ b, np.matmul, _matmul_inputs(), lambda a, b: a @ b),
    OpSpec("to_device", lambda a: (a.to("standin") * 2.0).to("cpu"), lambda a: 2 * a, _unary(),
           lambda a: (a.to("cpu") * 2.0)),
    OpSpec("clone", lambda a: a.clone() * 1.0, lambda a: a.copy(), _unary(), lambda a: a.clone()),
]
