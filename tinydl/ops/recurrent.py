"""Fused recurrences: ``LSTMSequence`` and ``GRUSequence``, one Function per layer direction.

Each takes ``projected``, the input's share of the gate pre-activations (x @ W_ih^T + b, for
ALL time steps), with PyTorch's gate layouts: LSTM rows [i, f, g, o], GRU rows [r, z, n]
(the formulas are in ``tinydl.functional.recurrent``, whose composed steps are the readable
reference). The forward loops over time on arrays (one (B, H) @ (H, G*H) matmul per step);
the backward is backpropagation through time written by hand, with the weight gradient as ONE
matmul over all steps. Both are kernels: the array versions here (``lstm_forward_reference``
and the like) are the NumPy references, and tinydl/kernels/recurrent.py registers faster
Numba versions. The backward formulas use only + - * @ and concatenation, so the same code
also runs on Tensors when backward itself is recorded (create_graph=True): the fused version
is differentiable twice as well.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tinydl.autograd import Context, Function, is_grad_enabled
from tinydl.backend import backend_of, get_array_module
from tinydl.kernels import registry
from tinydl.ops.nn import sigmoid, tanh
from tinydl.ops.shape import chunk, concatenate, stack
from tinydl.tensor import Tensor


def _as_tensor(array: Any) -> Tensor:
    return Tensor(array, dtype=array.dtype)


def _sigmoid(xp: Any, a: Any) -> Any:
    return (xp.tanh(a * 0.5) + 1) * 0.5  # never overflows, unlike 1 / (1 + exp(-a))


def _sizes(projected: Any, gates: int) -> tuple[Any, int, int, int]:
    """The array module and (T, B, H) of projected (T, B, gates*H)."""
    length, batch, rows = projected.shape
    return get_array_module(projected), length, batch, rows // gates


def time_order(length: int, reverse: bool) -> range:
    """The steps in the order they run: 0..T-1, or T-1..0 for the reverse direction."""
    return range(length - 1, -1, -1) if reverse else range(length)


def _previous_states(states: Any, initial: Any, reverse: bool, cat: Callable) -> Any:
    """The state each step started from: (T, B, H) from the step outputs and the initial."""
    if reverse:  # step t started from step t + 1's state
        return cat([states[1:], initial[None]], axis=0)
    return cat([initial[None], states[:-1]], axis=0)


# ---------------------------------------------------------------------------------------------
# Composed steps (tinydl ops; the reference)
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# Backward formulas shared by the array and the Tensor paths
# ---------------------------------------------------------------------------------------------


def _lstm_step_backward(i, f, g, o, c_prev, tanh_c, dh, dc, cat):
    """d(gates) (B, 4H) and d(c_prev) (B, H) of one LSTM step, from its activations."""
    dc = dc + dh * o * (1 - tanh_c * tanh_c)              # c' reaches the loss via h' too
    d_gates = cat([dc * g * i * (1 - i),                  # i = sigmoid(.): s' = s (1 - s)
                   dc * c_prev * f * (1 - f),             # f
                   dc * i * (1 - g * g),                  # g = tanh(.): t' = 1 - t^2
                   dh * tanh_c * o * (1 - o)], axis=-1)   # o
    return d_gates, dc * f


def _gru_step_backward(r, z, n, gh_n, h_prev, dh, cat):
    """d(gi) (B, 3H), d(gh) (B, 3H) and the direct d(h_prev) (B, H) of one GRU step."""
    dn = dh * (1 - z) * (1 - n * n)                       # through n = tanh(.)
    dr = dn * gh_n * r * (1 - r)
    dz = dh * (h_prev - n) * z * (1 - z)
    return cat([dr, dz, dn], axis=-1), cat([dr, dz, dn * r], axis=-1), dh * z


def _lstm_bptt(acts: dict, c_prev: dict, tanh_c: dict, h_prev_all: Any, d_hs: Any, d_c: Any,
               w_hh: Any, order: range, cat: Callable, stack_fn: Callable) -> tuple:
    """Backpropagation through time for an LSTM direction (arrays or Tensors alike).

    acts[t] = (i, f, g, o), c_prev[t], tanh_c[t]: the activations of step t.
    Returns d(projected) (T, B, 4H), d(w_hh) (4H, H), d(h0), d(c0).
    """
    d_gates = {}
    d_h_carried = 0.0                                      # d(loss)/d(h) from later steps
    for t in reversed(order):
        d_gates[t], d_c = _lstm_step_backward(*acts[t], c_prev[t], tanh_c[t],
                                              d_hs[t] + d_h_carried, d_c, cat)
        d_h_carried = d_gates[t] @ w_hh                    # (B, 4H) @ (4H, H)
    d_projected = stack_fn([d_gates[t] for t in range(len(order))], axis=0)  # (T, B, 4H)
    length, batch, rows = d_projected.shape
    d_w_hh = (d_projected.reshape(length * batch, rows).swapaxes(0, 1)
              @ h_prev_all.reshape(length * batch, -1))    # all steps in one (4H, T*B) @ (T*B, H)
    return d_projected, d_w_hh, d_h_carried, d_c


def _gru_bptt(acts: dict, h_prev_all: Any, d_hs: Any, w_hh: Any, order: range,
              cat: Callable, stack_fn: Callable) -> tuple:
    """Backpropagation through time for a GRU direction (arrays or Tensors alike).

    acts[t] = (r, z, n, gh_n) of step t. Returns d(projected) (T, B, 3H), d(w_hh) (3H, H),
    d(b_hh) (3H,), d(h0).
    """
    d_gi, d_gh = {}, {}
    d_h_carried = 0.0
    for t in reversed(order):
        d_gi[t], d_gh[t], d_h_direct = _gru_step_backward(*acts[t], h_prev_all[t],
                                                          d_hs[t] + d_h_carried, cat)
        d_h_carried = d_h_direct + d_gh[t] @ w_hh          # (B, 3H) @ (3H, H)
    d_projected = stack_fn([d_gi[t] for t in range(len(order))], axis=0)      # (T, B, 3H)
    d_gh_all = stack_fn([d_gh[t] for t in range(len(order))], axis=0)         # (T, B, 3H)
    length, batch, rows = d_gh_all.shape
    d_gh_flat = d_gh_all.reshape(length * batch, rows)
    d_w_hh = d_gh_flat.swapaxes(0, 1) @ h_prev_all.reshape(length * batch, -1)
    return d_projected, d_w_hh, d_gh_flat.sum(0), d_h_carried


# ---------------------------------------------------------------------------------------------
# The array recurrences: NumPy references of the kernels (faster versions: tinydl/kernels)
# ---------------------------------------------------------------------------------------------


def lstm_forward_reference(projected: Any, w_hh: Any, h0: Any, c0: Any,
                           reverse: bool = False) -> tuple:
    """The LSTM recurrence on arrays. projected (T, B, 4H), w_hh (4H, H), h0 and c0 (B, H)
    -> acts (T, B, 4H) (the gates i, f, g, o of every step), cs, tanh_cs, hs (T, B, H)."""
    xp, length, batch, size = _sizes(projected, 4)
    w_hh_t = w_hh.T                                            # (H, 4H)
    acts = xp.empty_like(projected)                            # i, f, g, o at every step
    cs = xp.empty((length, batch, size), dtype=projected.dtype)
    tanh_cs, hs = xp.empty_like(cs), xp.empty_like(cs)
    h, c = h0, c0
    for t in time_order(length, reverse):
        gates = projected[t] + h @ w_hh_t                      # (B, 4H)
        act = _sigmoid(xp, gates)
        act[:, 2 * size:3 * size] = xp.tanh(gates[:, 2 * size:3 * size])  # g uses tanh
        i, f, g, o = xp.split(act, 4, axis=-1)
        c = f * c + i * g
        tanh_c = xp.tanh(c)
        h = o * tanh_c
        acts[t], cs[t], tanh_cs[t], hs[t] = act, c, tanh_c, h
    return acts, cs, tanh_cs, hs


def lstm_backward_reference(acts: Any, cs: Any, tanh_cs: Any, hs: Any, w_hh: Any, h0: Any,
                            c0: Any, grad_hs: Any, grad_c: Any, reverse: bool = False) -> tuple:
    """Backpropagation through time on arrays, from ``lstm_forward_reference``'s results.
    w_hh (4H, H), h0, c0 (B, H), grad_hs (T, B, H), grad_c (B, H) -> d(projected)
    (T, B, 4H), d(w_hh) (4H, H), d(h0), d(c0) (B, H)."""
    xp = get_array_module(acts)
    order = time_order(acts.shape[0], reverse)
    c_prev_all = _previous_states(cs, c0, reverse, xp.concatenate)
    h_prev_all = _previous_states(hs, h0, reverse, xp.concatenate)
    step_acts = {t: xp.split(acts[t], 4, axis=-1) for t in order}
    return _lstm_bptt(step_acts, c_prev_all, tanh_cs, h_prev_all, grad_hs, grad_c, w_hh, order,
                      xp.concatenate, xp.stack)


registry.register("lstm_sequence_forward", "numpy", lstm_forward_reference)
registry.register("lstm_sequence_backward", "numpy", lstm_backward_reference)


def gru_forward_reference(projected: Any, w_hh: Any, b_hh: Any, h0: Any,
                          reverse: bool = False) -> tuple:
    """The GRU recurrence on arrays. projected (T, B, 3H), w_hh (3H, H), b_hh (3H,), h0 (B, H)
    -> rz (T, B, 2H) (the gates r, z of every step), n, gh_n (h @ W_hn^T + b_hn), hs (T, B, H)."""
    xp, length, batch, size = _sizes(projected, 3)
    w_hh_t = w_hh.T                                            # (H, 3H)
    rz_all = xp.empty((length, batch, 2 * size), dtype=projected.dtype)
    n_all = xp.empty((length, batch, size), dtype=projected.dtype)
    gh_n_all, hs = xp.empty_like(n_all), xp.empty_like(n_all)
    h = h0
    for t in time_order(length, reverse):
        gi = projected[t]
        gh = h @ w_hh_t + b_hh                                 # (B, 3H)
        rz = _sigmoid(xp, gi[:, :2 * size] + gh[:, :2 * size])
        r, z = rz[:, :size], rz[:, size:]
        gh_n = gh[:, 2 * size:]
        n = xp.tanh(gi[:, 2 * size:] + r * gh_n)
        h = n + z * (h - n)
        rz_all[t], n_all[t], gh_n_all[t], hs[t] = rz, n, gh_n, h
    return rz_all, n_all, gh_n_all, hs


def gru_backward_reference(rz_all: Any, n_all: Any, gh_n_all: Any, hs: Any, w_hh: Any, h0: Any,
                           grad_hs: Any, reverse: bool = False) -> tuple:
    """Backpropagation through time on arrays, from ``gru_forward_reference``'s results.
    w_hh (3H, H), h0 (B, H), grad_hs (T, B, H) -> d(projected) (T, B, 3H), d(w_hh) (3H, H),
    d(b_hh) (3H,), d(h0) (B, H)."""
    xp = get_array_module(rz_all)
    order = time_order(rz_all.shape[0], reverse)
    acts = {t: tuple(xp.split(rz_all[t], 2, axis=-1)) + (n_all[t], gh_n_all[t]) for t in order}
    h_prev_all = _previous_states(hs, h0, reverse, xp.concatenate)
    return _gru_bptt(acts, h_prev_all, grad_hs, w_hh, order, xp.concatenate, xp.stack)


registry.register("gru_sequence_forward", "numpy", gru_forward_reference)
registry.register("gru_sequence_backward", "numpy", gru_backward_reference)


def _kernel(op_name: str, array: Any) -> Callable:
    """The registry's kernel for the array's device; the reference for dtypes other than
    float32 and float64 (the ones the Numba kernels take)."""
    if array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        return registry.implementations(op_name)["numpy"]
    return registry.get(op_name, backend_of(array).device_type)


# ---------------------------------------------------------------------------------------------
# Fused sequences
# ---------------------------------------------------------------------------------------------


class LSTMSequence(Function):
    """A whole LSTM layer direction: projected (T, B, 4H) (x @ W_ih^T + b_ih + b_hh),
    w_hh (4H, H), h0 and c0 (B, H) -> (hs (T, B, H), c_T (B, H)). ``reverse`` runs backward
    in time (the second direction of a bidirectional layer)."""

    @staticmethod
    def forward(ctx: Context, projected: Any, w_hh: Any, h0: Any, c0: Any,
                reverse: bool = False) -> tuple:
        acts, cs, tanh_cs, hs = _kernel("lstm_sequence_forward", projected)(
            projected, w_hh, h0, c0, reverse)
        ctx.save_for_backward(acts, cs, tanh_cs, hs)
        return hs, cs[0 if reverse else -1].copy()

    @staticmethod
    def backward(ctx: Context, grad_hs: Tensor, grad_c: Tensor) -> tuple:
        projected, w_hh, h0, c0 = ctx.inputs
        reverse = ctx.params["reverse"]
        order = time_order(projected.shape[0], reverse)
        if is_grad_enabled():  # backward is being recorded: redo the steps in tinydl ops
            acts, c_prev, tanh_c, hs = {}, {}, {}, {}
            h, c = h0, c0
            w_hh_t = w_hh.swapaxes(0, 1)
            for t in order:
                i, f, g, o = chunk(projected[t] + h @ w_hh_t, 4, axis=-1)
                acts[t] = (sigmoid(i), sigmoid(f), tanh(g), sigmoid(o))
                c_prev[t] = c
                c = acts[t][1] * c + acts[t][0] * acts[t][2]
                tanh_c[t] = tanh(c)
                h = hs[t] = acts[t][3] * tanh_c[t]
            hs_all = stack([hs[t] for t in range(len(order))], axis=0)
            h_prev_all = _previous_states(hs_all, h0, reverse, concatenate)
            return _lstm_bptt(acts, c_prev, tanh_c, h_prev_all, grad_hs, grad_c, w_hh, order,
                              concatenate, stack)
        grads = _kernel("lstm_sequence_backward", projected.data)(
            *ctx.saved_values, w_hh.data, h0.data, c0.data, grad_hs.data, grad_c.data, reverse)
        return tuple(_as_tensor(g) for g in grads)


class GRUSequence(Function):
    """A whole GRU layer direction: projected (T, B, 3H) (x @ W_ih^T + b_ih), w_hh (3H, H),
    b_hh (3H,), h0 (B, H) -> hs (T, B, H). ``reverse`` runs backward in time."""

    @staticmethod
    def forward(ctx: Context, projected: Any, w_hh: Any, b_hh: Any, h0: Any,
                reverse: bool = False) -> Any:
        rz_all, n_all, gh_n_all, hs = _kernel("gru_sequence_forward", projected)(
            projected, w_hh, b_hh, h0, reverse)
        ctx.save_for_backward(rz_all, n_all, gh_n_all, hs)
        return hs

    @staticmethod
    def backward(ctx: Context, grad_hs: Tensor) -> tuple:
        projected, w_hh, b_hh, h0 = ctx.inputs
        reverse = ctx.params["reverse"]
        order = time_order(projected.shape[0], reverse)
        if is_grad_enabled():  # backward is being recorded: redo the steps in tinydl ops
            acts, hs = {}, {}
            h = h0
            w_hh_t = w_hh.swapaxes(0, 1)
            for t in order:
                gi_r, gi_z, gi_n = chunk(projected[t], 3, axis=-1)
                gh_r, gh_z, gh_n = chunk(h @ w_hh_t + b_hh, 3, axis=-1)
                r, z = sigmoid(gi_r + gh_r), sigmoid(gi_z + gh_z)
                n = tanh(gi_n + r * gh_n)
                acts[t] = (r, z, n, gh_n)
                h = hs[t] = n + z * (h - n)
            hs_all = stack([hs[t] for t in range(len(order))], axis=0)
            h_prev_all = _previous_states(hs_all, h0, reverse, concatenate)
            d_projected, d_w_hh, d_b_hh, d_h0 = _gru_bptt(acts, h_prev_all, grad_hs, w_hh,
                                                          order, concatenate, stack)
            return d_projected, d_w_hh, d_b_hh, d_h0
        grads = _kernel("gru_sequence_backward", projected.data)(
            *ctx.saved_values, w_hh.data, h0.data, grad_hs.data, reverse)
        return tuple(_as_tensor(g) for g in grads)
