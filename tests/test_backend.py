"""The backend: devices, moving tensors, clear errors, and no direct NumPy in the compute path.

The op suite runs here on the "standin" device (tinydl.testing.standin): its arrays make any
direct NumPy call fail, so every op that passes only uses ``xp = get_array_module(...)``, as
the CuPy backend requires. Results must equal the CPU results exactly.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydl
from tinydl import backend
from tinydl.errors import DeviceError
from tinydl.testing import standin

standin.register()

SPEC_MODULES = sorted(p.stem for p in Path(__file__).parent.glob("specs_*.py"))
ALL_SPECS = [spec for name in SPEC_MODULES for spec in importlib.import_module(name).SPECS]


def _move(arrays, spec, device):
    positions = set(spec.differentiable_positions(arrays))
    moved = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            moved.append(tinydl.Tensor(a, dtype=np.float64, requires_grad=i in positions,
                                       device=device))
        else:
            moved.append(a)
    return moved


def _outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=[s.name for s in ALL_SPECS])
@settings(max_examples=3)
@given(data=st.data())
def test_op_runs_on_standin_device_like_cpu(spec, data):
    arrays = data.draw(spec.inputs)
    results = {}
    for device in ("cpu", "standin"):
        inputs = _move(arrays, spec, device)
        outputs = _outputs(spec.fn(*inputs))
        for o in outputs:
            assert o.device == tinydl.Device(device if spec.name != "to_device" else "cpu")
        loss = sum((o * 1.0).sum() for o in outputs if o.requires_grad)
        if isinstance(loss, tinydl.Tensor):
            loss.backward()
        grads = [t.grad.numpy() for t in inputs if isinstance(t, tinydl.Tensor)
                 and t.requires_grad and t.grad is not None]
        results[device] = ([o.numpy() for o in outputs], grads)
    cpu_out, cpu_grads = results["cpu"]
    dev_out, dev_grads = results["standin"]
    for a, b in zip(cpu_out + cpu_grads, dev_out + dev_grads):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # erf differs by its fallback
    assert len(cpu_grads) == len(dev_grads)


def test_standin_catches_a_direct_numpy_call():
    x = tinydl.ones(3, device="standin")
    with pytest.raises(TypeError, match="get_array_module"):
        np.exp(x.data)


def test_to_moves_and_back():
    x = tinydl.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("standin")
    assert y.device == "standin" and isinstance(y.data, standin.StandInArray)
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_mixing_devices_names_the_op_and_devices():
    a = tinydl.ones(2, 3)
    b = tinydl.ones(2, 3, device="standin")
    with pytest.raises(DeviceError, match=r"add: inputs are on different devices.*cpu.*standin"):
        a + b


def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    backend.unregister_backend("cuda")
    with pytest.raises(DeviceError, match=r"pip install 'tinydl\[cuda\]'"):
        tinydl.ones(2).to("cuda")
    assert tinydl.cuda_is_available() is False


def test_unknown_device_lists_the_known_ones():
    with pytest.raises(DeviceError, match="unknown device 'tpu'.*cpu"):
        tinydl.ones(2).to(tinydl.Device("tpu"))


def test_device_equality_and_repr():
    assert tinydl.Device("cuda:0") == "cuda"
    assert str(tinydl.Device("cuda:1")) == "cuda:1"
    assert tinydl.ones(1).device == "cpu"


def test_get_array_module_defaults_to_numpy():
    assert backend.get_array_module(3.0) is np
    assert backend.get_array_module(np.ones(2)) is np
    assert backend.get_array_module(standin.StandInArray(np.ones(2))) is standin.standin_module


def test_set_device_sends_new_tensors_and_layers_there():
    from tinydl import nn

    tinydl.set_device("standin")
    try:
        assert tinydl.get_device() == "standin"
        assert tinydl.zeros(2).device == "standin"
        assert tinydl.randn(3).device == "standin"
        layer = nn.Linear(3, 2)
        assert layer.weight.device == "standin"
        out = layer(tinydl.tensor([[1.0, 2.0, 3.0]]))
        assert out.device == "standin"
        out.sum().backward()
        assert layer.weight.grad.device == "standin"
    finally:
        tinydl.set_device(None)
    assert tinydl.zeros(2).device == "cpu"


def test_module_to_moves_parameters_and_their_grads():
    from tinydl import nn

    layer = nn.Linear(2, 2)
    layer(tinydl.ones(1, 2)).sum().backward()
    layer.to("standin")
    assert layer.weight.device == "standin" and layer.weight.grad.device == "standin"
    layer.to("cpu")
    assert isinstance(layer.weight.data, np.ndarray)


@pytest.mark.parametrize("make_optimizer", [
    lambda params: __import__("tinydl").optim.Adam(params, lr=0.1, weight_decay=0.01),
    lambda params: __import__("tinydl").optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True),
], ids=["adam", "sgd-nesterov"])
def test_optimizer_state_and_updates_follow_the_device(make_optimizer):
    results = {}
    for device in ("cpu", "standin"):
        w = tinydl.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True, device=device)
        optimizer = make_optimizer([w])
        for _ in range(3):
            optimizer.zero_grad()
            ((w @ w.T) ** 2).sum().backward()  # a transposed (non-contiguous) gradient path
            optimizer.step()
        for state in optimizer.state.values():
            for value in state.values():
                if hasattr(value, "shape"):
                    assert backend.device_of(value) == tinydl.Device(device)
        results[device] = w.numpy()
    # the CPU may run the Numba kernel, the stand-in the NumPy reference: float32 rounding differs
    np.testing.assert_allclose(results["cpu"], results["standin"], rtol=1e-5)


def test_conv_weight_gradient_image_by_image_runs_on_the_standin_device():
    """A small weight gradient over >= 256 pixels an image takes ConvProduct's image-by-image
    path (tinydl.ops.conv.weight_gradient): the stand-in device catches any direct NumPy call."""
    import tinydl.functional as F

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 2, 16, 16)), rng.standard_normal((4, 2, 3, 3))
    grads = {}
    for device in ("cpu", "standin"):
        weight = tinydl.tensor(w, requires_grad=True, device=device)
        F.conv2d(tinydl.tensor(x, device=device), weight, padding=1).square().sum().backward()
        assert weight.grad.device == device
        grads[device] = weight.grad.numpy()
    np.testing.assert_allclose(grads["standin"], grads["cpu"], rtol=1e-12)
