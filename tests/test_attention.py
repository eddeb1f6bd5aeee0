"""Scaled dot-product attention and MultiheadAttention: hand-worked values, masks (including
rows with every key masked), gradient checks, clear errors, and with PyTorch installed forward
and backward equal to torch's (float64, torch's weights loaded by name)."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl
import tinydl.functional as F
from tinydl import nn
from tinydl.errors import DTypeError, ShapeError
from tinydl.functional.attention import attention_with_weights
from tinydl.testing import gradcheck, gradgradcheck

f64 = tinydl.float64


def _t(array, grad=True):
    return tinydl.tensor(array, dtype=f64, requires_grad=grad)


def _np_attention(q, k, v, allowed=None, scale=None):
    """The formula in plain NumPy: softmax(q k^T * scale) v over allowed keys."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    with np.errstate(invalid="ignore"):  # a row of -inf gives NaN here; callers skip those rows
        weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights = weights / weights.sum(-1, keepdims=True)
    return weights @ v


# ---- scaled_dot_product_attention ------------------------------------------------------------

def test_sdpa_hand_worked_two_keys():
    # one query [1, 0], keys [1, 0] and [0, 1], scale 1: weights softmax([1, 0])
    q, k = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    v = np.array([[10.0], [20.0]])
    out = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), scale=1.0)
    w0 = np.e / (np.e + 1)
    np.testing.assert_allclose(out.numpy(), [[10 * w0 + 20 * (1 - w0)]], atol=1e-12)


def test_sdpa_matches_numpy_formula_with_causal_mask():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)), \
        rng.standard_normal((2, 4, 5))
    out = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), is_causal=True)
    expected = _np_attention(q, k, v, np.tril(np.ones((4, 4), bool)))
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    # the first query sees only the first key: its output is that key's value
    np.testing.assert_allclose(out.numpy()[:, 0], v[:, 0], atol=1e-12)


def test_sdpa_float_mask_adds_and_minus_inf_blocks():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((3, 4)) for _ in range(3))
    bias = rng.standard_normal((3, 3))
    bias[0, 2] = -np.inf
    out = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), attn_mask=bias)
    scores = q @ k.T / 2.0 + bias
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(out.numpy(), weights @ v, atol=1e-12)


@pytest.mark.parametrize("kind", ["bool", "float", "causal-short"])
def test_sdpa_fully_masked_rows_give_zeros_and_zero_gradients(kind):
    rng = np.random.default_rng(2)
    q, k, v = _t(rng.standard_normal((2, 3, 4))), _t(rng.standard_normal((2, 5, 4))), \
        _t(rng.standard_normal((2, 5, 6)))
    allowed = np.ones((2, 3, 5), bool)
    allowed[0, 1, :] = False                       # batch 0, query 1 sees no key
    allowed[1, :, 3] = False
    mask = allowed if kind == "bool" else np.where(allowed, 0.0, -np.inf)
    if kind == "causal-short":                      # query 0 may see key 0 only, which is padded
        mask = np.ones((2, 3, 5), bool)
        mask[0, :, 0] = False
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=True)
        empty = (0, 0)
    else:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        empty = (0, 1)
    (out * _t(rng.standard_normal(out.shape), grad=False)).sum().backward()
    for t in (out, q.grad, k.grad, v.grad):
        assert np.all(np.isfinite(t.numpy()))
    np.testing.assert_array_equal(out.numpy()[empty], 0.0)
    np.testing.assert_array_equal(q.grad.numpy()[empty], 0.0)
    if kind == "bool":  # the other rows are the plain formula
        expected = _np_attention(q.numpy(), k.numpy(), v.numpy(), allowed)
        np.testing.assert_allclose(out.numpy()[1], expected[1], atol=1e-12)
        np.testing.assert_array_equal(k.grad.numpy()[1, 3], 0.0)  # a masked key learns nothing


def test_sdpa_gradcheck_and_gradgradcheck_with_masks():
    rng = np.random.default_rng(3)
    q, k, v = _t(rng.standard_normal((2, 3, 2))), _t(rng.standard_normal((2, 4, 2))), \
        _t(rng.standard_normal((2, 4, 3)))
    allowed = rng.random((2, 3, 4)) > 0.3
    allowed[1, 2] = False  # a fully masked row must differentiate cleanly too

    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)

    assert gradcheck(fn, [q, k, v])
    assert gradgradcheck(fn, [q, k, v])
    causal = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7)
    assert gradcheck(causal, [q, k, v])


def test_sdpa_float_mask_is_differentiable():
    rng = np.random.default_rng(4)
    q, k, v = (_t(rng.standard_normal((3, 2))) for _ in range(3))
    bias = _t(rng.standard_normal((3, 3)))
    assert gradcheck(lambda q, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b), [q, bias])


def test_sdpa_keeps_float32():
    q = tinydl.randn(2, 3, 4, requires_grad=True)
    mask = np.zeros((3, 3))  # a float64 host mask must not promote the result
    out = F.scaled_dot_product_attention(q, q, q, attn_mask=mask, is_causal=True)
    assert out.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == np.float32


def test_sdpa_dropout_scales_kept_weights():
    tinydl.manual_seed(0)
    q = tinydl.randn(2, 8, 4)
    _, plain = attention_with_weights(q, q, q)
    _, dropped = attention_with_weights(q, q, q, dropout_p=0.25)
    ratio = dropped.numpy() / plain.numpy()
    kept = ratio != 0
    np.testing.assert_allclose(ratio[kept], 1 / 0.75, rtol=1e-5)
    assert 0.1 < 1 - kept.mean() < 0.4


def test_sdpa_errors_name_the_shapes():
    q = tinydl.randn(2, 3, 4)
    with pytest.raises(ShapeError, match=r"query \(2, 3, 4\) and key \(2, 3, 5\).*4 != 5"):
        F.scaled_dot_product_attention(q, tinydl.randn(2, 3, 5), tinydl.randn(2, 3, 5))
    with pytest.raises(ShapeError, match=r"key \(2, 3, 4\) and value \(2, 2, 4\).*positions"):
        F.scaled_dot_product_attention(q, q, tinydl.randn(2, 2, 4))
    with pytest.raises(ShapeError, match=r"attn_mask of shape \(4, 4\) does not broadcast.*"
                                         r"\(2, 3, 3\)"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((4, 4), bool))
    with pytest.raises(DTypeError, match="attn_mask must be bool .* or float .*got int64"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), np.int64))


@pytest.mark.torch
@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "causal", "causal+bool"])
def test_sdpa_matches_torch(torch, mask_kind):
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5)), \
        rng.standard_normal((2, 3, 6, 7))
    upstream = rng.standard_normal((2, 3, 4, 7))
    mask = None
    if mask_kind in ("bool", "causal+bool"):
        mask = rng.random((2, 1, 4, 6)) > 0.3
        mask[..., 0] = True  # every row keeps a key (torch's reference would be NaN otherwise)
    elif mask_kind == "float":
        mask = rng.standard_normal((4, 6))
    causal = mask_kind.startswith("causal")
    ours = [_t(a) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, attn_mask=mask, is_causal=causal, scale=0.3)
    (out * _t(upstream, grad=False)).sum().backward()
    theirs = [torch.from_numpy(a).requires_grad_(True) for a in (q, k, v)]
    torch_mask = None if mask is None else torch.from_numpy(mask)
    if mask_kind == "causal+bool":  # torch takes one or the other: give it both combined
        torch_mask = torch_mask & torch.ones(4, 6, dtype=torch.bool).tril()
        causal = False
    out_t = torch.nn.functional.scaled_dot_product_attention(*theirs, attn_mask=torch_mask,
                                                             is_causal=causal, scale=0.3)
    (out_t * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=1e-10)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-10)


# ---- MultiheadAttention ----------------------------------------------------------------------

def _pair(torch, seed=0, **kwargs):
    """A torch MultiheadAttention and a tinydl one holding the same (float64) weights."""
    torch.manual_seed(seed)
    theirs = torch.nn.MultiheadAttention(**kwargs).double()
    with torch.no_grad():  # non-zero biases, so bias gradients and layouts are exercised
        for name, p in theirs.named_parameters():
            if "bias" in name:
                p.copy_(torch.randn(p.shape, dtype=p.dtype))
    ours = nn.MultiheadAttention(**kwargs).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return theirs, ours


def _run_both(torch, theirs, ours, arrays, upstream, **call):
    """Forward both, backpropagate ``upstream`` (and weights·w2), compare everything."""
    torch_call = dict(call)
    ours_in = [_t(a) for a in arrays]
    theirs_in = [torch.from_numpy(a).requires_grad_(True) for a in arrays]
    if ours_in and arrays[0] is arrays[1] is arrays[2]:
        ours_in = [ours_in[0]] * 3
        theirs_in = [theirs_in[0]] * 3
    for key in ("attn_mask", "key_padding_mask"):
        if isinstance(call.get(key), np.ndarray):
            torch_call[key] = torch.from_numpy(call[key])
    out, weights = ours(*ours_in, **call)
    out_t, weights_t = theirs(*theirs_in, **torch_call)
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=1e-10)
    loss = (out * _t(upstream, grad=False)).sum()
    loss_t = (out_t * torch.from_numpy(upstream)).sum()
    if weights_t is None:
        assert weights is None
    else:
        np.testing.assert_allclose(weights.numpy(), weights_t.detach().numpy(), atol=1e-10)
        w2 = np.random.default_rng(9).standard_normal(weights.shape)
        loss = loss + (weights * _t(w2, grad=False)).sum()
        loss_t = loss_t + (weights_t * torch.from_numpy(w2)).sum()
    loss.backward()
    loss_t.backward()
    for a, b in zip(ours_in, theirs_in):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-10)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(), atol=1e-10,
                                   err_msg=name)


@pytest.mark.torch
def test_mha_state_dict_names_match_torch(torch):
    for kwargs in ({}, {"kdim": 3, "vdim": 5}, {"bias": False}):
        theirs = torch.nn.MultiheadAttention(8, 2, **kwargs)
        ours = nn.MultiheadAttention(8, 2, **kwargs)
        assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
        for name, value in theirs.state_dict().items():
            assert ours.state_dict()[name].shape == tuple(value.shape)


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_self_attention_matches_torch(torch, batch_first):
    theirs, ours = _pair(torch, embed_dim=8, num_heads=2, batch_first=batch_first)
    rng = np.random.default_rng(0)
    shape = (3, 5, 8) if batch_first else (5, 3, 8)
    x = rng.standard_normal(shape)
    _run_both(torch, theirs, ours, [x, x, x], rng.standard_normal(shape))


@pytest.mark.torch
def test_mha_cross_attention_with_kdim_vdim_and_padding(torch):
    theirs, ours = _pair(torch, embed_dim=6, num_heads=3, kdim=4, vdim=5, batch_first=True)
    rng = np.random.default_rng(1)
    q, k, v = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 7, 4)), \
        rng.standard_normal((2, 7, 5))
    padding = np.zeros((2, 7), bool)
    padding[0, 5:] = True
    padding[1, 2] = True
    _run_both(torch, theirs, ours, [q, k, v], rng.standard_normal((2, 3, 6)),
              key_padding_mask=padding, average_attn_weights=False)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("mask_kind", ["bool", "float", "per-head-bool", "causal",
                                       "float+padding"])
def test_mha_masks_match_torch(torch, mask_kind):
    theirs, ours = _pair(torch, embed_dim=8, num_heads=2, bias=mask_kind != "bool")
    rng = np.random.default_rng(2)
    q, kv = rng.standard_normal((4, 3, 8)), rng.standard_normal((4, 3, 8))
    call = {}
    causal_ignored = ~np.tril(np.ones((4, 4), bool))
    if mask_kind == "bool":
        call["attn_mask"] = causal_ignored
    elif mask_kind == "float":
        call["attn_mask"] = rng.standard_normal((4, 4))
    elif mask_kind == "per-head-bool":
        mask = rng.random((3 * 2, 4, 4)) > 0.6
        mask[..., 1] = False
        call["attn_mask"] = mask
    elif mask_kind == "causal":  # torch needs the mask as well as the hint; tinydl makes it
        _run_both_causal(torch, theirs, ours, q, kv, rng.standard_normal((4, 3, 8)))
        return
    else:
        call["attn_mask"] = rng.standard_normal((4, 4))
        padding = np.zeros((3, 4), bool)
        padding[1, 3] = True
        call["key_padding_mask"] = padding
    _run_both(torch, theirs, ours, [q, kv, kv], rng.standard_normal((4, 3, 8)), **call)


def _run_both_causal(torch, theirs, ours, q, kv, upstream):
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    q_t = torch.from_numpy(q).requires_grad_(True)
    out_t, _ = theirs(q_t, torch.from_numpy(kv), torch.from_numpy(kv),
                      attn_mask=mask, is_causal=True, need_weights=False)
    q_ours = _t(q)
    out, weights = ours(q_ours, _t(kv), _t(kv), is_causal=True, need_weights=False)
    assert weights is None
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=1e-10)
    (out_t * torch.from_numpy(upstream)).sum().backward()
    (out * _t(upstream, grad=False)).sum().backward()
    np.testing.assert_allclose(q_ours.grad.numpy(), q_t.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.in_proj_weight.grad.numpy(),
                               theirs.in_proj_weight.grad.numpy(), atol=1e-10)


@pytest.mark.torch
def test_mha_unbatched_matches_torch(torch):
    theirs, ours = _pair(torch, embed_dim=4, num_heads=2)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4))
    padding = np.array([False, False, True, False, True])
    _run_both(torch, theirs, ours, [x, x, x], rng.standard_normal((5, 4)),
              key_padding_mask=padding)


def test_mha_gradcheck_small():
    tinydl.manual_seed(0)
    layer = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = tinydl.randn(2, 3, 4, dtype=f64, requires_grad=True)
    padding = np.array([[False, False, True], [False, False, False]])
    assert gradcheck(lambda x: layer(x, x, x, key_padding_mask=padding)[0], [x])
    assert gradcheck(lambda w: layer(x, x, x, is_causal=True)[0] * 1.0,
                     [layer.in_proj_weight])


def test_mha_fully_padded_sequence_gives_zeros_not_nan():
    layer = nn.MultiheadAttention(4, 2, batch_first=True, bias=False)
    x = tinydl.randn(2, 3, 4, requires_grad=True)
    padding = np.array([[True, True, True], [False, True, False]])
    out, weights = layer(x, x, x, key_padding_mask=padding)
    out.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_array_equal(out.numpy()[0], 0.0)
    np.testing.assert_array_equal(weights.numpy()[0], 0.0)
    np.testing.assert_allclose(weights.numpy()[1].sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(weights.numpy()[1][:, 1], 0.0)


def test_mha_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"embed_dim \(6\) must be a positive multiple of "
                                         r"num_heads \(4\)"):
        nn.MultiheadAttention(6, 4)
    layer = nn.MultiheadAttention(4, 2, batch_first=True)
    x = tinydl.randn(2, 3, 4)
    with pytest.raises(ShapeError, match=r"key_padding_mask must have shape \(batch, Tk\) = "
                                         r"\(2, 3\), got \(3, 2\)"):
        layer(x, x, x, key_padding_mask=np.zeros((3, 2), bool))
    with pytest.raises(ShapeError, match=r"attn_mask must have shape \(Tq, Tk\) = \(3, 3\)"):
        layer(x, x, x, attn_mask=np.zeros((2, 3), bool))
    with pytest.raises(ShapeError, match=r"query must be \(B, T, dim\) with dim 4"):
        layer(tinydl.randn(2, 3, 5), x, x)


def test_layers_run_on_standin_device_like_cpu():
    """No direct NumPy call in the compute path: the stand-in device gives the CPU's numbers."""
    from tinydl.testing import standin

    standin.register()
    padding = np.array([[False, False, True], [True, True, True]])
    bias = np.zeros((3, 3))
    bias[0, 1] = -np.inf
    results = {}
    for device in ("cpu", "standin"):
        tinydl.manual_seed(0)
        emb, norm = nn.Embedding(6, 4, padding_idx=0), nn.LayerNorm(4)
        mha = nn.MultiheadAttention(4, 2, batch_first=True)
        for layer in (emb, norm, mha):
            layer.to(device)
        x = norm(emb(tinydl.tensor([[0, 1, 2], [3, 4, 5]])))
        out, _ = mha(x, x, x, key_padding_mask=padding, attn_mask=bias)
        out = F.scaled_dot_product_attention(out, out, out, is_causal=True)
        out.sum().backward()
        results[device] = [out.numpy(), emb.weight.grad.numpy(), mha.in_proj_weight.grad.numpy()]
    for a, b in zip(results["cpu"], results["standin"]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
