"""Hand-computed values and error messages for the breadth ops (math, selection, scans, shape,
linalg). These run without PyTorch; the generated tests (specs_*.py) and the parity idioms
compare against NumPy and torch."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinydl as td
from tinydl.errors import DTypeError, GraphError, ShapeError


def _t(values, **kwargs):
    return td.tensor(np.asarray(values, dtype=np.float64), dtype=td.float64, **kwargs)


# ---- elementwise math ---------------------------------------------------------------------------


def test_trig_values_by_hand():
    x = _t([0.0, math.pi / 6, math.pi / 4])
    np.testing.assert_allclose(x.sin().numpy(), [0.0, 0.5, math.sqrt(0.5)], atol=1e-15)
    np.testing.assert_allclose(td.atan2(_t([1.0, -1.0]), _t([-1.0, -1.0])).numpy(),
                               [3 * math.pi / 4, -3 * math.pi / 4])


def test_integer_inputs_give_float32_like_pytorch():
    n = td.tensor([1, 4, 9])
    assert td.sqrt(n.float()).dtype == np.float32
    assert n.sin().dtype == np.float32 and n.reciprocal().dtype == np.float32
    np.testing.assert_allclose(td.div(n, 2).numpy(), [0.5, 2.0, 4.5])
    assert td.div(n, 2).dtype == np.float32
    assert n.floor().dtype == np.int64  # integers are already whole: unchanged


def test_rounding_has_zero_gradient_and_frac_has_one():
    x = _t([-1.7, 0.2, 2.5], requires_grad=True)
    (x.floor() + x.ceil() + x.round() + x.trunc() + x.sign() + x.frac()).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(td.round(_t([0.5, 1.5, 2.5, -0.5])).numpy(),
                                  [0.0, 2.0, 2.0, -0.0])  # halves to even


def test_remainder_takes_the_divisor_sign_and_fmod_the_dividend_sign():
    a, b = td.tensor([-7, 7, -7]), td.tensor([3, -3, -3])
    np.testing.assert_array_equal((a % b).numpy(), [2, -2, -1])
    np.testing.assert_array_equal(td.fmod(a, b).numpy(), [-1, 1, -1])
    np.testing.assert_array_equal((a // b).numpy(), [-3, -3, 2])
    np.testing.assert_array_equal(td.div(a, b, rounding_mode="trunc").numpy(), [-2, -2, 2])
    with pytest.raises(ZeroDivisionError, match="remainder: integer division by zero"):
        _ = a % td.tensor([1, 0, 1])


def test_remainder_gradient_by_hand():
    a, b = _t([7.5], requires_grad=True), _t([2.0], requires_grad=True)
    (a % b).sum().backward()  # 7.5 - 3 * 2: d/da = 1, d/db = -3
    assert a.grad.item() == 1.0 and b.grad.item() == -3.0


def test_floor_divide_has_no_derivative_like_pytorch():
    x = _t([3.0, -2.0], requires_grad=True)
    y = x // 2.0  # forward works on a tensor that requires grad
    np.testing.assert_array_equal(y.numpy(), [1.0, -1.0])
    with pytest.raises(GraphError, match="floor_divide.*no derivative.*rounding_mode='floor'"):
        y.sum().backward()


def test_clamp_with_tensor_bounds_and_gradient():
    x = _t([-2.0, 0.5, 3.0], requires_grad=True)
    low, high = _t([-1.0, 0.0, 0.0], requires_grad=True), _t([1.0, 1.0, 2.0], requires_grad=True)
    out = x.clamp(low, high)
    np.testing.assert_array_equal(out.numpy(), [-1.0, 0.5, 2.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(low.grad.numpy(), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(high.grad.numpy(), [0.0, 0.0, 1.0])
    with pytest.raises(ShapeError, match="clamp: .*keeps the input's shape"):
        td.clamp(_t([1.0]), _t([[0.0, 1.0]]))


def test_logaddexp_is_stable_and_its_gradient_is_a_softmax():
    a, b = _t([1000.0, -1000.0], requires_grad=True), _t([1000.0, 0.0], requires_grad=True)
    out = td.logaddexp(a, b)
    np.testing.assert_allclose(out.numpy(), [1000.0 + math.log(2.0), 0.0])
    out.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 0.0])


def test_erfinv_inverts_erf():
    y = _t([-0.99, -0.5, 0.0, 0.3, 0.999])
    np.testing.assert_allclose(td.erf(td.erfinv(y)).numpy(), y.numpy(), atol=1e-12)
    assert np.isinf(td.erfinv(_t([1.0])).item()) and np.isnan(td.erfinv(_t([1.5])).item())


def test_nan_to_num_defaults_to_the_dtype_extremes():
    x = td.tensor(np.array([np.nan, np.inf, -np.inf, 2.0], dtype=np.float32))
    out = td.nan_to_num(x)
    big = np.finfo(np.float32).max
    np.testing.assert_array_equal(out.numpy(), [0.0, big, -big, 2.0])


def test_bitwise_needs_integers_and_names_the_fix():
    a = td.tensor([12, 10])
    np.testing.assert_array_equal((a & 6).numpy(), [4, 2])
    np.testing.assert_array_equal((a ^ a).numpy(), [0, 0])
    np.testing.assert_array_equal((1 << a[:1]).numpy(), [4096])
    with pytest.raises(DTypeError, match=r"bitwise_and \(&\): needs integer or bool.*float32"):
        td.tensor([1.0]) & td.tensor([1.0])
    with pytest.raises(DTypeError, match=r"bitwise_not \(~\).*compare first"):
        ~td.tensor([1.0])


def test_comparison_methods_give_bool():
    x = td.tensor([1.0, 2.0, 3.0])
    assert x.lt(2).dtype == np.bool_
    np.testing.assert_array_equal(x.ge(2).numpy(), [False, True, True])
    assert td.equal(x, x.clone()) and not td.equal(x, x[:2])


# ---- reductions and scans -----------------------------------------------------------------------


def test_prod_gradient_with_zeros_is_the_product_of_the_others():
    x = _t([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0]], requires_grad=True)
    x.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]])


def test_cumprod_gradient_with_a_zero_by_hand():
    x = _t([2.0, 0.0, 3.0], requires_grad=True)
    x.cumprod(0).sum().backward()  # out = [a, ab, abc]
    # d/da = 1 + b + bc = 1, d/db = a + ac = 8, d/dc = ab = 0
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 8.0, 0.0])


def test_integer_scans_and_sums_give_int64():
    n = td.tensor(np.array([1, 2, 3], dtype=np.int32))
    assert n.cumsum(0).dtype == np.int64 and n.sum().dtype == np.int64
    assert (n > 1).sum().item() == 2 and n.prod().item() == 6
    assert n.cumsum(0, dtype=td.float64).dtype == np.float64


def test_cummax_returns_named_values_and_indices_ties_take_the_later():
    values, indices = td.tensor([1.0, 3.0, 3.0, 2.0]).cummax(0)
    np.testing.assert_array_equal(values.numpy(), [1.0, 3.0, 3.0, 3.0])
    np.testing.assert_array_equal(indices.numpy(), [0, 1, 2, 2])
    assert td.cummin(td.tensor([2.0, 1.0]), 0).indices.tolist() == [0, 1]


def test_any_all_with_dim_and_aminmax_names():
    x = td.tensor([[0.0, 2.0], [0.0, 0.0]])
    assert x.any(dim=1).tolist() == [True, False] and not x.all().item()
    result = td.aminmax(x, dim=0)
    assert result.min.tolist() == [0.0, 0.0] and result.max.tolist() == [0.0, 2.0]


def test_median_is_the_lower_one_and_mode_the_smallest_most_frequent():
    assert td.tensor([4.0, 1.0, 3.0, 2.0]).median().item() == 2.0
    values, indices = td.median(td.tensor([[1.0, 5.0, 3.0]]), dim=1)
    assert values.tolist() == [3.0] and indices.tolist() == [2]
    mode = td.tensor([3, 1, 3, 1, 2]).mode()
    assert mode.values.item() == 1 and mode.indices.item() == 3  # last occurrence
    assert td.kthvalue(td.tensor([5.0, 2.0, 9.0]), 2).values.item() == 5.0


def test_norm_gradient_at_zero_is_zero_not_nan():
    x = td.zeros(3, requires_grad=True, dtype=td.float64)
    td.linalg.vector_norm(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    assert td.tensor([3.0, 4.0]).norm().item() == 5.0
    with pytest.raises(DTypeError, match="vector_norm: needs a floating tensor"):
        td.tensor([3, 4]).norm()


# ---- sorting and selection ----------------------------------------------------------------------


def test_gather_and_its_gradient_accumulate_repeats():
    x = _t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    out = x.gather(1, td.tensor([[2, 2], [0, 1]]))
    np.testing.assert_array_equal(out.numpy(), [[3.0, 3.0], [4.0, 5.0]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0, 2.0], [1.0, 1.0, 0.0]])


def test_gather_errors_name_the_op_and_the_shapes():
    x = td.zeros(2, 3)
    with pytest.raises(ShapeError, match=r"gather: index values must lie in \[0, 3\)"):
        x.gather(1, td.tensor([[3]]))
    with pytest.raises(ShapeError, match="gather: the index has 1 dims but the input"):
        x.gather(1, td.tensor([0]))
    with pytest.raises(DTypeError, match=r"gather: the index must be an integer.*\.long\(\)"):
        x.gather(1, td.tensor([[0.0]]))


def test_scatter_writes_and_scatter_add_accumulates():
    index = td.tensor([[1], [0]])
    one_hot = td.zeros(2, 3).scatter(1, index, 1.0)
    np.testing.assert_array_equal(one_hot.numpy(), [[0, 1, 0], [1, 0, 0]])
    counts = td.zeros(3).scatter_add(0, td.tensor([0, 2, 0]), td.ones(3))
    np.testing.assert_array_equal(counts.numpy(), [2, 0, 1])


def test_scatter_gradient_skips_overwritten_positions():
    x = _t([1.0, 2.0, 3.0], requires_grad=True)
    src = _t([9.0], requires_grad=True)
    (x.scatter(0, td.tensor([1]), src) * _t([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(src.grad.numpy(), [2.0])


def test_sort_is_stable_and_topk_named():
    x = td.tensor([2.0, 1.0, 2.0, 0.0])
    assert x.sort().indices.tolist() == [3, 1, 0, 2]
    assert x.sort(descending=True).indices.tolist() == [0, 2, 1, 3]
    top = td.topk(x, 2)
    assert top.values.tolist() == [2.0, 2.0] and top.indices.tolist() == [0, 2]
    with pytest.raises(ShapeError, match="topk: k=5 is out of range for dim 0 of size 4"):
        x.topk(5)


def test_masked_fill_needs_a_bool_mask():
    x = td.zeros(2, 2)
    out = x.masked_fill(td.tensor([[True, False], [False, True]]), -1.0)
    np.testing.assert_array_equal(out.numpy(), [[-1, 0], [0, -1]])
    with pytest.raises(DTypeError, match="masked_fill: the mask must be a bool tensor"):
        x.masked_fill(td.tensor([[1, 0], [0, 1]]), -1.0)


def test_index_add_repeats_add_up():
    out = td.zeros(3, 2).index_add(0, td.tensor([0, 0, 2]), td.ones(3, 2), alpha=2)
    np.testing.assert_array_equal(out.numpy(), [[4, 4], [0, 0], [2, 2]])


def test_unique_searchsorted_bucketize_nonzero():
    values, counts = td.unique(td.tensor([3, 1, 3, 3]), return_counts=True)
    assert values.tolist() == [1, 3] and counts.tolist() == [1, 3]
    edges = td.tensor([1.0, 2.0, 3.0])
    assert td.searchsorted(edges, td.tensor([2.0, 0.5])).tolist() == [1, 0]
    assert td.bucketize(td.tensor([2.0]), edges, right=True).tolist() == [2]
    assert td.where(td.tensor([[0, 1], [1, 0]]) > 0)[1].tolist() == [1, 0]


def test_multinomial_and_bernoulli_follow_manual_seed():
    probs = td.tensor([0.2, 0.0, 0.8])
    td.manual_seed(3)
    first = td.multinomial(probs, 2).tolist(), td.bernoulli(td.full((5,), 0.5)).tolist()
    td.manual_seed(3)
    assert (td.multinomial(probs, 2).tolist(), td.bernoulli(td.full((5,), 0.5)).tolist()) == first
    assert 1 not in first[0]
    with pytest.raises(ValueError, match="multinomial: cannot draw 3 samples without replacement"):
        td.multinomial(probs, 3)


# ---- shape --------------------------------------------------------------------------------------


def test_rearranging_by_hand():
    x = td.tensor([[1, 2, 3], [4, 5, 6]])
    assert x.flip(1).tolist() == [[3, 2, 1], [6, 5, 4]]
    assert x.roll(1, 1).tolist() == [[3, 1, 2], [6, 4, 5]]
    assert x.rot90().tolist() == [[3, 6], [2, 5], [1, 4]]
    assert x.repeat(1, 2).tolist() == [[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]]
    assert x.repeat_interleave(2, dim=0).shape == (4, 3)
    assert td.tensor([1, 2]).repeat_interleave(td.tensor([2, 1])).tolist() == [1, 1, 2]
    assert x.tril().tolist() == [[1, 0, 0], [4, 5, 0]]
    assert x.diagonal().tolist() == [1, 5] and x.diagonal(1).tolist() == [2, 6]
    assert td.diag(td.tensor([1, 2]), 1).tolist() == [[0, 1, 0], [0, 0, 2], [0, 0, 0]]
    assert [p.shape for p in x.tensor_split(2, dim=1)] == [(2, 2), (2, 1)]
    assert [p.tolist() for p in x.unbind(1)] == [[1, 4], [2, 5], [3, 6]]


def test_shape_errors_name_the_op():
    with pytest.raises(ShapeError, match="narrow: start 2 \\+ length 3 exceeds dim 1 of size 3"):
        td.zeros(2, 3).narrow(1, 2, 3)
    with pytest.raises(ShapeError, match="tril: needs a matrix"):
        td.zeros(3).tril()
    with pytest.raises(ShapeError, match="rot90: the two dims must differ"):
        td.zeros(2, 2).rot90(1, (0, 0))


def test_new_and_like_creation_keep_dtype_and_device():
    n = td.tensor([1, 2])
    assert n.new_zeros(3).dtype == np.int64 and n.new_full((2,), 7).tolist() == [7, 7]
    x = td.zeros(2, dtype=td.float64)
    assert x.new_ones(2, 2).dtype == np.float64 and td.full_like(x, 3).dtype == np.float64
    assert td.full((2,), 3).dtype == np.int64 and td.full((2,), 3.0).dtype == np.float32
    np.testing.assert_allclose(td.logspace(0, 2, 3).numpy(), [1.0, 10.0, 100.0])
    assert td.linspace(0, 1, steps=3).tolist() == [0.0, 0.5, 1.0]


# ---- linear algebra -----------------------------------------------------------------------------


def test_product_shape_contracts():
    with pytest.raises(ShapeError, match=r"mm: input must be 2-D, got shape \(3,\)"):
        td.mm(td.zeros(3), td.zeros(3, 2))
    with pytest.raises(ShapeError, match="bmm: batch sizes differ"):
        td.bmm(td.zeros(2, 3, 4), td.zeros(3, 4, 5))
    with pytest.raises(ShapeError, match="dot: other must be 1-D"):
        td.dot(td.zeros(3), td.zeros(3, 1))


def test_einsum_gradient_by_hand_and_errors():
    a = _t([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    td.einsum("ii->", a).backward()  # the trace: gradient is the identity
    np.testing.assert_array_equal(a.grad.numpy(), np.eye(2))
    assert td.einsum("ij,ij->", a, a).item() == 30.0
    with pytest.raises(ShapeError, match="einsum: the equation 'ij,jk->ik' names 2 operands"):
        td.einsum("ij,jk->ik", a)
    with pytest.raises(ShapeError, match="einsum: letter 'j' has size 2 in one operand and 3"):
        td.einsum("ij,jk->ik", a, td.zeros(3, 2))


def test_cross_kron_by_hand():
    assert td.cross(td.tensor([1.0, 0, 0]), td.tensor([0.0, 1, 0])).tolist() == [0, 0, 1]
    assert td.kron(td.tensor([1, 2]), td.tensor([1, 10])).tolist() == [1, 10, 2, 20]


def test_inverse_determinant_solve_by_hand():
    a = _t([[4.0, 7.0], [2.0, 6.0]], requires_grad=True)
    np.testing.assert_allclose(td.linalg.inv(a).numpy(), [[0.6, -0.7], [-0.2, 0.4]])
    d = td.linalg.det(a)
    assert d.item() == pytest.approx(10.0)
    d.backward()  # d det / dA = the cofactor matrix
    np.testing.assert_allclose(a.grad.numpy(), [[6.0, -2.0], [-7.0, 4.0]])
    x = td.linalg.solve(a.detach(), _t([1.0, 2.0]))
    np.testing.assert_allclose(x.numpy(), [-0.8, 0.6])
    with pytest.raises(ValueError, match="inv: the matrix is singular"):
        td.linalg.inv(_t([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(ShapeError, match="det: needs square matrices"):
        td.linalg.det(td.zeros(2, 3))
    with pytest.raises(NotImplementedError, match="matrix_norm: ord='nuc' needs an SVD"):
        td.linalg.matrix_norm(td.zeros(2, 2), "nuc")


# ---- in-place versions --------------------------------------------------------------------------

# The trailing-underscore methods write through autograd.modify_in_place (version counters and
# PyTorch's graph rules), which arrives with the fidelity work; until then these skip.
needs_in_place = pytest.mark.skipif(not hasattr(td.autograd, "modify_in_place"),
                                    reason="needs autograd.modify_in_place (fidelity work)")


@needs_in_place
def test_in_place_selection_ops_change_the_tensor_and_return_it():
    x = td.zeros(2, 3)
    same = x.scatter_(1, td.tensor([[2], [0]]), 1.0)
    assert same is x and x.tolist() == [[0, 0, 1], [1, 0, 0]]
    x.index_add_(0, td.tensor([1]), td.ones(1, 3))
    assert x.tolist() == [[0, 0, 1], [2, 1, 1]]
    x.scatter_add_(1, td.tensor([[0, 0]]), td.ones(1, 2)).tril_()
    assert x.tolist() == [[2, 0, 0], [2, 1, 0]]
    assert x.index_fill_(1, td.tensor([0]), -1.0).tolist() == [[-1, 0, 0], [-1, 1, 0]]


@needs_in_place
def test_in_place_math_keeps_gradients_flowing_like_pytorch():
    x = _t([0.5, 2.0], requires_grad=True)
    y = x * 3
    y.sin_()  # y = sin(3x): dy/dx = 3 cos(3x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.cos(3 * np.array([0.5, 2.0])))
    with pytest.raises(GraphError, match="floor_: a leaf tensor that requires grad"):
        _t([1.5], requires_grad=True).floor_()


@needs_in_place
def test_ema_update_with_lerp_and_adam_step_with_addcdiv_in_place():
    with td.no_grad():
        average = td.zeros(3)
        average.lerp_(td.ones(3), 0.1)
        np.testing.assert_allclose(average.numpy(), [0.1, 0.1, 0.1], rtol=1e-6)
        param = td.ones(3)
        param.addcdiv_(td.ones(3), td.full((3,), 2.0), value=-0.5)
        np.testing.assert_allclose(param.numpy(), [0.75, 0.75, 0.75])
