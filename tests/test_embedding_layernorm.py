"""Embedding and LayerNorm: hand-worked values, gradient checks, clear errors, and (with
PyTorch installed) forward and backward equal to torch's after loading torch's state dict."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl
import tinydl.functional as F
from tinydl import nn
from tinydl.errors import DTypeError, ShapeError
from tinydl.testing import gradcheck, gradgradcheck


def _state_from_torch(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


# ---- Embedding -------------------------------------------------------------------------------

def test_embedding_picks_rows():
    layer = nn.Embedding(5, 3)
    table = layer.weight.numpy()
    ids = np.array([[4, 0], [2, 2]])
    out = layer(tinydl.tensor(ids))
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy()[0, 0], table[4])
    np.testing.assert_array_equal(out.numpy()[1, 1], table[2])


def test_embedding_gradient_counts_repeats_and_skips_padding():
    layer = nn.Embedding(4, 2, padding_idx=1)
    assert np.all(layer.weight.numpy()[1] == 0)
    layer.weight.data[1] = 5.0  # a non-zero padding row is still returned, but not trained
    out = layer(tinydl.tensor([[0, 1, 3], [3, 1, 3]]))
    np.testing.assert_array_equal(out.numpy()[0, 1], [5.0, 5.0])
    out.sum().backward()
    # d(sum)/d(row i) = number of times i appears; the padding row gets nothing
    np.testing.assert_array_equal(layer.weight.grad.numpy()[:, 0], [1, 0, 0, 3])


def test_embedding_init_is_standard_normal():
    tinydl.manual_seed(0)
    weight = nn.Embedding(200, 100).weight.numpy()
    assert weight.dtype == np.float32
    assert abs(weight.mean()) < 0.02 and abs(weight.std() - 1.0) < 0.02


def test_embedding_negative_padding_idx_counts_from_end():
    assert nn.Embedding(10, 2, padding_idx=-1).padding_idx == 9


def test_embedding_errors_name_the_problem():
    layer = nn.Embedding(3, 2)
    with pytest.raises(IndexError, match=r"embedding: indices must lie in \[0, 3\).*from 0 to 7"):
        layer(tinydl.tensor([0, 7]))
    with pytest.raises(DTypeError, match="embedding: indices must be integers, got float32"):
        layer(tinydl.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx 5 is outside the table of 3 rows"):
        nn.Embedding(3, 2, padding_idx=5)


def test_embedding_from_pretrained_copies_and_freezes():
    table = np.arange(6, dtype=np.float32).reshape(3, 2)
    layer = nn.Embedding.from_pretrained(table)
    table[0, 0] = 100.0
    assert layer.weight.numpy()[0, 0] == 0.0
    assert not layer.weight.requires_grad
    np.testing.assert_array_equal(layer(tinydl.tensor([2])).numpy(), [[4.0, 5.0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_embedding_gradcheck():
    weight = tinydl.randn(5, 3, dtype=tinydl.float64, requires_grad=True)
    ids = tinydl.tensor([[1, 2, 1], [0, 4, 2]])
    # (no padding_idx here: it deliberately blocks a gradient that the numbers do see)
    assert gradcheck(lambda w: F.embedding(ids, w), [weight])
    assert gradgradcheck(lambda w: F.embedding(ids, w) ** 2, [weight])


@pytest.mark.torch
def test_embedding_matches_torch(torch):
    theirs = torch.nn.Embedding(7, 4, padding_idx=3).double()
    ours = nn.Embedding(7, 4, padding_idx=3).double()
    ours.load_state_dict(_state_from_torch(theirs))
    ids = np.array([[3, 1, 6, 1], [0, 3, 2, 5]])
    upstream = np.random.default_rng(0).standard_normal((2, 4, 4))
    out_t = theirs(torch.from_numpy(ids))
    (out_t * torch.from_numpy(upstream)).sum().backward()
    out = ours(tinydl.tensor(ids))
    (out * tinydl.tensor(upstream, dtype=tinydl.float64)).sum().backward()
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), atol=1e-12)


# ---- LayerNorm -------------------------------------------------------------------------------

def test_layer_norm_hand_worked():
    # [1, 2, 3]: mean 2, biased variance 2/3, so the output is [-1, 0, 1] * sqrt(3/2)
    out = F.layer_norm(tinydl.tensor([[1.0, 2.0, 3.0]], dtype=tinydl.float64), 3, eps=0.0)
    np.testing.assert_allclose(out.numpy(), [[-np.sqrt(1.5), 0.0, np.sqrt(1.5)]], atol=1e-12)


def test_layer_norm_layer_defaults_and_dtype():
    layer = nn.LayerNorm(4)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(layer.weight.numpy(), np.ones(4))
    x = tinydl.randn(2, 3, 4, requires_grad=True)
    y = layer(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and layer.weight.grad.dtype == np.float32
    assert nn.LayerNorm(4, bias=False).bias is None
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []


def test_layer_norm_gradcheck_and_gradgradcheck():
    x = tinydl.randn(2, 3, 4, dtype=tinydl.float64, requires_grad=True)
    w = tinydl.randn(3, 4, dtype=tinydl.float64, requires_grad=True)
    b = tinydl.randn(3, 4, dtype=tinydl.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), [x, w, b])
    # the bias enters linearly (no second derivative), so it is held constant here
    assert gradgradcheck(lambda x, w, b: F.layer_norm(x, (3, 4), w, b), [x, w, b.detach()])


def test_layer_norm_shape_errors():
    with pytest.raises(ShapeError, match=r"layer_norm: input of shape \(2, 5\) must end with "
                                         r"normalized_shape \(4,\)"):
        nn.LayerNorm(4)(tinydl.randn(2, 5))
    with pytest.raises(ShapeError, match=r"layer_norm: weight has shape \(3,\)"):
        F.layer_norm(tinydl.randn(2, 4), 4, weight=tinydl.ones(3))


@pytest.mark.torch
@pytest.mark.parametrize("shape, affine, bias", [((5,), True, True), ((3, 5), True, False),
                                                 ((5,), False, False)])
def test_layer_norm_matches_torch(torch, shape, affine, bias):
    theirs = torch.nn.LayerNorm(shape, eps=1e-3, elementwise_affine=affine, bias=bias).double()
    ours = nn.LayerNorm(shape, eps=1e-3, elementwise_affine=affine, bias=bias).double()
    rng = np.random.default_rng(1)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
    ours.load_state_dict(_state_from_torch(theirs))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = rng.standard_normal((2, 3, 5)) * 3 + 1
    upstream = rng.standard_normal((2, 3, 5))
    xt = torch.from_numpy(x).requires_grad_(True)
    (theirs(xt) * torch.from_numpy(upstream)).sum().backward()
    xo = tinydl.tensor(x, dtype=tinydl.float64, requires_grad=True)
    out = ours(xo)
    (out * tinydl.tensor(upstream, dtype=tinydl.float64)).sum().backward()
    np.testing.assert_allclose(out.numpy(), theirs(xt).detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), atol=1e-10)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad.numpy(), p.grad.numpy(), atol=1e-10)
