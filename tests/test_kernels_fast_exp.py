"""The vectorisable exp of the Numba kernels (tinydl/kernels/fast_exp.py) against NumPy's."""

import numpy as np
import pytest

from tinydl.kernels import fast_exp


def test_vectorisable_exp_matches_numpy_exp():
    x = np.concatenate([np.linspace(-800.0, 0.0, 20001), [-np.inf, -0.0, -1e-300, -745.2]])
    expected = np.exp(x)
    got = np.array([fast_exp.exp_float64(value) for value in x])
    normal = expected > np.finfo(np.float64).tiny
    np.testing.assert_allclose(got[normal], expected[normal], rtol=4e-16, atol=0)
    assert np.all(got[~normal] < 1e-300) and got[-4] == 0.0  # exp(-inf) is exactly 0


def test_float32_exp_is_within_one_ulp_and_keeps_nan():
    x = np.concatenate([np.linspace(-86.9, 0.0, 200001), [-1e-7, -0.0]]).astype(np.float32)
    exact = np.exp(x.astype(np.float64))  # float64: the float32 results' reference
    got = np.array([fast_exp.exp_float32(value) for value in x], dtype=np.float32)
    assert got.dtype == np.float32
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 1.0
    assert fast_exp.exp_float32(np.float32(0)) == 1.0
    # below -87 (exact value < 1.7e-38) and -inf give exactly 0; NaN stays NaN
    tiny = [fast_exp.exp_float32(np.float32(value)) for value in (-87.5, -103.0, -np.inf)]
    assert tiny == [0.0, 0.0, 0.0]
    assert np.isnan(fast_exp.exp_float32(np.float32(np.nan)))


def test_exp_in_its_dtype_takes_the_float32_exp_for_float32_only():
    x32 = np.linspace(-20, 0, 4001).astype(np.float32)
    by_float32 = np.array([fast_exp.exp_float32(value) for value in x32], dtype=np.float32)
    by_float64 = np.array([fast_exp.exp_float64(np.float64(value)) for value in x32]).astype(np.float32)
    assert (by_float32 != by_float64).sum() > 100  # the two differ in the last bit here and there
    got32 = np.array([fast_exp.exp_in_its_dtype(value) for value in x32], dtype=np.float32)
    np.testing.assert_array_equal(got32, by_float32)
    x64 = np.linspace(-20, 0, 4001)
    np.testing.assert_array_equal([fast_exp.exp_in_its_dtype(value) for value in x64],
                                  [fast_exp.exp_float64(value) for value in x64])


@pytest.mark.parametrize("dtype, relative, absolute", [(np.float32, 3e-7, 1.2e-7),
                                                       (np.float64, 1e-15, 5e-16)])
def test_sigmoid_and_tanh_in_its_dtype_against_float64(dtype, relative, absolute):
    """The LSTM's gates: sigmoid to a few ulp relative across both tails (no 1 + tanh
    cancelling), tanh to a few ulp of 1 absolutely and relatively once |x| > 0.5; the special
    values as in NumPy, tanh(-0) = -0 included."""
    pytest.importorskip("numba")
    x = np.concatenate([np.linspace(-80, 80, 40_001), np.linspace(-1e-3, 1e-3, 2_001)]).astype(dtype)
    sigmoid = np.array([fast_exp.sigmoid_in_its_dtype(value) for value in x])
    tanh = np.array([fast_exp.tanh_in_its_dtype(value) for value in x])
    wide = x.astype(np.float64)
    exact_sigmoid, exact_tanh = 1 / (1 + np.exp(-wide)), np.tanh(wide)
    assert np.max(np.abs(sigmoid - exact_sigmoid) / exact_sigmoid) <= relative
    assert np.max(np.abs(tanh - exact_tanh)) <= absolute
    away = np.abs(wide) > 0.5
    assert np.max(np.abs(tanh - exact_tanh)[away] / np.abs(exact_tanh[away])) <= relative
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype=dtype)
    got_sigmoid = [fast_exp.sigmoid_in_its_dtype(value) for value in special]
    got_tanh = np.array([fast_exp.tanh_in_its_dtype(value) for value in special])
    np.testing.assert_array_equal(got_sigmoid, [np.nan, 1.0, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(got_tanh, [np.nan, 1.0, -1.0, 0.0, -0.0])
    assert list(np.signbit(got_tanh[3:])) == [False, True]
