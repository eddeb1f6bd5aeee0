"""RNN, LSTM, GRU and their cells: torch's parameter names load, forward and backward equal
torch's in float64 (fused and composed paths), gradient checks, clear errors."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl
from tinydl import nn
from tinydl.errors import ShapeError
from tinydl.testing import gradcheck, gradgradcheck

f64 = tinydl.float64
LAYERS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
CELLS = {"RNNCell": nn.RNNCell, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell}


@pytest.fixture(params=["fused", "composed"])
def path(request, monkeypatch):
    """Run a test with the fused recurrences and again with the composed reference ops."""
    if request.param == "composed":
        monkeypatch.setenv("TINYDL_KERNELS", "numpy")
    else:
        monkeypatch.delenv("TINYDL_KERNELS", raising=False)
    return request.param


def _copy_from_torch(theirs, ours):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _states(result):
    return list(result) if isinstance(result, tuple) else [result]


def _compare(torch, theirs, ours, x, initial, upstream_seed=0):
    """Forward both with the same input and initial state(s); backpropagate a random weighting
    of the output AND the final states; compare outputs, states and every gradient."""
    x_t = torch.from_numpy(x).requires_grad_(True)
    x_o = tinydl.tensor(x, dtype=f64, requires_grad=True)
    init_t = [torch.from_numpy(s).requires_grad_(True) for s in initial]
    init_o = [tinydl.tensor(s, dtype=f64, requires_grad=True) for s in initial]
    pack = (lambda s: tuple(s)) if len(initial) == 2 else (lambda s: s[0] if s else None)
    out_t, final_t = theirs(x_t, pack(init_t))
    out_o, final_o = ours(x_o, pack(init_o))
    rng = np.random.default_rng(upstream_seed)
    loss_t, loss_o = 0, 0
    for a, b in zip([out_t] + _states(final_t), [out_o] + _states(final_o)):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), atol=1e-10)
        w = rng.standard_normal(tuple(a.shape))
        loss_t = loss_t + (a * torch.from_numpy(w)).sum()
        loss_o = loss_o + (b * tinydl.tensor(w, dtype=f64)).sum()
    loss_t.backward()
    loss_o.backward()
    for a, b in zip([x_t] + init_t, [x_o] + init_o):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), atol=1e-10)
    their_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), their_params[name].grad.numpy(), atol=1e-10,
                                   err_msg=name)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_state_dict_names_and_shapes_match_torch(torch, kind):
    kwargs = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    theirs, ours = getattr(torch.nn, kind)(**kwargs), LAYERS[kind](**kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        assert ours.state_dict()[name].shape == tuple(value.shape)
    no_bias = LAYERS[kind](3, 5, bias=False)
    assert list(no_bias.state_dict()) == ["weight_ih_l0", "weight_hh_l0"]


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_multilayer_batch_first_with_initial_state_matches_torch(torch, kind, path):
    torch.manual_seed(0)
    kwargs = dict(input_size=3, hidden_size=4, num_layers=2, batch_first=True)
    theirs = getattr(torch.nn, kind)(**kwargs).double()
    ours = LAYERS[kind](**kwargs).double()
    _copy_from_torch(theirs, ours)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 3))
    initial = [rng.standard_normal((2, 2, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    _compare(torch, theirs, ours, x, initial)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_bidirectional_time_major_matches_torch(torch, kind, path):
    torch.manual_seed(1)
    kwargs = dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    theirs = getattr(torch.nn, kind)(**kwargs).double()
    ours = LAYERS[kind](**kwargs).double()
    _copy_from_torch(theirs, ours)
    rng = np.random.default_rng(2)
    initial = [rng.standard_normal((4, 3, 3)) for _ in range(2 if kind == "LSTM" else 1)]
    _compare(torch, theirs, ours, rng.standard_normal((4, 3, 2)), initial)


@pytest.mark.torch
@pytest.mark.parametrize("nonlinearity, bias", [("relu", True), ("tanh", False)])
def test_rnn_variants_match_torch(torch, nonlinearity, bias):
    torch.manual_seed(2)
    kwargs = dict(input_size=3, hidden_size=4, nonlinearity=nonlinearity, bias=bias)
    theirs, ours = torch.nn.RNN(**kwargs).double(), nn.RNN(**kwargs).double()
    _copy_from_torch(theirs, ours)
    rng = np.random.default_rng(3)
    _compare(torch, theirs, ours, rng.standard_normal((5, 2, 3)), [rng.standard_normal((1, 2, 4))])


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_no_bias_and_unbatched_match_torch(torch, kind, path):
    torch.manual_seed(3)
    theirs = getattr(torch.nn, kind)(3, 4, bias=False).double()
    ours = LAYERS[kind](3, 4, bias=False).double()
    _copy_from_torch(theirs, ours)
    rng = np.random.default_rng(4)
    initial = [rng.standard_normal((1, 4)) for _ in range(2 if kind == "LSTM" else 1)]
    _compare(torch, theirs, ours, rng.standard_normal((6, 3)), initial)  # unbatched (T, in)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(torch, kind, path):
    torch.manual_seed(4)
    theirs, ours = getattr(torch.nn, kind)(3, 4).double(), CELLS[kind](3, 4).double()
    _copy_from_torch(theirs, ours)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3))
    states = [rng.standard_normal((2, 4)) for _ in range(2 if kind == "LSTMCell" else 1)]
    x_t, x_o = torch.from_numpy(x).requires_grad_(True), tinydl.tensor(x, dtype=f64,
                                                                        requires_grad=True)
    s_t = [torch.from_numpy(s).requires_grad_(True) for s in states]
    s_o = [tinydl.tensor(s, dtype=f64, requires_grad=True) for s in states]
    out_t = theirs(x_t, tuple(s_t) if len(s_t) == 2 else s_t[0])
    out_o = ours(x_o, tuple(s_o) if len(s_o) == 2 else s_o[0])
    out_t, out_o = _states(out_t), _states(out_o)
    for a, b in zip(out_t, out_o):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), atol=1e-10)
    sum((a * a).sum() for a in out_t).backward()
    sum((b * b).sum() for b in out_o).backward()
    for a, b in zip([x_t] + s_t, [x_o] + s_o):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), atol=1e-10)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad.numpy(), p.grad.numpy(), atol=1e-10)
    # unbatched (input_size,) with no state: zeros, and the batch dim dropped again
    single = ours(tinydl.tensor(x[0], dtype=f64))
    expected = theirs(torch.from_numpy(x[0]))
    for a, b in zip(_states(expected), _states(single)):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), atol=1e-10)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_gradcheck_and_gradgradcheck_small_layers(kind, path):
    tinydl.manual_seed(0)
    layer = LAYERS[kind](2, 2, bidirectional=True).double()
    x = tinydl.randn(3, 2, 2, dtype=f64, requires_grad=True)

    def run(x, w):
        return layer(x)[0]

    w = layer.weight_hh_l0_reverse
    assert gradcheck(run, [x, w])
    assert gradgradcheck(run, [x, w])


def test_lstm_final_state_is_last_output():
    layer = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    out, (h_n, c_n) = layer(tinydl.randn(2, 5, 3))
    assert out.shape == (2, 5, 4) and h_n.shape == c_n.shape == (2, 2, 4)
    np.testing.assert_array_equal(h_n.numpy()[-1], out.numpy()[:, -1])


def test_float32_gradients_stay_float32():
    layer = nn.GRU(3, 4)
    x = tinydl.randn(5, 2, 3, requires_grad=True)
    out, h = layer(x)
    assert out.dtype == np.float32 and h.dtype == np.float32
    (out.sum() + h.sum()).backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


def test_dropout_between_layers_only_in_training():
    tinydl.manual_seed(0)
    layer = nn.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = tinydl.randn(4, 2, 3)
    layer.eval()
    first, _ = layer(x)
    second, _ = layer(x)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    layer.train()
    dropped, _ = layer(x)
    assert not np.allclose(dropped.numpy(), first.numpy())
    one_layer = nn.LSTM(3, 4, dropout=0.5)  # nothing comes after the only layer: no dropout
    np.testing.assert_array_equal(one_layer(x)[0].numpy(), one_layer.eval()(x)[0].numpy())


def test_init_is_uniform_in_one_over_sqrt_hidden():
    tinydl.manual_seed(0)
    layer = nn.LSTM(10, 25)
    values = np.concatenate([p.numpy().ravel() for p in layer.parameters()])
    assert values.min() >= -0.2 and values.max() <= 0.2 and values.max() > 0.19


def test_errors_name_the_shapes():
    layer = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    with pytest.raises(ShapeError, match=r"LSTM: input must be \(B, T, input_size\).*input_size "
                                         r"3, got shape \(2, 5, 4\)"):
        layer(tinydl.randn(2, 5, 4))
    with pytest.raises(ShapeError, match=r"initial cell state c0 must have shape .* = "
                                         r"\(2, 2, 4\), got \(1, 2, 4\)"):
        layer(tinydl.randn(2, 5, 3), (tinydl.zeros(2, 2, 4), tinydl.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ShapeError, match=r"GRUCell: h must have shape \(batch, hidden_size\) "
                                         r"= \(2, 4\)"):
        nn.GRUCell(3, 4)(tinydl.randn(2, 3), tinydl.zeros(3, 4))
