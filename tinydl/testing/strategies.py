"""Hypothesis strategies for property tests: shapes, broadcastable pairs, matmul pairs, values.

Every strategy draws float64 NumPy arrays with bounded, finite values, so gradient checks are
meaningful. Use them with ``@given``; the "ci" profile (tests/conftest.py) makes runs
repeatable with ``derandomize=True`` and ``deadline=None``.
"""
from __future__ import annotations

import numpy
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy[tuple]:
    """Array shapes with up to ``max_dims`` dims of sizes min_side..max_side."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def arrays(shape: tuple | st.SearchStrategy, low: float = -3.0, high: float = 3.0,
           dtype=numpy.float64) -> st.SearchStrategy[numpy.ndarray]:
    """Float arrays with values in [low, high] (finite, no subnormals)."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False,
                         width=64)
    return hnp.arrays(dtype, shape, elements=elements)


def positive_arrays(shape: tuple | st.SearchStrategy, low: float = 0.2,
                    high: float = 3.0) -> st.SearchStrategy[numpy.ndarray]:
    """Arrays with values in [low, high] > 0 (for log, sqrt, division, pow bases)."""
    return arrays(shape, low, high)


@st.composite
def away_from_zero(draw: st.DrawFn, shape: tuple | st.SearchStrategy, low: float = 0.1,
                   high: float = 3.0) -> numpy.ndarray:
    """Values with |x| in [low, high] (for ops with a kink at 0: relu, abs)."""
    magnitudes = draw(arrays(shape, low, high))
    signs = draw(hnp.arrays(numpy.float64, magnitudes.shape, elements=st.sampled_from([-1.0, 1.0])))
    return numpy.asarray(magnitudes * signs)


@st.composite
def distinct_arrays(draw: st.DrawFn, shape: tuple | st.SearchStrategy,
                    spacing: float = 0.25) -> numpy.ndarray:
    """Values that differ pairwise by at least ~spacing (for max/min/sort: no ties)."""
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else shape
    size = int(numpy.prod(shape))
    order = draw(st.permutations(list(range(size))))
    offset = draw(st.floats(-1.0, 1.0))
    values = numpy.asarray(order, dtype=numpy.float64) * spacing - size * spacing / 2 + offset
    return values.reshape(shape)


def broadcastable_shapes(num_shapes: int = 2, max_dims: int = 4,
                         max_side: int = 4) -> st.SearchStrategy[tuple]:
    """Shapes that broadcast together (some dims 1, some missing)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, max_dims=max_dims,
                                             max_side=max_side).map(lambda r: r.input_shapes)


@st.composite
def matmul_shapes(draw: st.DrawFn, max_batch_dims: int = 2,
                  max_side: int = 4) -> tuple[tuple, tuple]:
    """(a_shape, b_shape) valid for a @ b: 1-D, 2-D, or batched with broadcast batch dims."""
    m, k, n = (draw(st.integers(1, max_side)) for _ in range(3))
    kind = draw(st.sampled_from(["vec-vec", "vec-mat", "mat-vec", "mat-mat", "stack-mat", "batched"]))
    if kind == "vec-vec":
        return (k,), (k,)
    if kind == "vec-mat":
        batch = draw(shapes(0, max_batch_dims, 1, 3))
        return (k,), batch + (k, n)
    if kind == "mat-vec":
        batch = draw(shapes(0, max_batch_dims, 1, 3))
        return batch + (m, k), (k,)
    if kind == "mat-mat":
        return (m, k), (k, n)
    if kind == "stack-mat":                    # (..., m, k) @ (k, n): the one-GEMM path
        batch = draw(shapes(1, max_batch_dims, 1, 3))
        return batch + (m, k), (k, n)
    batch_a, batch_b = draw(broadcastable_shapes(2, max_batch_dims, 3))
    return batch_a + (m, k), batch_b + (k, n)


def inputs(*strategies: st.SearchStrategy) -> st.SearchStrategy[list]:
    """A list of arrays, one per strategy (the inputs of one op call)."""
    return st.tuples(*strategies).map(list)
