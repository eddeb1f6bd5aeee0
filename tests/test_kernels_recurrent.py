"""The fused LSTM and GRU recurrences' kernels: hand-worked values, the Numba versions (one
thread, and batch slices on two threads) against the NumPy references, and the registry's
choice."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinydl
from tinydl import threads
from tinydl.kernels import recurrent, registry
from tinydl.ops import recurrent as ops_recurrent

KERNELS = {  # cell -> implementation -> (forward, backward)
    "lstm": {"reference": (ops_recurrent.lstm_forward_reference,
                           ops_recurrent.lstm_backward_reference),
             "numba": (recurrent.lstm_forward_numba, recurrent.lstm_backward_numba)},
    "gru": {"reference": (ops_recurrent.gru_forward_reference, ops_recurrent.gru_backward_reference),
            "numba": (recurrent.gru_forward_numba, recurrent.gru_backward_numba)},
}
IMPLS = ["reference", "numba"]


def _kernels(cell, impl):
    """(forward, backward) of one cell's implementation; skips Numba's where it is missing."""
    if impl == "numba":
        pytest.importorskip("numba")
    return KERNELS[cell][impl]


@pytest.fixture
def two_threads():
    """A budget of two threads (so a large enough batch is split), put back after the test."""
    pytest.importorskip("threadpoolctl")
    saved = threads._budget
    threads._budget = 2
    yield
    threads._budget = saved
    tinydl.set_num_threads(threads.get_num_threads())


def _lstm_case(rng, length, batch, size, dtype):
    """(forward, backward, forward arguments, backward arguments after the saved arrays)."""
    projected = rng.standard_normal((length, batch, 4 * size)).astype(dtype)
    w_hh = (rng.standard_normal((4 * size, size)) / math.sqrt(size)).astype(dtype)
    states = rng.standard_normal((2, 2, batch, size)).astype(dtype)
    h0, c0 = states[0, 1], states[1, 1]                   # views into a stack, as in a layer
    grad_hs = rng.standard_normal((length, batch, size)).astype(dtype)
    grad_c = np.zeros((), dtype=dtype)                    # broadcast, as from .sum()
    return "lstm", (projected, w_hh, h0, c0), (w_hh, h0, c0, grad_hs, grad_c)


def _gru_case(rng, length, batch, size, dtype):
    projected = rng.standard_normal((length, batch, 3 * size)).astype(dtype)
    w_hh = (rng.standard_normal((3 * size, size)) / math.sqrt(size)).astype(dtype)
    b_hh = rng.standard_normal(3 * size).astype(dtype)
    h0 = rng.standard_normal((2, batch, size)).astype(dtype)[1]
    grad_hs = rng.standard_normal((length, batch, size)).astype(dtype)
    return "gru", (projected, w_hh, b_hh, h0), (w_hh, h0, grad_hs)


@pytest.mark.parametrize("impl", IMPLS)
def test_lstm_hand_values(impl):
    forward, backward = _kernels("lstm", impl)
    # zero pre-activations: i = f = o = 1/2, g = 0, so c = c0 / 2 and h = tanh(c) / 2
    projected = np.zeros((1, 1, 4))
    h0, c0 = np.array([[0.3]]), np.array([[2.0]])
    acts, cs, tanh_cs, hs = forward(projected, np.zeros((4, 1)), h0, c0)
    np.testing.assert_allclose(acts[0, 0], [0.5, 0.5, 0.0, 0.5], atol=1e-15)
    np.testing.assert_allclose(cs[0, 0, 0], 1.0)
    np.testing.assert_allclose(hs[0, 0, 0], math.tanh(1.0) / 2, rtol=1e-14)
    # d(loss)/dh = 1: dc = o (1 - tanh²c); d(i) = dc g i(1-i) = 0; d(f) = dc c0 f(1-f);
    # d(g) = dc i (1 - g²); d(o) = tanh(c) o(1-o); d(c0) = dc f; d(h0) = d(gates) @ W_hh = 0
    d_projected, d_w_hh, d_h0, d_c0 = backward(acts, cs, tanh_cs, hs, np.zeros((4, 1)),
                                                     h0, c0, np.ones((1, 1, 1)), np.zeros((1, 1)))
    dc = 0.5 * (1 - math.tanh(1.0) ** 2)
    np.testing.assert_allclose(d_projected[0, 0], [0.0, dc * 2.0 * 0.25, dc * 0.5,
                                                   math.tanh(1.0) * 0.25], rtol=1e-14)
    np.testing.assert_allclose(d_w_hh[:, 0], d_projected[0, 0] * 0.3, rtol=1e-14)  # dW = dg^T h0
    np.testing.assert_allclose(d_c0, [[dc * 0.5]], rtol=1e-14)
    np.testing.assert_allclose(d_h0, [[0.0]], atol=1e-15)


@pytest.mark.parametrize("impl", IMPLS)
def test_gru_hand_values(impl):
    forward, backward = _kernels("gru", impl)
    # zero pre-activations: r = z = 1/2, gh_n = 0, n = 0, so h = z h0 = 0.3
    projected, w_hh, b_hh, h0 = np.zeros((1, 1, 3)), np.zeros((3, 1)), np.zeros(3), np.array([[0.6]])
    rz, n, gh_n, hs = forward(projected, w_hh, b_hh, h0)
    np.testing.assert_allclose(rz[0, 0], [0.5, 0.5], atol=1e-15)
    np.testing.assert_allclose([n[0, 0, 0], gh_n[0, 0, 0], hs[0, 0, 0]], [0.0, 0.0, 0.3],
                               atol=1e-15)
    # d(loss)/dh = 1: dn = (1 - z)(1 - n²) = 1/2; dr = dn gh_n r(1-r) = 0; dz = (h0 - n) z(1-z)
    d_projected, d_w_hh, d_b_hh, d_h0 = backward(rz, n, gh_n, hs, w_hh, h0,
                                                           np.ones((1, 1, 1)))
    np.testing.assert_allclose(d_projected[0, 0], [0.0, 0.15, 0.5], atol=1e-15)
    np.testing.assert_allclose(d_b_hh, [0.0, 0.15, 0.25], atol=1e-15)   # d(gh_n) = dn r
    np.testing.assert_allclose(d_w_hh[:, 0], [0.0, 0.15 * 0.6, 0.25 * 0.6], atol=1e-15)
    np.testing.assert_allclose(d_h0, [[0.5]], atol=1e-15)              # dh z + d(gh) @ W_hh


@pytest.mark.parametrize("length, batch, size", [(1, 1, 1), (5, 3, 7), (2, 6, 32)])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("case", [_lstm_case, _gru_case])
def test_numba_matches_the_reference(case, length, batch, size, reverse, dtype, tol):
    pytest.importorskip("numba")
    rng = np.random.default_rng(length * 100 + batch * 10 + size)
    _assert_numba_matches_the_reference(*case(rng, length, batch, size, dtype), reverse, tol)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("case", [_lstm_case, _gru_case])
def test_batch_slices_on_two_threads_match_the_reference(case, two_threads, reverse,
                                                         slice_counts):
    pytest.importorskip("numba")
    size = 64
    length = threads.PARALLEL_MIN_WORK // (5 * 3 * size) + 1             # above the threshold
    _assert_numba_matches_the_reference(*case(np.random.default_rng(7), length, 5, size,
                                              np.float32), reverse, 2e-5)  # slices of 2 and 3
    assert slice_counts == [2, 2]                                        # forward and backward


def _assert_numba_matches_the_reference(kind, forward_args, backward_args, reverse, tol):
    forward, backward = KERNELS[kind]["reference"]
    forward_numba, backward_numba = KERNELS[kind]["numba"]
    dtype = forward_args[0].dtype
    got = forward_numba(*forward_args, reverse)
    want = forward(*forward_args, reverse)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    got = backward_numba(*want, *backward_args, reverse)
    want = backward(*want, *backward_args, reverse)
    atol = tol * math.sqrt(forward_args[0].shape[0] * forward_args[0].shape[1])  # sums over T, B
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=tol, atol=atol)


def test_the_numba_kernel_names_what_it_takes():
    pytest.importorskip("numba")
    ints = np.zeros((1, 1, 4), dtype=np.int64)
    with pytest.raises(TypeError, match="lstm_forward_numba: the Numba kernel takes float32 or "
                                        "float64 NumPy arrays, got ndarray int64"):
        recurrent.lstm_forward_numba(ints, ints[0].T, ints[0, :, :1], ints[0, :, :1])


def test_the_registry_chooses_numba_and_the_reference_when_forced(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    assert registry.get("lstm_sequence_forward") is recurrent.lstm_forward_numba
    assert registry.get("lstm_sequence_backward") is recurrent.lstm_backward_numba
    assert registry.get("gru_sequence_backward") is recurrent.gru_backward_numba
    monkeypatch.setenv(registry.ENV_VAR, "numpy")
    assert registry.get("lstm_sequence_forward") is ops_recurrent.lstm_forward_reference
    assert registry.get("lstm_sequence_backward") is ops_recurrent.lstm_backward_reference
    assert registry.get("gru_sequence_forward") is ops_recurrent.gru_forward_reference
