"""The recurrences of RNN, LSTM and GRU layers: composed step by step, and fused.

Every function here takes ``projected``, the input's share of the gate pre-activations,
x @ W_ih^T + b, already computed for ALL time steps by one matmul in the layer. Gate layouts
are PyTorch's: LSTM rows [i, f, g, o], GRU rows [r, z, n].

    LSTM  gates = gi_t + h @ W_hh^T        (gi_t holds b_ih + b_hh)
          i, f, o = sigmoid(...), g = tanh(...);  c' = f * c + i * g;  h' = o * tanh(c')
    GRU   gh = h @ W_hh^T + b_hh;  r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z)
          n = tanh(gi_n + r * gh_n);  h' = (1 - z) * n + z * h
    RNN   h' = tanh(gi_t + h @ W_hh^T)   (or relu)

Two versions of the LSTM and GRU recurrences:

* composed (``*_step_composed`` in a Python loop): tinydl ops only, the readable reference.
  Each step records about a dozen graph nodes.
* fused (``LSTMSequence``, ``GRUSequence`` in ``tinydl.ops.recurrent``): one Function for a whole layer direction. Its
  forward loops over time on arrays (one (B, H) @ (H, G*H) matmul per step); its backward is
  backpropagation through time written by hand, with the weight gradient as ONE matmul over
  all steps. The backward formulas use only + - * @ and concatenation, so the same code also
  runs on Tensors when backward itself is recorded (create_graph=True): the fused version is
  differentiable twice as well.

The fused version is the default; TINYDL_KERNELS=numpy selects the composed one (for
teaching and comparison).
"""
from __future__ import annotations

import os

from tinydl.ops.nn import relu, sigmoid, tanh
from tinydl.ops.recurrent import GRUSequence, LSTMSequence, time_order
from tinydl.ops.shape import chunk, stack
from tinydl.tensor import Tensor

__all__ = ["lstm_sequence", "gru_sequence", "rnn_sequence", "rnn_step_composed",
           "lstm_step_composed", "gru_step_composed"]


def use_fused() -> bool:
    """False when TINYDL_KERNELS=numpy asks for the composed reference ops."""
    return os.environ.get("TINYDL_KERNELS", "").lower() != "numpy"



# ---------------------------------------------------------------------------------------------
# Composed steps (tinydl ops; the reference)
# ---------------------------------------------------------------------------------------------


def rnn_step_composed(gi: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None,
                      nonlinearity: str = "tanh") -> Tensor:
    """Elman RNN step. Shapes: gi (B, H), h (B, H), w_hh_t (H, H) = W_hh^T -> h' (B, H)."""
    pre = gi + h @ w_hh_t
    if b_hh is not None:
        pre = pre + b_hh
    return tanh(pre) if nonlinearity == "tanh" else relu(pre)


def lstm_step_composed(gi: Tensor, h: Tensor, c: Tensor, w_hh_t: Tensor) -> tuple:
    """LSTM step. Shapes: gi (B, 4H) holding both biases, h and c (B, H), w_hh_t (H, 4H)
    -> (h', c')."""
    i, f, g, o = chunk(gi + h @ w_hh_t, 4, axis=-1)  # PyTorch's gate order
    c_new = sigmoid(f) * c + sigmoid(i) * tanh(g)
    return sigmoid(o) * tanh(c_new), c_new


def gru_step_composed(gi: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """GRU step. Shapes: gi (B, 3H) holding b_ih, h (B, H), w_hh_t (H, 3H) -> h' (B, H)."""
    gh = h @ w_hh_t
    if b_hh is not None:
        gh = gh + b_hh
    gi_r, gi_z, gi_n = chunk(gi, 3, axis=-1)
    gh_r, gh_z, gh_n = chunk(gh, 3, axis=-1)
    r, z = sigmoid(gi_r + gh_r), sigmoid(gi_z + gh_z)
    n = tanh(gi_n + r * gh_n)
    return (1.0 - z) * n + z * h


# ---------------------------------------------------------------------------------------------
# The functions layers call
# ---------------------------------------------------------------------------------------------


def lstm_sequence(projected: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor,
                  reverse: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Run an LSTM direction. Shapes: projected (T, B, 4H) = x @ W_ih^T + b_ih + b_hh,
    w_hh (4H, H), h0 and c0 (B, H) -> outputs (T, B, H), h_T (B, H), c_T (B, H)."""
    last = 0 if reverse else projected.shape[0] - 1
    if use_fused():
        hs, c = LSTMSequence.apply(projected, w_hh, h0, c0, reverse=reverse)
        return hs, hs[last], c
    w_hh_t = w_hh.swapaxes(0, 1)                               # (H, 4H)
    outputs: dict = {}
    h, c = h0, c0
    for t in time_order(projected.shape[0], reverse):
        h, c = lstm_step_composed(projected[t], h, c, w_hh_t)
        outputs[t] = h
    return stack([outputs[t] for t in range(len(outputs))], axis=0), h, c


def gru_sequence(projected: Tensor, w_hh: Tensor, b_hh: Tensor | None, h0: Tensor,
                 reverse: bool = False) -> tuple[Tensor, Tensor]:
    """Run a GRU direction. Shapes: projected (T, B, 3H) = x @ W_ih^T + b_ih, w_hh (3H, H),
    b_hh (3H,) or None, h0 (B, H) -> outputs (T, B, H), h_T (B, H)."""
    last = 0 if reverse else projected.shape[0] - 1
    if use_fused():
        if b_hh is None:
            b_hh = Tensor(h0.xp.zeros(w_hh.shape[0], dtype=h0.dtype))
        hs = GRUSequence.apply(projected, w_hh, b_hh, h0, reverse=reverse)
        return hs, hs[last]
    w_hh_t = w_hh.swapaxes(0, 1)                               # (H, 3H)
    outputs: dict = {}
    h = h0
    for t in time_order(projected.shape[0], reverse):
        h = outputs[t] = gru_step_composed(projected[t], h, w_hh_t, b_hh)
    return stack([outputs[t] for t in range(len(outputs))], axis=0), h


def rnn_sequence(projected: Tensor, w_hh: Tensor, h0: Tensor, nonlinearity: str = "tanh",
                 reverse: bool = False) -> tuple[Tensor, Tensor]:
    """Run an Elman RNN direction (three ops a step, composed). Shapes: projected (T, B, H)
    = x @ W_ih^T + b_ih + b_hh, w_hh (H, H), h0 (B, H) -> outputs (T, B, H), h_T (B, H)."""
    w_hh_t = w_hh.swapaxes(0, 1)                               # (H, H)
    outputs: dict = {}
    h = h0
    for t in time_order(projected.shape[0], reverse):
        h = outputs[t] = rnn_step_composed(projected[t], h, w_hh_t, None, nonlinearity)
    return stack([outputs[t] for t in range(len(outputs))], axis=0), h
