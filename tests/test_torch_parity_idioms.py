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

from typing import Any, Callable

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
def sort_and_topk_return_values_and_indices(lib):
    x = lib.tensor(_array(3, 5), requires_grad=True)
    ordered = x.sort(dim=1, descending=True)
    best = lib.topk(x, 2, dim=1)
    (ordered.values[:, 0].sum() + best.values.sum()).backward()
    return ordered.values, ordered.indices, best.values, best.indices, x.grad


# ==== shape =====================================================================================


@idiom("shape")
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


# ==== activations ===============================================================================


# ==== vision layers =============================================================================


# ==== sequence and model building ===============================================================


# ==== losses ====================================================================================


# ==== modules, init and hooks ===================================================================


# ==== optimizers and schedules ==================================================================


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
