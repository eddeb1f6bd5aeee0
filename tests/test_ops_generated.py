"""Tests generated from the op declarations in tests/specs_*.py (one OpSpec per op).

For every op: forward against an independent NumPy reference, gradcheck and gradgradcheck in
float64, float32 in -> float32 out and float32 gradients, and (with PyTorch installed) forward
and backward against torch. A last test fails when a Function exists that no declaration runs.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydl
from tinydl.autograd import Function
from tinydl.testing import gradcheck, gradgradcheck

SPEC_MODULES = sorted(p.stem for p in Path(__file__).parent.glob("specs_*.py"))
ALL_SPECS = [spec for name in SPEC_MODULES for spec in importlib.import_module(name).SPECS]


def _ids(specs):
    return [s.name for s in specs]


def _wrap(arrays, spec, dtype, requires_grad):
    """Float arrays become Tensors of ``dtype``; other arguments pass through unchanged."""
    positions = set(spec.differentiable_positions(arrays))
    wrapped = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            wrapped.append(tinydl.Tensor(a, dtype=dtype,
                                         requires_grad=requires_grad and i in positions))
        else:
            wrapped.append(a)
    return wrapped


def _outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=_ids(ALL_SPECS))
@given(data=st.data())
def test_forward_matches_reference(spec, data):
    arrays = data.draw(spec.inputs)
    outputs = _outputs(spec.fn(*_wrap(arrays, spec, np.float64, requires_grad=False)))
    references = _outputs(spec.reference(*arrays))
    assert len(outputs) == len(references)
    for out, ref in zip(outputs, references):
        ref = np.asarray(ref)
        assert out.shape == ref.shape, f"{spec.name}: shape {out.shape} vs reference {ref.shape}"
        np.testing.assert_allclose(out.numpy(), ref, atol=spec.forward_atol, rtol=1e-7)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=_ids(ALL_SPECS))
@given(data=st.data())
def test_gradcheck(spec, data):
    arrays = data.draw(spec.inputs)
    inputs = _wrap(arrays, spec, np.float64, requires_grad=True)
    assert gradcheck(spec.fn, inputs, eps=spec.eps, atol=spec.grad_atol, rtol=spec.grad_rtol)


GRADGRAD_SPECS = [s for s in ALL_SPECS if s.gradgrad]


@pytest.mark.parametrize("spec", GRADGRAD_SPECS, ids=_ids(GRADGRAD_SPECS))
@settings(max_examples=3)
@given(data=st.data())
def test_gradgradcheck(spec, data):
    arrays = data.draw(spec.inputs)
    inputs = _wrap(arrays, spec, np.float64, requires_grad=True)
    assert gradgradcheck(spec.fn, inputs, eps=max(spec.eps, 1e-5), atol=max(spec.grad_atol, 1e-4),
                         rtol=spec.grad_rtol)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=_ids(ALL_SPECS))
@settings(max_examples=3)
@given(data=st.data())
def test_float32_in_float32_out(spec, data):
    """No silent promotion to float64: outputs and gradients keep the inputs' float32."""
    arrays = data.draw(spec.inputs)
    inputs = _wrap(arrays, spec, np.float32, requires_grad=True)
    outputs = _outputs(spec.fn(*inputs))
    for out in outputs:
        if out.dtype.kind == "f":
            assert out.dtype == np.float32, f"{spec.name}: output is {out.dtype}"
    loss = sum((o.astype(np.float32) * 1.0).sum() for o in outputs if o.requires_grad)
    if not isinstance(loss, tinydl.Tensor):
        return
    loss.backward()
    for t in inputs:
        if isinstance(t, tinydl.Tensor) and t.requires_grad and t.grad is not None:
            assert t.grad.dtype == np.float32, f"{spec.name}: gradient is {t.grad.dtype}"


TORCH_SPECS = [s for s in ALL_SPECS if s.torch_fn is not None]


def _to_torch(torch, arrays, spec):
    positions = set(spec.differentiable_positions(arrays))
    converted = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(a.copy())
            if a.dtype.kind == "f" and i in positions:
                t.requires_grad_(True)
            converted.append(t)
        else:
            converted.append(a)
    return converted


@pytest.mark.torch
@pytest.mark.parametrize("spec", TORCH_SPECS, ids=_ids(TORCH_SPECS))
@settings(max_examples=5)
@given(data=st.data())
def test_matches_torch(spec, data):
    torch = pytest.importorskip("torch")
    arrays = data.draw(spec.inputs)
    ours = _wrap(arrays, spec, np.float64, requires_grad=True)
    theirs = _to_torch(torch, arrays, spec)
    our_out = _outputs(spec.fn(*ours))
    their_out = _outputs(spec.torch_fn(*theirs))
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(o.shape) for o in our_out]
    for o, t in zip(our_out, their_out):
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), atol=1e-10, rtol=1e-8)
    our_loss = sum((o * tinydl.Tensor(w, dtype=np.float64)).sum() for o, w in zip(our_out, weights))
    their_loss = sum((t * torch.from_numpy(w)).sum() for t, w in zip(their_out, weights))
    if not our_loss.requires_grad:
        return
    our_loss.backward()
    their_loss.backward()
    for ours_t, theirs_t in zip(ours, theirs):
        if isinstance(ours_t, tinydl.Tensor) and ours_t.requires_grad:
            expected = theirs_t.grad.numpy() if theirs_t.grad is not None else 0 * ours_t.numpy()
            np.testing.assert_allclose(ours_t.grad.numpy(), expected, atol=1e-9, rtol=1e-7)


# Packages a tinydl module may need that a plain install lacks; any other ImportError while
# importing tinydl's modules is a bug and fails the coverage test below.
OPTIONAL_DEPENDENCIES = {"cupy", "cupyx", "mpi4py", "numba", "matplotlib", "tqdm", "jupytext",
                         "nbclient", "nbformat", "threadpoolctl", "scipy", "torch"}


def _all_function_classes():
    for info in pkgutil.walk_packages(tinydl.__path__, "tinydl."):
        if info.name.endswith("__main__"):
            continue  # running it would start the command-line program
        try:
            importlib.import_module(info.name)
        except ImportError as error:
            if (error.name or "").split(".")[0] not in OPTIONAL_DEPENDENCIES:
                raise  # not a missing optional package: an import bug in tinydl
    found, stack = set(), list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("tinydl.") and not cls.__name__.startswith("_"):
            found.add(cls)
    return found


def test_every_function_is_declared(monkeypatch):
    """Each Function subclass in tinydl must be exercised by some OpSpec (forward or backward)."""
    seen = set()
    original = Function.apply.__func__

    def recording_apply(cls, *args, **kwargs):
        seen.add(cls)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Function, "apply", classmethod(recording_apply))

    @settings(max_examples=1, database=None, derandomize=True)
    @given(data=st.data())
    def run_every_spec_once(data):
        for spec in ALL_SPECS:
            arrays = data.draw(spec.inputs)
            inputs = _wrap(arrays, spec, np.float64, requires_grad=True)
            outputs = [o for o in _outputs(spec.fn(*inputs)) if o.requires_grad]
            if not outputs:
                continue
            loss = sum((o * 1.0).sum() for o in outputs)
            leaves = [t for t in inputs if isinstance(t, tinydl.Tensor) and t.requires_grad]
            # second derivatives only where declared (a once-differentiable kernel refuses them)
            grads = tinydl.grad(loss, leaves, create_graph=spec.gradgrad, allow_unused=True)
            second = [g.sum() for g in grads if g is not None and g.requires_grad]
            if second:
                sum(second).backward()

    run_every_spec_once()
    missing = sorted(f"{c.__module__}.{c.__name__}" for c in _all_function_classes() - seen)
    assert not missing, f"Functions with no OpSpec declaration: {missing}"
