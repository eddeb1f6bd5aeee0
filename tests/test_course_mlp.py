"""Graded tasks of assignment 3 (public tests): Linear, cross-entropy, SGD and Adam.

Optimizer tasks run on the NumPy reference kernels (TINYDL_KERNELS=numpy), the code the
student writes; the numbers are worked by hand in the comments.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinydl as td
from tinydl import nn, optim
from tinydl.testing import gradcheck


@pytest.fixture
def reference_kernels(monkeypatch):
    monkeypatch.setenv("TINYDL_KERNELS", "numpy")


@pytest.mark.task("3.1")
@pytest.mark.points(2)
def test_linear_backward_by_hand():
    x = td.tensor([[1.0, 2.0]], requires_grad=True)
    layer = nn.Linear(2, 2)
    layer.load_state_dict({"weight": np.array([[3.0, 4.0], [5.0, 6.0]]), "bias": np.zeros(2)})
    y = layer(x)
    np.testing.assert_array_equal(y.numpy(), [[11.0, 17.0]])  # [1*3+2*4, 1*5+2*6]
    y.backward(grad=td.ones(1, 2))
    np.testing.assert_array_equal(x.grad.numpy(), [[8.0, 10.0]])                 # g @ W
    np.testing.assert_array_equal(layer.weight.grad.numpy(), [[1, 2], [1, 2]])   # g^T @ x
    np.testing.assert_array_equal(layer.bias.grad.numpy(), [1.0, 1.0])           # sum of g


@pytest.mark.task("3.1")
@pytest.mark.points(2)
def test_linear_gradcheck_batched(course_rng):
    rng = course_rng
    x, w, b = (td.tensor(rng.standard_normal(s), dtype=td.float64, requires_grad=True)
               for s in [(2, 3, 4), (5, 4), (5,)])
    assert gradcheck(lambda x, w, b: td.functional.linear(x, w, b), [x, w, b])


@pytest.mark.task("3.2")
@pytest.mark.points(2)
def test_cross_entropy_by_hand():
    # -log softmax([1, 2, 3])[2] = log(e + e^2 + e^3) - 3
    loss = td.functional.cross_entropy(td.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),
                                       td.tensor([2, 0]))
    expected = (math.log(math.e + math.e ** 2 + math.e ** 3) - 3 + math.log(3)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.task("3.2")
@pytest.mark.points(2)
def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    rows = np.array([[0.5, -1.0, 2.0], [1.0, 0.3, -0.4]])
    logits = td.tensor(rows, dtype=td.float64, requires_grad=True)
    # each target is neither its row's largest nor smallest logit (picking by min or max
    # fails), and the second row's target is not at flat position 1 (a flat pick fails)
    td.functional.cross_entropy(logits, td.tensor([0, 1])).backward()
    p = np.exp(rows) / np.exp(rows).sum(axis=1, keepdims=True)
    one_hot = np.array([[1, 0, 0], [0, 1, 0]])
    np.testing.assert_allclose(logits.grad.numpy(), (p - one_hot) / 2, rtol=1e-10)  # mean over 2


def _one_parameter(value=1.0):
    return td.tensor([value], requires_grad=True)


def _steps(optimizer, param, grads):
    for g in grads:
        param.grad = td.tensor([g])
        optimizer.step()
    return param.item()


@pytest.mark.task("3.3")
@pytest.mark.points(2)
def test_sgd_momentum_by_hand(reference_kernels):
    p = _one_parameter()
    # step 1: buf = 0.5, p = 1 - 0.1*0.5 = 0.95; step 2: buf = 0.9*0.5 + 0.5 = 0.95, p = 0.855
    assert _steps(optim.SGD([p], lr=0.1, momentum=0.9), p, [0.5, 0.5]) == pytest.approx(0.855)


@pytest.mark.task("3.3")
@pytest.mark.points(2)
def test_sgd_nesterov_and_plain_by_hand(reference_kernels):
    p = _one_parameter()
    # nesterov: buf = 0.5, direction = 0.5 + 0.9*0.5 = 0.95, p = 1 - 0.095 = 0.905
    assert _steps(optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True), p, [0.5]) == pytest.approx(0.905)
    q = _one_parameter()
    # with dampening 0.5: step 2 buf = 0.9*0.5 + 0.5*0.5 = 0.7; p = 1 - 0.05 - 0.07 = 0.88
    assert _steps(optim.SGD([q], lr=0.1, momentum=0.9, dampening=0.5), q, [0.5, 0.5]) == pytest.approx(0.88)


@pytest.mark.task("3.4")
@pytest.mark.points(2)
def test_adam_by_hand(reference_kernels):
    p = _one_parameter()
    # bias-corrected m_hat = 0.5 and v_hat = 0.25 on both steps, so each step moves p by
    # lr * 0.5 / sqrt(0.25) = 0.1: 1.0 -> 0.9 -> 0.8
    assert _steps(optim.Adam([p], lr=0.1), p, [0.5, 0.5]) == pytest.approx(0.8, abs=1e-6)


@pytest.mark.task("3.4")
@pytest.mark.points(2)
def test_adamw_decays_weights_first(reference_kernels):
    p = _one_parameter()
    # p *= 1 - lr*wd = 0.99, then the Adam step of 0.1: 0.89
    assert _steps(optim.AdamW([p], lr=0.1, weight_decay=0.1), p, [0.5]) == pytest.approx(0.89, abs=1e-6)
