"""PyTorch fidelity: code that PyTorch runs gives PyTorch's answer on tinydl, or a clear error.

Each case of the fidelity issue has a hand-computed test here (no torch needed); the same code
run on both libraries lives in test_torch_parity_idioms.py, and the cases where PyTorch raises
are run on both below (marked torch). Then: in-place methods and version counters, the type
promotion table, dim=/axis= spellings and the names PyTorch code reaches for first.
"""
from __future__ import annotations

import math
import operator
import sys

import numpy as np
import pytest

import tinydl as td
from tinydl.errors import DTypeError, GraphError
from tinydl.testing.gradcheck import gradcheck, gradgradcheck


def f64(values, requires_grad=True):
    return td.tensor(np.asarray(values, dtype=np.float64), dtype=td.float64,
                     requires_grad=requires_grad)


# ---- case 1: transpose(d0, d1) swaps, at any ndim ---------------------------------------------


def test_transpose_of_a_matrix_swaps_its_two_dims():
    x = td.arange(6.).reshape(2, 3)
    assert x.transpose(0, 1).shape == (3, 2)
    assert x.transpose(0, 1).tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert x.transpose(1, 0).tolist() == x.transpose(0, 1).tolist()
    assert x.T.tolist() == x.t().tolist() == x.mT.tolist() == x.swapaxes(0, 1).tolist()
    assert x.permute(0, 1).tolist() == x.tolist()  # two ints to permute are a permutation


def test_attention_scores_use_the_transposed_keys():
    q = td.tensor([[1.0, 2.0], [3.0, 4.0]])
    k = td.tensor([[1.0, 0.0], [1.0, 1.0]])
    # q @ k^T by hand: rows of q dotted with rows of k
    assert (q @ k.transpose(-2, -1)).tolist() == [[1.0, 3.0], [3.0, 7.0]]


def test_dims_methods_on_3d():
    x = td.zeros(2, 3, 4)
    assert x.transpose(0, 2).shape == (4, 3, 2)
    assert x.movedim(0, -1).shape == (3, 4, 2)
    assert x.movedim((0, 1), (2, 0)).shape == (3, 4, 2)
    assert x.mT.shape == (2, 4, 3)
    assert x.T.shape == (4, 3, 2)
    with pytest.raises(td.ShapeError, match="t: expects a tensor with at most 2 dims"):
        x.t()


# ---- case 2: augmented assignment updates in place ----------------------------------------------


def test_manual_sgd_loop_updates_the_model():
    model = td.nn.Linear(2, 1)
    weight_before = model.weight.numpy().copy()
    bias_before = model.bias.numpy().copy()
    model(td.tensor([[1.0, 2.0]])).sum().backward()  # d/dW = [1, 2], d/db = 1
    with td.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad
    np.testing.assert_allclose(model.weight.numpy(), weight_before - [[0.5, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(model.bias.numpy(), bias_before - 0.5, rtol=1e-6)
    assert model.weight.numpy() is not None and isinstance(model.weight, td.nn.Parameter)


def test_every_augmented_assignment_keeps_the_same_tensor():
    x = td.tensor([2.0, 4.0])
    alias = x
    x += 1
    x -= 0.5
    x *= 2
    x /= 5
    assert x is alias
    assert x.tolist() == pytest.approx([1.0, 1.8])  # ((2 + 1 - 0.5) * 2) / 5, ((4 + 1 - 0.5) * 2) / 5
    assert x._version == 4


# ---- case 3: in-place writes never corrupt gradients silently -----------------------------------


def test_changing_a_saved_input_under_no_grad_raises_at_backward():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    with td.no_grad():
        x[0] = 10
    with pytest.raises(GraphError, match=r"mul: one of the tensors needed for gradient "
                                         r"computation has been modified by an inplace operation"):
        y.sum().backward()


def test_changing_a_saved_constant_raises_and_names_it():
    w = td.tensor([1.0, 2.0], requires_grad=True)
    a = td.tensor([3.0, 4.0])
    a.name = "a"
    y = (w * a).sum()
    a[0] = 100
    with pytest.raises(GraphError, match=r"input 1 of mul, the float32 tensor 'a' of shape "
                                         r"\(2,\), was changed in place after mul saved it "
                                         r"\(it is now at version 1\)"):
        y.backward()


def test_changing_a_saved_output_raises():
    x = td.tensor([0.5], requires_grad=True)
    y = x.exp()  # exp's backward reads its output
    z = y.sum()
    with td.no_grad():
        y.add_(1)
    with pytest.raises(GraphError, match="exp: .*its output of exp"):
        z.backward()


def test_a_change_through_a_view_is_seen_by_the_base():
    x = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    base = x * 1
    y = base * base
    view = base[0:2]
    with td.no_grad():
        view.mul_(0)
    assert base.tolist() == [0.0, 0.0, 3.0]
    with pytest.raises(GraphError, match="modified by an inplace operation"):
        y.sum().backward()


def test_changes_that_backward_does_not_read_are_fine():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = x + 1          # add reads neither input in backward
    z = y.sum()
    with td.no_grad():
        x.mul_(3)
    z.backward()
    assert x.grad.tolist() == [1.0, 1.0]


# ---- case 4: max/min/sort/topk with a dim return (values, indices) ------------------------------


@pytest.mark.parametrize("rows", [1, 2, 3, 5])
def test_max_over_dim_1_gives_predictions_for_any_batch(rows):
    out = td.tensor(np.tile([[0.1, 0.7, 0.2]], (rows, 1)))
    _, pred = td.max(out, 1)
    assert pred.tolist() == [1] * rows
    assert pred.dtype == td.int64


def test_max_min_named_tuples_and_their_gradient():
    x = f64([[1.0, 5.0, 3.0], [7.0, 2.0, 7.0]])
    result = x.max(dim=1)
    assert result.values.tolist() == [5.0, 7.0] and result.indices.tolist() == [1, 0]
    assert result[0] is result.values
    result.values.sum().backward()  # the gradient goes to the index only (ties: the first)
    assert x.grad.tolist() == [[0, 1, 0], [1, 0, 0]]
    low = td.min(x, 0, keepdim=True)
    assert low.values.tolist() == [[1.0, 2.0, 3.0]] and low.indices.tolist() == [[0, 1, 0]]
    assert td.max(x).item() == 7.0                       # no dim: one value
    assert x.amax(1).tolist() == [5.0, 7.0]               # values only, ties share the gradient
    assert td.max(x, td.zeros(2, 3, dtype=td.float64)).tolist() == [[1, 5, 3], [7, 2, 7]]


def test_sort_and_topk():
    x = f64([[3.0, 1.0, 2.0]])
    ordered = x.sort()
    assert ordered.values.tolist() == [[1.0, 2.0, 3.0]] and ordered.indices.tolist() == [[1, 2, 0]]
    down = td.sort(x, dim=1, descending=True)
    assert down.values.tolist() == [[3.0, 2.0, 1.0]]
    best = x.topk(2)
    assert best.values.tolist() == [[3.0, 2.0]] and best.indices.tolist() == [[0, 2]]
    (best.values * f64([[10.0, 1.0]], requires_grad=False)).sum().backward()
    assert x.grad.tolist() == [[10.0, 0.0, 1.0]]
    assert gradcheck(lambda t: t.topk(2, dim=0).values, [f64([[1.0, 4.0], [3.0, 2.0], [0.5, 9.0]])])


# ---- case 5: PyTorch's type promotion ----------------------------------------------------------


def test_integer_tensors_promote_to_float32():
    assert (td.tensor([1, 2]) + 0.5).dtype == td.float32
    assert (td.tensor([1, 2]) + 0.5).tolist() == [1.5, 2.5]
    assert (td.arange(4) / 4).dtype == td.float32
    assert (td.arange(4) / 4).tolist() == [0.0, 0.25, 0.5, 0.75]
    x = td.tensor([1.5, 2.5]) * td.tensor([2, 3])
    assert x.dtype == td.float32 and x.tolist() == [3.0, 7.5]
    assert td.exp(td.tensor([0])).dtype == td.float32
    assert td.sqrt(td.tensor([4])).tolist() == [2.0]
    assert td.tensor([1, 2]).clamp(1.5).tolist() == [1.5, 2.0]
    assert td.tensor([1, 2]).clamp(min=0).dtype == td.int64
    assert td.where(td.tensor([True, False]), td.tensor([1, 2]), 0.5).tolist() == [1.0, 0.5]


def test_full_takes_its_dtype_from_the_value():
    assert td.full((2,), 4).dtype == td.int64
    assert td.full((2,), True).dtype == td.bool
    assert td.full((2,), 0.5).dtype == td.float32
    assert td.full((2,), 4, dtype=td.float64).dtype == td.float64


def test_linear_on_integer_data_promoted_once_stays_float32():
    layer = td.nn.Linear(2, 1)
    pixels = td.tensor([[0, 255]])
    assert layer(pixels / 255).dtype == td.float32


def test_integer_mean_is_refused_as_in_pytorch():
    with pytest.raises(DTypeError, match="mean: the input is int64.*x.float\\(\\).mean"):
        td.tensor([1, 2]).mean()


# ---- case 6: edge gradients and shapes ---------------------------------------------------------


def test_pow_zero_has_gradient_zero_everywhere():
    x = f64([0.0, 2.0])
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    x = f64([0.0, 2.0])
    (x ** 2).sum().backward()
    assert x.grad.tolist() == [0.0, 4.0]


def test_var_std_with_too_few_elements_are_nan_with_nan_gradient():
    x = f64([2.0])
    v = x.var()
    assert math.isnan(v.item())
    v.backward()
    assert math.isnan(x.grad.item())
    y = f64([[1.0], [3.0]])
    y.std(dim=1).sum().backward()
    assert np.isnan(y.grad.numpy()).all()


def test_std_of_equal_values_has_gradient_zero():
    x = f64([1.0, 1.0, 1.0])
    x.std().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_squeeze_of_a_dim_that_is_not_one_is_a_no_op():
    x = td.zeros(2, 1, 3)
    assert x.squeeze(0).shape == (2, 1, 3)
    assert x.squeeze(1).shape == (2, 3)
    assert x.squeeze(dim=2).shape == (2, 1, 3)
    assert td.squeeze(x).shape == (2, 3)


def test_dim_0_and_minus_1_on_0d_tensors():
    s = f64(1.5)
    assert s.sum(dim=0).item() == 1.5 and s.sum(dim=-1).shape == ()
    assert s.softmax(dim=0).item() == 1.0
    assert td.log_softmax(s, -1).item() == 0.0
    assert s.logsumexp(dim=0).item() == 1.5
    assert s.max(dim=0).values.item() == 1.5
    s.softmax(0).backward()
    assert s.grad.item() == 0.0
    with pytest.raises(td.ShapeError, match="dim 1 is out of range"):
        s.sum(dim=1)


def test_int_and_index_array_keep_pytorch_placement():
    x = td.arange(24).reshape(2, 3, 4)
    idx = td.tensor([0, 2])
    got = x[1, :, idx]
    assert got.shape == (3, 2)  # NumPy would give (2, 3)
    assert got.tolist() == [[12, 14], [16, 18], [20, 22]]
    y = td.zeros(2, 3, 4)
    y[1, :, idx] = td.tensor([[1.0, 2.0]] * 3)
    assert y[1].tolist()[0] == [1.0, 0.0, 2.0, 0.0]


# ---- case 7: erf to float64 precision without SciPy --------------------------------------------


@pytest.fixture
def no_scipy(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.special", None)


def test_erf_and_gelu_are_float64_accurate_without_scipy(no_scipy):
    points = np.concatenate([np.linspace(-6, 6, 1201), [0.0, 1e-8, -1e-300, 0.5, 3.2]])
    erf = td.erf(td.tensor(points, dtype=td.float64)).numpy()
    expected = np.array([math.erf(p) for p in points])
    assert np.abs(erf - expected).max() <= 1e-15
    gelu = td.gelu(td.tensor(points, dtype=td.float64)).numpy()
    expected_gelu = np.array([0.5 * p * (1 + math.erf(p / math.sqrt(2))) for p in points])
    assert np.abs(gelu - expected_gelu).max() <= 1e-13


# ---- in-place methods, version counters and the graph rules ------------------------------------

INPLACE = {
    "add_": lambda t: t.add_(2.0),
    "add_alpha": lambda t: t.add_(td.tensor([1.0, 2.0]), alpha=3),
    "sub_": lambda t: t.sub_(1.0),
    "sub_alpha": lambda t: t.sub_(td.tensor([1.0, 2.0]), alpha=0.5),
    "mul_": lambda t: t.mul_(3.0),
    "div_": lambda t: t.div_(2.0),
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(7.0),
    "copy_": lambda t: t.copy_(td.tensor([5.0, 6.0])),
    "clamp_": lambda t: t.clamp_(0.0, 1.5),
    "masked_fill_": lambda t: t.masked_fill_(td.tensor([True, False]), -1.0),
    "iadd": lambda t: operator.iadd(t, 1.0),
    "isub": lambda t: operator.isub(t, 1.0),
    "imul": lambda t: operator.imul(t, 2.0),
    "itruediv": lambda t: operator.itruediv(t, 4.0),
    "setitem": lambda t: t.__setitem__(0, 9.0),
}
# the values [1, 2] become these, and d(result)/d(x) for result = op(x * 1) is this
AFTER = {
    "add_": ([3.0, 4.0], [1, 1]), "add_alpha": ([4.0, 8.0], [1, 1]), "sub_": ([0.0, 1.0], [1, 1]),
    "sub_alpha": ([0.5, 1.0], [1, 1]), "mul_": ([3.0, 6.0], [3, 3]), "div_": ([0.5, 1.0], [0.5, 0.5]),
    "zero_": ([0.0, 0.0], [0, 0]), "fill_": ([7.0, 7.0], [0, 0]), "copy_": ([5.0, 6.0], [0, 0]),
    "clamp_": ([1.0, 1.5], [1, 0]), "masked_fill_": ([-1.0, 2.0], [0, 1]),
    "iadd": ([2.0, 3.0], [1, 1]), "isub": ([0.0, 1.0], [1, 1]), "imul": ([2.0, 4.0], [2, 2]),
    "itruediv": ([0.25, 0.5], [0.25, 0.25]), "setitem": ([9.0, 2.0], [0, 1]),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_under_no_grad_changes_a_leaf_and_bumps_its_version(name):
    x = td.tensor([1.0, 2.0], requires_grad=True)
    array = x.data
    with td.no_grad():
        result = INPLACE[name](x)
    assert x.tolist() == AFTER[name][0]
    assert x.data is array and x._version == 1 and x.is_leaf
    if result is not None:
        assert result is x


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_a_non_leaf_is_recorded(name):
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    INPLACE[name](y)
    assert y.tolist() == AFTER[name][0]
    y.sum().backward()
    assert x.grad.tolist() == AFTER[name][1]


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_on_a_leaf_that_requires_grad_raises(name):
    x = td.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GraphError, match="leaf tensor that requires grad.*no_grad"):
        INPLACE[name](x)
    assert x.tolist() == [1.0, 2.0] and x._version == 0


def test_random_fills_follow_the_same_rules():
    x = td.zeros(1000)
    assert x.uniform_(-1, 1) is x and -1 <= x.numpy().min() < -0.9 and x.numpy().max() > 0.9
    x.normal_(5.0, 0.1)
    assert abs(x.numpy().mean() - 5.0) < 0.05 and x._version == 2
    w = td.zeros(3, requires_grad=True)
    with pytest.raises(GraphError, match="uniform_"):
        w.uniform_()


def test_setitem_with_a_value_that_requires_grad_makes_a_non_leaf():
    v = td.tensor([2.0, 3.0], requires_grad=True)
    buffer = td.zeros(4)
    buffer[1:3] = v * v
    assert buffer.requires_grad and not buffer.is_leaf
    (buffer * td.tensor([1.0, 10.0, 100.0, 1000.0])).sum().backward()
    assert v.grad.tolist() == [40.0, 600.0]  # d(10 v0^2)/dv0 = 20 v0, d(100 v1^2)/dv1 = 200 v1


def test_uses_before_an_inplace_change_keep_their_gradient():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    before = y + 0           # uses y before the change: dy/dx = 2
    y.add_(x)                # y = 2x + x afterwards: dy/dx = 3
    (before + y).sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]


def test_inplace_arithmetic_cannot_change_the_category():
    i = td.tensor([1, 2])
    with pytest.raises(DTypeError, match="add_: the result has dtype float32.*int64"):
        i += 0.5
    i += 2
    assert i.tolist() == [3, 4] and i.dtype == td.int64


def test_inplace_on_a_view_of_a_graph_tensor_is_refused():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    with pytest.raises(GraphError, match="is a view"):
        y[0:1].mul_(2)


def test_inplace_and_promotion_use_only_the_array_module():
    from tinydl.testing import standin

    standin.register()
    x = td.tensor([1.0, 2.0, 3.0]).to("standin")
    x += 1
    x[0] = 5
    x.masked_fill_(x > 3.5, 0.0)
    assert x.numpy().tolist() == [0.0, 3.0, 0.0]
    halves = td.tensor([1, 2]).to("standin") / 2 + 0.5
    assert halves.dtype == td.float32 and halves.numpy().tolist() == [1.0, 1.5]


def test_gradgradcheck_through_inplace_ops():
    def fn(t):
        y = t * t
        y.mul_(t)        # t^3
        y[0] = t[1] * 2  # element 0 replaced by 2 t1
        return y.add_(1)

    x = f64([0.7, -1.3, 0.4])
    assert gradcheck(fn, [x])
    assert gradgradcheck(fn, [x])


# ---- the promotion table, written out (PyTorch's rules; see tinydl/promotion.py) ---------------

DTYPES = ["bool", "int32", "int64", "float32", "float64"]
SCALARS = {"py_bool": True, "py_int": 2, "py_float": 0.5}
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
       "truediv": operator.truediv, "pow": operator.pow, "eq": operator.eq, "lt": operator.lt}
# tensor op tensor, for add and mul (columns in DTYPES order)
TENSOR_TABLE = {
    "bool":    ["bool", "int32", "int64", "float32", "float64"],
    "int32":   ["int32", "int32", "int64", "float32", "float64"],
    "int64":   ["int64", "int64", "int64", "float32", "float64"],
    "float32": ["float32", "float32", "float32", "float32", "float64"],
    "float64": ["float64", "float64", "float64", "float64", "float64"],
}
# tensor op Python scalar (either side), for add and mul
SCALAR_TABLE = {
    "bool":    {"py_bool": "bool", "py_int": "int64", "py_float": "float32"},
    "int32":   {"py_bool": "int32", "py_int": "int32", "py_float": "float32"},
    "int64":   {"py_bool": "int64", "py_int": "int64", "py_float": "float32"},
    "float32": {"py_bool": "float32", "py_int": "float32", "py_float": "float32"},
    "float64": {"py_bool": "float64", "py_int": "float64", "py_float": "float64"},
}


def _expected(op, a, b, a_is_tensor, b_is_tensor):
    """The hand-written table plus each op's own rule."""
    t, other = (a, b) if a_is_tensor else (b, a)
    common = TENSOR_TABLE[a][DTYPES.index(b)] if a_is_tensor and b_is_tensor else \
        SCALAR_TABLE[t][other]
    bools = [x for x in (a, b) if x in ("bool", "py_bool")]
    if op in ("eq", "lt"):
        return "bool"
    if op == "sub" and bools:
        return "error"  # PyTorch: use ~mask
    if op == "pow" and len(bools) == 2:
        return "bool" if (b == "py_bool" and a_is_tensor) else "error"
    if op == "truediv" and common in ("bool", "int32", "int64"):
        return "float32"
    return common


def _operand(lib, name):
    if name in SCALARS:
        return SCALARS[name]
    values = np.array([True, False]) if name == "bool" else np.array([1, 2], dtype=name)
    return lib.tensor(values, dtype=getattr(lib, name))


def _result_dtype(lib, op, a, b):
    try:
        return str(OPS[op](_operand(lib, a), _operand(lib, b)).dtype).replace("torch.", "")
    except Exception:  # any refusal counts as "error"
        return "error"


CASES = [(op, a, b) for op in OPS for a in DTYPES for b in DTYPES + list(SCALARS)] + \
        [(op, b, a) for op in OPS for a in DTYPES for b in SCALARS]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 1 / False
def test_promotion_table_by_hand():
    wrong = []
    for op, a, b in CASES:
        want = _expected(op, a, b, a in DTYPES, b in DTYPES)
        got = _result_dtype(td, op, a, b)
        if got != want:
            wrong.append(f"{a} {op} {b}: {got}, table says {want}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_promotion_table_against_torch(torch):
    wrong = []
    for op, a, b in CASES:
        theirs, ours = _result_dtype(torch, op, a, b), _result_dtype(td, op, a, b)
        if theirs != ours:
            wrong.append(f"{a} {op} {b}: tinydl {ours}, torch {theirs}")
    assert not wrong, "\n".join(wrong)


def test_zero_dim_tensors_are_a_weaker_tier():
    x = td.tensor([1.0, 2.0])
    assert (x * td.tensor(2.0, dtype=td.float64)).dtype == td.float32
    assert (td.tensor([1, 2], dtype=td.int32) + td.tensor(5)).dtype == td.int32
    assert (td.tensor([1, 2]) * td.tensor(0.5)).dtype == td.float32
    assert td.result_type(td.tensor([1], dtype=td.int32), 2.5) == td.float32
    assert td.promote_types(td.int64, td.float32) == td.float32  # NumPy would say float64


def test_gradients_keep_the_parameter_dtype_under_promotion():
    w = td.tensor([1.0, 2.0], requires_grad=True)
    (w * td.tensor([1.0, 1.0], dtype=td.float64)).sum().backward()
    assert w.grad.dtype == td.float32


# ---- dim= / axis= / keepdim= -------------------------------------------------------------------


def test_dim_and_axis_spellings_agree():
    x = td.tensor(np.arange(6.0).reshape(2, 3))
    assert td.cat([x, x], dim=1).shape == td.cat([x, x], axis=1).shape == td.cat([x, x], 1).shape
    assert td.stack([x, x], dim=2).shape == td.stack([x, x], axis=2).shape == (2, 3, 2)
    assert x.unsqueeze(dim=0).shape == x.unsqueeze(axis=0).shape == td.unsqueeze(x, 0).shape
    assert td.softmax(x, dim=0).tolist() == td.softmax(x, axis=0).tolist()
    assert td.log_softmax(x, 0).tolist() == td.log_softmax(x, axis=0).tolist()
    assert x.sum(dim=1, keepdim=True).shape == x.sum(axis=1, keepdims=True).shape == (2, 1)
    assert [p.shape for p in x.split(1, dim=1)] == [(2, 1)] * 3
    assert [p.shape for p in td.chunk(x, 2, dim=0)] == [(1, 3)] * 2
    assert td.argmax(x, dim=1, keepdim=True).tolist() == [[2], [2]]
    mask = x > 2  # [[F, F, F], [T, T, T]]
    assert mask.any(dim=1).tolist() == [False, True] and mask.all(0).tolist() == [False] * 3
    assert mask.any(axis=0, keepdim=True).shape == (1, 3) and not mask.all().item()
    with pytest.raises(TypeError, match="dim= or axis="):
        td.cat([x, x], dim=0, axis=1)


# ---- names PyTorch code reaches for first ------------------------------------------------------


def test_pytorch_module_paths_and_names():
    import tinydl.utils.data as utils_data
    from tinydl.utils.data import DataLoader

    assert utils_data is td.data and DataLoader is td.data.DataLoader
    assert td.device("cpu") == td.Device("cpu")
    assert td.cuda.is_available() in (True, False)
    assert td.cuda.is_available() == td.cuda_is_available()
    assert td.float is td.float32 and td.long is td.int64 and td.double is td.float64
    assert td.ones(2, dtype=td.long).dtype == td.int64
    assert td.ones(2, dtype=td.bool).dtype == np.bool_
    with td.inference_mode():
        assert not td.is_grad_enabled()
    assert td.is_grad_enabled()


def test_save_and_load_state_dicts_and_tensors(tmp_path):
    model = td.nn.Linear(3, 2)
    path = tmp_path / "model.tdl"
    td.save(model.state_dict(), path)
    loaded = td.load(path)
    assert isinstance(loaded["weight"], td.Tensor) and loaded["weight"].dtype == td.float32
    other = td.nn.Linear(3, 2)
    other.load_state_dict(loaded)
    np.testing.assert_array_equal(other.weight.numpy(), model.weight.numpy())
    td.save({"step": 3, "t": td.arange(3)}, tmp_path / "t.tdl")
    back = td.load(tmp_path / "t.tdl")
    assert back["step"] == 3 and back["t"].tolist() == [0, 1, 2] and back["t"].dtype == td.int64
    with open(path, "rb") as f:
        assert b"pickle" not in f.read(64) and f.seek(0) == 0
    with pytest.raises(TypeError, match=r"pass model.state_dict\(\)"):
        td.save(model, tmp_path / "whole.tdl")
    optimizer = td.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"pass optimizer.state_dict\(\)"):
        td.save(optimizer, tmp_path / "opt.tdl")


PUBLIC_UNARY = ["abs", "argmax", "argmin", "clone", "erf", "exp", "flatten", "log_softmax",
                "logsumexp", "max", "mean", "min", "neg", "relu", "sigmoid", "sign", "softmax",
                "sqrt", "squeeze", "std", "sum", "t", "tanh", "transpose", "var", "gelu", "amax",
                "amin", "sort", "log"]


@pytest.mark.parametrize("name", PUBLIC_UNARY)
def test_public_functions_accept_arrays(name):
    array = np.array([[1.0, 4.0], [9.0, 2.0]], dtype=np.float32)
    result = getattr(td, name)(array)
    expected = getattr(td, name)(td.tensor(array))
    first = result[0] if isinstance(result, tuple) else result
    first_expected = expected[0] if isinstance(expected, tuple) else expected
    assert isinstance(first, td.Tensor)
    np.testing.assert_array_equal(first.numpy(), first_expected.numpy())


def test_binary_public_functions_accept_arrays():
    a = np.array([1.0, 2.0], dtype=np.float32)
    assert td.add(a, a).tolist() == [2.0, 4.0]
    assert td.maximum(a, np.array([3.0, 0.0])).tolist() == [3.0, 2.0]
    assert td.cat([a, a]).shape == (4,)
    assert td.where(a > 1, a, np.zeros(2)).tolist() == [0.0, 2.0]
    assert td.matmul(np.eye(2), a).tolist() == [1.0, 2.0]


def test_functional_accepts_arrays():
    import tinydl.nn.functional as F  # PyTorch's spelling

    image = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4) / 100 - 0.3
    for fn in (F.leaky_relu, F.silu, F.relu, F.gelu, lambda x: F.softmax(x, dim=1),
               lambda x: F.layer_norm(x, (4,)), lambda x: F.pad(x, (1, 1)),
               lambda x: F.max_pool2d(x, 2), lambda x: F.dropout(x, 0.5, training=False)):
        assert np.array_equal(fn(image).numpy(), fn(td.tensor(image)).numpy())
    weight = np.array([[1.0, 0.0, 0.0, 2.0]], dtype=np.float32)
    assert F.linear(image, weight).shape == (2, 3, 4, 1)
    assert F.linear(image, weight)[0, 0, 0, 0].item() == pytest.approx(-0.3 + 2 * -0.27)
    table = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    assert F.embedding(np.array([1, 0]), table).tolist() == [[3.0, 4.0], [1.0, 2.0]]


# ---- the cases where PyTorch raises: tinydl raises too ----------------------------------------

RAISES = {
    "leaf_inplace": lambda lib: lib.ones(2, requires_grad=True).add_(1),
    "bool_sub": lambda lib: lib.tensor([True]) - lib.tensor([False]),
    "int_mean": lambda lib: lib.tensor([1, 2]).mean(),
    "int_iadd_float": lambda lib: lib.tensor([1, 2]).add_(0.5),
    "saved_input_changed": lambda lib: _saved_input_changed(lib),
    "t_of_3d": lambda lib: lib.zeros(2, 2, 2).t(),
    "dim_out_of_range_0d": lambda lib: lib.tensor(1.0).sum(dim=1),
}


def _saved_input_changed(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    a = lib.tensor([3.0, 4.0])
    y = (w * a).sum()
    a[0] = 100
    y.backward()


@pytest.mark.parametrize("name", sorted(RAISES))
def test_raises_without_torch(name):
    with pytest.raises((td.TinyDLError, TypeError, ValueError)):
        RAISES[name](td)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(RAISES))
def test_torch_raises_too(name, torch):
    with pytest.raises(Exception):  # noqa: B017 (torch's own RuntimeError/IndexError)
        RAISES[name](torch)
