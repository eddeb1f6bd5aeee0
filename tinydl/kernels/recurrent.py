"""Numba versions of the fused LSTM and GRU recurrences, registered against the NumPy
references in ``tinydl/ops/recurrent.py`` (where the formulas are). The LSTM's:

    gates = projected_t + h @ W_hh^T;  i, f, o = sigmoid(.), g = tanh(.)   (rows [i, f, g, o])
    c' = f * c + i * g;  h' = o * tanh(c')

The references spend a dozen NumPy calls and as many temporaries on each step. Here a forward
step is one BLAS matmul straight into the step's slice of the saved gates, one Numba pass adding
the step's input share, NumPy's vectorised tanh (Numba's calls the scalar libm tanh, 25x
slower), one Numba pass for the rest of the cell and two NumPy calls for h'. One tanh call serves
all four gates: the i, f, o rows of W_hh are halved once, before the loop, and those of
projected as each step reads them, since sigmoid(a) = (tanh(a / 2) + 1) / 2 (halving is
exact in floating point). A backward step is one Numba pass for d(gates) and d(c) and one
matmul for d(h); the weight gradient is one (4H, T*B) @ (T*B, H) matmul after the loop. The
GRU's kernels (below) follow the same plan.

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
from tinydl.kernels.registry import register

# Exact in float32, so float32 inputs stay in float32 arithmetic and float64 inputs in float64.
_ONE, _HALF = np.float32(1), np.float32(0.5)


@jit(nogil=True)
def _lstm_add_halved_kernel(act, projected, half):
    """act (B, 4H) += projected (B, 4H) * half (4H,): h @ W_hh^T (already halved) plus this
    step's input share, both halved on the i, f, o rows (one pass instead of two NumPy calls)."""
    for b in range(act.shape[0]):
        for j in range(act.shape[1]):
            act[b, j] += projected[b, j] * half[j]


@jit(nogil=True)
def _lstm_cell_forward_kernel(act, c_prev, c):
    """act (B, 4H): tanh of the pre-activations [i/2, f/2, g, o/2], turned in place into the
    gates [i, f, g, o] (sigmoid(a) = (tanh(a/2) + 1) / 2); writes c (B, H) = f c_prev + i g.
    (Short simple loops: the compiler vectorises them, one loop doing it all it does not.)"""
    size = c.shape[1]
    for b in range(c.shape[0]):
        for j in range(2 * size):                                   # i, f
            act[b, j] = (act[b, j] + _ONE) * _HALF
        for j in range(3 * size, 4 * size):                         # o
            act[b, j] = (act[b, j] + _ONE) * _HALF
        for j in range(size):
            c[b, j] = act[b, size + j] * c_prev[b, j] + act[b, j] * act[b, 2 * size + j]


@jit(nogil=True)
def _lstm_cell_backward_kernel(act, c_prev, tanh_c, grad_h, d_h_carried, d_c, d_gates):
    """One step back: act (B, 4H) the gates [i, f, g, o]; c_prev, tanh_c, grad_h (the loss's
    gradient of this step's h), d_h_carried (from later steps) (B, H). Writes d_gates (B, 4H)
    and turns d_c (B, H), d(loss)/d(c'), into d(loss)/d(c_prev), in place."""
    size = d_c.shape[1]
    for b in range(d_c.shape[0]):
        for j in range(size):                                       # h' = o tanh(c')
            o, t = act[b, 3 * size + j], tanh_c[b, j]
            dh = grad_h[b, j] + d_h_carried[b, j]
            d_gates[b, 3 * size + j] = dh * t * o * (_ONE - o)      # sigmoid' = s (1 - s)
            d_c[b, j] = d_c[b, j] + dh * o * (_ONE - t * t)        # c' reaches the loss via h' too
        for j in range(size):                                       # c' = f c + i g
            i, g = act[b, j], act[b, 2 * size + j]
            d_gates[b, j] = d_c[b, j] * g * i * (_ONE - i)
            d_gates[b, 2 * size + j] = d_c[b, j] * i * (_ONE - g * g)  # tanh' = 1 - t^2
        for j in range(size):
            f = act[b, size + j]
            d_gates[b, size + j] = d_c[b, j] * c_prev[b, j] * f * (_ONE - f)
            d_c[b, j] = d_c[b, j] * f


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
    half = np.full(rows, 0.5, dtype=dtype)
    half[rows // 2:3 * rows // 4] = 1                          # g takes tanh of the whole
    acts = np.empty(projected.shape, dtype=dtype)              # (T, B, 4H), filled step by step
    w_half_t = np.ascontiguousarray((w_hh * half[:, None]).T)  # (H, 4H)
    cs, tanh_cs, hs = (np.empty((length, batch, rows // 4), dtype=dtype) for _ in range(3))

    def run_rows(start, stop):                                 # batch items start:stop
        _lstm_forward_rows(projected[:, start:stop], half, w_half_t, h0[start:stop],
                           c0[start:stop], acts[:, start:stop], cs[:, start:stop],
                           tanh_cs[:, start:stop], hs[:, start:stop], reverse)

    threads.over_batch_slices(run_rows, batch, acts.size)
    return acts, cs, tanh_cs, hs


def _lstm_forward_rows(projected, half, w_half_t, h0, c0, acts, cs, tanh_cs, hs, reverse):
    """The forward loop over time for some batch items, filling acts, cs, tanh_cs, hs."""
    size = cs.shape[2]
    h, c = h0, np.ascontiguousarray(c0)
    add_halved = _lstm_add_halved_kernel.compiled()           # each called once a step
    cell = _lstm_cell_forward_kernel.compiled()
    steps, _ = _steps(acts.shape[0], reverse)
    for t in steps:
        act = acts[t]
        np.matmul(h, w_half_t, out=act)                       # (B, H) @ (H, 4H)
        add_halved(act, projected[t], half)
        np.tanh(act, out=act)
        cell(act, c, cs[t])
        np.tanh(cs[t], out=tanh_cs[t])
        np.multiply(act[:, 3 * size:], tanh_cs[t], out=hs[t])
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
# h' = n + z * (h - n)   (rows [r, z, n]). Per step: one matmul, two NumPy tanh, three passes.

@jit(nogil=True)
def _gru_gates_kernel(gi, gh, b_hh, half_rz, gh_n):
    """gh (B, 3H) = h @ W_hh^T, gi (B, 3H), b_hh (3H,): writes half_rz (B, 2H), the halved
    pre-activations of r and z (for tanh), and gh_n (B, H) = gh_n + b_hn."""
    size = gh_n.shape[1]
    for b in range(gh.shape[0]):
        for j in range(2 * size):
            half_rz[b, j] = (gi[b, j] + (gh[b, j] + b_hh[j])) * _HALF
        for j in range(size):
            gh_n[b, j] = gh[b, 2 * size + j] + b_hh[2 * size + j]


@jit(nogil=True)
def _gru_candidate_kernel(gi, rz, gh_n, n):
    """rz (B, 2H): tanh of the halved pre-activations, turned in place into the gates r, z;
    writes n (B, H) = gi_n + r * gh_n, the pre-activation of the candidate."""
    size = n.shape[1]
    for b in range(n.shape[0]):
        for j in range(2 * size):
            rz[b, j] = (rz[b, j] + _ONE) * _HALF
        for j in range(size):
            n[b, j] = gi[b, 2 * size + j] + rz[b, j] * gh_n[b, j]


@jit(nogil=True)
def _gru_state_kernel(rz, n, h_prev, h):
    """h (B, H) = n + z * (h_prev - n), with z the second half of rz (B, 2H)."""
    size = h.shape[1]
    for b in range(h.shape[0]):
        for j in range(size):
            h[b, j] = n[b, j] + rz[b, size + j] * (h_prev[b, j] - n[b, j])


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
    """``gru_forward_reference`` with three Numba passes a step; same arguments and results.

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
    gates, candidate, state = (kernel.compiled() for kernel in
                               (_gru_gates_kernel, _gru_candidate_kernel, _gru_state_kernel))
    h = h0
    steps, _ = _steps(projected.shape[0], reverse)
    for t in steps:
        gi, rz, n = np.ascontiguousarray(projected[t]), rz_all[t], n_all[t]
        np.matmul(h, w_hh_t, out=gh)
        gates(gi, gh, b_hh, rz, gh_n_all[t])
        np.tanh(rz, out=rz)
        candidate(gi, rz, gh_n_all[t], n)
        np.tanh(n, out=n)
        state(rz, n, h, hs[t])
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
