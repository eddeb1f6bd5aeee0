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


# ==== reductions and scans ======================================================================


# ==== sorting and selection =====================================================================


# ==== shape =====================================================================================


# ==== linear algebra ============================================================================


# ==== activations ===============================================================================


# ==== vision layers =============================================================================


# ==== sequence and model building ===============================================================


# ==== losses ====================================================================================


# ==== modules, init and hooks ===================================================================


# ==== optimizers and schedules ==================================================================


# ==== data ======================================================================================
