"""Transformer encoder/decoder layers and stacks vs torch (float64, dropout 0, pre- and
post-norm, masks), positional encodings against the paper's formula, clear errors."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tinydl
from tinydl import nn
from tinydl.errors import ShapeError
from tinydl.testing import gradcheck

f64 = tinydl.float64


def _load(theirs, ours):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _randomize_torch(torch, module, seed):
    """Non-trivial LayerNorm and bias values, so their layouts and gradients are exercised."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5
                        + (1.0 if "norm" in name and "weight" in name else 0.0))


def _check(torch, theirs, ours, inputs, call_t, call_o, seed=0):
    """Run both on the same float64 inputs, compare outputs and all gradients."""
    ins_t = [torch.from_numpy(a).requires_grad_(True) for a in inputs]
    ins_o = [tinydl.tensor(a, dtype=f64, requires_grad=True) for a in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes about its nested-tensor fast path
        out_t = call_t(*ins_t)
    out_o = call_o(*ins_o)
    np.testing.assert_allclose(out_o.numpy(), out_t.detach().numpy(), atol=1e-10)
    w = np.random.default_rng(seed).standard_normal(tuple(out_t.shape))
    (out_t * torch.from_numpy(w)).sum().backward()
    (out_o * tinydl.tensor(w, dtype=f64)).sum().backward()
    for a, b in zip(ins_t, ins_o):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), atol=1e-10)
    their_params = dict(theirs.named_parameters())
    assert sorted(n for n, _ in ours.named_parameters()) == sorted(their_params)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(), atol=1e-10,
                                   err_msg=name)


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation, batch_first", [("relu", False), ("gelu", True)])
def test_encoder_layer_matches_torch(torch, norm_first, activation, batch_first):
    torch.manual_seed(0)
    kwargs = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, activation=activation,
                  layer_norm_eps=1e-6, batch_first=batch_first, norm_first=norm_first)
    theirs = torch.nn.TransformerEncoderLayer(**kwargs).double()
    _randomize_torch(torch, theirs, 1)
    ours = nn.TransformerEncoderLayer(**kwargs).double()
    _load(theirs, ours)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 8) if batch_first else (5, 2, 8))
    padding = np.zeros((2, 5), bool)
    padding[1, 3:] = True
    _check(torch, theirs, ours, [x],
           lambda x: theirs(x, src_key_padding_mask=torch.from_numpy(padding)),
           lambda x: ours(x, src_key_padding_mask=padding))


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_with_causal_mask_matches_torch(torch, norm_first):
    torch.manual_seed(1)
    layer_t = torch.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, batch_first=True,
                                               norm_first=norm_first)
    theirs = torch.nn.TransformerEncoder(layer_t, 2, norm=torch.nn.LayerNorm(8),
                                         enable_nested_tensor=False).double()
    _randomize_torch(torch, theirs, 2)
    ours = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0,
                                                            batch_first=True,
                                                            norm_first=norm_first),
                                 2, norm=nn.LayerNorm(8)).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _load(theirs, ours)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(6, dtype=torch.float64)
    x = np.random.default_rng(1).standard_normal((3, 6, 8))
    _check(torch, theirs, ours, [x], lambda x: theirs(x, mask=mask, is_causal=True),
           lambda x: ours(x, is_causal=True))
    bool_mask = np.triu(np.ones((6, 6), bool), 1)  # True = may not attend (torch's layers)
    _check(torch, theirs, ours, [x], lambda x: theirs(x, mask=torch.from_numpy(bool_mask)),
           lambda x: ours(x, mask=bool_mask), seed=1)


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_stack_matches_torch(torch, norm_first):
    torch.manual_seed(2)
    kwargs = dict(d_model=8, nhead=4, dim_feedforward=10, dropout=0.0, norm_first=norm_first)
    theirs = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(**kwargs), 2).double()
    _randomize_torch(torch, theirs, 3)
    ours = nn.TransformerDecoder(nn.TransformerDecoderLayer(**kwargs), 2).double()
    _load(theirs, ours)
    rng = np.random.default_rng(2)
    tgt, memory = rng.standard_normal((4, 2, 8)), rng.standard_normal((6, 2, 8))
    causal = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    memory_padding = np.zeros((2, 6), bool)
    memory_padding[0, 4:] = True
    _check(torch, theirs, ours, [tgt, memory],
           lambda t, m: theirs(t, m, tgt_mask=causal, tgt_is_causal=True,
                               memory_key_padding_mask=torch.from_numpy(memory_padding)),
           lambda t, m: ours(t, m, tgt_is_causal=True, memory_key_padding_mask=memory_padding))


def test_stack_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(4, 2, 8)
    stack = nn.TransformerEncoder(layer, 3)
    weights = [block.linear1.weight for block in stack.layers]
    assert len({id(w) for w in weights}) == 3
    np.testing.assert_array_equal(weights[0].numpy(), weights[2].numpy())
    assert stack.num_parameters() == 3 * layer.num_parameters()


def test_encoder_layer_gradcheck_small():
    tinydl.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True,
                                       norm_first=True).double()
    x = tinydl.randn(2, 3, 4, dtype=f64, requires_grad=True)
    assert gradcheck(lambda x: layer(x, is_causal=True), [x])


def test_dropout_is_active_in_training_only():
    tinydl.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5, batch_first=True)
    x = tinydl.randn(2, 5, 8)
    train_out = layer(x)
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    assert not np.allclose(train_out.numpy(), layer(x).numpy())


def test_sinusoidal_encoding_follows_the_formula():
    pe = nn.PositionalEncoding(6, max_len=50)
    x = tinydl.zeros(2, 10, 6)
    out = pe(x).numpy()
    pos, i = 7, 2  # dims 2i = 4 (sin) and 2i + 1 = 5 (cos)
    angle = pos / 10000 ** (2 * i / 6)
    np.testing.assert_allclose(out[1, pos, 4], math.sin(angle), rtol=1e-6)
    np.testing.assert_allclose(out[1, pos, 5], math.cos(angle), rtol=1e-6)
    np.testing.assert_allclose(out[0, 0], [0, 1, 0, 1, 0, 1], atol=1e-7)
    assert out.dtype == np.float32 and list(pe.state_dict()) == []
    shifted = pe(tinydl.zeros(1, 1, 6), offset=7).numpy()
    np.testing.assert_allclose(shifted[0, 0], out[0, 7], rtol=1e-6)
    time_major = nn.PositionalEncoding(5, batch_first=False)(tinydl.zeros(4, 3, 5)).numpy()
    np.testing.assert_allclose(time_major[2, 0, 0], math.sin(2.0), rtol=1e-6)  # odd d_model


def test_learned_positional_embedding_adds_rows_and_trains():
    layer = nn.LearnedPositionalEmbedding(10, 3)
    x = tinydl.randn(2, 4, 3)
    out = layer(x, offset=2)
    np.testing.assert_allclose(out.numpy() - x.numpy(),
                               np.broadcast_to(layer.weight.numpy()[2:6], (2, 4, 3)), atol=1e-6)
    out.sum().backward()
    grad = layer.weight.grad.numpy()
    np.testing.assert_array_equal(grad[2:6], 2.0)  # two sequences use each of those rows
    np.testing.assert_array_equal(grad[[0, 1, 6, 7, 8, 9]], 0.0)


def test_positional_errors_name_the_limit():
    with pytest.raises(ShapeError, match=r"positions 0..11 exceed max_len 8"):
        nn.PositionalEncoding(4, max_len=8)(tinydl.zeros(1, 12, 4))
    with pytest.raises(ShapeError, match=r"LearnedPositionalEmbedding: input must be .*got shape "
                                         r"\(1, 3, 5\)"):
        nn.LearnedPositionalEmbedding(8, 4)(tinydl.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="activation must be 'relu', 'gelu' or a function"):
        nn.TransformerEncoderLayer(4, 2, activation="swish")
