"""A Numba version of the row scatter-add (an embedding's backward), registered against the
NumPy reference ``scatter_add_rows_reference`` in ``tinydl/ops/shape.py``:

    out[rows[i]] += values[i]      for every i; repeated rows add up

NumPy's ``np.add.at`` does this element by element through a generic indexing loop; here each
value row is added to its output row with one contiguous loop. It runs on one thread (two rows
may be the same, so rows cannot be split between threads without per-thread copies of out).
"""

import numpy as np

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import implementations, register


@jit()
def _scatter_add_rows_kernel(out, rows, values):
    """out (R, n), rows (N,) int64 in [-R, R), values (N, n): out[rows[i]] += values[i]."""
    count = out.shape[0]
    for i in range(rows.shape[0]):
        row = rows[i] + count if rows[i] < 0 else rows[i]
        for j in range(np.uint64(out.shape[1])):
            out[row, j] += values[i, j]


def scatter_add_rows_numba(out, rows, values):
    """``scatter_add_rows_reference`` in Numba for float NumPy arrays; same arguments, result.

    Other arrays (integer or complex ones, say) go to the NumPy reference.
    """
    row_size = out.size // max(1, out.shape[0]) if out.ndim else 0
    if not (isinstance(out, np.ndarray) and isinstance(values, np.ndarray) and out.ndim >= 1
            and out.dtype in (np.float32, np.float64) and values.dtype == out.dtype
            and out.flags.c_contiguous and values.shape == rows.shape + out.shape[1:]):
        return implementations("scatter_add_rows")["numpy"](out, rows, values)
    _scatter_add_rows_kernel(out.reshape(out.shape[0], row_size),
                             np.ascontiguousarray(rows, dtype=np.int64).reshape(-1),
                             np.ascontiguousarray(values).reshape(rows.size, row_size))
    return out


register("scatter_add_rows", "numba", scatter_add_rows_numba, available=numba_available,
         default=True)
