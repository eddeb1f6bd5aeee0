"""Everyday PyTorch idioms, each written ONCE and run on torch and on tinydl: same code, same answer.

An idiom is a function ``fn(lib)`` where ``lib`` is the ``torch`` module or the ``tinydl`` module.
It builds its inputs from NumPy arrays with ``lib.tensor(array)`` (pass ``dtype=`` or use float32
arrays: tinydl makes float64 arrays float32 unless told, a documented difference) and returns what
it computed: a tensor, a number, or a tuple/list/dict of them. The test runs it on both libraries
and compares values, shapes and dtypes.

Register an idiom with ``@idiom("group")`` in its group's section below; the groups follow the
breadth issue (elementwise, reductions, selection, shape, linalg, activations, vision, sequence,
losses, modules, optim, data). Skipped when torch is not installed; the hand-computed checks of
each op live in its own test file.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tinydl

IDIOMS: dict[str, Callable[[Any], Any]] = {}
TOLERANCES: dict[str, tuple[float, float]] = {}


def idiom(group: str, rtol: float = 1e-5, atol: float = 1e-6):
    """Register ``fn(lib)`` as an idiom of ``group``, compared with the given tolerances."""
    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        name = f"{group}/{fn.__name__}"
        assert name not in IDIOMS, f"two idioms named {name}"
        IDIOMS[name] = fn
        TOLERANCES[name] = (rtol, atol)
        return fn
    return register


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _leaf(value: Any) -> tuple[np.ndarray, str] | Any:
    """A tensor of either library as (array, dtype name); other values unchanged."""
    if hasattr(value, "detach") and hasattr(value, "dtype") and hasattr(value, "shape"):
        return tinydl.backend.as_numpy(value), _dtype_name(value.dtype)
    return value


def assert_same(ours: Any, theirs: Any, rtol: float, atol: float, where: str = "result") -> None:
    """Recursively compare a tinydl result with torch's: structure, shapes, dtypes, values."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and sorted(ours) == sorted(theirs), \
            f"{where}: keys {sorted(ours) if isinstance(ours, dict) else type(ours)} vs {sorted(theirs)}"
        for key in theirs:
            assert_same(ours[key], theirs[key], rtol, atol, f"{where}[{key!r}]")
        return
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs), \
            f"{where}: {type(ours).__name__} of {len(ours) if hasattr(ours, '__len__') else '?'}" \
            f" vs {type(theirs).__name__} of {len(theirs)}"
        for index, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, rtol, atol, f"{where}[{index}]")
        return
    ours_leaf, theirs_leaf = _leaf(ours), _leaf(theirs)
    if isinstance(theirs_leaf, tuple):
        assert isinstance(ours_leaf, tuple), f"{where}: tinydl gave {type(ours)}, torch a tensor"
        (a, a_dtype), (b, b_dtype) = ours_leaf, theirs_leaf
        assert a.shape == b.shape, f"{where}: shape {a.shape} vs torch {b.shape}"
        assert a_dtype == b_dtype, f"{where}: dtype {a_dtype} vs torch {b_dtype}"
        np.testing.assert_allclose(a.astype(np.float64) if a.dtype != bool else a,
                                   b.astype(np.float64) if b.dtype != bool else b,
                                   rtol=rtol, atol=atol, err_msg=where, equal_nan=True)
        return
    if isinstance(theirs, float):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=where)
        return
    assert ours == theirs, f"{where}: {ours!r} vs torch {theirs!r}"


def pytest_generate_tests(metafunc):
    if "idiom_name" in metafunc.fixturenames:
        metafunc.parametrize("idiom_name", sorted(IDIOMS))


@pytest.mark.torch
def test_idiom_matches_torch(idiom_name, torch):
    fn = IDIOMS[idiom_name]
    rtol, atol = TOLERANCES[idiom_name]
    torch.manual_seed(0)
    theirs = fn(torch)
    tinydl.manual_seed(0)
    ours = fn(tinydl)
    assert_same(ours, theirs, rtol, atol)


def test_enough_idioms_are_declared():
    """The breadth issue asks for at least 100 everyday snippets."""
    assert len(IDIOMS) >= 100, f"only {len(IDIOMS)} idioms declared"


def _array(*shape: int, seed: int = 0, dtype: Any = np.float32) -> np.ndarray:
    """Fixed random inputs, the same for both libraries."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ==== elementwise math ==========================================================================


@idiom("elementwise")
def trig_and_hyperbolic(lib):
    x = lib.tensor(_array(3, 4))
    return [x.sin(), lib.cos(x), lib.tan(x * 0.3), x.sinh(), lib.cosh(x), lib.tanh(x),
            lib.atan(x), lib.asinh(x)]


@idiom("elementwise")
def inverse_trig_on_unit_interval(lib):
    x = lib.tensor(_array(5) * 0.3)
    return [lib.asin(x), x.acos(), lib.atanh(x), lib.atan2(x, x.flip(0))]


@idiom("elementwise")
def rounding_family(lib):
    x = lib.tensor(np.array([-2.5, -1.7, -0.5, 0.4, 1.5, 2.5, 3.49], dtype=np.float32))
    return [x.floor(), x.ceil(), x.round(), lib.trunc(x), x.frac(), x.sign(),
            lib.round(x * 10, decimals=-1)]


@idiom("elementwise")
def logs_and_exps(lib):
    x = lib.tensor(np.abs(_array(6)) + 0.1)
    return [lib.log1p(x), x.expm1(), lib.log2(x), x.log10(), lib.exp2(x), x.rsqrt(),
            x.reciprocal(), lib.sqrt(x)]


@idiom("elementwise")
def erf_family(lib):
    x = lib.tensor(_array(6))
    return [lib.erf(x), lib.erfc(x), lib.erfinv(lib.tanh(x) * 0.9)]


@idiom("elementwise", rtol=1e-5, atol=1e-5)
def gradient_of_sin_and_log1p(lib):
    x = lib.tensor(_array(5), requires_grad=True)
    (x.sin() * lib.log1p(x * x)).sum().backward()
    return x.grad


@idiom("elementwise")
def integer_tensor_to_float_math(lib):
    n = lib.tensor(np.arange(1, 6))
    return [n.sin(), lib.sqrt(n.float()), n.reciprocal(), lib.div(n, 2), n.div(4), lib.exp2(n)]


@idiom("elementwise")
def remainder_and_floor_divide(lib):
    a = lib.tensor(np.array([-7, -3, 0, 3, 7]))
    b = lib.tensor(np.array([2, 2, 5, -2, -3]))
    return [a % b, a // b, lib.fmod(a, b), lib.remainder(a, 3), a % 3, 7 % b, 7 // b]


@idiom("elementwise")
def float_remainder_and_div_rounding(lib):
    a = lib.tensor(np.array([-7.5, -3.0, 0.25, 3.5, 7.0], dtype=np.float32))
    return [a % 2.0, a // 2.0, lib.fmod(a, 2.0), lib.div(a, 2.0, rounding_mode="trunc"),
            a.div(2.0, rounding_mode="floor")]


@idiom("elementwise")
def clamp_with_tensor_bounds(lib):
    x = lib.tensor(_array(3, 4))
    low = lib.tensor(_array(4, seed=1) - 1)
    return [x.clamp(min=low), lib.clamp(x, low, low + 1.5), x.clip(-0.5, 0.5), x.clamp(max=0.0),
            x.clamp_min(0.1)]


@idiom("elementwise")
def hypot_logaddexp_lerp(lib):
    a, b = lib.tensor(_array(5)), lib.tensor(_array(5, seed=1))
    return [lib.hypot(a, b), lib.logaddexp(a, b), a.logaddexp2(b), lib.lerp(a, b, 0.25),
            a.lerp(b, lib.tensor(np.linspace(0, 1, 5, dtype=np.float32))), lib.copysign(a, b)]


@idiom("elementwise")
def nan_and_inf_tests(lib):
    x = lib.tensor(np.array([1.0, np.nan, np.inf, -np.inf, 0.0], dtype=np.float32))
    return [x.isnan(), lib.isinf(x), x.isfinite(), lib.isposinf(x), lib.isneginf(x),
            lib.nan_to_num(x), x.nan_to_num(nan=0.5, posinf=9.0, neginf=-9.0)]


@idiom("elementwise")
def isclose_and_allclose(lib):
    a = lib.tensor(np.array([1.0, 2.0, np.nan], dtype=np.float32))
    b = a + 1e-7
    return [lib.isclose(a, b), a.isclose(b, equal_nan=True), lib.allclose(a[:2], b[:2]),
            lib.equal(a[:2], a[:2].clone()), lib.allclose(a[:2], b[:2] + 1)]


@idiom("elementwise")
def comparison_methods(lib):
    a, b = lib.tensor(_array(6)), lib.tensor(_array(6, seed=1))
    return [a.eq(b), a.ne(a), a.lt(b), a.le(0), lib.gt(a, b), lib.ge(a, 0.0), a.greater(b),
            lib.less_equal(a, b)]


@idiom("elementwise")
def bitwise_on_integers(lib):
    a = lib.tensor(np.array([0b1100, 0b1010, 7, -3]))
    b = lib.tensor(np.array([0b1010, 0b0110, 1, 2]))
    return [a & b, a | b, a ^ b, ~a, a << 2, a >> 1, 5 & a, lib.bitwise_xor(a, 3),
            a.bitwise_and(b)]


@idiom("elementwise")
def logical_ops_on_masks(lib):
    x = lib.tensor(_array(8))
    pos, big = x > 0, x.abs() > 1
    return [pos & big, pos | big, pos ^ big, ~pos, lib.logical_and(x, pos),
            lib.logical_or(pos, big), x.logical_not(), lib.logical_xor(x, lib.zeros_like(x))]


@idiom("elementwise")
def add_sub_with_alpha(lib):
    a, b = lib.tensor(_array(4)), lib.tensor(_array(4, seed=1))
    return [a.add(b, alpha=2), a.sub(b, alpha=0.5), a.mul(b), a.div(b), a.neg(), a.square()]


@idiom("elementwise")
def optimizer_style_updates(lib):
    p, g, v = lib.tensor(_array(5)), lib.tensor(_array(5, seed=1)), lib.tensor(np.abs(_array(5)))
    return [p.addcmul(g, g, value=0.1), lib.addcdiv(p, g, v.sqrt() + 1e-8, value=-0.01),
            lib.xlogy(v, v + 1), lib.logit(lib.sigmoid(p)), p.deg2rad().rad2deg(), p.signbit()]


@idiom("elementwise")
def diff_and_histograms(lib):
    x = lib.tensor(np.array([1.0, 4.0, 9.0, 16.0, 25.0], dtype=np.float32))
    n = lib.tensor(np.array([0, 3, 3, 1, 0, 3]))
    return [x.diff(), lib.diff(x, n=2), lib.diff(x, prepend=lib.zeros(1)), n.bincount(),
            lib.bincount(n, minlength=6), lib.bincount(n, weights=lib.ones(6) * 0.5),
            lib.histc(x, bins=4), x.histc(bins=3, min=0, max=30)]


def int_tensor_plus_python_float_is_float32(lib):  # PyTorch fidelity case 5
    return lib.tensor([1, 2]) + 0.5, lib.arange(4) / 4, lib.tensor([1, 2]) * 2


@idiom("elementwise")
def float32_times_int64_tensor_is_float32(lib):
    x = lib.tensor(_array(3))
    n = lib.tensor(np.array([1, 2, 3], dtype=np.int64))
    return x * n, n - x, x / n, x.double() * n


@idiom("elementwise")
def full_infers_dtype_from_the_value(lib):
    return lib.full((2,), 4), lib.full((2,), True), lib.full((2,), 0.5)


@idiom("elementwise")
def python_scalars_keep_the_tensor_dtype(lib):
    x = lib.tensor(_array(3, dtype=np.float64), dtype=lib.float64)
    i = lib.tensor(np.array([1, 2, 3], dtype=np.int32))
    return x * 2.5, i * 3, i + True, lib.tensor([True, False]) + 1, x * lib.tensor(2.0)


@idiom("elementwise")
def pow_zero_has_zero_gradient_at_zero(lib):  # case 6
    x = lib.tensor(np.array([0.0, 1.5], dtype=np.float32), requires_grad=True)
    (x ** 0).sum().backward()
    return x.grad


# ==== reductions and scans ======================================================================


@idiom("reductions")
def prod_and_sum_dtypes(lib):
    x = lib.tensor(_array(3, 4))
    n = lib.tensor(np.arange(1, 7).reshape(2, 3))
    return [x.prod(), x.prod(1), lib.prod(x, 0, keepdim=True), n.prod(), n.sum(),
            n.sum(dtype=lib.float64), (x > 0).sum(), n.prod(1)]


@idiom("reductions")
def any_all_with_dim(lib):
    x = lib.tensor(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32))
    return [x.any(), x.all(), x.any(dim=1), (x == 0).all(1), lib.any(x, 0, keepdim=True),
            (x >= 0).all()]


@idiom("reductions")
def cumulative_sums_and_products(lib):
    x = lib.tensor(_array(3, 4))
    n = lib.tensor(np.arange(1, 6))
    return [x.cumsum(1), lib.cumsum(x, dim=0), x.cumprod(-1), n.cumsum(0), n.cumprod(0),
            (x > 0).cumsum(1), lib.logcumsumexp(x, 1)]


@idiom("reductions")
def cummax_and_cummin(lib):
    x = lib.tensor(np.array([[1.0, 3.0, 2.0, 3.0, 0.5], [2.0, 1.0, 1.0, 4.0, 4.0]],
                            dtype=np.float32))
    values, indices = x.cummax(1)
    return [values, indices, lib.cummin(x, dim=1)]


@idiom("reductions", rtol=1e-5, atol=1e-6)
def gradient_through_cumprod_with_a_zero(lib):
    x = lib.tensor(np.array([2.0, 0.0, 3.0, 0.5], dtype=np.float32), requires_grad=True)
    x.cumprod(0).sum().backward()
    return x.grad


@idiom("reductions", rtol=1e-5, atol=1e-6)
def gradient_of_prod_with_zeros(lib):
    x = lib.tensor(np.array([[2.0, 0.0, 3.0], [1.0, 2.0, 4.0], [0.0, 0.0, 1.0]],
                            dtype=np.float32), requires_grad=True)
    (x.prod(1).sum() + x.prod()).backward()
    return x.grad


@idiom("reductions")
def amax_amin_aminmax(lib):
    x = lib.tensor(_array(2, 3, 4))
    return [x.amax(), lib.amax(x, dim=(0, 2)), x.amin(1, keepdim=True), lib.aminmax(x),
            x.aminmax(dim=-1)]


@idiom("reductions")
def std_mean_and_var_mean(lib):
    x = lib.tensor(_array(4, 5))
    return [lib.std_mean(x), lib.var_mean(x, dim=1), lib.std_mean(x, 0, keepdim=True),
            lib.var_mean(x, 1, correction=0)]


@idiom("reductions")
def norms(lib):
    x = lib.tensor(_array(3, 4))
    return [x.norm(), lib.norm(x, dim=1), x.norm(p=1, dim=0), lib.norm(x, p=float("inf")),
            x.norm(2, dim=1, keepdim=True)]


@idiom("reductions")
def median_mode_kthvalue(lib):
    x = lib.tensor(np.array([[3.0, 1.0, 2.0, 5.0], [4.0, 4.0, 1.0, 0.0]], dtype=np.float32))
    n = lib.tensor(np.array([[1, 2, 2, 3, 3, 3], [5, 5, 1, 1, 7, 0]]))
    return [x.median(), lib.median(x, dim=1), x.kthvalue(2, 1), lib.kthvalue(x, 1, 0, True),
            n.mode(1), lib.mode(n[0])]


@idiom("reductions")
def count_nonzero_and_nan_reductions(lib):
    x = lib.tensor(np.array([[0.0, 1.5, np.nan], [2.0, 0.0, 3.0]], dtype=np.float32))
    return [lib.count_nonzero(x), x.count_nonzero(dim=1), x.nansum(), lib.nanmean(x, dim=1)]
def var_and_std_of_one_element_are_nan_with_nan_gradient(lib):  # case 6
    x = lib.tensor(np.array([2.0], dtype=np.float32), requires_grad=True)
    v = x.var()
    v.backward()
    y = lib.tensor(np.array([1.0, 1.0, 1.0], dtype=np.float32), requires_grad=True)
    y.std().backward()
    return v, x.grad, y.grad


@idiom("reductions")
def dim_zero_and_minus_one_on_0d_tensors(lib):  # case 6
    s = lib.tensor(1.5)
    return (s.sum(dim=0), s.sum(dim=-1), s.softmax(dim=0), s.log_softmax(dim=-1),
            s.logsumexp(dim=0), s.mean(dim=0, keepdim=True))


# ==== sorting and selection =====================================================================


@idiom("selection")
def topk_values_and_indices(lib):
    scores = lib.tensor(_array(4, 10))
    values, indices = scores.topk(3, dim=1)
    smallest = lib.topk(scores, 2, largest=False)
    return [values, indices, smallest.values, smallest.indices]


@idiom("selection")
def sort_and_argsort(lib):
    x = lib.tensor(_array(3, 5))
    return [x.sort(), lib.sort(x, dim=0, descending=True), x.argsort(dim=1),
            lib.argsort(x, descending=True), x.sort(stable=True).indices]


@idiom("selection", rtol=1e-5, atol=1e-6)
def gradient_through_topk(lib):
    x = lib.tensor(_array(3, 6), requires_grad=True)
    values, _ = x.topk(2, dim=1)
    (values * lib.tensor(np.array([1.0, 2.0], dtype=np.float32))).sum().backward()
def max_with_dim_unpacks_values_and_indices(lib):  # case 4
    out = lib.tensor(_array(2, 3))
    _, pred = lib.max(out, 1)
    values, indices = out.max(dim=0, keepdim=True)
    low = lib.min(lib.tensor(_array(3, 4)), 1)
    return pred, values, indices, low.values, low.indices


@idiom("selection")
def max_with_dim_sends_the_gradient_to_the_index(lib):
    x = lib.tensor(_array(3, 4), requires_grad=True)
    x.max(1).values.sum().backward()
    return x.grad


@idiom("selection")
def gather_class_scores(lib):
    logits = lib.tensor(_array(4, 5))
    target = lib.tensor(np.array([1, 0, 4, 2]))
    return [logits.gather(1, target.unsqueeze(1)).squeeze(1),
            lib.gather(logits, 0, lib.tensor(np.array([[0, 1, 2, 3, 0]])))]


@idiom("selection", rtol=1e-5, atol=1e-6)
def gather_backward_accumulates_repeats(lib):
    x = lib.tensor(_array(2, 3), requires_grad=True)
    index = lib.tensor(np.array([[0, 0, 2], [1, 1, 1]]))
    x.gather(1, index).sum().backward()
    return x.grad


@idiom("selection")
def scatter_one_hot(lib):
    labels = lib.tensor(np.array([2, 0, 3]))
    zeros = lib.zeros(3, 4)
    return [zeros.scatter(1, labels.unsqueeze(1), 1.0),
            zeros.scatter(1, labels.unsqueeze(1), lib.ones(3, 1) * 5)]


@idiom("selection")
def scatter_add_counts(lib):
    index = lib.tensor(np.array([0, 1, 0, 3, 3, 3]))
    src = lib.tensor(np.arange(6, dtype=np.float32))
    return [lib.zeros(4).scatter_add(0, index, src),
            lib.scatter_add(lib.ones(4), 0, index, lib.ones(6))]


@idiom("selection")
def scatter_reduce_variants(lib):
    index = lib.tensor(np.array([0, 1, 0, 1, 2]))
    src = lib.tensor(np.array([5.0, 1.0, 7.0, 2.0, 3.0], dtype=np.float32))
    base = lib.tensor(np.array([1.0, 10.0, -1.0, 4.0], dtype=np.float32))
    return [base.scatter_reduce(0, index, src, reduce=r, include_self=s)
            for r in ("sum", "prod", "mean", "amax", "amin") for s in (True, False)]


@idiom("selection")
def index_select_and_index_add(lib):
    x = lib.tensor(_array(4, 3))
    index = lib.tensor(np.array([3, 0, 3]))
    return [x.index_select(0, index), lib.index_select(x, 1, lib.tensor(np.array([2, 0]))),
            x.index_add(0, index, lib.ones(3, 3)), x.index_add(1, lib.tensor(np.array([1])),
                                                              lib.ones(4, 1), alpha=-2),
            x.index_fill(1, lib.tensor(np.array([0, 2])), -1.0)]


@idiom("selection")
def masked_fill_attention_scores(lib):
    scores = lib.tensor(_array(2, 4, 4))
    causal = lib.ones(4, 4).triu(1).bool()
    filled = scores.masked_fill(causal, float("-inf"))
    return [filled, filled.softmax(dim=-1), lib.masked_fill(scores, scores < 0, 0.0)]


@idiom("selection")
def masked_select_and_boolean_index(lib):
    x = lib.tensor(_array(3, 4))
    return [x.masked_select(x > 0), lib.masked_select(x, lib.tensor(np.array([True, False,
                                                                              True, False]))),
            x[x > 0.5]]


@idiom("selection")
def where_with_condition_only(lib):
    x = lib.tensor(np.array([[0.0, 1.0], [2.0, 0.0]], dtype=np.float32))
    return [lib.where(x > 0), x.nonzero(), lib.nonzero(x, as_tuple=True), lib.argwhere(x),
            lib.where(x > 0, x, lib.zeros_like(x) - 1)]


@idiom("selection")
def take_along_dim_with_argsort(lib):
    x = lib.tensor(_array(3, 4))
    order = x.argsort(dim=1)
    return [lib.take_along_dim(x, order, dim=1), x.take_along_dim(order[:, :1], 1),
            lib.take(x, lib.tensor(np.array([[0, 5], [11, 2]])))]


@idiom("selection")
def unique_with_counts(lib):
    x = lib.tensor(np.array([3, 1, 2, 3, 1, 3]))
    return [x.unique(), lib.unique(x, return_counts=True), lib.unique(x, return_inverse=True),
            lib.unique(lib.tensor(np.array([[1, 2], [1, 2], [0, 5]])), dim=0),
            lib.unique_consecutive(lib.tensor(np.array([1, 1, 2, 2, 3, 1])), return_counts=True)]


@idiom("selection")
def searchsorted_and_bucketize(lib):
    edges = lib.tensor(np.array([0.0, 1.0, 2.5, 4.0], dtype=np.float32))
    values = lib.tensor(np.array([-1.0, 1.0, 3.0, 9.0], dtype=np.float32))
    return [lib.searchsorted(edges, values), lib.searchsorted(edges, values, right=True),
            lib.bucketize(values, edges), lib.bucketize(values, edges, right=True)]


@idiom("selection")
def sampling_shapes_and_support(lib):
    probs = lib.tensor(np.array([[0.1, 0.0, 0.9], [0.5, 0.5, 0.0]], dtype=np.float32))
    draws = lib.multinomial(probs, 2)
    coins = lib.bernoulli(lib.full((3, 4), 0.5))
    return [draws.shape, draws.dtype == lib.int64, bool((draws[0] != 1).all()), bool((draws[1] != 2).all()),
            coins.shape, coins.dtype == lib.float32, bool(((coins == 0) | (coins == 1)).all()),
            probs.multinomial(1, replacement=True).shape]
def sort_and_topk_return_values_and_indices(lib):
    x = lib.tensor(_array(3, 5), requires_grad=True)
    ordered = x.sort(dim=1, descending=True)
    best = lib.topk(x, 2, dim=1)
    (ordered.values[:, 0].sum() + best.values.sum()).backward()
    return ordered.values, ordered.indices, best.values, best.indices, x.grad


# ==== shape =====================================================================================


@idiom("shape")
def chunk_split_unbind(lib):
    x = lib.tensor(_array(6, 4))
    return [x.chunk(3), lib.chunk(x, 4, 1), x.split(4), x.split([1, 3], dim=1), x.unbind(1),
            lib.unbind(x)]


@idiom("shape")
def tensor_split_and_narrow(lib):
    x = lib.tensor(_array(7, 3))
    return [x.tensor_split(3), lib.tensor_split(x, [1, 5]), x.narrow(0, 2, 3),
            lib.narrow(x, 1, -2, 2), x.select(1, 0)]


@idiom("shape")
def flips_and_rolls(lib):
    x = lib.tensor(_array(3, 4))
    return [x.flip(0), lib.flip(x, (0, 1)), x.fliplr(), lib.flipud(x), x.roll(1, 1),
            lib.roll(x, -2), x.roll((1, 2), (0, 1)), lib.rot90(x), x.rot90(2), x.rot90(-1)]


@idiom("shape")
def repeat_tile_expand(lib):
    x = lib.tensor(_array(2, 3))
    return [x.repeat(2, 1), x.repeat(1, 2, 2), lib.tile(x, (2,)), x.tile(2, 1, 1),
            x[:1].expand(4, 3), x[:, :1].expand_as(x), x.unsqueeze(0).expand(2, -1, -1)]


@idiom("shape")
def repeat_interleave_tokens(lib):
    x = lib.tensor(_array(3, 2))
    return [x.repeat_interleave(2, dim=0), lib.repeat_interleave(x, 3),
            x.repeat_interleave(lib.tensor(np.array([1, 0, 2])), dim=0),
            lib.repeat_interleave(lib.tensor(np.array([1, 2])), 2)]


@idiom("shape")
def triangles_for_masks(lib):
    x = lib.tensor(_array(4, 5))
    return [x.tril(), lib.triu(x, 1), x.tril(-1), lib.tril(lib.ones(3, 3)).bool(),
            lib.triu(lib.ones(2, 4, 4), diagonal=1)]


@idiom("shape")
def diagonals(lib):
    m = lib.tensor(_array(3, 4))
    v = lib.tensor(_array(3))
    return [m.diagonal(), lib.diagonal(m, 1), m.diag(-1), lib.diag(v), v.diag(1),
            lib.diag_embed(lib.tensor(_array(2, 3))), m[:, :3].trace(), lib.eye(3).diagonal()]


@idiom("shape")
def view_as_reshape_as_contiguous(lib):
    x = lib.tensor(_array(2, 6))
    y = lib.zeros(3, 4)
    return [x.view_as(y), x.reshape_as(y), x.t().contiguous(), x.T.t(), x.contiguous().shape,
            x.unflatten(1, (2, 3)), lib.unflatten(x, 1, (3, -1)).shape]


@idiom("shape")
def meshgrid_and_cartesian_prod(lib):
    a = lib.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    b = lib.tensor(np.array([10.0, 20.0], dtype=np.float32))
    return [lib.meshgrid(a, b, indexing="ij"), lib.meshgrid(a, b, indexing="xy"),
            lib.cartesian_prod(a, b)]


@idiom("shape")
def broadcast_helpers(lib):
    a, b = lib.tensor(_array(3, 1)), lib.tensor(_array(1, 4))
    return [lib.broadcast_tensors(a, b), lib.broadcast_to(a, (2, 3, 4)),
            lib.broadcast_shapes((3, 1), (1, 4), (2, 1, 1))]


@idiom("shape")
def creation_like_and_new(lib):
    x = lib.tensor(_array(2, 3))
    n = lib.tensor(np.arange(4))
    return [lib.zeros_like(x), lib.ones_like(n), lib.full_like(x, 7), lib.empty_like(x).shape,
            x.new_zeros(2), x.new_ones((1, 2)), x.new_full((2, 2), 3.5), n.new_full((2,), 3),
            x.new_tensor([1, 2]), n.new_tensor([1.5]), x.new_empty(3).shape,
            lib.zeros_like(x, dtype=lib.int64), lib.full((2,), 3), lib.full((2,), True)]


@idiom("shape")
def ranges_and_identity(lib):
    return [lib.linspace(0, 1, 5), lib.linspace(-1, 1, steps=3), lib.logspace(0, 2, 3),
            lib.logspace(0, 3, 4, base=2), lib.eye(3), lib.eye(2, 3), lib.empty(2, 3).shape,
            lib.arange(5), lib.arange(1, 2, 0.25)]


@idiom("shape")
def random_like_shapes_and_dtypes(lib):
    x = lib.tensor(_array(2, 3))
    n = lib.tensor(np.arange(6).reshape(2, 3))
    r = lib.randint_like(n, 10)
    return [lib.rand_like(x).shape, lib.randn_like(x).dtype == lib.float32, r.shape,
            r.dtype == lib.int64,
            bool(((r >= 0) & (r < 10)).all()), lib.randint(5, (2, 2)).dtype == lib.int64,
            lib.randint(3, 8, (4,)).shape]


@idiom("shape")
def stacking_helpers(lib):
    a, b = lib.tensor(_array(3)), lib.tensor(_array(3, seed=1))
    return [lib.hstack([a, b]), lib.vstack([a, b]), lib.column_stack([a, b]),
            lib.atleast_2d(a).shape, lib.atleast_1d(lib.tensor(1.0)).shape]
def transpose_of_two_dims_swaps_them_at_any_ndim(lib):  # case 1
    q, k = lib.tensor(_array(3, 3)), lib.tensor(_array(3, 3, seed=1))
    x = lib.arange(6.).reshape(2, 3)
    return (x.transpose(0, 1), q @ k.transpose(-2, -1), x.T, x.t(), x.mT, x.swapaxes(0, 1),
            lib.transpose(x, 1, 0), x.permute(1, 0), x.permute(0, 1))


@idiom("shape")
def movedim_and_permute_on_3d(lib):
    x = lib.tensor(_array(2, 3, 4))
    return x.movedim(0, -1), x.transpose(0, 2), x.permute(2, 0, 1), x.mT


@idiom("shape")
def int_and_index_tensor_keep_the_index_dims_in_place(lib):  # case 6
    x = lib.tensor(_array(2, 3, 4))
    idx = lib.tensor(np.array([0, 2]))
    first = lib.tensor(np.array([1, 0]))
    return x[1, :, idx], x[:, 1, idx], x[first, :, 1], x[first, 1:, idx]


@idiom("shape")
def squeeze_of_a_dim_that_is_not_one_is_a_no_op(lib):  # case 6
    x = lib.tensor(_array(2, 1, 3))
    return x.squeeze(0), x.squeeze(1), x.squeeze(-1), lib.cat([x, x], dim=2), lib.stack([x, x], dim=1)


# ==== linear algebra ============================================================================


@idiom("linalg", rtol=1e-5, atol=1e-5)
def einsum_attention(lib):
    q, k = lib.tensor(_array(2, 3, 4, 5)), lib.tensor(_array(2, 3, 6, 5, seed=1))
    scores = lib.einsum("bhqd,bhkd->bhqk", q, k) / 5 ** 0.5
    return [scores, lib.einsum("bhqk,bhkd->bhqd", scores.softmax(-1), k[:, :, :6])]


@idiom("linalg", rtol=1e-5, atol=1e-5)
def einsum_everyday_equations(lib):
    a, b = lib.tensor(_array(3, 4)), lib.tensor(_array(4, 2, seed=1))
    v = lib.tensor(_array(4, seed=2))
    m = lib.tensor(_array(3, 3, seed=3))
    return [lib.einsum("ij,jk->ik", a, b), lib.einsum("ij->ji", a), lib.einsum("ii", m),
            lib.einsum("ii->i", m), lib.einsum("ij,j->i", a, v), lib.einsum("i,j->ij", v, v),
            lib.einsum("...j,jk", a, b), lib.einsum("ij,ij->", a, a), lib.einsum("ij", a),
            lib.einsum("ij,jk,kl->il", [a, b, b.t()])]


@idiom("linalg", rtol=1e-5, atol=1e-5)
def einsum_gradients(lib):
    a = lib.tensor(_array(2, 3, 4), requires_grad=True)
    b = lib.tensor(_array(2, 4, 5, seed=1), requires_grad=True)
    m = lib.tensor(_array(3, 3, seed=2), requires_grad=True)
    (lib.einsum("bij,bjk->bik", a, b).sum() + lib.einsum("ii->", m) ** 2).backward()
    return [a.grad, b.grad, m.grad]


@idiom("linalg", rtol=1e-5, atol=1e-5)
def matrix_products(lib):
    a, b = lib.tensor(_array(2, 3, 4)), lib.tensor(_array(2, 4, 5, seed=1))
    v, w = lib.tensor(_array(4, seed=2)), lib.tensor(_array(3, seed=3))
    return [lib.bmm(a, b), a[0].mm(b[0]), lib.mv(a[0], v), v.dot(v), lib.outer(w, v),
            lib.inner(a[0], v), w.outer(w), lib.tensordot(a[0], b[0], dims=1),
            lib.tensordot(a, b, dims=([0, 2], [0, 1]))]


@idiom("linalg", rtol=1e-5, atol=1e-5)
def addmm_and_baddbmm(lib):
    bias, x, w = lib.tensor(_array(5)), lib.tensor(_array(3, 4)), lib.tensor(_array(4, 5, seed=1))
    batch = lib.tensor(_array(2, 3, 5, seed=2))
    return [lib.addmm(bias, x, w), lib.addmm(bias, x, w, beta=0.5, alpha=2.0),
            lib.baddbmm(batch, lib.tensor(_array(2, 3, 4)), lib.tensor(_array(2, 4, 5)),
                        alpha=0.1), batch.baddbmm(batch[:, :, :2], lib.tensor(_array(2, 2, 5)), beta=0.0)]


@idiom("linalg", rtol=1e-5, atol=1e-5)
def cross_and_kron(lib):
    a, b = lib.tensor(_array(4, 3)), lib.tensor(_array(4, 3, seed=1))
    m, n = lib.tensor(_array(2, 2)), lib.tensor(_array(2, 3, seed=2))
    return [lib.cross(a, b, dim=1), lib.linalg.cross(a, b), a.cross(b, dim=-1), lib.kron(m, n),
            m.kron(lib.eye(2))]


@idiom("linalg", rtol=1e-5, atol=1e-5)
def linalg_norms(lib):
    x = lib.tensor(_array(3, 4))
    return [lib.linalg.norm(x), lib.linalg.norm(x, dim=1), lib.linalg.vector_norm(x, ord=1),
            lib.linalg.vector_norm(x, float("inf"), dim=0), lib.linalg.matrix_norm(x),
            lib.linalg.matrix_norm(x, ord=1), lib.linalg.norm(x, ord=float("inf")),
            lib.linalg.vector_norm(x, 3, dim=(0, 1), keepdim=True)]


@idiom("linalg", rtol=1e-5, atol=1e-5)
def norm_gradient_at_zero_is_zero(lib):
    x = lib.zeros(3, requires_grad=True)
    y = lib.tensor(_array(3), requires_grad=True)
    (lib.linalg.norm(x) + y.norm()).backward()
    return [x.grad, y.grad]


@idiom("linalg", rtol=1e-4, atol=1e-5)
def inverse_determinant_solve(lib):
    a = lib.tensor(_array(3, 3) + 3 * np.eye(3, dtype=np.float32))
    b = lib.tensor(_array(3, 2, seed=1))
    batch = lib.tensor(_array(2, 3, 3, seed=2) + 3 * np.eye(3, dtype=np.float32))
    return [lib.linalg.inv(a), lib.linalg.det(a), a.det(), lib.det(batch), a.inverse(),
            lib.linalg.solve(a, b), lib.linalg.solve(batch, b[:, 0]), lib.inverse(batch)]


@idiom("linalg", rtol=1e-4, atol=1e-5)
def linalg_gradients(lib):
    a = lib.tensor(_array(3, 3) + 3 * np.eye(3, dtype=np.float32), requires_grad=True)
    b = lib.tensor(_array(3, 2, seed=1), requires_grad=True)
    (lib.linalg.solve(a, b).sum() + lib.linalg.det(a) + lib.linalg.inv(a).square().sum()).backward()
    return [a.grad, b.grad]


@idiom("linalg", rtol=1e-4, atol=1e-4)
def matrix_power_and_trace(lib):
    m = lib.tensor(_array(3, 3) * 0.5)
    return [lib.linalg.matrix_power(m, 3), m.matrix_power(0), lib.matrix_power(m, 2).trace()]


# ==== activations ===============================================================================


def _load(lib, module, seed=0, **arrays):
    """Give a freshly built module fixed parameters (the same in both libraries)."""
    module.load_state_dict({name: lib.tensor(value) for name, value in arrays.items()})
    return module


@idiom("activations")
def activation_modules_in_sequential(lib):
    nn = lib.nn
    x = lib.tensor(_array(4, 6))
    layers = [nn.ELU(), nn.SELU(), nn.CELU(0.5), nn.SiLU(), nn.Mish(), nn.ReLU6(),
              nn.Hardswish(), nn.Hardsigmoid(), nn.Hardtanh(-0.5, 0.5), nn.LogSigmoid(),
              nn.Softsign(), nn.Tanhshrink(), nn.Softplus(beta=2.0)]
    return [layer(x) for layer in layers]


@idiom("activations")
def functional_activations_with_inplace_flag(lib):
    F = lib.nn.functional
    x = lib.tensor(_array(3, 5))
    return (F.elu(x, alpha=0.7, inplace=False), F.leaky_relu(x, 0.1, inplace=False),
            F.relu6(x, inplace=False), F.hardtanh(x, -2.0, 2.0), F.selu(x))


@idiom("activations")
def gelu_tanh_and_exact(lib):
    x = lib.tensor(_array(2, 7))
    return lib.nn.GELU(approximate="tanh")(x), lib.nn.functional.gelu(x)


@idiom("activations")
def shrink_and_threshold(lib):
    F = lib.nn.functional
    x = lib.tensor(_array(10))
    return (F.hardshrink(x, 0.3), F.softshrink(x, 0.3), F.threshold(x, 0.2, -1.0),
            lib.nn.Threshold(0.1, 20.0)(x))


@idiom("activations")
def softmin_and_softmax_modules(lib):
    x = lib.tensor(_array(3, 4))
    return lib.nn.Softmin(dim=1)(x), lib.nn.Softmax(dim=0)(x), lib.nn.LogSoftmax(dim=1)(x)


@idiom("activations")
def glu_halves_the_dim(lib):
    x = lib.tensor(_array(2, 8, 3))
    return lib.nn.functional.glu(x, dim=1), lib.nn.GLU()(lib.tensor(_array(4, 6)))


@idiom("activations")
def prelu_per_channel_gradient(lib):
    layer = _load(lib, lib.nn.PReLU(3, init=0.1), weight=np.array([0.1, 0.2, 0.3], np.float32))
    x = lib.tensor(_array(2, 3, 4), requires_grad=True)
    layer(x).sum().backward()
    return layer.weight.grad, x.grad


@idiom("activations")
def rrelu_in_eval_mode(lib):
    layer = lib.nn.RReLU(0.1, 0.3)
    layer.eval()
    return layer(lib.tensor(_array(5, 5)))


@idiom("activations")
def softplus_gradient_past_threshold(lib):
    x = lib.tensor(np.array([-30.0, -1.0, 0.0, 1.0, 30.0], np.float32), requires_grad=True)
    lib.nn.functional.softplus(x, beta=1.0, threshold=20.0).sum().backward()
    return x.grad


@idiom("activations")
def normalize_embeddings(lib):
    x = lib.tensor(_array(4, 8))
    F = lib.nn.functional
    return F.normalize(x, dim=-1), F.normalize(x, p=1.0, dim=0)


@idiom("activations")
def cosine_similarity_matrix(lib):
    a, b = lib.tensor(_array(5, 8)), lib.tensor(_array(3, 8, seed=1))
    return lib.nn.functional.cosine_similarity(a.unsqueeze(1), b.unsqueeze(0), dim=-1)


@idiom("activations")
def pairwise_distance_and_module(lib):
    a, b = lib.tensor(_array(6, 4)), lib.tensor(_array(6, 4, seed=1))
    return (lib.nn.functional.pairwise_distance(a, b), lib.nn.PairwiseDistance(p=1.0)(a, b),
            lib.nn.CosineSimilarity(dim=1)(a, b))


# ==== vision layers =============================================================================


@idiom("vision")
def conv1d_over_a_sequence(lib):
    conv = _load(lib, lib.nn.Conv1d(3, 4, 3, padding=1), weight=_array(4, 3, 3),
                 bias=_array(4, seed=1))
    x = lib.tensor(_array(2, 3, 10), requires_grad=True)
    out = conv(x)
    out.sum().backward()
    return out, x.grad, conv.weight.grad


@idiom("vision")
def depthwise_separable_conv(lib):
    F = lib.nn.functional
    x = lib.tensor(_array(2, 4, 6, 6))
    depthwise = F.conv2d(x, lib.tensor(_array(4, 1, 3, 3)), padding=1, groups=4)
    return F.conv2d(depthwise, lib.tensor(_array(8, 4, 1, 1, seed=1)))


@idiom("vision")
def conv2d_same_padding_and_reflect_mode(lib):
    conv = _load(lib, lib.nn.Conv2d(2, 3, (3, 2), padding="same", padding_mode="reflect"),
                 weight=_array(3, 2, 3, 2), bias=_array(3, seed=1))
    return conv(lib.tensor(_array(1, 2, 5, 7)))


@idiom("vision")
def conv3d_on_a_clip(lib):
    F = lib.nn.functional
    return F.conv3d(lib.tensor(_array(1, 2, 4, 5, 5)), lib.tensor(_array(3, 2, 2, 3, 3)),
                    stride=(1, 2, 2), padding=1)


@idiom("vision")
def transposed_conv_upsamples(lib):
    up = _load(lib, lib.nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1),
               weight=_array(4, 2, 4, 4), bias=_array(2, seed=1))
    return up(lib.tensor(_array(1, 4, 3, 3)))


@idiom("vision")
def pad_modes(lib):
    F = lib.nn.functional
    x = lib.tensor(_array(1, 2, 3, 4))
    return [F.pad(x, (1, 2, 2, 1), mode=mode) for mode in ("reflect", "replicate", "circular")] \
        + [F.pad(x, (1, 1), value=0.5)]


@idiom("vision")
def max_pool_with_indices_and_unpool(lib):
    F = lib.nn.functional
    x = lib.tensor(_array(1, 2, 4, 6))
    out, indices = F.max_pool2d(x, 2, return_indices=True)
    return out, indices, lib.nn.MaxUnpool2d(2)(out, indices)


@idiom("vision")
def max_pool_ceil_mode_and_dilation(lib):
    x = lib.tensor(_array(1, 1, 7, 7))
    return (lib.nn.MaxPool2d(2, ceil_mode=True)(x),
            lib.nn.functional.max_pool2d(x, 3, stride=1, dilation=2))


@idiom("vision")
def pools_1d_and_3d(lib):
    nn = lib.nn
    seq, clip = lib.tensor(_array(2, 3, 9)), lib.tensor(_array(1, 2, 4, 6, 6))
    return (nn.MaxPool1d(3, stride=2)(seq), nn.AvgPool1d(2)(seq), nn.AdaptiveAvgPool1d(4)(seq),
            nn.MaxPool3d(2)(clip), nn.AvgPool3d((1, 2, 2))(clip))


@idiom("vision")
def adaptive_max_pool_to_fixed_size(lib):
    return lib.nn.AdaptiveMaxPool2d((2, 3))(lib.tensor(_array(2, 3, 7, 8)))


@idiom("vision")
def upsample_nearest_and_bilinear(lib):
    x = lib.tensor(_array(1, 2, 3, 4))
    F = lib.nn.functional
    return (lib.nn.Upsample(scale_factor=2)(x),
            F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False),
            F.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=True))


@idiom("vision")
def pixel_shuffle_round_trip(lib):
    x = lib.tensor(_array(1, 8, 3, 3))
    up = lib.nn.PixelShuffle(2)(x)
    return up, lib.nn.PixelUnshuffle(2)(up)


@idiom("vision")
def unfold_patches_and_fold_back(lib):
    x = lib.tensor(_array(2, 3, 4, 4))
    patches = lib.nn.Unfold(kernel_size=2, stride=2)(x)
    return patches, lib.nn.Fold(output_size=(4, 4), kernel_size=2, stride=2)(patches)


@idiom("vision")
def group_instance_and_local_response_norm(lib):
    x = lib.tensor(_array(2, 4, 3, 3))
    return (lib.nn.GroupNorm(2, 4)(x), lib.nn.InstanceNorm2d(4)(x),
            lib.nn.LocalResponseNorm(3)(x), lib.nn.InstanceNorm1d(4)(x.reshape(2, 4, 9)))


@idiom("vision")
def dropout_layers_in_eval_mode(lib):
    x = lib.tensor(_array(2, 3, 4, 4))
    layers = [lib.nn.Dropout1d(0.5), lib.nn.Dropout2d(0.5), lib.nn.Dropout3d(0.5)]
    inputs = [x[:, :, 0], x, x.unsqueeze(2)]
    return [layer.eval()(inp) for layer, inp in zip(layers, inputs)]


# ==== sequence and model building ===============================================================


def _transformer_pair(lib):
    lib.manual_seed(0)
    model = lib.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                               dim_feedforward=16, dropout=0.0)
    rng = np.random.default_rng(3)
    model.load_state_dict({name: lib.tensor(rng.standard_normal(tuple(p.shape)).astype(
        np.float32) * 0.3) for name, p in model.state_dict().items()})
    return model


@idiom("sequence", atol=1e-5)
def transformer_with_causal_mask(lib):
    model = _transformer_pair(lib)
    src, tgt = lib.tensor(_array(5, 2, 8)), lib.tensor(_array(4, 2, 8, seed=1))
    mask = lib.nn.Transformer.generate_square_subsequent_mask(4)
    return mask, model(src, tgt, tgt_mask=mask)


@idiom("sequence", atol=1e-5)
def transformer_encoder_stack_with_final_norm(lib):
    lib.manual_seed(0)
    layer = lib.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                           batch_first=True)
    encoder = lib.nn.TransformerEncoder(layer, num_layers=2, norm=lib.nn.LayerNorm(8))
    rng = np.random.default_rng(4)
    encoder.load_state_dict({name: lib.tensor(rng.standard_normal(tuple(p.shape)).astype(
        np.float32) * 0.3) for name, p in encoder.state_dict().items()})
    return encoder(lib.tensor(_array(2, 5, 8)))


@idiom("sequence")
def embedding_bag_with_offsets(lib):
    bag = _load(lib, lib.nn.EmbeddingBag(10, 3, mode="sum"), weight=_array(10, 3))
    ids, offsets = lib.tensor([1, 2, 4, 5, 4, 3, 2, 9]), lib.tensor([0, 4])
    return bag(ids, offsets), bag(ids, offsets, per_sample_weights=lib.tensor(_array(8)))


@idiom("sequence")
def embedding_bag_modes_on_2d_input(lib):
    F = lib.nn.functional
    weight, ids = lib.tensor(_array(6, 4)), lib.tensor([[0, 2, 2], [5, 1, 0]])
    return [F.embedding_bag(ids, weight, mode=mode) for mode in ("sum", "mean", "max")]


# ==== losses ====================================================================================


@idiom("losses")
def regression_losses_every_reduction(lib):
    F = lib.nn.functional
    x, y = lib.tensor(_array(4, 3)), lib.tensor(_array(4, 3, seed=1))
    return [(F.l1_loss(x, y, reduction=r), F.smooth_l1_loss(x, y, reduction=r, beta=0.5),
             F.huber_loss(x, y, reduction=r, delta=0.8)) for r in ("mean", "sum", "none")]


@idiom("losses")
def loss_modules_with_gradients(lib):
    nn = lib.nn
    x = lib.tensor(_array(5, 2), requires_grad=True)
    y = lib.tensor(_array(5, 2, seed=1))
    (nn.L1Loss()(x, y) + nn.SmoothL1Loss()(x, y) + nn.HuberLoss(delta=0.5)(x, y)).backward()
    return x.grad


@idiom("losses")
def kl_divergence_for_distillation(lib):
    F = lib.nn.functional
    student = F.log_softmax(lib.tensor(_array(4, 5)), -1)
    teacher = F.softmax(lib.tensor(_array(4, 5, seed=1)), -1)
    return (lib.nn.KLDivLoss(reduction="batchmean")(student, teacher),
            F.kl_div(student, teacher.log(), reduction="sum", log_target=True))


@idiom("losses")
def poisson_and_gaussian_nll(lib):
    rates = lib.tensor(_array(6))
    counts = lib.tensor(np.array([0, 1, 2, 3, 0, 5], np.float32))
    var = lib.tensor(np.abs(_array(6, seed=2)) + 0.1)
    return (lib.nn.PoissonNLLLoss()(rates, counts),
            lib.nn.PoissonNLLLoss(log_input=True, full=True)(rates, counts),
            lib.nn.GaussianNLLLoss()(rates, counts, var))


@idiom("losses")
def ranking_and_hinge_losses(lib):
    nn = lib.nn
    a, b = lib.tensor(_array(6)), lib.tensor(_array(6, seed=1))
    y = lib.tensor(np.array([1, -1, 1, 1, -1, -1], np.float32))
    return (nn.MarginRankingLoss(margin=0.2)(a, b, y), nn.HingeEmbeddingLoss()(a.abs(), y),
            nn.SoftMarginLoss()(a, y))


@idiom("losses")
def cosine_embedding_and_triplet(lib):
    nn = lib.nn
    a, p, n = (lib.tensor(_array(4, 8, seed=s)) for s in (0, 1, 2))
    y = lib.tensor(np.array([1, -1, 1, -1], np.float32))
    return (nn.CosineEmbeddingLoss(margin=0.1)(a, p, y), nn.TripletMarginLoss(margin=1.0)(a, p, n),
            nn.TripletMarginLoss(p=1.0, swap=True, reduction="none")(a, p, n))


@idiom("losses")
def multilabel_and_multiclass_margins(lib):
    nn = lib.nn
    scores = lib.tensor(_array(3, 4))
    multi_hot = lib.tensor(np.array([[1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 0]], np.float32))
    labels = lib.tensor([2, 0, 3])
    return (nn.MultiLabelSoftMarginLoss()(scores, multi_hot), nn.MultiMarginLoss()(scores, labels),
            nn.MultiMarginLoss(p=2, margin=0.5, reduction="none")(scores, labels))


@idiom("losses")
def bce_with_logits_pos_weight(lib):
    logits, targets = lib.tensor(_array(4, 3)), lib.tensor((_array(4, 3, seed=1) > 0).astype(np.float32))
    return lib.nn.BCEWithLogitsLoss(pos_weight=lib.tensor(np.array([1.0, 2.0, 3.0],
                                                                   np.float32)))(logits, targets)


# ==== modules, init and hooks ===================================================================


def _constant_model(lib, value=0.1):
    """A small MLP with every weight set to ``value`` and every bias to 0 (via apply)."""
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2))

    def fill(module):
        if isinstance(module, lib.nn.Linear):
            lib.nn.init.constant_(module.weight, value)
            lib.nn.init.zeros_(module.bias)

    return model.apply(fill)


@idiom("modules")
def init_constant_ones_zeros(lib):
    a, b, c = lib.empty(2, 3) if hasattr(lib, "empty") else lib.zeros(2, 3), lib.zeros(3), \
        lib.zeros(2, 2)
    return lib.nn.init.constant_(a, 0.25), lib.nn.init.ones_(b), lib.nn.init.zeros_(c)


@idiom("modules")
def init_eye_and_dirac(lib):
    return (lib.nn.init.eye_(lib.zeros(3, 5)),
            lib.nn.init.dirac_(lib.zeros(4, 2, 3, 3), groups=2))


@idiom("modules")
def init_kaiming_uniform_bounds(lib):
    w = lib.zeros(64, 32, 3, 3)
    lib.nn.init.kaiming_uniform_(w, mode="fan_in", nonlinearity="relu")
    bound = lib.nn.init.calculate_gain("relu") * (3.0 / (32 * 9)) ** 0.5
    return tuple(w.shape), bool((w.abs().max() <= bound).item()), \
        bool((w.abs().max() > 0.95 * bound).item())


@idiom("modules")
def init_kaiming_normal_fan_out_std(lib):
    w = lib.zeros(256, 128)
    lib.nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="leaky_relu", a=0.2)
    expected = lib.nn.init.calculate_gain("leaky_relu", 0.2) / 256 ** 0.5
    return abs(float(w.std()) / expected - 1) < 0.03


@idiom("modules")
def init_xavier_uniform_bound(lib):
    w = lib.zeros(100, 50)
    lib.nn.init.xavier_uniform_(w, gain=lib.nn.init.calculate_gain("tanh"))
    bound = 5 / 3 * (6 / 150) ** 0.5
    return bool((w.abs().max() <= bound).item()), bool((w.abs().max() > 0.97 * bound).item())


@idiom("modules", atol=1e-5)
def init_orthogonal_rows(lib):
    w = lib.zeros(4, 6)
    lib.nn.init.orthogonal_(w, gain=2.0)
    return w @ w.T


@idiom("modules")
def init_trunc_normal_and_sparse(lib):
    w = lib.zeros(50, 40)
    lib.nn.init.trunc_normal_(w, std=0.02, a=-0.04, b=0.04)
    s = lib.zeros(10, 7)
    lib.nn.init.sparse_(s, sparsity=0.3)
    return bool((w.abs().max() <= 0.04).item()), (s == 0).sum(0)


@idiom("modules")
def init_calculate_gain_table(lib):
    return [lib.nn.init.calculate_gain(n) for n in ("linear", "conv2d", "sigmoid", "tanh", "relu",
                                                     "leaky_relu", "selu")]


@idiom("modules")
def apply_then_forward(lib):
    return _constant_model(lib)(lib.tensor(_array(5, 3)))


@idiom("modules")
def named_modules_and_children(lib):
    model = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.Sequential(lib.nn.ReLU(),
                                                                      lib.nn.Linear(2, 1)))
    return ([name for name, _ in model.named_modules()],
            [type(m).__name__ for m in model.modules()],
            [name for name, _ in model.named_children()],
            [type(m).__name__ for m in model.children()])


@idiom("modules")
def named_parameters_shapes_and_count(lib):
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Linear(4, 2, bias=False))
    return ([(n, tuple(p.shape)) for n, p in model.named_parameters()],
            sum(p.numel() for p in model.parameters()))


@idiom("modules")
def forward_hook_captures_activations(lib):
    model = _constant_model(lib)
    captured = {}
    handle = model[1].register_forward_hook(lambda m, args, out: captured.update(relu=out))
    model(lib.tensor(_array(2, 3)))
    handle.remove()
    model(lib.tensor(_array(3, 3)))  # removed: no longer captured
    return captured["relu"]


@idiom("modules")
def forward_pre_hook_rescales_input(lib):
    model = _constant_model(lib)
    model.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    return model(lib.tensor(_array(2, 3)))


@idiom("modules")
def forward_hook_replaces_output(lib):
    layer = _constant_model(lib)[0]
    layer.register_forward_hook(lambda m, args, out: out + 1)
    return layer(lib.tensor(_array(2, 3)))


@idiom("modules")
def full_backward_hook_grads(lib):
    model = _constant_model(lib)
    seen = {}
    model[2].register_full_backward_hook(
        lambda m, gin, gout: seen.update(gin=gin[0], gout=gout[0]))
    x = lib.tensor(_array(2, 3)).requires_grad_()
    (model(x) ** 2).sum().backward()
    return seen["gin"], seen["gout"], x.grad


@idiom("modules")
def requires_grad_and_zero_grad(lib):
    model = _constant_model(lib)
    model(lib.tensor(_array(2, 3))).sum().backward()
    had = [p.grad is not None for p in model.parameters()]
    model.zero_grad()
    cleared = [p.grad is None for p in model.parameters()]
    model[0].requires_grad_(False)
    return had, cleared, [p.requires_grad for p in model.parameters()]


@idiom("modules")
def module_dict_parameter_list_state_dict(lib):
    model = lib.nn.Module()
    model.heads = lib.nn.ModuleDict({"a": lib.nn.Linear(2, 1), "b": lib.nn.Linear(2, 3)})
    model.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2)) for _ in range(3)])
    model.extra = lib.nn.ParameterDict({"shift": lib.nn.Parameter(lib.zeros(4))})
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()], len(model.scales), \
        list(model.heads.keys())


@idiom("modules")
def unflatten_layer(lib):
    x = lib.tensor(_array(2, 12))
    return lib.nn.Unflatten(1, (3, 4))(x), lib.nn.Sequential(lib.nn.Flatten(),
                                                             lib.nn.Unflatten(1, (2, 6)))(x)


@idiom("modules")
def bilinear_with_constant_weights(lib):
    layer = lib.nn.Bilinear(3, 2, 4)
    lib.nn.init.constant_(layer.weight, 0.5)
    lib.nn.init.constant_(layer.bias, -1.0)
    return layer(lib.tensor(_array(5, 3)), lib.tensor(_array(5, 2, seed=1)))


@idiom("modules")
def functional_bilinear_gradients(lib):
    x1 = lib.tensor(_array(4, 3)).requires_grad_()
    x2 = lib.tensor(_array(4, 2, seed=1)).requires_grad_()
    weight = lib.tensor(_array(5, 3, 2, seed=2)).requires_grad_()
    out = lib.nn.functional.bilinear(x1, x2, weight, lib.tensor(_array(5, seed=3)))
    (out ** 2).sum().backward()
    return out, x1.grad, x2.grad, weight.grad


@idiom("modules")
def parameters_to_vector_and_back(lib):
    model = _constant_model(lib, 0.3)
    vec = lib.nn.utils.parameters_to_vector(model.parameters())
    lib.nn.utils.vector_to_parameters(vec * 2, model.parameters())
    return vec, model[0].weight


# ==== optimizers and schedules ==================================================================


def _steps_on_a_quadratic(lib, make, steps=5):
    """``steps`` optimizer steps on sum((p - [1, -2, 3])^2) from p = [0.5, 0.5, 0.5]."""
    p = lib.tensor(np.array([0.5, 0.5, 0.5], dtype=np.float32), requires_grad=True)
    target = lib.tensor(np.array([1.0, -2.0, 3.0], dtype=np.float32))
    opt = make(lib, [p])
    for _ in range(steps):
        opt.zero_grad()
        ((p - target) ** 2).sum().backward()
        opt.step()
    return p.detach()


def _optimizer_idiom(name, make):
    def fn(lib):
        return _steps_on_a_quadratic(lib, make)
    fn.__name__ = name
    idiom("optim", rtol=1e-4, atol=1e-5)(fn)


for _name, _make in {
    "adagrad_lr_decay": lambda lib, ps: lib.optim.Adagrad(ps, lr=0.3, lr_decay=0.1),
    "adadelta": lambda lib, ps: lib.optim.Adadelta(ps, lr=1.0, weight_decay=0.01),
    "adamax": lambda lib, ps: lib.optim.Adamax(ps, lr=0.1),
    "nadam": lambda lib, ps: lib.optim.NAdam(ps, lr=0.1, momentum_decay=0.01),
    "radam_decoupled": lambda lib, ps: lib.optim.RAdam(ps, lr=0.1, weight_decay=0.1,
                                                       decoupled_weight_decay=True),
    "asgd": lambda lib, ps: lib.optim.ASGD(ps, lr=0.1, t0=2),
    "rprop": lambda lib, ps: lib.optim.Rprop(ps, lr=0.05),
    "adam_amsgrad_maximize": lambda lib, ps: lib.optim.Adam(ps, lr=0.1, amsgrad=True,
                                                            maximize=True),
    "sgd_nesterov_foreach": lambda lib, ps: lib.optim.SGD(ps, lr=0.05, momentum=0.9,
                                                          nesterov=True, foreach=False),
}.items():
    _optimizer_idiom(_name, _make)


@idiom("optim", rtol=1e-4, atol=1e-5)
def lbfgs_with_closure(lib):
    p = lib.tensor(np.array([0.5, 0.5], dtype=np.float32), requires_grad=True)
    opt = lib.optim.LBFGS([p], lr=0.5, max_iter=5)

    def closure():
        opt.zero_grad()
        loss = ((p - 3.0) ** 2).sum() + (p[0] * p[1]) ** 2
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(3)]
    return losses, p.detach()


def _lrs(lib, build, steps=20, metric=None):
    """The lr of each of two groups after each of ``steps`` scheduler steps."""
    groups = [{"params": [lib.zeros(1, requires_grad=True)], "lr": lr} for lr in (0.1, 0.01)]
    opt = lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    scheduler = build(lib.optim.lr_scheduler, opt)
    history = [list(scheduler.get_last_lr()) if hasattr(scheduler, "get_last_lr") else []]
    for step in range(steps):
        opt.step()
        scheduler.step(*(() if metric is None else (metric(step),)))
        history.append([group["lr"] for group in opt.param_groups])
    return history


def _schedule_idiom(name, build, metric=None):
    def fn(lib):
        return _lrs(lib, build, metric=metric)
    fn.__name__ = name
    idiom("optim", rtol=1e-9, atol=1e-12)(fn)


for _name, _build in {
    "step_lr": lambda s, o: s.StepLR(o, step_size=4, gamma=0.5),
    "multistep_lr": lambda s, o: s.MultiStepLR(o, milestones=[3, 8, 8], gamma=0.3),
    "exponential_lr": lambda s, o: s.ExponentialLR(o, gamma=0.9),
    "cosine_annealing_lr": lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "linear_lr_warmup": lambda s, o: s.LinearLR(o, start_factor=0.1, total_iters=5),
    "constant_lr": lambda s, o: s.ConstantLR(o, factor=0.5, total_iters=6),
    "polynomial_lr": lambda s, o: s.PolynomialLR(o, total_iters=12, power=2.0),
    "multiplicative_lr": lambda s, o: s.MultiplicativeLR(o, lambda e: 0.95),
    "lambda_lr": lambda s, o: s.LambdaLR(o, lambda e: 1 / (1 + e)),
    "warm_restarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
    "cyclic_lr": lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
    "one_cycle_lr": lambda s, o: s.OneCycleLR(o, max_lr=0.5, total_steps=25),
    "sequential_lr": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.2, total_iters=4), s.ExponentialLR(o, gamma=0.8)],
        milestones=[4]),
    "chained_scheduler": lambda s, o: s.ChainedScheduler(
        [s.ConstantLR(o, factor=0.5, total_iters=3), s.ExponentialLR(o, gamma=0.9)]),
}.items():
    _schedule_idiom(_name, _build)

_schedule_idiom("reduce_on_plateau",
                lambda s, o: s.ReduceLROnPlateau(o, patience=2, factor=0.5),
                metric=lambda step: 1.0 if step > 3 else 2.0 - step * 0.1)


@idiom("optim")
def one_cycle_momentum(lib):
    opt = lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    scheduler = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    momenta = []
    for _ in range(9):
        opt.step()
        scheduler.step()
        momenta.append(opt.param_groups[0]["momentum"])
    return momenta


@idiom("optim")
def sgd_step_by_hand_with_augmented_assignment(lib):  # case 2
    w = lib.tensor(_array(3, 2), requires_grad=True)
    b = lib.tensor(_array(3, seed=1), requires_grad=True)
    x = lib.tensor(_array(4, 2, seed=2))
    ((x @ w.T + b) ** 2).mean().backward()
    with lib.no_grad():
        for p in (w, b):
            p -= 0.1 * p.grad
            p *= 0.5
            p += 1.0
            p /= 2.0
    return w.detach(), b.detach()


@idiom("optim")
def inplace_ops_on_non_leaves_keep_gradients(lib):  # the in-place machinery
    x = lib.tensor(_array(4), requires_grad=True)
    y = x * 2
    y.add_(1)
    y.mul_(x)
    y[0] = 0
    z = y.clone()
    z.masked_fill_(z > 100, 0.0)
    z.sub_(x, alpha=2).div_(3).clamp_(-1, 1)
    z.sum().backward()
    return y, z, x.grad


# ==== data ======================================================================================


def _pairs(lib, n=10):
    return lib.utils.data.TensorDataset(lib.tensor(_array(n, 3)),
                                        lib.tensor(np.arange(n, dtype=np.int64)))


@idiom("data")
def loader_batch_shapes_drop_last(lib):
    loader = lib.utils.data.DataLoader(_pairs(lib), batch_size=4, drop_last=True)
    return len(loader), [(tuple(x.shape), y) for x, y in loader]


@idiom("data")
def loader_collate_fn(lib):
    def collate(samples):
        xs = lib.stack([s[0] for s in samples])
        return xs.sum(1), len(samples)
    loader = lib.utils.data.DataLoader(_pairs(lib), batch_size=3, collate_fn=collate)
    return [batch for batch in loader]


@idiom("data")
def loader_dict_samples(lib):
    class Records(lib.utils.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full(2, i, dtype=np.float32), "label": i}

    return list(lib.utils.data.DataLoader(Records(), batch_size=2))


@idiom("data")
def loader_sampler_and_batch_sampler(lib):
    data = lib.utils.data
    ds = _pairs(lib)
    by_sampler = [y for _, y in data.DataLoader(ds, batch_size=3, sampler=[9, 0, 4, 4, 1])]
    batches = data.BatchSampler(data.SequentialSampler(ds), batch_size=4, drop_last=False)
    by_batches = [y for _, y in data.DataLoader(ds, batch_sampler=batches)]
    return by_sampler, by_batches, list(batches)


@idiom("data")
def shuffled_loader_covers_every_sample(lib):
    loader = lib.utils.data.DataLoader(_pairs(lib, 23), batch_size=5, shuffle=True)
    labels = sorted(int(v) for _, y in loader for v in y.tolist())
    return labels, [tuple(x.shape) for x, _ in loader]


@idiom("data")
def loader_with_two_workers(lib):
    loader = lib.utils.data.DataLoader(_pairs(lib, 9), batch_size=4, num_workers=2,
                                       persistent_workers=True, prefetch_factor=2)
    return [(x, y) for x, y in loader]


@idiom("data")
def concat_dataset(lib):
    data = lib.utils.data
    both = data.ConcatDataset([_pairs(lib, 3), _pairs(lib, 4)])
    return len(both), both.cumulative_sizes, int(both[5][1])


@idiom("data")
def iterable_dataset_sharded(lib):
    data = lib.utils.data

    class Stream(data.IterableDataset):
        def __iter__(self):
            info = data.get_worker_info()
            first, step = (0, 1) if info is None else (info.id, info.num_workers)
            return iter(range(first, 9, step))

    return ([b for b in data.DataLoader(Stream(), batch_size=2)],
            [b for b in data.DataLoader(Stream(), batch_size=2, num_workers=2)])


@idiom("data")
def random_samplers_lengths(lib):
    data = lib.utils.data
    ds = _pairs(lib)
    weighted = list(data.WeightedRandomSampler([0.0, 1.0, 0.0, 2.0], num_samples=12))
    with_replacement = list(data.RandomSampler(ds, replacement=True, num_samples=15))
    subset = sorted(data.SubsetRandomSampler([1, 5, 7]))
    return (len(weighted), sorted(set(weighted)) in ([1, 3], [1], [3]), len(with_replacement),
            all(0 <= i < 10 for i in with_replacement), subset)


@idiom("data")
def random_split_with_generator(lib):
    parts = lib.utils.data.random_split(_pairs(lib), [0.7, 0.3],
                                        generator=lib.Generator().manual_seed(42))
    ids = sorted(int(parts[0][i][1]) for i in range(len(parts[0])))
    ids += sorted(int(parts[1][i][1]) for i in range(len(parts[1])))
    return [len(p) for p in parts], sorted(ids)


@idiom("data")
def loader_len_and_no_batching(lib):
    data = lib.utils.data
    ds = _pairs(lib, 7)
    single = list(data.DataLoader(ds, batch_size=None))
    return (len(data.DataLoader(ds, batch_size=3)), len(data.DataLoader(ds, batch_size=3,
                                                                        drop_last=True)),
            len(single), single[2])
