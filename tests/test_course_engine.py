"""Graded task of assignment 6 (public tests): the topological order of the backward pass.

Graded independently (every other task is the teacher's solution), so the engine can be a task
even though every backward pass in the package runs through it.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinydl as td
from tinydl.autograd import _topological_order


def f64(values):
    return td.tensor(values, dtype=td.float64, requires_grad=True)


@pytest.mark.task("6.1")
@pytest.mark.points(2)
def test_each_node_comes_before_the_nodes_it_depends_on(course_rng):
    x = f64(course_rng.standard_normal(3))
    a = x * 2.0                      # mul
    b = a.exp()                      # exp  <- mul
    y = (b + a).sum()                # add  <- exp, mul; sum <- add
    order = _topological_order([y._ctx])
    names = [ctx.fn.__name__ for ctx in order]
    assert sorted(names) == ["Add", "Exp", "Mul", "Sum"]            # every node, once
    position = {id(ctx): i for i, ctx in enumerate(order)}
    for ctx in order:
        for tensor in ctx.inputs:
            if tensor._ctx is not None:
                assert position[id(ctx)] < position[id(tensor._ctx)]


@pytest.mark.task("6.1")
@pytest.mark.points(2)
def test_a_value_used_twice_gets_both_contributions():
    x = f64([1.5, -2.0])
    square = x * x
    (square + square * 3.0).sum().backward()    # d/dx (4 x^2) = 8x: the shared node runs once
    np.testing.assert_allclose(x.grad.numpy(), [12.0, -16.0])
