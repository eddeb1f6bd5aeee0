"""Transformer blocks (Vaswani et al., 2017) with PyTorch's names, and positional encodings.

An encoder layer is self-attention then a position-wise feed-forward network (FFN), each
wrapped as a residual with LayerNorm:

    post-norm (norm_first=False, the paper):  x = norm1(x + SA(x));  x = norm2(x + FFN(x))
    pre-norm  (norm_first=True, GPT-2 style): x = x + SA(norm1(x));  x = x + FFN(norm2(x))

    FFN(x) = linear2(dropout(activation(linear1(x))))   d_model -> dim_feedforward -> d_model

A decoder layer adds cross-attention to the encoder's output ("memory") between the two.
Submodule names (self_attn, multihead_attn, linear1, linear2, norm1..3, layers.N) are
PyTorch's, so a torch state dict loads as is.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy

from tinydl import functional as F
from tinydl.errors import ShapeError
from tinydl.nn import init
from tinydl.nn.activation import Dropout
from tinydl.nn.attention import MultiheadAttention
from tinydl.nn.container import ModuleList
from tinydl.nn.linear import Linear
from tinydl.nn.module import Module, Parameter
from tinydl.nn.normalization_layer import LayerNorm
from tinydl.ops.common import as_tensor
from tinydl.tensor import Tensor


def _activation(activation: str | Callable) -> Callable:
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"Transformer layer: activation must be 'relu', 'gelu' or a function, got "
                     f"{activation!r}")


class _TransformerLayer(Module):
    """What both layer kinds share: the constructor (PyTorch's signature), self-attention, the
    FFN, and one LayerNorm and one Dropout per residual block (2 in an encoder layer, 3 in a
    decoder layer, which also has cross-attention to the encoder's output)."""

    cross_attention = False  # True in TransformerDecoderLayer

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Callable = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, dtype: Any = None):
        super().__init__()
        # submodules in PyTorch's order, so state_dict() lists them as torch does
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        if self.cross_attention:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                     batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.activation = _activation(activation)
        self.norm_first = norm_first
        blocks = 3 if self.cross_attention else 2
        for i in range(1, blocks + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for i in range(1, blocks + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any,
                  is_causal: bool) -> Tensor:
        out, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _ff_block(self, x: Tensor, dropout: Dropout) -> Tensor:
        return dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention + FFN, each residual with LayerNorm (post-norm, or pre-norm with
    norm_first=True).

    Shapes: src (T, B, d_model), or (B, T, d_model) with batch_first=True -> same.
    """

    def forward(self, src: Tensor, src_mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        """src_mask (T, T): bool True = may NOT attend, or float added; src_key_padding_mask
        (B, T): True marks padding; is_causal: each position sees only itself and earlier."""
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x), self.dropout2)
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x, self.dropout2))


class TransformerDecoderLayer(_TransformerLayer):
    """Masked self-attention, cross-attention to ``memory``, FFN; each residual with LayerNorm.

    Shapes: tgt (T, B, d_model), memory (S, B, d_model) (batch first with batch_first=True)
    -> like tgt.
    """

    cross_attention = True

    def _mha_block(self, x: Tensor, memory: Tensor, attn_mask: Any, key_padding_mask: Any,
                   is_causal: bool) -> Tensor:
        out, _ = self.multihead_attn(x, memory, memory, attn_mask=attn_mask,
                                     key_padding_mask=key_padding_mask, need_weights=False,
                                     is_causal=is_causal)
        return self.dropout2(out)

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        """Masks as in TransformerEncoderLayer; tgt_* apply to the self-attention over tgt,
        memory_* to the cross-attention from tgt (queries) to memory (keys)."""
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            return x + self._ff_block(self.norm3(x), self.dropout3)
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                           memory_is_causal))
        return self.norm3(x + self._ff_block(x, self.dropout3))


def _clones(layer: Module, count: int) -> ModuleList:
    if count <= 0:
        raise ValueError(f"Transformer stack: num_layers must be positive, got {count}")
    return ModuleList(copy.deepcopy(layer) for _ in range(count))


class TransformerEncoder(Module):
    """``num_layers`` independent copies of ``encoder_layer`` applied in turn, then ``norm``
    (if given; pre-norm stacks usually end with one). Shapes as the layer's."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Any = None, src_key_padding_mask: Any = None,
                is_causal: bool = False) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` applied in turn, then ``norm`` (if given)."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Any = None, memory_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                tgt_is_causal: bool = False, memory_is_causal: bool = False) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The paper's encoder-decoder: ``encoder`` (a TransformerEncoder of num_encoder_layers,
    ending with a LayerNorm) reads src into ``memory``; ``decoder`` (num_decoder_layers, also
    ending with a LayerNorm) reads tgt while attending to memory.

    Shapes: src (S, B, d_model), tgt (T, B, d_model) (batch first with batch_first=True) ->
    (T, B, d_model). Masks as in the layers; generate_square_subsequent_mask(T) gives the
    causal tgt_mask. Every weight matrix starts Xavier-uniform, as in PyTorch, and the
    submodule names are PyTorch's (encoder.layers.0.self_attn.in_proj_weight, ...).
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device: Any = None, dtype: Any = None):
        super().__init__()
        layer_options = dict(dim_feedforward=dim_feedforward, dropout=dropout,
                             activation=activation, layer_norm_eps=layer_norm_eps,
                             batch_first=batch_first, norm_first=norm_first, bias=bias,
                             dtype=dtype)
        self.encoder = custom_encoder or TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, **layer_options), num_encoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self.decoder = custom_decoder or TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, **layer_options), num_decoder_layers,
            LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        for parameter in self.parameters():
            if parameter.ndim > 1:
                init.xavier_uniform_(parameter)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        if device is not None:
            self.to(device)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Any = None, tgt_mask: Any = None,
                memory_mask: Any = None, src_key_padding_mask: Any = None,
                tgt_key_padding_mask: Any = None, memory_key_padding_mask: Any = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        batch_axis = 0 if self.batch_first else 1
        if src.ndim == 3 and tgt.ndim == 3 and src.shape[batch_axis] != tgt.shape[batch_axis]:
            raise ShapeError(f"Transformer: src {src.shape} and tgt {tgt.shape} have different "
                             f"batch sizes (dim {batch_axis}, batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ShapeError(f"Transformer: src {src.shape} and tgt {tgt.shape} must both end "
                             f"with d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=bool(src_is_causal))
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=bool(tgt_is_causal),
                            memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None,
                                        dtype: Any = None) -> Tensor:
        """(sz, sz) float mask: 0 on and below the diagonal, -inf above (no peeking ahead)."""
        return generate_square_subsequent_mask(sz, device, dtype)


def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
    """(sz, sz) additive causal mask: 0 where position j <= i may be attended, -inf after."""
    above = numpy.triu(numpy.ones((sz, sz), dtype=bool), k=1)
    mask = Tensor(numpy.where(above, -numpy.inf, 0.0), dtype=dtype or numpy.float32)
    return mask if device is None else mask.to(device)


# ---------------------------------------------------------------------------------------------
# Positional encodings
# ---------------------------------------------------------------------------------------------


def sinusoidal_table(max_len: int, d_model: int) -> numpy.ndarray:
    """The paper's encoding, (max_len, d_model) float64:
    PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))."""
    positions = numpy.arange(max_len)[:, None]                       # (max_len, 1)
    frequencies = numpy.exp(numpy.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    angles = positions * frequencies                                 # (max_len, ceil(d/2))
    table = numpy.zeros((max_len, d_model))
    table[:, 0::2] = numpy.sin(angles)
    table[:, 1::2] = numpy.cos(angles[:, :d_model // 2])
    return table


def _check_length(name: str, x: Tensor, batch_first: bool, d_model: int, max_len: int,
                  offset: int) -> int:
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ShapeError(f"{name}: input must be (B, T, {d_model}) (batch_first) or (T, B, "
                         f"{d_model}), or (T, {d_model}); got shape {x.shape}")
    length = x.shape[1] if (batch_first and x.ndim == 3) else x.shape[0]
    if offset + length > max_len:
        raise ShapeError(f"{name}: positions {offset}..{offset + length - 1} exceed max_len "
                         f"{max_len}; build it with a larger max_len")
    return length


class PositionalEncoding(Module):
    """Adds the fixed sinusoidal encoding of each position, then dropout.

    Shapes: x (B, T, d_model) with batch_first=True (default), (T, B, d_model) otherwise, or
    (T, d_model) -> same. ``offset`` shifts the positions (for generating token by token).
    Nothing here is trained, and nothing goes into the state dict.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0,
                 batch_first: bool = True):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.table = sinusoidal_table(max_len, d_model)             # host NumPy, not a buffer
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        length = _check_length("PositionalEncoding", x, self.batch_first, self.d_model,
                               self.max_len, offset)
        encoding = as_tensor(self.table[offset:offset + length], x)  # (T, d) in x's dtype/device
        if x.ndim == 3 and not self.batch_first:
            encoding = encoding.unsqueeze(1)                         # (T, 1, d)
        return self.dropout(x + encoding)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """Adds a trained vector per position (as BERT and GPT-2 do), then dropout.

    weight (max_len, d_model) starts N(0, init_std^2). Shapes as PositionalEncoding.
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0,
                 batch_first: bool = True, init_std: float = 0.02, dtype: Any = None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        dtype = numpy.float32 if dtype is None else dtype
        self.weight = Parameter(numpy.zeros((max_len, d_model)), dtype=dtype)
        init.normal_(self.weight, 0.0, init_std)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        length = _check_length("LearnedPositionalEmbedding", x, self.batch_first, self.d_model,
                               self.max_len, offset)
        encoding = self.weight[offset:offset + length]               # (T, d)
        if x.ndim == 3 and not self.batch_first:
            encoding = encoding.unsqueeze(1)                         # (T, 1, d)
        return self.dropout(x + encoding)

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"
