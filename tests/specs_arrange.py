"""Declarations of the rearranging ops (tinydl.ops.arrange); test_ops_generated.py runs them.

References are NumPy (flip, roll, rot90, tile, repeat, tril, diagonal, ...), never tinydl.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    torch = None

small = S.shapes(min_dims=1, max_dims=3, max_side=3)


@st.composite
def _array_dims(draw, count=1, min_dims=1):
    """An array and ``count`` distinct dims of it."""
    shape = draw(S.shapes(min_dims=max(min_dims, count), max_dims=3, max_side=3))
    dims = draw(st.permutations(range(len(shape))))[:count]
    return [draw(S.arrays(shape))] + [int(d) for d in dims]


@st.composite
def _roll_inputs(draw):
    x, dim = draw(_array_dims())
    return [x, draw(st.integers(-4, 4)), dim]


@st.composite
def _repeat_inputs(draw):
    x = draw(S.arrays(draw(S.shapes(min_dims=0, max_dims=2, max_side=3))))
    reps = tuple(draw(st.lists(st.integers(1, 3), min_size=max(x.ndim, 1), max_size=x.ndim + 1)))
    return [x, reps]


@st.composite
def _interleave_inputs(draw):
    x, dim = draw(_array_dims())
    counts = np.asarray(draw(st.lists(st.integers(0, 3), min_size=x.shape[dim],
                                      max_size=x.shape[dim])), dtype=np.int64)
    return [x, counts, dim]


@st.composite
def _matrix_offset(draw):
    x = draw(S.arrays(draw(S.shapes(min_dims=2, max_dims=3, max_side=3))))
    return [x, draw(st.integers(-2, 2))]


@st.composite
def _narrow_inputs(draw):
    x, dim = draw(_array_dims())
    start = draw(st.integers(0, x.shape[dim] - 1))
    return [x, dim, start, draw(st.integers(0, x.shape[dim] - start))]


@st.composite
def _split_sections(draw):
    x, dim = draw(_array_dims())
    return [x, draw(st.integers(1, 4)), dim]


def _np_diag_embed(v, offset):
    n = v.shape[-1] + abs(offset)
    out = np.zeros(v.shape[:-1] + (n, n))
    for i in range(v.shape[-1]):
        row, col = (i, i + offset) if offset >= 0 else (i - offset, i)
        out[..., row, col] = v[..., i]
    return out


SPECS = [
    OpSpec("flip", lambda x, dim: td.flip(x, dim), lambda x, dim: np.flip(x, dim),
           _array_dims(), lambda x, dim: torch.flip(x, (dim,)), differentiable=(0,)),
    OpSpec("fliplr_flipud", lambda x: x.fliplr() + 2 * td.flipud(x), lambda x: np.fliplr(x)
           + 2 * np.flipud(x), S.shapes(2, 3, 1, 3).flatmap(lambda s: S.inputs(S.arrays(s))),
           lambda x: x.fliplr() + 2 * torch.flipud(x)),
    OpSpec("roll", lambda x, shift, dim: x.roll(shift, dim), np.roll, _roll_inputs(),
           lambda x, shift, dim: torch.roll(x, shift, dim), differentiable=(0,)),
    OpSpec("roll_flat", lambda x: td.roll(x, 2), lambda x: np.roll(x, 2),
           small.flatmap(lambda s: S.inputs(S.arrays(s))), lambda x: torch.roll(x, 2)),
    OpSpec("rot90", lambda x, a, b: (td.rot90(x, 1, (a, b)), x.rot90(3, (a, b)),
                                     td.rot90(x, 2, (a, b))),
           lambda x, a, b: (np.rot90(x, 1, (a, b)), np.rot90(x, 3, (a, b)),
                            np.rot90(x, 2, (a, b))),
           _array_dims(2), lambda x, a, b: (torch.rot90(x, 1, (a, b)), x.rot90(3, (a, b)),
                                            torch.rot90(x, 2, (a, b))), differentiable=(0,)),
    OpSpec("repeat_tile", lambda x, reps: (x.repeat(*reps), td.tile(x, reps[1:])),
           lambda x, reps: (np.tile(x, reps), np.tile(x, reps[1:])), _repeat_inputs(),
           lambda x, reps: (x.repeat(*reps), torch.tile(x, reps[1:])), differentiable=(0,)),
    OpSpec("repeat_interleave", lambda x, counts, dim: (x.repeat_interleave(counts, dim),
                                                        td.repeat_interleave(x, 2)),
           lambda x, counts, dim: (np.repeat(x, counts, axis=dim), np.repeat(x.reshape(-1), 2)),
           _interleave_inputs(),
           lambda x, counts, dim: (x.repeat_interleave(torch.as_tensor(counts), dim),
                                   torch.repeat_interleave(x, 2)), differentiable=(0,)),
    OpSpec("tril_triu", lambda x, k: (td.tril(x, k), x.triu(k)),
           lambda x, k: (np.tril(x, k), np.triu(x, k)), _matrix_offset(),
           lambda x, k: (torch.tril(x, k), x.triu(k)), differentiable=(0,)),
    OpSpec("diagonal", lambda x, k: (x.diagonal(k, -2, -1), td.diagonal(x, k, 0, -1)),
           lambda x, k: (np.diagonal(x, k, -2, -1), np.diagonal(x, k, 0, -1)), _matrix_offset(),
           lambda x, k: (x.diagonal(k, -2, -1), torch.diagonal(x, k, 0, -1)),
           differentiable=(0,)),
    OpSpec("diag_embed", lambda v, k: td.diag_embed(v, k), _np_diag_embed,
           _array_dims().map(lambda a: [a[0], a[1] - 1]),
           lambda v, k: torch.diag_embed(v, k), differentiable=(0,)),
    OpSpec("diag_trace", lambda m, k: (td.diag(m, k), td.diag(m[0], k), m.trace()),
           lambda m, k: (np.diag(m, k), np.diag(m[0], k), np.trace(m)),
           S.shapes(2, 2, 1, 3).flatmap(lambda s: S.inputs(S.arrays(s), st.integers(-1, 1))),
           lambda m, k: (torch.diag(m, k), torch.diag(m[0], k), m.trace()), differentiable=(0,)),
    OpSpec("narrow", lambda x, dim, start, length: x.narrow(dim, start, length),
           lambda x, dim, start, length: np.take(x, range(start, start + length), axis=dim),
           _narrow_inputs(),
           lambda x, dim, start, length: x.narrow(dim, start, length), differentiable=(0,)),
    OpSpec("unbind", lambda x, dim: td.unbind(x, dim),
           lambda x, dim: tuple(np.moveaxis(x, dim, 0)), _array_dims(),
           lambda x, dim: torch.unbind(x, dim), differentiable=(0,)),
    OpSpec("tensor_split", lambda x, n, dim: x.tensor_split(n, dim),
           lambda x, n, dim: tuple(np.array_split(x, n, axis=dim)), _split_sections(),
           lambda x, n, dim: x.tensor_split(n, dim), differentiable=(0,)),
    OpSpec("unflatten", lambda x: x.unflatten(0, (2, -1)), lambda x: x.reshape((2, -1) + x.shape[1:]),
           S.shapes(1, 3, 1, 3).flatmap(lambda s: S.inputs(S.arrays((s[0] * 2,) + s[1:]))),
           lambda x: x.unflatten(0, (2, -1))),
    OpSpec("meshgrid_cartesian", lambda a, b: td.meshgrid(a, b, indexing="xy")
           + (td.cartesian_prod(a, b),),
           lambda a, b: tuple(np.meshgrid(a, b, indexing="xy"))
           + (np.stack([g.reshape(-1) for g in np.meshgrid(a, b, indexing="ij")], 1),),
           st.tuples(st.integers(1, 3), st.integers(1, 3)).flatmap(
               lambda n: S.inputs(S.arrays((n[0],)), S.arrays((n[1],)))),
           lambda a, b: torch.meshgrid(a, b, indexing="xy") + (torch.cartesian_prod(a, b),)),
]
