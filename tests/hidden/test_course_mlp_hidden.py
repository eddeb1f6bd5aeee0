"""Hidden tests of assignment 3."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl as td
from tinydl import nn, optim
from tinydl.testing import gradgradcheck


@pytest.mark.task("3.1")
@pytest.mark.points(1)
def test_linear_without_bias_and_second_derivative(course_rng):
    rng = course_rng
    x, w = (td.tensor(rng.standard_normal(s), dtype=td.float64, requires_grad=True)
            for s in [(3, 2), (4, 2)])
    assert gradgradcheck(lambda x, w: td.functional.linear(x, w).tanh(), [x, w])


@pytest.mark.task("3.2")
@pytest.mark.points(1)
def test_cross_entropy_ignore_index_and_spatial_targets():
    logits = td.tensor(np.zeros((1, 4, 2, 2)))
    labels = td.tensor([[[0, 1], [-100, 3]]])
    assert td.functional.cross_entropy(logits, labels).item() == pytest.approx(np.log(4))


@pytest.mark.task("3.3")
@pytest.mark.points(1)
def test_sgd_trains_a_line(monkeypatch):
    monkeypatch.setenv("TINYDL_KERNELS", "numpy")
    td.manual_seed(0)
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    x = td.tensor(np.linspace(-1, 1, 16).reshape(-1, 1))
    y = x * 3.0 - 1.0
    for _ in range(200):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        opt.step()
    assert model.weight.item() == pytest.approx(3.0, abs=1e-2)


@pytest.mark.task("3.4")
@pytest.mark.points(1)
def test_adam_amsgrad_keeps_the_max(monkeypatch):
    monkeypatch.setenv("TINYDL_KERNELS", "numpy")
    p = td.tensor([1.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    for g in (1.0, 0.0):  # v: 0.001, then 0.999 * 0.001 = 0.000999; the max stays 0.001
        p.grad = td.tensor([g])
        opt.step()
    state = opt.state[p]
    assert state["max_exp_avg_sq"][0] == pytest.approx(0.001, rel=1e-6)
