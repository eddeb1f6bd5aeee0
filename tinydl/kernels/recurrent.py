"""Numba versions of the fused LSTM and GRU recurrences, registered against the NumPy
references in ``tinydl/ops/recurrent.py`` (where the formulas are). The LSTM's:

    gates = projected_t + h @ W_hh^T;  i, f, o = sigmoid(.), g = tanh(.)   (rows [i, f, g, o])
    c' = f * c + i * g;  h' = o * tanh(c')

The references spend a dozen NumPy calls and as many temporaries on each step. Here a forward
step is one BLAS matmul straight into the step's slice of the saved gates and one Numba pass
for the rest of the cell: the input's share, the gates' sigmoid and tanh, c', tanh(c') and h'.
The sigmoid and tanh are ``sigmoid_in_its_dtype`` and ``tanh_in_its_dtype`` from
``fast_exp.py``, arithmetic on exp(-|a|) that vectorises (Numba's own tanh calls libm's, one
element at a time, and NumPy's float32 tanh has no vector loop on an AVX2 CPU: 2.8 ns an
element). A backward step is one Numba pass for d(gates) and d(c) and one matmul for d(h);
the weight gradient is one (4H, T*B) @ (T*B, H) matmul after the loop. The GRU's kernels
(below) follow the same plan.

Inputs: float32 or float64 NumPy arrays. The batch items are independent, so a sequence of
more than ``tinydl.threads.PARALLEL_MIN_WORK`` elements runs as slices of the batch, one a
thread (``tinydl.threads.over_batch_slices``): one step's matmul is too small to share.
Below that the batch is not split: for the benchmark's LSTM (T 64, B 32, H 128, 1M elements),
measured on the quiet 2-core machine, the two kernels took 8.2-8.7 ms a call pair unsplit
(BLAS's two threads inside each step's matmul), 9.9-11.2 ms split in two, 9.2-9.7 ms with
only one of the two split. (Not measured apart, the likely causes: each step's half is a few
short calls that each take the GIL, and OpenBLAS's worker still spins on the second core.)
"""

import numpy as np

from tinydl import threads
from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.fast_exp import sigmoid_in_its_dtype, tanh_in_its_dtype
from tinydl.kernels.registry import register

# Exact in float32, so float32 inputs stay in float32 arithmetic and float64 inputs in float64.
_ONE = np.float32(1)


@jit(nogil=True)
def _lstm_cell_forward_kernel(act, projected, c_prev, c, tanh_c, h):
    """One step: act (B, 4H) holds h_prev @ W_hh^T; adds this step's projected (B, 4H) and
    turns it, in place, into the gates [i, f, g, o] (sigmoid, sigmoid, tanh, sigmoid); writes
    c = f c_prev + i g, tanh_c = tanh(c) and h = o tanh_c (B, H).
    Each loop runs over 1-D views of one batch row: LLVM vectorises those loops, where the same
    loops over act[b, j] from an offset ran 2x slower (B32 H128 float32: 31 against 69 µs)."""
    size = c.shape[1]
    for b in range(c.shape[0]):
        gates, pre = act[b], projected[b]
        i_f, o = gates[:2 * size], gates[3 * size:]
        g = gates[2 * size:3 * size]
        pre_i_f, pre_g, pre_o = pre[:2 * size], pre[2 * size:3 * size], pre[3 * size:]
        for j in range(2 * size):
            i_f[j] = sigmoid_in_its_dtype(i_f[j] + pre_i_f[j])
        for j in range(size):
            g[j] = tanh_in_its_dtype(g[j] + pre_g[j])
        for j in range(size):
            o[j] = sigmoid_in_its_dtype(o[j] + pre_o[j])
        c_b, tanh_c_b, h_b, c_prev_b = c[b], tanh_c[b], h[b], c_prev[b]
        for j in range(size):
            cell = i_f[size + j] * c_prev_b[j] + i_f[j] * g[j]
            c_b[j] = cell
            tanh_c_b[j] = tanh_in_its_dtype(cell)
            h_b[j] = o[j] * tanh_c_b[j]


@jit(nogil=True)
def _lstm_cell_backward_kernel(act, c_prev, tanh_c, grad_h, d_h_carried, d_c, d_gates):
    """One step back: act (B, 4H) the gates [i, f, g, o]; c_prev, tanh_c, grad_h (the loss's
    gradient of this step's h), d_h_carried (from later steps) (B, H). Writes d_gates (B, 4H)
    and turns d_c (B, H), d(loss)/d(c'), into d(loss)/d(c_prev), in place."""
    size = d_c.shape[1]
    for b in range(d_c.shape[0]):                                   # (1-D views: see the forward)
        gates, d_gates_b = act[b], d_gates[b]
        i, f, g, o = gates[:size], gates[size:2 * size], gates[2 * size:3 * size], gates[3 * size:]
        d_i, d_f = d_gates_b[:size], d_gates_b[size:2 * size]
        d_g, d_o = d_gates_b[2 * size:3 * size], d_gates_b[3 * size:]
        d_c_b, c_prev_b, tanh_c_b = d_c[b], c_prev[b], tanh_c[b]
        grad_h_b, d_h_carried_b = grad_h[b], d_h_carried[b]
        for j in range(size):                                       # h' = o tanh(c')
            t = tanh_c_b[j]
            dh = grad_h_b[j] + d_h_carried_b[j]
            d_o[j] = dh * t * o[j] * (_ONE - o[j])                  # sigmoid' = s (1 - s)
            d_c_b[j] = d_c_b[j] + dh * o[j] * (_ONE - t * t)        # c' reaches the loss via h' too
        for j in range(size):                                       # c' = f c + i g
            d_i[j] = d_c_b[j] * g[j] * i[j] * (_ONE - i[j])
            d_g[j] = d_c_b[j] * i[j] * (_ONE - g[j] * g[j])         # tanh' = 1 - t^2
        for j in range(size):
            d_f[j] = d_c_b[j] * c_prev_b[j] * f[j] * (_ONE - f[j])
            d_c_b[j] = d_c_b[j] * f[j]


def _check(op, *arrays):
    dtype = arrays[0].dtype
    for array in arrays:
        if not isinstance(array, np.ndarray) or array.dtype not in (np.float32, np.float64):
            raise TypeError(f"{op}: the Numba kernel takes float32 or float64 NumPy arrays, got "
                            f"{type(array).__name__} {getattr(array, 'dtype', '')}; use the "
                            "NumPy reference for other arrays")
    return dtype


def _steps(length, reverse):
    """The steps in the order they run, and the offset from a step to the one before it."""
    return (range(length - 1, -1, -1), 1) if reverse else (range(length), -1)


def _recurrent_weight_grad(d_pre, hs, h0, reverse):
    """d(W_hh) (G*H, H) = sum over steps of d_pre[t]^T @ h_prev[t], h_prev[t] being the state
    step t started from: one matmul over the (T-1)*B rows that started from an output in hs
    (T, B, H), one more for the step that started from h0 (B, H). d_pre (T, B, G*H)."""
    length, batch, rows = d_pre.shape
    first, later, earlier = ((length - 1, slice(0, -1), slice(1, None)) if reverse
                             else (0, slice(1, None), slice(0, -1)))
    d_w_hh = d_pre[first].T @ h0
    d_w_hh += d_pre[later].reshape(-1, rows).T @ hs[earlier].reshape(-1, hs.shape[2])
    return d_w_hh


def lstm_forward_numba(projected, w_hh, h0, c0, reverse=False):
    """``lstm_forward_reference`` with one Numba pass a step; same arguments and results.

    projected (T, B, 4H), w_hh (4H, H), h0 and c0 (B, H) -> acts (T, B, 4H) (the gates
    [i, f, g, o]), cs, tanh_cs, hs (T, B, H). Slices of the batch run on separate threads.
    """
    dtype = _check("lstm_forward_numba", projected, w_hh, h0, c0)
    length, batch, rows = projected.shape
    acts = np.empty(projected.shape, dtype=dtype)              # (T, B, 4H), filled step by step
    w_hh_t = np.ascontiguousarray(w_hh.T)                      # (H, 4H)
    cs, tanh_cs, hs = (np.empty((length, batch, rows // 4), dtype=dtype) for _ in range(3))

    def run_rows(start, stop):                                 # batch items start:stop
        _lstm_forward_rows(projected[:, start:stop], w_hh_t, h0[start:stop], c0[start:stop],
                           acts[:, start:stop], cs[:, start:stop], tanh_cs[:, start:stop],
                           hs[:, start:stop], reverse)

    threads.over_batch_slices(run_rows, batch, acts.size)
    return acts, cs, tanh_cs, hs


def _lstm_forward_rows(projected, w_hh_t, h0, c0, acts, cs, tanh_cs, hs, reverse):
    """The forward loop over time for some batch items, filling acts, cs, tanh_cs, hs."""
    h, c = h0, np.ascontiguousarray(c0)
    cell = _lstm_cell_forward_kernel.compiled()                # called once a step
    steps, _ = _steps(acts.shape[0], reverse)
    for t in steps:
        np.matmul(h, w_hh_t, out=acts[t])                      # (B, H) @ (H, 4H)
        cell(acts[t], projected[t], c, cs[t], tanh_cs[t], hs[t])
        h, c = hs[t], cs[t]


def lstm_backward_numba(acts, cs, tanh_cs, hs, w_hh, h0, c0, grad_hs, grad_c, reverse=False):
    """``lstm_backward_reference`` with one Numba pass a step; same arguments and results.

    acts (T, B, 4H), cs, tanh_cs, hs (T, B, H) from the forward; w_hh (4H, H); h0, c0 (B, H);
    grad_hs (T, B, H), grad_c (B, H) -> d(projected) (T, B, 4H), d(w_hh) (4H, H), d(h0),
    d(c0) (B, H). Slices of the batch run on separate threads; d(w_hh) is one matmul after.
    """
    dtype = _check("lstm_backward_numba", acts, cs, tanh_cs, hs, w_hh, h0, c0)
    length, batch, rows = acts.shape
    grad_hs = np.ascontiguousarray(np.broadcast_to(grad_hs, hs.shape), dtype=dtype)
    d_c = np.array(np.broadcast_to(grad_c, c0.shape), dtype=dtype)  # updated step by step
    d_h = np.zeros_like(d_c)                                        # d(loss)/d(h) from later steps
    d_gates = np.empty_like(acts)

    def run_rows(start, stop):                                      # batch items start:stop
        rows_of = slice(start, stop)
        _lstm_backward_rows(acts[:, rows_of], cs[:, rows_of], tanh_cs[:, rows_of], w_hh,
                            c0[rows_of], grad_hs[:, rows_of], d_h[rows_of], d_c[rows_of],
                            d_gates[:, rows_of], reverse)

    threads.over_batch_slices(run_rows, batch, acts.size)
    return d_gates, _recurrent_weight_grad(d_gates, hs, h0, reverse), d_h, d_c


def _lstm_backward_rows(acts, cs, tanh_cs, w_hh, c0, grad_hs, d_h, d_c, d_gates, reverse):
    """The backward loop over time for some batch items: fills d_gates, and leaves
    d(h0), d(c0) in d_h, d_c (which start as d(loss)/d(h_T) = 0 and d(loss)/d(c_T))."""
    c0 = np.ascontiguousarray(c0)
    cell = _lstm_cell_backward_kernel.compiled()               # called once a step
    steps, before = _steps(acts.shape[0], reverse)
    for t in reversed(steps):
        c_prev = c0 if t == steps[0] else cs[t + before]
        cell(acts[t], c_prev, tanh_cs[t], grad_hs[t], d_h, d_c, d_gates[t])
        np.matmul(d_gates[t], w_hh, out=d_h)                        # (B, 4H) @ (4H, H)


# ----------------------------------------------------------------------------------------- GRU
# r, z = sigmoid(gi_rz + gh_rz), gh = h @ W_hh^T + b_hh;  n = tanh(gi_n + r * gh_n);
# h' = n + z * (h - n)   (rows [r, z, n]). Per step: one matmul and one Numba pass.

@jit(nogil=True)
def _gru_cell_forward_kernel(gi, gh, b_hh, h_prev, rz, gh_n, n, h):
    """One step: gi (B, 3H) this step's projected input, gh (B, 3H) = h_prev @ W_hh^T, b_hh
    (3H,), h_prev (B, H). Writes the gates rz (B, 2H) = sigmoid(gi_rz + gh_rz + b_hrz),
    gh_n (B, H) = gh_n + b_hn, the candidate n (B, H) = tanh(gi_n + r gh_n) and h (B, H) =
    n + z (h_prev - n). Loops over 1-D views of one batch row (see the LSTM's kernel)."""
    size = n.shape[1]
    b_rz, b_n = b_hh[:2 * size], b_hh[2 * size:]
    for b in range(n.shape[0]):
        gi_b, gh_b, rz_b, gh_n_b, n_b, h_b, h_prev_b = gi[b], gh[b], rz[b], gh_n[b], n[b], h[b], h_prev[b]
        gi_n, gh_n_pre, z = gi_b[2 * size:], gh_b[2 * size:], rz_b[size:]
        for j in range(2 * size):
            rz_b[j] = sigmoid_in_its_dtype(gi_b[j] + (gh_b[j] + b_rz[j]))
        for j in range(size):
            recurrent_n = gh_n_pre[j] + b_n[j]
            gh_n_b[j] = recurrent_n
            candidate = tanh_in_its_dtype(gi_n[j] + rz_b[j] * recurrent_n)
            n_b[j] = candidate
            h_b[j] = candidate + z[j] * (h_prev_b[j] - candidate)


@jit(nogil=True)
def _gru_cell_backward_kernel(rz, n, gh_n, h_prev, grad_h, d_h_direct, recurrent, d_gi, d_gh):
    """One step back. rz (B, 2H), n, gh_n, h_prev, grad_h (B, H) of this step; d_h_direct and
    recurrent (B, H), the later step's dh * z and d(gh) @ W_hh. Writes d_gi, d_gh (B, 3H)
    and this step's dh * z into d_h_direct."""
    size = n.shape[1]
    for b in range(n.shape[0]):
        for j in range(size):
            r, z, c = rz[b, j], rz[b, size + j], n[b, j]
            dh = grad_h[b, j] + (d_h_direct[b, j] + recurrent[b, j])
            dn = dh * (_ONE - z) * (_ONE - c * c)                   # through n = tanh(.)
            dr = dn * gh_n[b, j] * r * (_ONE - r)
            dz = dh * (h_prev[b, j] - c) * z * (_ONE - z)
            d_gi[b, j] = dr
            d_gi[b, size + j] = dz
            d_gi[b, 2 * size + j] = dn
            d_gh[b, j] = dr
            d_gh[b, size + j] = dz
            d_gh[b, 2 * size + j] = dn * r
            d_h_direct[b, j] = dh * z


def gru_forward_numba(projected, w_hh, b_hh, h0, reverse=False):
    """``gru_forward_reference`` with one Numba pass a step; same arguments and results.

    projected (T, B, 3H), w_hh (3H, H), b_hh (3H,), h0 (B, H) -> rz (T, B, 2H), n, gh_n,
    hs (T, B, H). Slices of the batch run on separate threads.
    """
    dtype = _check("gru_forward_numba", projected, w_hh, b_hh, h0)
    length, batch, rows = projected.shape
    w_hh_t = np.ascontiguousarray(w_hh.T)                            # (H, 3H)
    rz_all = np.empty((length, batch, 2 * rows // 3), dtype=dtype)
    n_all, gh_n_all, hs = (np.empty((length, batch, rows // 3), dtype=dtype) for _ in range(3))

    def run_rows(start, stop):                                       # batch items start:stop
        _gru_forward_rows(projected[:, start:stop], w_hh_t, b_hh, h0[start:stop],
                          rz_all[:, start:stop], n_all[:, start:stop], gh_n_all[:, start:stop],
                          hs[:, start:stop], reverse)

    threads.over_batch_slices(run_rows, batch, projected.size)
    return rz_all, n_all, gh_n_all, hs


def _gru_forward_rows(projected, w_hh_t, b_hh, h0, rz_all, n_all, gh_n_all, hs, reverse):
    """The forward loop over time for some batch items, filling rz_all, n_all, gh_n_all, hs."""
    gh = np.empty(projected.shape[1:], dtype=projected.dtype)       # (B, 3H)
    cell = _gru_cell_forward_kernel.compiled()                       # called once a step
    h = h0
    steps, _ = _steps(projected.shape[0], reverse)
    for t in steps:
        np.matmul(h, w_hh_t, out=gh)
        cell(projected[t], gh, b_hh, h, rz_all[t], gh_n_all[t], n_all[t], hs[t])
        h = hs[t]


def gru_backward_numba(rz_all, n_all, gh_n_all, hs, w_hh, h0, grad_hs, reverse=False):
    """``gru_backward_reference`` with one Numba pass a step; same arguments and results.

    rz (T, B, 2H), n, gh_n, hs (T, B, H) from the forward; w_hh (3H, H); h0 (B, H);
    grad_hs (T, B, H) -> d(projected) (T, B, 3H), d(w_hh) (3H, H), d(b_hh) (3H,), d(h0) (B, H).
    Slices of the batch run on separate threads; d(w_hh) is one matmul after.
    """
    dtype = _check("gru_backward_numba", rz_all, n_all, gh_n_all, hs, w_hh, h0)
    length, batch, size = hs.shape
    grad_hs = np.ascontiguousarray(np.broadcast_to(grad_hs, hs.shape), dtype=dtype)
    d_h_direct, recurrent = (np.zeros((batch, size), dtype=dtype) for _ in range(2))
    d_gi, d_gh = (np.empty((length, batch, 3 * size), dtype=dtype) for _ in range(2))

    def run_rows(start, stop):                                       # batch items start:stop
        rows_of = slice(start, stop)
        _gru_backward_rows(rz_all[:, rows_of], n_all[:, rows_of], gh_n_all[:, rows_of],
                           hs[:, rows_of], w_hh, h0[rows_of], grad_hs[:, rows_of],
                           d_h_direct[rows_of], recurrent[rows_of], d_gi[:, rows_of],
                           d_gh[:, rows_of], reverse)

    threads.over_batch_slices(run_rows, batch, d_gi.size)
    return (d_gi, _recurrent_weight_grad(d_gh, hs, h0, reverse), d_gh.sum(axis=(0, 1)),
            d_h_direct + recurrent)


def _gru_backward_rows(rz_all, n_all, gh_n_all, hs, w_hh, h0, grad_hs, d_h_direct, recurrent,
                       d_gi, d_gh, reverse):
    """The backward loop over time for some batch items: fills d_gi and d_gh, and
    leaves d(h0) = d_h_direct + recurrent."""
    cell = _gru_cell_backward_kernel.compiled()                      # called once a step
    steps, before = _steps(hs.shape[0], reverse)
    for t in reversed(steps):
        h_prev = h0 if t == steps[0] else hs[t + before]
        cell(rz_all[t], n_all[t], gh_n_all[t], h_prev, grad_hs[t], d_h_direct, recurrent,
             d_gi[t], d_gh[t])
        np.matmul(d_gh[t], w_hh, out=recurrent)                      # (B, 3H) @ (3H, H)


register("lstm_sequence_forward", "numba", lstm_forward_numba, available=numba_available,
         default=True)
register("lstm_sequence_backward", "numba", lstm_backward_numba, available=numba_available,
         default=True)
register("gru_sequence_forward", "numba", gru_forward_numba, available=numba_available,
         default=True)
register("gru_sequence_backward", "numba", gru_backward_numba, available=numba_available,
         default=True)
