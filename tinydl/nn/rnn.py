"""Recurrent layers: RNN, LSTM, GRU (whole sequences) and RNNCell, LSTMCell, GRUCell (one step).

Parameter names, shapes and gate layouts are PyTorch's, so a torch state dict loads as is:
  weight_ih_l{k}  (G*H, input of layer k)    weight_hh_l{k}  (G*H, H)
  bias_ih_l{k}    (G*H,)                     bias_hh_l{k}    (G*H,)
with G = 1 (RNN), 4 (LSTM rows i, f, g, o) or 3 (GRU rows r, z, n), and the suffix
"_reverse" for the backward direction of a bidirectional layer. Every parameter starts
U(-1/sqrt(H), 1/sqrt(H)), as in PyTorch.

How a layer runs a sequence: the input projection x @ W_ih^T + b for ALL time steps is one
matmul; then the recurrence (tinydl.functional.recurrent) does one (B, H) @ (H, G*H) matmul
per step, fused into one graph node per layer direction for LSTM and GRU.
"""
from __future__ import annotations

import math
from typing import Any

import numpy

from tinydl import functional as F
from tinydl.errors import ShapeError
from tinydl.functional.recurrent import rnn_step_composed
from tinydl.nn import init
from tinydl.nn.module import Module, Parameter
from tinydl.ops.common import as_tensor
from tinydl.ops.shape import concatenate, stack
from tinydl.tensor import Tensor

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _new_weight(shape: tuple, hidden_size: int, dtype: Any) -> Parameter:
    weight = Parameter(numpy.zeros(shape), dtype=dtype)
    bound = 1.0 / math.sqrt(hidden_size)
    return init.uniform_(weight, -bound, bound)


# ---------------------------------------------------------------------------------------------
# Whole-sequence layers
# ---------------------------------------------------------------------------------------------


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (see their docstrings)."""

    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: Any = None):
        super().__init__()
        name = type(self).__name__
        if input_size <= 0 or hidden_size <= 0 or num_layers <= 0:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be positive, "
                             f"got {input_size}, {hidden_size}, {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        dtype = numpy.float32 if dtype is None else dtype
        rows = _GATES[self.mode] * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes():
                name_end = f"_l{layer}{suffix}"
                setattr(self, "weight_ih" + name_end,
                        _new_weight((rows, layer_input), hidden_size, dtype))
                setattr(self, "weight_hh" + name_end,
                        _new_weight((rows, hidden_size), hidden_size, dtype))
                if bias:
                    setattr(self, "bias_ih" + name_end, _new_weight((rows,), hidden_size, dtype))
                    setattr(self, "bias_hh" + name_end, _new_weight((rows,), hidden_size, dtype))

    def _suffixes(self) -> tuple:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _weights(self, layer: int, suffix: str) -> tuple:
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction (biases may be None)."""
        end = f"_l{layer}{suffix}"
        weights = (getattr(self, "weight_ih" + end), getattr(self, "weight_hh" + end))
        if not self.bias:
            return weights + (None, None)
        return weights + (getattr(self, "bias_ih" + end), getattr(self, "bias_hh" + end))

    # ---- shapes --------------------------------------------------------------------------------
    def _time_major(self, x: Tensor) -> tuple[Tensor, bool]:
        """The input as (T, B, input_size), and whether it came unbatched."""
        name = type(self).__name__
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
            raise ShapeError(f"{name}: input must be {layout} (or unbatched (T, input_size)) with "
                             f"input_size {self.input_size}, got shape {x.shape}")
        if x.ndim == 2:
            return x.unsqueeze(1), True                              # (T, 1, input_size)
        return (x.swapaxes(0, 1) if self.batch_first else x), False  # (T, B, input_size)

    def _initial_state(self, state: Any, batch: int, like: Tensor, unbatched: bool,
                       what: str) -> Tensor:
        expected = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if state is None:
            return Tensor(like.xp.zeros(expected, dtype=like.dtype))
        state = as_tensor(state)
        if unbatched and state.ndim == 2:
            state = state.unsqueeze(1)                               # (L*D, H) -> (L*D, 1, H)
        if state.shape != expected:
            raise ShapeError(f"{type(self).__name__}: initial {what} must have shape "
                             f"(num_layers * num_directions, batch, hidden_size) = {expected}, "
                             f"got {tuple(state.shape)}")
        return state

    # ---- running -------------------------------------------------------------------------------
    def _run_direction(self, x: Tensor, state: tuple, weights: tuple, reverse: bool) -> tuple:
        """One layer, one direction. x (T, B, in) -> outputs (T, B, H) and the final state."""
        w_ih, w_hh, b_ih, b_hh = weights
        length, batch = x.shape[0], x.shape[1]
        bias = b_ih
        if self.mode != "GRU" and b_ih is not None:
            bias = b_ih + b_hh  # both biases enter before the nonlinearity: fold them once
        # the input projection for every step in one matmul: (T*B, in) @ (in, G*H)
        projected = F.linear(x.reshape(length * batch, -1), w_ih, bias)
        projected = projected.reshape(length, batch, -1)             # (T, B, G*H)
        if self.mode == "LSTM":
            out, h, c = F.lstm_sequence(projected, w_hh, state[0], state[1], reverse)
            return out, (h, c)
        if self.mode == "GRU":
            out, h = F.gru_sequence(projected, w_hh, b_hh, state[0], reverse)
        else:
            nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
            out, h = F.rnn_sequence(projected, w_hh, state[0], nonlinearity, reverse)
        return out, (h,)

    def _run(self, x: Tensor, initial: tuple) -> tuple[Tensor, tuple]:
        """All layers and directions. x (T, B, in); initial: per state (L*D, B, H) tensors."""
        finals: list = []
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                index = layer * self.num_directions + direction
                state = tuple(s[index] for s in initial)
                out, final = self._run_direction(x, state, self._weights(layer, suffix),
                                                 reverse=direction == 1)
                outputs.append(out)
                finals.append(final)
            x = outputs[0] if len(outputs) == 1 else concatenate(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        final_states = tuple(stack([f[k] for f in finals], axis=0) for k in range(len(initial)))
        return x, final_states                                       # (T, B, D*H), (L*D, B, H)

    def _output(self, out: Tensor, states: tuple, unbatched: bool) -> tuple[Tensor, tuple]:
        if unbatched:
            return out.squeeze(1), tuple(s.squeeze(1) for s in states)
        return (out.swapaxes(0, 1) if self.batch_first else out), states

    def forward(self, x: Tensor, h0: Any = None) -> tuple[Tensor, Tensor]:
        """(input, h0) -> (output, h_n), for RNN and GRU (LSTM carries (h0, c0) instead)."""
        x, unbatched = self._time_major(as_tensor(x))
        h0 = self._initial_state(h0, x.shape[1], x, unbatched, "hidden state h0")
        out, (h_n,) = self._run(x, (h0,))
        out, (h_n,) = self._output(out, (h_n,), unbatched)
        return out, h_n

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), stacked.

    Shapes: input (T, B, input_size) [(B, T, ...) with batch_first, or unbatched (T, ...)],
    h0 (num_layers * num_directions, B, hidden_size) or None (zeros)
    -> output (T, B, num_directions * hidden_size) (top layer, every step), h_n like h0.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype: Any = None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        # the mode decides the parameter shapes, so it is set before RNNBase creates them
        object.__setattr__(self, "mode", "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), PyTorch's formulation.

    Shapes: input as for RNN; hx = (h0, c0), each (num_layers * num_directions, B, H), or None
    -> output (T, B, num_directions * H), (h_n, c_n).
    """

    mode = "LSTM"

    def forward(self, x: Tensor, hx: Any = None) -> tuple[Tensor, tuple]:
        x, unbatched = self._time_major(as_tensor(x))
        h0, c0 = (None, None) if hx is None else hx
        h0 = self._initial_state(h0, x.shape[1], x, unbatched, "hidden state h0")
        c0 = self._initial_state(c0, x.shape[1], x, unbatched, "cell state c0")
        out, states = self._run(x, (h0, c0))
        out, states = self._output(out, states, unbatched)
        return out, states


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al., 2014), PyTorch's formulation (r applied to W_hn h + b_hn).

    Shapes: as for RNN: (input, h0) -> (output, h_n).
    """

    mode = "GRU"


# ---------------------------------------------------------------------------------------------
# Single-step cells
# ---------------------------------------------------------------------------------------------


class _CellBase(Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        dtype = numpy.float32 if dtype is None else dtype
        rows = self.gates * hidden_size
        self.weight_ih = _new_weight((rows, input_size), hidden_size, dtype)
        self.weight_hh = _new_weight((rows, hidden_size), hidden_size, dtype)
        if bias:
            self.bias_ih = _new_weight((rows,), hidden_size, dtype)
            self.bias_hh = _new_weight((rows,), hidden_size, dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def _batched(self, x: Tensor) -> tuple[Tensor, bool]:
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{type(self).__name__}: input must be (B, input_size) or "
                             f"(input_size,) with input_size {self.input_size}, got {x.shape}")
        return (x.unsqueeze(0), True) if x.ndim == 1 else (x, False)

    def _state(self, state: Any, batch: int, like: Tensor, unbatched: bool, what: str) -> Tensor:
        if state is None:
            return Tensor(like.xp.zeros((batch, self.hidden_size), dtype=like.dtype))
        state = as_tensor(state)
        if unbatched and state.ndim == 1:
            state = state.unsqueeze(0)
        if state.shape != (batch, self.hidden_size):
            raise ShapeError(f"{type(self).__name__}: {what} must have shape (batch, hidden_size)"
                             f" = {(batch, self.hidden_size)}, got {tuple(state.shape)}")
        return state

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """One Elman RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    Shapes: x (B, input_size) or (input_size,), h (B, hidden_size) or None -> h'.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: Any = None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x: Tensor, h: Any = None) -> Tensor:
        x, unbatched = self._batched(as_tensor(x))
        h = self._state(h, x.shape[0], x, unbatched, "h")
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        h_new = rnn_step_composed(gi, h, self.weight_hh.swapaxes(0, 1), self.bias_hh,
                                  self.nonlinearity)
        return h_new.squeeze(0) if unbatched else h_new


class LSTMCell(_CellBase):
    """One LSTM step. Shapes: x (B, input_size), hx = (h, c) each (B, hidden_size) or None
    -> (h', c'). Gate rows of the weights: i, f, g, o."""

    gates = 4

    def forward(self, x: Tensor, hx: Any = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._batched(as_tensor(x))
        h, c = (None, None) if hx is None else hx
        h = self._state(h, x.shape[0], x, unbatched, "h")
        c = self._state(c, x.shape[0], x, unbatched, "c")
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        gi = F.linear(x, self.weight_ih, bias).unsqueeze(0)           # (1, B, 4H): one step
        _, h_new, c_new = F.lstm_sequence(gi, self.weight_hh, h, c)
        return (h_new.squeeze(0), c_new.squeeze(0)) if unbatched else (h_new, c_new)


class GRUCell(_CellBase):
    """One GRU step. Shapes: x (B, input_size), h (B, hidden_size) or None -> h'.
    Gate rows of the weights: r, z, n."""

    gates = 3

    def forward(self, x: Tensor, h: Any = None) -> Tensor:
        x, unbatched = self._batched(as_tensor(x))
        h = self._state(h, x.shape[0], x, unbatched, "h")
        gi = F.linear(x, self.weight_ih, self.bias_ih).unsqueeze(0)   # (1, B, 3H): one step
        _, h_new = F.gru_sequence(gi, self.weight_hh, self.bias_hh, h)
        return h_new.squeeze(0) if unbatched else h_new
