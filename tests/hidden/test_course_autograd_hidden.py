"""Hidden tests of assignments 1 and 2 (the teacher's; never copied to students)."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl as td
from tinydl.testing import gradcheck, gradgradcheck


def f64(values):
    return td.tensor(values, dtype=td.float64, requires_grad=True)


@pytest.mark.task("1.1")
@pytest.mark.points(1)
def test_mul_second_derivative():
    x = f64([1.5, -2.0])
    assert gradgradcheck(lambda t: t * t * t, [x])


@pytest.mark.task("1.2")
@pytest.mark.points(1)
def test_div_by_broadcast_scalar():
    x, y = f64(np.ones((2, 2))), f64([4.0])
    assert gradcheck(lambda a, b: a / b, [x, y])


@pytest.mark.task("1.3")
@pytest.mark.points(1)
def test_exp_log_chain():
    x = f64([0.3, 1.7])
    assert gradgradcheck(lambda t: (t.exp() + 1.0).log(), [x])


@pytest.mark.task("1.4")
@pytest.mark.points(1)
def test_max_uses_the_same_expansion():
    x = f64([[1.0, 5.0], [7.0, 2.0]])
    x.amax(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1], [1, 0]])


@pytest.mark.task("2.1")
@pytest.mark.points(1)
def test_sum_to_leading_and_inner_axes():
    g = td.tensor(np.arange(24.0).reshape(2, 3, 4), dtype=td.float64)
    np.testing.assert_array_equal(td.sum_to(g, (1, 4)).numpy(),
                                  np.arange(24.0).reshape(2, 3, 4).sum(axis=(0, 1))[None])


@pytest.mark.task("2.2")
@pytest.mark.points(1)
def test_matmul_second_derivative():
    rng = np.random.default_rng(5)
    assert gradgradcheck(lambda a, b: (a @ b).tanh(), [f64(rng.standard_normal((2, 3))),
                                                        f64(rng.standard_normal((3, 2)))])


@pytest.mark.task("2.3")
@pytest.mark.points(1)
def test_log_softmax_stable_gradient():
    x = f64([[1e4, 0.0, -1e4]])
    td.log_softmax(x, -1)[0, 1].backward()
    assert np.all(np.isfinite(x.grad.numpy()))
