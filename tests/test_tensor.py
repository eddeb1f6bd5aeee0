"""Tensor: construction and dtype rules, properties, operators, indexing, conversions."""
from __future__ import annotations

import numpy as np
import pytest

import tinydl as td
from tinydl.errors import GraphError


def test_dtype_rules():
    assert td.tensor([1.0, 2.0]).dtype == np.float32
    assert td.tensor(np.zeros(3)).dtype == np.float32  # float64 arrays become float32 by default
    assert td.tensor([1.0], dtype=td.float64).dtype == np.float64
    assert td.tensor([1, 2]).dtype == np.int64
    assert td.tensor([True, False]).dtype == np.bool_
    assert td.tensor(np.array([1, 2], dtype=np.int32)).dtype == np.int32


def test_ragged_list_gives_clear_error():
    with pytest.raises(TypeError, match="ragged"):
        td.tensor([[1.0, 2.0], [3.0]])


def test_properties():
    t = td.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24
    assert t.size() == (2, 3, 4) and t.size(1) == 3  # PyTorch's spelling works too
    assert t.numel() == 24 and t.device == "cpu" and t.is_leaf


def test_scalars_keep_float32():
    x = td.ones(3)
    for y in (x * 2.0, 2.0 * x, x + 1, x / 3, x ** 2, 1 - x, x * np.float64(2.0)):
        assert y.dtype == np.float32


def test_numpy_array_on_the_left_returns_tensor():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, td.Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    assert isinstance(np.array([1.0, 1.0]) + x, td.Tensor)
    assert isinstance(np.ones((2, 2)) @ x, td.Tensor)


def test_reflected_operators():
    x = td.tensor([2.0, 4.0])
    np.testing.assert_allclose((1 / x).numpy(), [0.5, 0.25])
    np.testing.assert_allclose((2 ** x).numpy(), [4.0, 16.0])
    np.testing.assert_allclose((10 - x).numpy(), [8.0, 6.0])
    np.testing.assert_allclose((-x).numpy(), [-2.0, -4.0])


def test_comparisons_are_bool_and_not_differentiable():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = x > 1.5
    assert mask.dtype == np.bool_ and not mask.requires_grad
    np.testing.assert_array_equal((x == 2.0).numpy(), [False, True, False])
    np.testing.assert_array_equal(((x >= 2) & (x < 3)).numpy(), [False, True, False])


def test_getitem_kinds():
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    t = td.tensor(base)
    np.testing.assert_array_equal(t[1].numpy(), base[1])
    np.testing.assert_array_equal(t[1:3, ::2].numpy(), base[1:3, ::2])
    np.testing.assert_array_equal(t[None, 0].numpy(), base[None, 0])
    np.testing.assert_array_equal(t[[0, 0, 3]].numpy(), base[[0, 0, 3]])
    np.testing.assert_array_equal(t[t > 10].numpy(), base[base > 10])
    np.testing.assert_array_equal(t[td.tensor([1, 2])].numpy(), base[[1, 2]])
    np.testing.assert_array_equal(t[..., -1].numpy(), base[..., -1])


def test_getitem_backward_accumulates_repeated_indices():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_setitem_refused_on_a_leaf_that_requires_grad():
    x = td.ones(3, requires_grad=True)
    with pytest.raises(GraphError, match="leaf tensor that requires grad.*no_grad"):
        x[0] = 5.0
    with td.no_grad():
        x[0] = 5.0
    assert x.numpy()[0] == 5.0


def test_item_numpy_detach_and_repr():
    x = td.tensor([[1.5]], requires_grad=True)
    assert x.item() == 1.5
    with pytest.raises(ValueError, match="one-element"):
        td.ones(2).item()
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<MulBackward>" in repr(x * 2)
    assert "dtype=float64" in repr(td.ones(1, dtype=td.float64))
    assert isinstance(x.numpy(), np.ndarray)


def test_casts_are_differentiable_between_floats():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3.0
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert x.long().dtype == np.int64 and not x.long().requires_grad


def test_torch_style_reduction_keywords():
    x = td.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(dim=1, keepdim=True).numpy(), [[3.0], [12.0]])
    np.testing.assert_array_equal(x.max(dim=0).values.numpy(), [3.0, 4.0, 5.0])
    np.testing.assert_array_equal(x.max(dim=0).indices.numpy(), [1, 1, 1])
    np.testing.assert_array_equal(x.argmax(dim=1).numpy(), [2, 2])
    assert x.var(unbiased=False).item() == pytest.approx(np.var(np.arange(6.0)))


def test_transpose_torch_and_numpy_style():
    x = td.zeros(2, 3, 4)
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert x.permute(1, 0, 2).shape == (3, 2, 4)
    assert x.T.shape == (4, 3, 2) and x.mT.shape == (2, 4, 3)


def test_creation_functions():
    assert td.zeros((2, 3)).shape == (2, 3)
    assert td.ones(2, dtype=td.float64).dtype == np.float64
    np.testing.assert_array_equal(td.arange(4).numpy(), [0, 1, 2, 3])
    assert td.arange(4).dtype == np.int64
    assert td.full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    assert td.eye(3).numpy().trace() == 3.0
    np.testing.assert_allclose(td.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert sorted(td.randperm(5).numpy().tolist()) == [0, 1, 2, 3, 4]


def test_split_unused_piece_gets_zero_gradient():
    x = td.tensor(np.arange(6.0), requires_grad=True)
    a, b, c = x.split(2)
    (b * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 2, 2, 0, 0])


def test_stable_softmax_and_log_softmax_for_huge_logits():
    logits = td.tensor([[1e4, -1e4, 0.0]], requires_grad=True)
    p = td.softmax(logits, -1)
    lp = td.log_softmax(logits, -1)
    assert np.all(np.isfinite(p.numpy())) and np.all(np.isfinite(lp.numpy()))
    np.testing.assert_allclose(p.numpy(), [[1.0, 0.0, 0.0]])
    (lp[0, 1] + p[0, 0]).backward()
    assert np.all(np.isfinite(logits.grad.numpy()))
