"""The CuPy attention kernel: chosen for "cuda" only when CuPy is installed, never imported
without it, and (with NumPy standing in for CuPy, since there is no GPU here) its array
logic gives the reference's results. The CUDA kernels themselves are untested on a GPU."""
from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import types

import numpy as np
import pytest
from conftest import REPO

from tinydl.kernels import attention as att
from tinydl.kernels import registry

_REAL_FIND_SPEC = importlib.util.find_spec


def _pretend_cupy_is_installed(monkeypatch, installed: bool):
    def find_spec(name, *args, **kwargs):
        if name == "cupy":
            return object() if installed else None
        return _REAL_FIND_SPEC(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize("installed,expected", [(True, "cupy"), (False, "numpy")])
def test_cuda_attention_uses_cupy_only_when_installed(monkeypatch, installed, expected):
    _pretend_cupy_is_installed(monkeypatch, installed)
    for op in ("attention_forward", "attention_backward"):
        assert registry.chosen_name(op, "cuda") == expected
        assert registry.chosen_name(op, "cpu") != "cupy"


def test_tinydl_kernels_numpy_does_not_change_the_cuda_choice(monkeypatch):
    _pretend_cupy_is_installed(monkeypatch, True)
    monkeypatch.setenv("TINYDL_KERNELS", "numpy")
    assert registry.chosen_name("attention_forward", "cuda") == "cupy"
    assert registry.chosen_name("attention_forward", "cpu") == "numpy"


def test_importing_tinydl_never_imports_cupy():
    code = ("import sys, tinydl, tinydl.functional, tinydl.kernels\n"
            "tinydl.kernels.registry.report('cuda')\n"
            "print(sorted(m for m in sys.modules if 'cupy' in m))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _numpy_as_cupy() -> types.ModuleType:
    """A "cupy" module made of NumPy, with the two ElementwiseKernels of attention_cupy done
    by hand (their CUDA bodies cannot run here)."""
    fake = types.ModuleType("cupy")
    for name in ("matmul", "where", "log", "full", "ones", "tril", "asarray", "broadcast_to"):
        setattr(fake, name, getattr(np, name))
    bodies = {
        "tinydl_attention_shifted_exp": lambda score, shift, keep: np.where(
            keep & np.isfinite(shift), np.exp(score - np.where(np.isfinite(shift), shift, 0)),
            0).astype(score.dtype),
        "tinydl_attention_softmax_backward": lambda prob, dprob, row_dot, out=None: np.multiply(
            prob, dprob - row_dot, out=out),
    }
    fake.ElementwiseKernel = lambda in_params, out_params, operation, name: bodies[name]
    return fake


@pytest.mark.parametrize("causal", [False, True])
def test_cupy_module_logic_matches_the_reference_with_numpy_standing_in(monkeypatch, causal):
    monkeypatch.setitem(sys.modules, "cupy", _numpy_as_cupy())
    monkeypatch.delitem(sys.modules, "tinydl.kernels.attention_cupy", raising=False)
    cupy_kernels = importlib.import_module("tinydl.kernels.attention_cupy")
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 2, 2, 5, 3))
    dout = rng.standard_normal((2, 2, 5, 3))
    mask = rng.random((2, 1, 5, 5)) > 0.4
    mask[0, 0, 3] = False                      # a query that sees no key
    args = (q, k, v, mask, causal, 0.7)
    out, lse = cupy_kernels.attention_forward_cupy(*args)
    ref_out, ref_lse = att.attention_forward_reference(*args)
    np.testing.assert_allclose(out, ref_out, atol=1e-12)
    np.testing.assert_array_equal(np.isneginf(lse), np.isneginf(ref_lse))
    np.testing.assert_allclose(lse[np.isfinite(lse)], ref_lse[np.isfinite(ref_lse)], atol=1e-12)
    grads = cupy_kernels.attention_backward_cupy(*args, out, lse, dout)
    for ours, ref in zip(grads, att.attention_backward_reference(*args, ref_out, ref_lse, dout)):
        np.testing.assert_allclose(ours, ref, atol=1e-12)
    monkeypatch.delitem(sys.modules, "tinydl.kernels.attention_cupy")
