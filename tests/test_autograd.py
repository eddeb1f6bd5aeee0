"""The autograd engine: traversal, accumulation, graph freeing, modes, grad(), higher order."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import tinydl as td
from tinydl.errors import AnomalyError, DTypeError, GraphError, ShapeError
from tinydl.testing import gradcheck


def f64(values, requires_grad=True):
    return td.tensor(values, dtype=td.float64, requires_grad=requires_grad)


def test_chain_of_100000_ops_backpropagates_without_recursion():
    x = f64([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0  # 200,000 nodes deep
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_value_used_twice_gets_both_contributions():
    x = f64(3.0)
    y = x * x + x  # dy/dx = 2x + 1 = 7
    y.backward()
    assert x.grad.item() == 7.0


def test_gradients_accumulate_across_backward_calls():
    x = f64(2.0)
    (x * 3.0).backward()
    (x * 4.0).backward()
    assert x.grad.item() == 7.0


def test_unbroadcasting_sums_over_broadcast_axes():
    a = f64(np.ones((2, 3)))
    b = f64(np.ones((3,)))
    c = f64(np.ones((2, 1)))
    (a * b * c).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(c.grad.numpy(), [[3.0], [3.0]])


def test_backward_through_freed_graph_raises_clearly():
    x = f64([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(GraphError, match="already freed.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = f64([1.0, 2.0])
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1.0, 2.0]))


def test_backward_on_non_scalar_needs_grad():
    x = f64([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(GraphError, match=r"shape \(2,\), not a scalar.*backward\(grad="):
        y.backward()
    y.backward(grad=td.tensor([1.0, 10.0], dtype=td.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 20.0])


def test_requires_grad_on_integer_tensor_is_refused():
    with pytest.raises(DTypeError, match="only floating tensors.*int64.*float"):
        td.tensor([1, 2, 3], requires_grad=True)


def test_matmul_shape_error_names_op_and_shapes():
    with pytest.raises(ShapeError, match=re.escape(
            "matmul: shapes (3,) and (2, 2) do not align: inner dims 3 != 2")):
        td.ones(3) @ td.ones(2, 2)


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ShapeError, match=r"add: inputs of shapes \(2, 3\) and \(4,\).*broadcasting"):
        td.ones(2, 3) + td.ones(4)


def test_no_grad_builds_no_graph_as_context_and_decorator():
    x = f64([1.0])
    with td.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None

    @td.no_grad()
    def double(t):
        return t * 2.0

    assert not double(x).requires_grad
    with td.no_grad():
        with td.enable_grad():
            z = x * 2.0
    assert z.requires_grad
    assert td.is_grad_enabled()


def test_grad_returns_gradients_without_touching_dot_grad():
    x = f64([1.0, 2.0, 3.0])
    y = (x ** 3).sum()
    (gx,) = td.grad(y, [x])
    np.testing.assert_allclose(gx.numpy(), 3 * np.array([1.0, 4.0, 9.0]))
    assert x.grad is None


def test_grad_of_unused_input_needs_allow_unused():
    x, z = f64([1.0]), f64([2.0])
    y = (x * 2.0).sum()
    with pytest.raises(GraphError, match="allow_unused=True"):
        td.grad(y, [x, z], retain_graph=True)
    gx, gz = td.grad(y, [x, z], allow_unused=True)
    assert gz is None and gx.item() == 2.0


def test_second_derivative_of_tanh_matches_closed_form():
    values = np.linspace(-2, 2, 9)
    x = f64(values)
    (first,) = td.grad(x.tanh().sum(), [x], create_graph=True)
    (second,) = td.grad(first.sum(), [x])
    t = np.tanh(values)
    np.testing.assert_allclose(first.numpy(), 1 - t ** 2, rtol=1e-12)
    np.testing.assert_allclose(second.numpy(), -2 * t * (1 - t ** 2), rtol=1e-10, atol=1e-14)


def test_hessian_vector_product_of_mlp_loss_matches_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    W1 = f64(rng.standard_normal((3, 4)))
    W2 = f64(rng.standard_normal((4, 2)))
    v1, v2 = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))

    def loss_of(w1, w2):
        h = (td.tensor(X, dtype=td.float64) @ w1).tanh()
        return ((h @ w2) ** 2).mean()

    g1, g2 = td.grad(loss_of(W1, W2), [W1, W2], create_graph=True)
    gv = (g1 * td.tensor(v1, dtype=td.float64)).sum() + (g2 * td.tensor(v2, dtype=td.float64)).sum()
    h1, h2 = td.grad(gv, [W1, W2])

    def gradient_at(w1, w2):
        a, b = f64(w1), f64(w2)
        ga, gb = td.grad(loss_of(a, b), [a, b])
        return ga.numpy(), gb.numpy()

    eps = 1e-5
    plus = gradient_at(W1.numpy() + eps * v1, W2.numpy() + eps * v2)
    minus = gradient_at(W1.numpy() - eps * v1, W2.numpy() - eps * v2)
    np.testing.assert_allclose(h1.numpy(), (plus[0] - minus[0]) / (2 * eps), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(h2.numpy(), (plus[1] - minus[1]) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_retain_grad_keeps_non_leaf_gradient():
    x = f64([1.0, 2.0])
    h = (x * 3.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])
    np.testing.assert_array_equal(x.grad.numpy(), [18.0, 36.0])


def test_shared_gradient_is_not_aliased_between_leaves():
    a, b = f64([1.0]), f64([1.0])
    (a + b).sum().backward()
    a.grad.data *= 5.0  # e.g. gradient clipping in place
    assert b.grad.item() == 1.0


def test_manual_seed_repeats_bit_for_bit():
    td.manual_seed(123)
    first = (td.randn(5), td.rand(3), td.randint(0, 10, (4,)))
    td.manual_seed(123)
    second = (td.randn(5), td.rand(3), td.randint(0, 10, (4,)))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    td.manual_seed(124)
    assert not np.array_equal(td.randn(5).numpy(), first[0].numpy())


def test_rng_state_round_trips():
    td.manual_seed(7)
    state = td.get_rng_state()
    expected = td.randn(4).numpy()
    td.set_rng_state(state)
    np.testing.assert_array_equal(td.randn(4).numpy(), expected)


def test_detect_anomaly_names_the_op_in_forward():
    x = td.tensor([0.0, 1.0])
    with td.detect_anomaly():
        with pytest.raises(AnomalyError, match="log: forward produced Inf"):
            x.log()
    x.log()  # outside the context nothing is checked


def test_detect_anomaly_names_the_op_in_backward():
    x = td.tensor([0.0, 4.0], requires_grad=True)
    y = x.sqrt().sum()  # d sqrt / dx at 0 is inf
    with td.detect_anomaly():
        with pytest.raises(AnomalyError, match=r"sqrt: backward \(in its div\) produced Inf"):
            y.backward()


def test_gradients_keep_parameter_dtype_when_mixed():
    w = td.tensor([1.0, 2.0], requires_grad=True)  # float32
    x = td.tensor([3.0, 4.0], dtype=td.float64)
    (w * x).sum().backward()
    assert w.grad.dtype == np.float32


def test_gradcheck_reports_worst_element():
    class WrongSquare(td.Function):
        @staticmethod
        def forward(ctx, a):
            return a * a

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.inputs[0] * 3.0  # should be 2x

    x = f64([1.0, 2.0])
    with pytest.raises(AssertionError, match=r"element \(1,\): analytic gradient") as info:
        gradcheck(lambda a: WrongSquare.apply(a), [x])
    analytic, numeric = map(float, re.findall(r"gradient (\S+) vs numerical (\S+)",
                                              str(info.value))[0])
    assert analytic / numeric == pytest.approx(1.5, rel=1e-6)  # 3x against the true 2x


def test_gradcheck_random_directions_for_large_inputs():
    x = f64(np.random.default_rng(1).standard_normal(2000))
    assert gradcheck(lambda a: (a.tanh() * a).sum(), [x], max_elements=100)


def test_to_dot_parses_as_a_graph():
    x = f64([1.0, 2.0])
    x.name = "x"
    y = (x * x).sum() + x.exp().mean()
    dot = td.viz.to_dot(y)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    nodes = dict(re.findall(r"^\s*(\w+) \[shape=\w+, label=\"([^\"]*)\"", dot, re.M))
    edges = re.findall(r"^\s*(\w+) -> (\w+);", dot, re.M)
    assert all(a in nodes and b in nodes for a, b in edges)
    ops = sorted(label for node, label in nodes.items() if node.startswith("op"))
    assert ops == ["Add", "Exp", "Mean", "Mul", "Sum"]
    leaves = [label for label in nodes.values() if label.startswith("x\\n")]
    assert len(leaves) == 1
    # x feeds Mul twice (x * x) and Exp once
    x_node = next(n for n, label in nodes.items() if label.startswith("x\\n"))
    assert len([1 for a, _ in edges if a == x_node]) == 2  # edges are deduplicated: Mul, Exp


def test_sigmoid_of_two_is_0_8808():
    # seed 001 wrote 0.869; 1 / (1 + e^-2) = 0.880797...
    assert math.isclose(td.sigmoid(td.tensor(2.0)).item(), 0.8808, abs_tol=5e-5)


def test_leaf_gradient_is_a_writable_array_even_after_a_broadcasting_backward():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    x.sum().backward()  # Sum's backward broadcasts a scalar: a read-only view
    x.grad.data *= 0.5
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 0.5))


# ---- post-accumulate-grad hooks (what DistributedDataParallel starts its all-reduces from) ----


def _hooked_run(lib, make):
    """Run w*w + w*b*2 + b on ``lib`` (tinydl or torch); return what the hooks saw, in order."""
    w, b = make([1.0, 2.0]), make([3.0])
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(("w", t.grad.tolist())))
    handle = b.register_post_accumulate_grad_hook(lambda t: seen.append(("b", t.grad.tolist())))
    ((w * w).sum() + (w * b).sum() * 2 + b.sum()).backward()
    ((w * b).sum()).backward()  # a second backward: the hooks see the accumulated .grad
    handle.remove()
    (w.sum() + b.sum()).backward()
    return seen


def test_post_accumulate_grad_hook_runs_once_per_backward_after_every_contribution():
    seen = _hooked_run(td, lambda v: td.tensor(v, dtype=td.float64, requires_grad=True))
    # w is used three times in the first backward: one call, with 2w + 2b = [8, 10]
    assert sorted(seen[:2]) == [("b", [7.0]), ("w", [8.0, 10.0])]
    assert sorted(seen[2:4]) == [("b", [10.0]), ("w", [11.0, 13.0])]
    assert seen[4:] == [("w", [12.0, 14.0])], "removed hooks stay quiet"


@pytest.mark.torch
def test_post_accumulate_grad_hook_sees_what_pytorch_shows(torch):
    ours = _hooked_run(td, lambda v: td.tensor(v, dtype=td.float64, requires_grad=True))
    theirs = _hooked_run(torch, lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True))
    assert sorted(ours[:2]) == sorted(theirs[:2]) and sorted(ours[2:4]) == sorted(theirs[2:4])
    assert ours[4:] == theirs[4:]


def test_post_accumulate_grad_hook_needs_a_leaf_that_requires_grad():
    x = f64([1.0])
    with pytest.raises(GraphError, match="only leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(GraphError, match="does not require grad"):
        f64([1.0], requires_grad=False).register_post_accumulate_grad_hook(print)
    calls = []
    x.register_post_accumulate_grad_hook(calls.append)
    td.grad((x * 3).sum(), x)  # grad() fills no .grad, so nothing is accumulated
    assert calls == []
