"""Hidden test of assignment 6 (the teacher's; never copied to students)."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl as td


@pytest.mark.task("6.1")
@pytest.mark.points(1)
def test_a_diamond_twenty_levels_deep():
    x = td.tensor([0.1], dtype=td.float64, requires_grad=True)
    y = x
    for _ in range(20):               # y_{k+1} = y_k * y_k + y_k: each level uses y_k twice
        y = y * y + y
    y.sum().backward()
    value, slope = 0.1, 1.0
    for _ in range(20):
        value, slope = value * value + value, slope * (2 * value + 1)
    np.testing.assert_allclose(x.grad.numpy(), [slope], rtol=1e-12)
