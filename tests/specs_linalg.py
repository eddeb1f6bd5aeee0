"""Declarations of the linear-algebra ops (products, einsum, norms, inv/det/solve).

References are NumPy (einsum, linalg), never tinydl. Matrices for inv/det/solve are drawn
well conditioned (a random matrix plus a multiple of the identity).
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

side = st.integers(1, 3)


def _arrays(*shapes):
    return S.inputs(*(S.arrays(s) for s in shapes))


@st.composite
def _einsum_case(draw):
    """An equation (from a fixed list of everyday ones) and matching operands."""
    b, i, j, k = (draw(side) for _ in range(4))
    cases = {
        "bij,bjk->bik": [(b, i, j), (b, j, k)],
        "ij,kj->ik": [(i, j), (k, j)],
        "ii->i": [(i, i)],
        "ii": [(i, i)],
        "ij->": [(i, j)],
        "i,j->ij": [(i,), (j,)],
        "bi,bi->b": [(b, i), (b, i)],
        "...ij,...jk->...ik": [(b, 1, i, j), (k, j, i)],
        "ij,jk,kl->il": [(i, j), (j, k), (k, b)],
        "bhqd,bhkd->bhqk": [(1, b, i, j), (1, b, k, j)],
        "ijk->kji": [(i, j, k)],
        "ij,j": [(i, j), (j,)],
    }
    equation = draw(st.sampled_from(sorted(cases)))
    return [equation] + [draw(S.arrays(s)) for s in cases[equation]]


@st.composite
def _well_conditioned(draw, batch=True):
    n = draw(side)
    lead = draw(S.shapes(0, 1, 1, 2)) if batch else ()
    a = draw(S.arrays(lead + (n, n), -1.0, 1.0))
    return a + 3.0 * np.eye(n)


@st.composite
def _solve_inputs(draw):
    a = draw(_well_conditioned())
    vector = draw(st.booleans())
    rhs_shape = a.shape[:-1] if vector else a.shape[:-1] + (draw(side),)
    return [a, draw(S.arrays(rhs_shape))]


@st.composite
def _norm_inputs(draw):
    shape = draw(S.shapes(1, 3, 1, 3))
    x = draw(S.away_from_zero(shape, 0.2))
    dim = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    return [x, draw(st.sampled_from([2, 1, 3, 0.5, float("inf"), -float("inf")])), dim,
            draw(st.booleans())]


def _differentiable_norm_case(case):
    """An inf norm is a max (or min) of |x|: differentiable only where no two |x| tie, and
    (over all elements) only for one element or an explicit dim, as before."""
    x, p, dim = case[0], case[1], case[2]
    if p not in (float("inf"), -float("inf")):
        return True
    return (x.size == 1 or dim is not None) and np.unique(np.abs(x)).size == x.size


def _np_vector_norm(x, ord, dim, keepdim):
    axis = None if dim is None else dim
    a = np.abs(x)
    if ord == float("inf"):
        return np.max(a, axis=axis, keepdims=keepdim)
    if ord == -float("inf"):
        return np.min(a, axis=axis, keepdims=keepdim)
    return np.sum(a ** ord, axis=axis, keepdims=keepdim) ** (1 / ord)


@st.composite
def _distinct_matrix(draw):
    shape = draw(S.shapes(2, 3, 1, 3))
    return [draw(S.distinct_arrays(shape).filter(_differentiable_norms)),
            draw(st.sampled_from(["fro", 1, -1, float("inf"), -float("inf")]))]


def _differentiable_norms(matrix) -> bool:
    """No zero entry (|x| has no derivative there) and no tie between the absolute column
    sums or between the absolute row sums (the 1 and inf norms pick the largest or smallest:
    [[-0.75, -0.5, -0.25], [0, 0.25, 0.5]] has three columns summing to 0.75)."""
    magnitudes = np.abs(np.asarray(matrix, dtype=np.float64))  # (..., rows, columns)
    if magnitudes.size == 0:
        return True
    if magnitudes.min() <= 1e-3:
        return False
    for axis in (-2, -1):
        sums = np.sort(magnitudes.sum(axis=axis), axis=-1)
        if sums.shape[-1] > 1 and np.diff(sums, axis=-1).min() <= 1e-3:
            return False
    return True


SPECS = [
    OpSpec("einsum", lambda eq, *ops: td.einsum(eq, *ops), lambda eq, *ops: np.einsum(eq, *ops),
           _einsum_case(), lambda eq, *ops: torch.einsum(eq, *ops)),
    OpSpec("mm_bmm_mv_dot", lambda a, b, c, v: (td.mm(a[0], b[0]), td.bmm(a, b), a[0].mv(v),
                                                td.dot(v, v)),
           lambda a, b, c, v: (a[0] @ b[0], a @ b, a[0] @ v, v @ v),
           st.tuples(side, side, side, side).flatmap(
               lambda s: _arrays((s[0], s[1], s[2]), (s[0], s[2], s[3]), (1,), (s[2],))),
           lambda a, b, c, v: (torch.mm(a[0], b[0]), torch.bmm(a, b), a[0].mv(v), torch.dot(v, v)),
           differentiable=(0, 1, 3)),
    OpSpec("addmm_baddbmm", lambda x, a, b: (td.addmm(x[0], a[0], b[0], beta=0.5, alpha=2.0),
                                             td.baddbmm(x, a, b, alpha=-1.0)),
           lambda x, a, b: (0.5 * x[0] + 2.0 * (a[0] @ b[0]), x - a @ b),
           st.tuples(side, side, side, side).flatmap(
               lambda s: _arrays((s[0], s[1], s[3]), (s[0], s[1], s[2]), (s[0], s[2], s[3]))),
           lambda x, a, b: (torch.addmm(x[0], a[0], b[0], beta=0.5, alpha=2.0),
                            torch.baddbmm(x, a, b, alpha=-1.0))),
    OpSpec("outer_inner_kron", lambda u, v, m: (td.outer(u, v), td.inner(m, v), td.kron(m, u)),
           lambda u, v, m: (np.outer(u, v), np.inner(m, v), np.kron(m, u)),
           st.tuples(side, side, side).flatmap(lambda s: _arrays((s[0],), (s[1],), (s[2], s[1]))),
           lambda u, v, m: (torch.outer(u, v), torch.inner(m, v), torch.kron(m, u))),
    OpSpec("tensordot", lambda a, b: (td.tensordot(a, b, 2), td.tensordot(a, b, ([0], [2]))),
           lambda a, b: (np.tensordot(a, b, 2), np.tensordot(a, b, ([0], [2]))),
           st.tuples(side, side, side).flatmap(lambda s: _arrays((s[0], s[1], s[2]),
                                                                 (s[1], s[2], s[0]))),
           lambda a, b: (torch.tensordot(a, b, 2), torch.tensordot(a, b, ([0], [2])))),
    OpSpec("cross", lambda a, b: td.cross(a, b, dim=-1), lambda a, b: np.cross(a, b),
           S.shapes(0, 2, 1, 3).flatmap(lambda s: _arrays(s + (3,), s + (3,))),
           lambda a, b: torch.linalg.cross(a, b, dim=-1)),
    OpSpec("vector_norm", lambda x, p, dim, keep: td.linalg.vector_norm(x, p, dim, keep),
           _np_vector_norm, _norm_inputs().filter(_differentiable_norm_case),
           lambda x, p, dim, keep: torch.linalg.vector_norm(x, p, dim, keep),
           differentiable=(0,)),
    OpSpec("norm_zero_vector", lambda x: td.linalg.norm(x * 0.0) + td.norm(x, p=2),
           lambda x: np.linalg.norm(x.reshape(-1)),
           S.shapes(1, 2, 1, 3).flatmap(lambda s: S.inputs(S.arrays(s, 0.5, 2.0))),
           lambda x: torch.linalg.norm(x * 0.0) + torch.norm(x, p=2)),
    OpSpec("matrix_norm", lambda m, ord: td.linalg.matrix_norm(m, ord),
           lambda m, ord: np.linalg.norm(m, ord, axis=(-2, -1)), _distinct_matrix(),
           lambda m, ord: torch.linalg.matrix_norm(m, ord), differentiable=(0,)),
    OpSpec("inv", td.linalg.inv, np.linalg.inv, _well_conditioned().map(lambda a: [a]),
           lambda a: torch.linalg.inv(a)),
    OpSpec("det", lambda a: a.det(), np.linalg.det, _well_conditioned().map(lambda a: [a]),
           lambda a: torch.linalg.det(a)),
    OpSpec("solve", td.linalg.solve,
           lambda a, b: np.linalg.solve(a, b[..., None])[..., 0] if b.ndim == a.ndim - 1
           else np.linalg.solve(a, b), _solve_inputs(), lambda a, b: torch.linalg.solve(a, b)),
]
