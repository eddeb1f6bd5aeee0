"""GELU and LayerNorm's normalisation kernels: hand-worked values, Numba (serial and parallel
copies) against the NumPy reference, and the reference forced by TINYDL_KERNELS=numpy."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinydl
from tinydl import threads
from tinydl.kernels import activation, normalization, registry
from tinydl.ops import nn as ops_nn
from tinydl.ops import normalization as ops_normalization

GELU_FORWARD = {"reference": ops_nn.gelu_forward_reference,
                "numba": activation.gelu_forward_numba}
GELU_BACKWARD = {"reference": ops_nn.gelu_backward_reference,
                 "numba": activation.gelu_backward_numba}
NORM_FORWARD = {"reference": ops_normalization.normalize_forward_reference,
                "numba": normalization.normalize_forward_numba}
NORM_BACKWARD = {"reference": ops_normalization.normalize_backward_reference,
                 "numba": normalization.normalize_backward_numba}
RELU_FORWARD = {"reference": ops_nn.relu_forward_reference,
                "numba": activation.relu_forward_numba}
RELU_BACKWARD = {"reference": ops_nn.relu_backward_reference,
                 "numba": activation.relu_backward_numba}


@pytest.fixture(params=["reference", "numba"])
def impl(request):
    if request.param == "numba":
        pytest.importorskip("numba")
    return request.param


def _phi(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_gelu_hand_values(impl):
    x = np.array([-2.0, 0.0, 1.0], dtype=np.float64)
    exact = [v * _phi(v) for v in x]                          # x Φ(x)
    np.testing.assert_allclose(GELU_FORWARD[impl](x, "none"), exact, rtol=1e-12, atol=1e-15)
    c = math.sqrt(2 / math.pi)
    approx = [0.5 * v * (1 + math.tanh(c * (v + 0.044715 * v**3))) for v in x]
    np.testing.assert_allclose(GELU_FORWARD[impl](x, "tanh"), approx, rtol=1e-12, atol=1e-15)
    # gelu'(x) = Φ(x) + x φ(x); at 0 it is 1/2, at 1 it is 0.8413447 + 0.2419707
    slope = GELU_BACKWARD[impl](x, np.ones_like(x), "none")
    np.testing.assert_allclose(slope[1:], [0.5, _phi(1.0) + math.exp(-0.5) / math.sqrt(2 * math.pi)],
                               rtol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("size", [0, 7, threads.PARALLEL_MIN_WORK + 5])  # serial twin, parallel copy
def test_gelu_numba_matches_the_reference(approximate, dtype, tol, size):
    pytest.importorskip("numba")
    rng = np.random.default_rng(size)
    x = (rng.standard_normal(size) * 4).astype(dtype)
    grad = rng.standard_normal(size).astype(dtype)
    forward = activation.gelu_forward_numba(x, approximate)
    backward = activation.gelu_backward_numba(x, grad, approximate)
    assert forward.dtype == backward.dtype == dtype
    np.testing.assert_allclose(forward, ops_nn.gelu_forward_reference(x, approximate),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(backward, ops_nn.gelu_backward_reference(x, grad, approximate),
                               rtol=tol, atol=tol)


def test_exact_gelu_numba_float32_follows_the_normal_cdf_into_the_tail():
    """The float32 kernels compute Φ from erfc (no libm call, so the loop vectorises) and keep
    its tail: against x Φ(x) in float64 (math.erfc), relative error at most 3e-6 for x > -5
    and 3e-5 down to -13 (0.5 (1 + erf(x / √2)) in float32 is 0 from -5.6 on); the slope
    Φ(x) + x φ(x) within 1e-6."""
    pytest.importorskip("numba")
    x = np.linspace(-13, 6, 20_001).astype(np.float32)
    exact_cdf = np.array([0.5 * math.erfc(-float(v) / math.sqrt(2)) for v in x])
    exact_forward = x.astype(np.float64) * exact_cdf
    density = np.exp(-0.5 * x.astype(np.float64) ** 2) / math.sqrt(2 * math.pi)
    exact_slope = exact_cdf + x * density
    forward = activation.gelu_forward_numba(x, "none").astype(np.float64)
    slope = activation.gelu_backward_numba(x, np.ones_like(x), "none").astype(np.float64)
    near = x > -5
    relative = np.abs(forward - exact_forward) / np.abs(exact_forward).clip(1e-300)
    assert relative[near & (x != 0)].max() <= 3e-6
    assert relative[~near].max() <= 3e-5
    assert forward[0] < 0                                  # gelu(-13) = -7.9e-38, not 0
    assert np.abs(slope - exact_slope).max() <= 1e-6       # (the slope crosses 0 at x = -0.75)
    special = np.array([np.nan, np.inf, -np.inf, 0.0], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(activation.gelu_forward_numba(special, "none"),
                                      ops_nn.gelu_forward_reference(special, "none"))


def test_tanh_gelu_numba_float32_keeps_its_negative_tail():
    """The float32 kernels write 0.5 (1 + tanh(u)) as σ(2u) from exp(-2|u|), so the tail keeps
    its digits: against 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)) in float64, relative error at
    most 3e-6 for x > -5 and 3e-5 down to -9.5, where the float32 reference formula cancels
    (2e-5 off at x = -3, 0 below -5.42); the slope within 1e-6 of the float64 formula."""
    pytest.importorskip("numba")
    x = np.linspace(-9.5, 6, 20_001).astype(np.float32)
    wide = x.astype(np.float64)
    c, k = math.sqrt(2 / math.pi), 0.044715
    u = c * (wide + k * wide ** 3)
    exact_forward = wide / (1 + np.exp(-2 * u))
    t = np.tanh(u)
    exact_slope = 0.5 * (1 + t) + 0.5 * wide * (1 - t * t) * c * (1 + 3 * k * wide * wide)
    forward = activation.gelu_forward_numba(x, "tanh").astype(np.float64)
    slope = activation.gelu_backward_numba(x, np.ones_like(x), "tanh").astype(np.float64)
    relative = np.abs(forward - exact_forward) / np.abs(exact_forward).clip(1e-300)
    near = x > -5
    assert relative[near & (x != 0)].max() <= 3e-6
    assert relative[~near].max() <= 3e-5
    assert forward[0] < 0                                  # gelu(-9.5) = -6.7e-33, not 0
    assert np.abs(slope - exact_slope).max() <= 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_gelu_numba_gives_the_references_special_values(dtype):
    pytest.importorskip("numba")
    x = np.array([np.nan, np.inf, -np.inf, 1e20, -1e20, 0.0, -0.0, 30.0, -30.0], dtype=dtype)
    grad = np.ones_like(x)
    with np.errstate(all="ignore"):
        want_forward = ops_nn.gelu_forward_reference(x, "tanh")
        want_backward = ops_nn.gelu_backward_reference(x, grad, "tanh")
    np.testing.assert_array_equal(activation.gelu_forward_numba(x, "tanh"), want_forward)
    np.testing.assert_array_equal(activation.gelu_backward_numba(x, grad, "tanh"), want_backward)


def test_relu_forward_hand_values(impl):
    x = np.array([-1.0, -0.0, 0.0, 2.5, np.nan], dtype=np.float32)
    out = RELU_FORWARD[impl](x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0, 2.5, np.nan])   # NaN stays NaN
    assert not np.signbit(out[1])                                        # max(-0.0, 0) is +0.0


def test_relu_backward_hand_values(impl):
    x = np.array([-1.0, 0.0, 2.0, 3.0], dtype=np.float32)
    grad = np.array([5.0, 6.0, 7.0, -8.0], dtype=np.float32)
    out = RELU_BACKWARD[impl](x, grad)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [0.0, 0.0, 7.0, -8.0])   # 0 at x = 0, as in PyTorch


@pytest.mark.parametrize("size", [5, threads.PARALLEL_MIN_WORK + 1])
def test_relu_forward_numba_matches_the_reference(size):
    pytest.importorskip("numba")
    x = np.random.default_rng(size).standard_normal((2, size)).astype(np.float32)
    np.testing.assert_array_equal(activation.relu_forward_numba(x),
                                  ops_nn.relu_forward_reference(x))


def _channel_major(x):
    """x (N, C, H, W) with the same values, stored as a (C, N, H, W) block (a convolution's output)."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


def test_relu_kernels_keep_a_transposed_layout_and_mix_layouts_correctly():
    pytest.importorskip("numba")
    rng = np.random.default_rng(8)
    x, grad = rng.standard_normal((2, 3, 4, 5, 6))
    stored_x, stored_grad = _channel_major(x), _channel_major(grad)
    out = activation.relu_forward_numba(stored_x)
    np.testing.assert_array_equal(out, ops_nn.relu_forward_reference(x))
    assert out.strides == stored_x.strides                      # no reordering copy downstream
    dx = activation.relu_backward_numba(stored_x, stored_grad)
    np.testing.assert_array_equal(dx, ops_nn.relu_backward_reference(x, grad))
    assert dx.strides == stored_x.strides
    for mixed_x, mixed_grad in ((stored_x, grad), (x, stored_grad), (x[:, ::2], grad[:, ::2])):
        np.testing.assert_array_equal(activation.relu_backward_numba(mixed_x, mixed_grad),
                                      ops_nn.relu_backward_reference(mixed_x, mixed_grad))


@pytest.mark.parametrize("size", [5, threads.PARALLEL_MIN_WORK + 1])
def test_relu_backward_numba_matches_the_reference(size):
    pytest.importorskip("numba")
    rng = np.random.default_rng(size)
    x, grad = rng.standard_normal((2, size))
    np.testing.assert_array_equal(activation.relu_backward_numba(x, grad),
                                  ops_nn.relu_backward_reference(x, grad))


def test_normalize_hand_values(impl):
    x = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    x_hat, rstd = NORM_FORWARD[impl](x, (-1,), 0.0 + 1e-12)
    np.testing.assert_allclose(x_hat[0], [-math.sqrt(1.5), 0.0, math.sqrt(1.5)], rtol=1e-9)
    np.testing.assert_allclose(x_hat[1], [0.0, 0.0, 0.0], atol=1e-12)     # constant row
    np.testing.assert_allclose(rstd[0, 0], 1 / math.sqrt(2 / 3), rtol=1e-9)
    assert rstd.shape == (2, 1)
    # a gradient along x_hat itself: dx = rstd (g - 0 - x_hat * mean(x_hat²)) = 0
    dx = NORM_BACKWARD[impl](x_hat, rstd, x_hat.copy(), (-1,))
    np.testing.assert_allclose(dx[0], [0.0, 0.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("shape, axes", [((5, 9), (-1,)), ((3, 4, 6), (1, 2)), ((2, 3, 4), (-1,)),
                                         ((threads.PARALLEL_MIN_WORK // 64 + 3, 64), (-1,))])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-11)])
def test_normalize_numba_matches_the_reference(shape, axes, dtype, tol):
    pytest.importorskip("numba")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    got, want = (NORM_FORWARD[i](x, axes, 1e-5) for i in ("numba", "reference"))
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    dx = normalization.normalize_backward_numba(*want, grad, axes)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, ops_normalization.normalize_backward_reference(*want, grad,
                                                                                axes),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("shape, axes", [((4, 7, 5), (-1,)), ((3, 4, 6), (1, 2)), ((1, 3), (-1,)),
                                         ((threads.PARALLEL_MIN_WORK // 64 + 3, 64), (-1,))])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-11)])
def test_affine_normalize_numba_matches_the_reference(shape, axes, dtype, tol):
    pytest.importorskip("numba")
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    weight_shape = shape[len(shape) - len(axes):]
    weight = rng.standard_normal(weight_shape).astype(dtype)
    bias = rng.standard_normal(weight_shape).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    got = normalization.affine_normalize_forward_numba(x, weight, bias, axes, 1e-5)
    want = ops_normalization.affine_normalize_forward_reference(x, weight, bias, axes, 1e-5)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    x_hat, rstd = want[1:]
    got = normalization.affine_normalize_backward_numba(x_hat, rstd, weight, grad, axes)
    want = ops_normalization.affine_normalize_backward_reference(x_hat, rstd, weight, grad, axes)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype == dtype
        np.testing.assert_allclose(g, w, rtol=tol * 10, atol=tol * 50)  # sums over many rows


def test_affine_normalize_reference_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]])
    weight, bias = np.array([2.0, 1.0, -1.0]), np.array([0.5, 0.0, 1.0])
    y, x_hat, _ = ops_normalization.affine_normalize_forward_reference(x, weight, bias, (-1,), 1e-12)
    s = math.sqrt(1.5)
    np.testing.assert_allclose(y, [[-2 * s + 0.5, 0.0, -s + 1.0], [0.5, 0.0, 1.0]], atol=1e-12)
    grad = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    _, dweight, dbias = ops_normalization.affine_normalize_backward_reference(
        x_hat, np.ones((2, 1)), weight, grad, (-1,))
    np.testing.assert_allclose(dweight, [-s, 0.0, 0.0], atol=1e-12)  # sum of grad * x_hat
    np.testing.assert_allclose(dbias, [1.0, 1.0, 0.0])


def test_layer_norm_and_gelu_use_the_references_when_forced(monkeypatch):
    monkeypatch.setenv(registry.ENV_VAR, "numpy")
    assert registry.get("gelu_forward") is ops_nn.gelu_forward_reference
    assert registry.get("normalize_backward") is ops_normalization.normalize_backward_reference
    assert (registry.get("affine_normalize_backward")
            is ops_normalization.affine_normalize_backward_reference)
    x = tinydl.tensor(np.array([[1.0, 2.0, 3.0]], dtype=np.float32), requires_grad=True)
    out = tinydl.functional.layer_norm(tinydl.gelu(x), 3)
    out.sum().backward()
    assert x.grad.dtype == np.float32 and abs(float(x.grad.data.sum())) < 1e-5  # sum of a LN is constant
