"""Graded tasks of assignments 1 and 2 (public tests): backward passes of the core ops.

Each test names its task and points; `tinydl assign grade` runs them per task. Values checked
here are worked by hand in the comments, and gradients are checked numerically (gradcheck).
"""
from __future__ import annotations

import numpy as np
import pytest

import tinydl as td
from tinydl.testing import gradcheck


def f64(values):
    return td.tensor(values, dtype=td.float64, requires_grad=True)


@pytest.mark.task("1.1")
@pytest.mark.points(2)
def test_mul_backward_by_hand():
    a, b = f64([2.0, -1.0]), f64([3.0, 5.0])
    (a * b).backward(grad=td.ones(2, dtype=td.float64))  # (no .sum(): that is task 1.4)
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 5.0])   # d(ab)/da = b
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, -1.0])  # d(ab)/db = a


@pytest.mark.task("1.1")
@pytest.mark.points(2)
def test_mul_gradcheck_with_broadcasting(course_rng):
    rng = course_rng
    assert gradcheck(lambda a, b: a * b, [f64(rng.standard_normal((3, 4))),
                                           f64(rng.standard_normal((4,)))])


@pytest.mark.task("1.2")
@pytest.mark.points(2)
def test_div_backward_by_hand():
    a, b = f64([6.0]), f64([2.0])
    (a / b).backward()
    assert a.grad.item() == 0.5      # 1/b
    assert b.grad.item() == -1.5     # -a/b^2 = -6/4


@pytest.mark.task("1.2")
@pytest.mark.points(2)
def test_div_gradcheck(course_rng):
    rng = course_rng
    assert gradcheck(lambda a, b: a / b, [f64(rng.standard_normal((2, 3))),
                                           f64(rng.uniform(0.5, 2.0, (2, 3)))])


@pytest.mark.task("1.3")
@pytest.mark.points(2)
def test_exp_backward_is_exp():
    x = f64([0.0, 1.0])
    x.exp().backward(grad=td.ones(2, dtype=td.float64))
    np.testing.assert_allclose(x.grad.numpy(), [1.0, np.e])


@pytest.mark.task("1.3")
@pytest.mark.points(2)
def test_log_backward_is_reciprocal():
    x = f64([0.5, 4.0])
    x.log().backward(grad=td.ones(2, dtype=td.float64))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.25])


@pytest.mark.task("1.4")
@pytest.mark.points(2)
def test_sum_backward_spreads_ones():
    x = f64(np.arange(6.0).reshape(2, 3))
    x.sum(axis=1).backward(grad=td.tensor([1.0, 10.0], dtype=td.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1, 1], [10, 10, 10]])


@pytest.mark.task("1.4")
@pytest.mark.points(2)
def test_sum_and_mean_gradcheck_over_axes(course_rng):
    x = f64(course_rng.standard_normal((2, 3, 4)))
    assert gradcheck(lambda t: t.sum(axis=(0, 2), keepdims=True) + t.mean(axis=1).sum(), [x])


@pytest.mark.task("2.1")
@pytest.mark.points(2)
def test_sum_to_by_hand():
    g = td.tensor(np.ones((2, 3, 4)), dtype=td.float64)
    np.testing.assert_array_equal(td.sum_to(g, (3, 1)).numpy(), np.full((3, 1), 8.0))  # 2*4 ones
    np.testing.assert_array_equal(td.sum_to(g, (4,)).numpy(), np.full((4,), 6.0))      # 2*3 ones


@pytest.mark.task("2.1")
@pytest.mark.points(2)
def test_broadcast_add_gradient_has_input_shape():
    a, b = f64(np.ones((2, 3))), f64(np.ones((2, 1)))
    (a + b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [[3.0], [3.0]])


@pytest.mark.task("2.2")
@pytest.mark.points(2)
def test_matmul_backward_by_hand():
    a = f64([[1.0, 2.0]])          # (1, 2)
    b = f64([[3.0], [4.0]])        # (2, 1)
    (a @ b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[3.0, 4.0]])    # dC @ B^T
    np.testing.assert_array_equal(b.grad.numpy(), [[1.0], [2.0]])  # A^T @ dC


@pytest.mark.task("2.2")
@pytest.mark.points(2)
def test_matmul_gradcheck_batched_with_broadcast(course_rng):
    rng = course_rng
    assert gradcheck(lambda a, b: a @ b, [f64(rng.standard_normal((2, 1, 3, 4))),
                                           f64(rng.standard_normal((3, 4, 2)))])


@pytest.mark.task("2.2")
@pytest.mark.points(2)
def test_matmul_gradcheck_vectors(course_rng):
    rng = course_rng
    assert gradcheck(lambda a, b: a @ b, [f64(rng.standard_normal(3)),
                                           f64(rng.standard_normal((3, 2)))])


@pytest.mark.task("2.3")
@pytest.mark.points(2)
def test_softmax_gradients_sum_to_zero(course_rng):
    # softmax outputs sum to 1, so any gradient through them sums to 0 along the axis
    x = f64(course_rng.standard_normal((2, 5)))
    (td.softmax(x, -1) * td.tensor(np.arange(5.0), dtype=td.float64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy().sum(axis=-1), [0.0, 0.0], atol=1e-12)
    assert gradcheck(lambda t: td.softmax(t, 0), [f64(course_rng.standard_normal((3, 2)))])


@pytest.mark.task("2.3")
@pytest.mark.points(2)
def test_log_softmax_gradcheck(course_rng):
    x = f64(course_rng.standard_normal((3, 4)))
    assert gradcheck(lambda t: td.log_softmax(t, -1), [x])
