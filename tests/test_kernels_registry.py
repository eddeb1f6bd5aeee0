"""Kernel registry: choice per device, TINYDL_KERNELS, missing Numba, report()."""

import subprocess
import sys

import numpy as np
import pytest

import tinydl.kernels  # registers every kernel
from tinydl.kernels import _jit, registry

ALL_OPS = ["adam_multi_update_", "adam_update_", "affine_normalize_backward", "affine_normalize_forward",
           "attention_backward", "attention_backward_from_weights", "attention_forward",
           "attention_forward_keeping_weights", "attention_score_gradients", "attention_softmax_weights",
           "col2im", "gelu_backward", "gelu_forward", "gru_sequence_backward",
           "gru_sequence_forward", "im2col", "lstm_sequence_backward", "lstm_sequence_forward",
           "max_pool2d_backward", "max_pool2d_forward", "normalize_backward", "normalize_forward",
           "relu_backward", "relu_forward", "scatter_add_rows", "sgd_momentum_update_",
           "sgd_multi_update_"]
# The tiled attention kernels: a CuPy version too, and NumPy stays the CPU default for them.
TILED_ATTENTION = ("attention_backward", "attention_forward")
NUMPY_DEFAULT = TILED_ATTENTION  # (the per-head attention kernels, the default, run on the pool only)


def reference_fn():
    return "numpy"


def fast_fn():
    return "numba"


@pytest.fixture
def fresh_registry(monkeypatch):
    """An empty registry for the test (the real one is restored afterwards)."""
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    return registry


def test_prefers_an_available_default_numba_version(fresh_registry):
    fresh_registry.register("op", "numpy", reference_fn)
    fresh_registry.register("op", "numba", fast_fn, available=lambda: True, default=True)
    assert fresh_registry.get("op") is fast_fn
    assert fresh_registry.report() == {"op": "numba"}


def test_falls_back_to_numpy_when_numba_is_missing_or_not_the_default(fresh_registry):
    fresh_registry.register("missing", "numpy", reference_fn)
    fresh_registry.register("missing", "numba", fast_fn, available=lambda: False)
    fresh_registry.register("slower", "numpy", reference_fn)
    fresh_registry.register("slower", "numba", fast_fn, available=lambda: True, default=False)
    assert fresh_registry.get("missing") is reference_fn
    assert fresh_registry.get("slower") is reference_fn


def test_env_var_forces_a_path_and_is_read_at_call_time(fresh_registry, monkeypatch):
    fresh_registry.register("op", "numpy", reference_fn)
    fresh_registry.register("op", "numba", fast_fn, available=lambda: True, default=False)
    fresh_registry.register("numpy_only", "numpy", reference_fn)
    monkeypatch.setenv("TINYDL_KERNELS", "numba")
    assert fresh_registry.get("op") is fast_fn  # forced even though not the default
    assert fresh_registry.get("numpy_only") is reference_fn  # no Numba version: the reference
    monkeypatch.setenv("TINYDL_KERNELS", "numpy")
    assert fresh_registry.get("op") is reference_fn


def test_forcing_numba_without_numba_is_a_clear_error(fresh_registry, monkeypatch):
    fresh_registry.register("op", "numpy", reference_fn)
    fresh_registry.register("op", "numba", fast_fn, available=lambda: False)
    monkeypatch.setenv("TINYDL_KERNELS", "numba")
    with pytest.raises(RuntimeError, match=r"TINYDL_KERNELS=numba asks for the numba version "
                                           r"of 'op', but it cannot run here"):
        fresh_registry.get("op")


def test_bad_env_value_unknown_op_and_other_devices(fresh_registry,
                                                                      monkeypatch):
    fresh_registry.register("op", "numpy", reference_fn)
    with pytest.raises(LookupError, match=r"no op named 'nope' is registered; known ops: op"):
        fresh_registry.get("nope")
    # the references are written against xp, so other devices fall back to them
    assert fresh_registry.get("op", device="cuda") is reference_fn
    assert fresh_registry.get("op", device="standin") is reference_fn
    fresh_registry.register("gpu_only", "numba", fast_fn)
    with pytest.raises(LookupError, match=r"no usable cuda implementation of 'gpu_only' "
                                          r"\(registered: numba\)"):
        fresh_registry.get("gpu_only", device="cuda")
    monkeypatch.setenv("TINYDL_KERNELS", "fortran")
    with pytest.raises(ValueError, match=r"TINYDL_KERNELS='fortran' is not a kernel path; set it "
                                         r"to one of numpy, numba or unset it"):
        fresh_registry.get("op")
    report = fresh_registry.report()  # report never raises: it shows the reason
    assert report["op"].startswith("unavailable: kernels: TINYDL_KERNELS='fortran'")


def test_cuda_picks_a_registered_cupy_version(fresh_registry):
    fresh_registry.register("op", "numpy", reference_fn)
    fresh_registry.register("op", "cupy", fast_fn)
    assert fresh_registry.get("op", device="cuda") is fast_fn
    assert fresh_registry.get("op", device="cpu") is reference_fn


def test_register_rejects_non_callables(fresh_registry):
    with pytest.raises(TypeError, match=r"register\('op', 'numpy'\): fn and available must be "
                                        r"callables, got str and function"):
        fresh_registry.register("op", "numpy", "not a function")


def test_every_kernel_family_is_registered_with_a_reference():
    assert sorted(registry.report()) == ALL_OPS
    for op in ALL_OPS:
        gpu = {"cupy"} if op in TILED_ATTENTION else set()  # CuPy kernel, cuda only
        assert set(registry.implementations(op)) == {"numpy", "numba"} | gpu


def test_real_kernels_default_and_forced_choices(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    chosen = registry.report()
    # Numba is the default where the benchmarks show it faster; attention stays on NumPy.
    assert chosen == {op: "numpy" if op in NUMPY_DEFAULT else "numba" for op in ALL_OPS}
    monkeypatch.setenv(registry.ENV_VAR, "numba")
    assert registry.report() == {op: "numba" for op in ALL_OPS}
    monkeypatch.setenv(registry.ENV_VAR, "numpy")
    assert registry.report() == {op: "numpy" for op in ALL_OPS}


def test_without_numba_every_op_runs_its_numpy_reference(monkeypatch):
    monkeypatch.delenv(registry.ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` fail
    assert not _jit.numba_available()
    assert registry.report() == {op: "numpy" for op in ALL_OPS}
    for op in ALL_OPS:
        assert registry.get(op) is registry.implementations(op)["numpy"]
    q = np.random.default_rng(0).standard_normal((1, 1, 3, 2))
    out, _ = registry.get("attention_forward")(q, q, q)
    expected, _ = tinydl.kernels.attention_forward_reference(q, q, q)
    np.testing.assert_array_equal(out, expected)


def test_calling_a_numba_kernel_without_numba_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)

    @_jit.jit()
    def kernel_needing_numba(x):
        return x

    with pytest.raises(ImportError, match=r"kernel_needing_numba: this kernel needs Numba, which "
                                          r"is not installed; install it with `pip install numba`"):
        kernel_needing_numba(1)


def test_importing_the_kernels_does_not_import_numba():
    code = "import sys, tinydl.kernels; print('numba' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
