"""Model building: hooks, traversal, apply, zero_grad, the parameter containers, Unflatten,
Bilinear, every nn.init initializer and parameters_to_vector. Hand-worked checks always run;
the torch comparisons (state-dict parity, hook gradients, init errors) skip without torch."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinydl
from tinydl import nn
from tinydl.nn import init
from tinydl.nn.utils import parameters_to_vector, vector_to_parameters


def f64(values):
    return tinydl.tensor(np.asarray(values, dtype=np.float64), dtype=np.float64)


def linear_with(weight, bias):
    layer = nn.Linear(len(weight[0]), len(weight)).double()
    layer.load_state_dict({"weight": np.array(weight, dtype=np.float64),
                           "bias": np.array(bias, dtype=np.float64)})
    return layer


# ---------------------------------------------------------------------------------------------
# Forward hooks
# ---------------------------------------------------------------------------------------------


def test_forward_hooks_see_and_replace_inputs_and_outputs():
    layer = linear_with([[1.0, 2.0]], [0.5])  # y = x0 + 2 x1 + 0.5
    seen = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    post = layer.register_forward_hook(lambda m, args, out: seen.append(out.item()))
    assert layer(f64([[1.0, 1.0]])).item() == 6.5  # the input was doubled: 2 + 4 + 0.5
    assert seen == [6.5]
    replace = layer.register_forward_hook(lambda m, args, out: out * 10)
    assert layer(f64([[1.0, 1.0]])).item() == 65.0
    pre.remove()
    post.remove()
    replace.remove()
    assert layer(f64([[1.0, 1.0]])).item() == 3.5 and seen == [6.5, 6.5]
    assert not layer._forward_hooks and not layer._forward_pre_hooks


def test_hook_order_prepend_kwargs_and_context_manager():
    layer = nn.Identity()
    calls = []
    layer.register_forward_hook(lambda m, a, o: calls.append("second"))
    layer.register_forward_hook(lambda m, a, o: calls.append("first"), prepend=True)
    with layer.register_forward_pre_hook(lambda m, a, kw: ((a[0] + 1,), kw), with_kwargs=True):
        assert layer(f64([1.0])).item() == 2.0
    assert layer(f64([1.0])).item() == 1.0  # the with block removed the pre-hook
    assert calls == ["first", "second", "first", "second"]


def test_forward_hook_collects_features_from_inside_a_sequential():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    features = {}
    model[1].register_forward_hook(lambda m, a, o: features.update(relu=o))
    x = tinydl.randn(5, 4)
    out = model(x)
    np.testing.assert_allclose(features["relu"].numpy(),
                               np.maximum(model[0](x).numpy(), 0), rtol=1e-6)
    assert out.shape == (5, 2)


# ---------------------------------------------------------------------------------------------
# Backward hooks
# ---------------------------------------------------------------------------------------------


def test_full_backward_hook_hand_worked():
    # y = 3 x0 - x1 (no bias); loss = 2 y: grad_output = 2, grad_input = 2 * [3, -1]
    layer = linear_with([[3.0, -1.0]], [0.0])
    x = f64([[1.0, 1.0]]).requires_grad_()
    record = []
    layer.register_full_backward_hook(
        lambda m, gin, gout: record.append((gin[0].numpy(), gout[0].numpy())))
    (layer(x) * 2).sum().backward()
    (grad_input, grad_output), = record
    np.testing.assert_array_equal(grad_output, [[2.0]])
    np.testing.assert_array_equal(grad_input, [[6.0, -2.0]])
    np.testing.assert_array_equal(x.grad.numpy(), [[6.0, -2.0]])


def test_backward_hook_can_replace_grad_input_and_be_removed():
    layer = linear_with([[3.0, -1.0]], [0.0])
    handle = layer.register_full_backward_hook(lambda m, gin, gout: (gin[0] * 10,))
    x = f64([[1.0, 1.0]]).requires_grad_()
    layer(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[30.0, -10.0]])
    handle.remove()
    x.grad = None
    layer(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, -1.0]])
    # the parameters' gradients are untouched by the hook (it only sees the inputs')
    np.testing.assert_array_equal(layer.weight.grad.numpy(), [[2.0, 2.0]])


def test_backward_hook_on_a_first_layer_gets_none_for_the_data():
    layer = linear_with([[3.0, -1.0]], [0.0])
    record = []
    layer.register_full_backward_hook(lambda m, gin, gout: record.append((gin, gout)))
    layer(f64([[1.0, 1.0]])).sum().backward()  # the input needs no gradient
    (grad_input, grad_output), = record
    assert grad_input == (None,)
    np.testing.assert_array_equal(grad_output[0].numpy(), [[1.0]])


def test_backward_hook_errors_on_a_wrong_number_of_gradients():
    layer = linear_with([[3.0, -1.0]], [0.0])
    layer.register_full_backward_hook(lambda m, gin, gout: (gin[0], gin[0]))
    x = f64([[1.0, 1.0]]).requires_grad_()
    with pytest.raises(ValueError, match="returned 2 gradients for 1 inputs"):
        layer(x).sum().backward()


def test_backward_pre_hook_sees_and_replaces_grad_output():
    # y = 3 x0 - x1; loss = y: grad_output = 1, replaced by 5 -> x.grad = 5 * [3, -1]
    layer = linear_with([[3.0, -1.0]], [0.0])
    seen = []

    def pre_hook(module, grad_output):
        seen.append(grad_output[0].numpy().copy())
        return (grad_output[0] * 5,)

    handle = layer.register_full_backward_pre_hook(pre_hook)
    x = f64([[1.0, 1.0]]).requires_grad_()
    layer(x).sum().backward()
    np.testing.assert_array_equal(seen[0], [[1.0]])
    np.testing.assert_array_equal(x.grad.numpy(), [[15.0, -5.0]])
    np.testing.assert_array_equal(layer.weight.grad.numpy(), [[5.0, 5.0]])
    handle.remove()
    layer.register_full_backward_pre_hook(lambda m, g: (g[0], g[0]))
    with pytest.raises(ValueError, match="backward pre-hook: returned 2 gradients for 1 outputs"):
        layer(x).sum().backward()


@pytest.mark.torch
def test_backward_pre_hook_matches_torch(torch):
    results = []
    for lib in (tinydl, torch):
        layer = lib.nn.Linear(2, 3).double()
        layer.load_state_dict({"weight": lib.tensor(np.arange(6.0).reshape(3, 2),
                                                    dtype=lib.float64),
                               "bias": lib.tensor(np.ones(3), dtype=lib.float64)})
        layer.register_full_backward_pre_hook(lambda m, g: (g[0] * -2,))
        x = lib.tensor(np.array([[0.5, -1.0]]), dtype=lib.float64).requires_grad_()
        (layer(x) ** 2).sum().backward()
        results.append((x.grad.numpy(), layer.weight.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.torch
def test_backward_hooks_match_torch(torch):
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((4, 3))
    state = {"0.weight": rng.standard_normal((5, 3)), "0.bias": rng.standard_normal(5),
             "2.weight": rng.standard_normal((2, 5)), "2.bias": rng.standard_normal(2)}
    results = []
    for lib in (tinydl, torch):
        model = lib.nn.Sequential(lib.nn.Linear(3, 5), lib.nn.Tanh(), lib.nn.Linear(5, 2)).double()
        model.load_state_dict({k: lib.tensor(v, dtype=lib.float64) for k, v in state.items()})
        seen = {}
        model[1].register_full_backward_hook(
            lambda m, gin, gout, seen=seen: seen.update(gin=gin[0].detach().numpy().copy(),
                                                        gout=gout[0].detach().numpy().copy()))
        model[2].register_full_backward_hook(lambda m, gin, gout: (gin[0] * 0.5,))
        x = lib.tensor(x_np, dtype=lib.float64).requires_grad_()
        (model(x) ** 2).sum().backward()
        results.append((seen, x.grad.numpy(), model[0].weight.grad.numpy()))
    (ours, ours_x, ours_w), (theirs, theirs_x, theirs_w) = results
    np.testing.assert_allclose(ours["gin"], theirs["gin"], rtol=1e-12)
    np.testing.assert_allclose(ours["gout"], theirs["gout"], rtol=1e-12)
    np.testing.assert_allclose(ours_x, theirs_x, rtol=1e-12)
    np.testing.assert_allclose(ours_w, theirs_w, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Traversal, apply, zero_grad, requires_grad_
# ---------------------------------------------------------------------------------------------


def _shared_model(lib):
    shared = lib.nn.Linear(2, 2)
    return lib.nn.Sequential(shared, lib.nn.Sequential(lib.nn.ReLU(), shared), lib.nn.Tanh())


@pytest.mark.torch
def test_traversal_names_match_torch_with_a_shared_layer(torch):
    ours, theirs = _shared_model(tinydl), _shared_model(torch)
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == \
        [n for n, _ in theirs.named_modules(remove_duplicate=False)]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(list(ours.modules())) == len(list(theirs.modules())) == 5


def test_traversal_hand_worked():
    model = _shared_model(tinydl)
    assert [n for n, _ in model.named_modules()] == ["", "0", "1", "1.0", "2"]
    assert [type(m).__name__ for m in model.children()] == ["Linear", "Sequential", "Tanh"]
    assert model.get_submodule("1.1") is model[0]
    with pytest.raises(AttributeError, match="has no submodule 'x'"):
        model.get_submodule("1.x")


def test_apply_visits_children_first_and_returns_the_module():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Linear(3, 3)), nn.ReLU())
    visited = []

    def init_weights(module):
        visited.append(type(module).__name__)
        if isinstance(module, nn.Linear):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    assert model.apply(init_weights) is model
    assert visited == ["Linear", "Linear", "Sequential", "ReLU", "Sequential"]
    np.testing.assert_array_equal(model(tinydl.ones(1, 2)).numpy(), [[6.0, 6.0, 6.0]])


def test_zero_grad_and_requires_grad_():
    model = nn.Linear(2, 1)
    model(tinydl.ones(1, 2)).sum().backward()
    model.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(model.weight.grad.numpy(), [[0.0, 0.0]])
    model.zero_grad()
    assert model.weight.grad is None
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# Containers, Unflatten, Bilinear: state-dict parity with torch
# ---------------------------------------------------------------------------------------------


def _mixture(lib):
    """A module holding a ParameterList, a ParameterDict and a ModuleDict."""
    model = lib.nn.Module()
    model.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(3)),
                                         lib.nn.Parameter(lib.zeros(2, 3))])
    model.extra = lib.nn.ParameterDict({"shift": lib.nn.Parameter(lib.zeros(3))})
    model.heads = lib.nn.ModuleDict({"a": lib.nn.Linear(3, 1), "b": lib.nn.Linear(3, 2)})
    return model


@pytest.mark.torch
def test_parameter_containers_state_dict_parity(torch):
    ours, theirs = _mixture(tinydl), _mixture(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "scales.0", "scales.1", "extra.shift", "heads.a.weight", "heads.a.bias",
        "heads.b.weight", "heads.b.bias"]
    values = {k: np.random.default_rng(1).standard_normal(tuple(v.shape)).astype(np.float32)
              for k, v in theirs.state_dict().items()}
    ours.load_state_dict(values)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()})
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key].numpy(), value.numpy())


def test_parameter_containers_hand_worked():
    plist = nn.ParameterList([tinydl.zeros(2)])  # a plain Tensor becomes a Parameter
    plist.append(nn.Parameter(tinydl.ones(1)))
    assert isinstance(plist[0], nn.Parameter) and len(plist) == 2
    assert [n for n, _ in plist.named_parameters()] == ["0", "1"]
    plist[-1] = tinydl.full((3,), 2.0)
    assert plist[1].shape == (3,) and len(list(plist.parameters())) == 2
    pdict = nn.ParameterDict({"w": tinydl.ones(2)})
    pdict["b"] = tinydl.zeros(1)
    assert list(pdict) == ["w", "b"] and "b" in pdict and len(pdict) == 2
    assert pdict.pop("w").shape == (2,) and list(pdict.keys()) == ["b"]
    with pytest.raises(TypeError, match="holds Parameters"):
        plist.append(3.0)
    mdict = nn.ModuleDict({"relu": nn.ReLU()})
    mdict.update({"tanh": nn.Tanh()})
    del mdict["relu"]
    assert list(mdict) == ["tanh"]
    # an optimizer sees them through the parent module
    opt = tinydl.optim.SGD(pdict.parameters(), lr=1.0)
    pdict["b"].grad = tinydl.ones(1)
    opt.step()
    assert pdict["b"].numpy()[0] == -1.0


@pytest.mark.torch
def test_unflatten_matches_torch(torch):
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    for dim, size in ((1, (3, 4)), (-1, (2, -1)), (0, (1, 2))):
        ours = nn.Unflatten(dim, size)(tinydl.tensor(x))
        theirs = torch.nn.Unflatten(dim, size)(torch.from_numpy(x))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(ValueError, match=r"cannot split dim 1 of size 12 \(input shape \(2, 12\)\)"):
        nn.Unflatten(1, (5, 2))(tinydl.tensor(x))


@pytest.mark.torch
def test_bilinear_matches_torch_with_copied_weights(torch):
    theirs = torch.nn.Bilinear(3, 4, 5).double()
    ours = nn.Bilinear(3, 4, 5).double()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 4))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    oa, ob = f64(a).requires_grad_(), f64(b).requires_grad_()
    out_t, out_o = theirs(ta, tb), ours(oa, ob)
    np.testing.assert_allclose(out_o.numpy(), out_t.detach().numpy(), rtol=1e-12)
    (out_t ** 2).sum().backward()
    (out_o ** 2).sum().backward()
    for mine, ref in ((oa.grad, ta.grad), (ob.grad, tb.grad), (ours.weight.grad,
                                                               theirs.weight.grad),
                      (ours.bias.grad, theirs.bias.grad)):
        np.testing.assert_allclose(mine.numpy(), ref.numpy(), rtol=1e-10)


def test_bilinear_hand_worked_and_init_bounds():
    layer = nn.Bilinear(2, 2, 1, bias=False).double()
    layer.load_state_dict({"weight": np.array([[[1.0, 2.0], [3.0, 4.0]]])})
    # x1^T A x2 with x1 = [1, 0], x2 = [0, 1]: A[0, 1] = 2
    assert layer(f64([[1.0, 0.0]]), f64([[0.0, 1.0]])).item() == 2.0
    big = nn.Bilinear(16, 3, 50)
    assert np.abs(big.weight.numpy()).max() <= 0.25 and np.abs(big.bias.numpy()).max() <= 0.25
    assert np.abs(big.weight.numpy()).max() > 0.2  # U(±1/sqrt(16)) fills its range
    with pytest.raises(ValueError, match=r"bilinear: inputs of shapes \(1, 3\) and \(1, 2\)"):
        layer(f64([[1.0, 0.0, 0.0]]), f64([[0.0, 1.0]]))


# ---------------------------------------------------------------------------------------------
# nn.init
# ---------------------------------------------------------------------------------------------


def test_calculate_gain_table():
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("conv_transpose2d") == 1.0
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


@pytest.mark.torch
def test_calculate_gain_matches_torch(torch):
    for name, param in (("linear", None), ("conv3d", None), ("sigmoid", None), ("tanh", None),
                        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.3),
                        ("selu", None)):
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


def test_uniform_family_bounds_fill_their_range():
    w = tinydl.zeros(200, 50)
    # kaiming_uniform_ with relu and fan_in: bound sqrt(2) * sqrt(3 / 50)
    bound = math.sqrt(2) * math.sqrt(3 / 50)
    init.kaiming_uniform_(w, nonlinearity="relu")
    assert bound * 0.98 < np.abs(w.numpy()).max() <= bound
    # fan_out uses the 200 rows instead
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    assert np.abs(w.numpy()).max() <= math.sqrt(2) * math.sqrt(3 / 200)
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 250)
    assert bound * 0.98 < np.abs(w.numpy()).max() <= bound
    init.uniform_(w, -3.0, -2.0)
    assert w.numpy().min() >= -3.0 and w.numpy().max() < -2.0


def test_normal_family_standard_deviations():
    w = tinydl.zeros(400, 100, dtype=np.float64)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="tanh")
    assert w.numpy().std() == pytest.approx(5 / 3 / math.sqrt(400), rel=0.02)
    init.xavier_normal_(w)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    init.normal_(w, mean=3.0, std=0.5)
    assert w.numpy().mean() == pytest.approx(3.0, abs=0.01)
    init.trunc_normal_(w, std=1.0, a=-0.5, b=1.0)
    assert w.numpy().min() >= -0.5 and w.numpy().max() <= 1.0 and w.numpy().min() < -0.49


def test_fills_keep_dtype_and_deterministic_generator():
    w = tinydl.zeros(3, 4, dtype=np.float64)
    init.constant_(w, 0.25)
    np.testing.assert_array_equal(w.numpy(), np.full((3, 4), 0.25))
    assert init.ones_(w).dtype == np.float64 and w.numpy().sum() == 12
    a = init.normal_(tinydl.zeros(5), generator=np.random.default_rng(7)).numpy()
    b = init.normal_(tinydl.zeros(5), generator=np.random.default_rng(7)).numpy()
    np.testing.assert_array_equal(a, b)
    tinydl.manual_seed(3)
    c = init.uniform_(tinydl.zeros(5)).numpy()
    tinydl.manual_seed(3)
    np.testing.assert_array_equal(init.uniform_(tinydl.zeros(5)).numpy(), c)
    with pytest.raises(TypeError, match="init: generator must be a tinydl.Generator"):
        init.normal_(w, generator=3)


def test_eye_dirac_orthogonal_sparse():
    np.testing.assert_array_equal(init.eye_(tinydl.zeros(2, 3)).numpy(), np.eye(2, 3))
    w = init.dirac_(tinydl.zeros(2, 2, 3, 3)).numpy()
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    out = tinydl.nn.functional.conv2d(tinydl.tensor(x), tinydl.tensor(w), padding=1) \
        if hasattr(tinydl.nn, "functional") else tinydl.functional.conv2d(
            tinydl.tensor(x), tinydl.tensor(w), padding=1)
    np.testing.assert_allclose(out.numpy(), x, atol=1e-6)  # a dirac conv is the identity
    q = init.orthogonal_(tinydl.zeros(3, 2, 4, dtype=np.float64), gain=2.0).numpy().reshape(3, 8)
    np.testing.assert_allclose(q @ q.T, 4 * np.eye(3), atol=1e-12)
    s = init.sparse_(tinydl.zeros(10, 6), sparsity=0.25).numpy()
    assert ((s == 0).sum(axis=0) == 3).all()  # ceil(0.25 * 10) zeros in every column


@pytest.mark.torch
@pytest.mark.parametrize("call", [
    lambda lib, w: lib.nn.init.kaiming_uniform_(w[0]),
    lambda lib, w: lib.nn.init.xavier_normal_(w[0]),
    lambda lib, w: lib.nn.init.kaiming_normal_(w[1], mode="fan_avg"),
    lambda lib, w: lib.nn.init.eye_(w[1].reshape(2, 3, 1)),
    lambda lib, w: lib.nn.init.dirac_(w[1]),
    lambda lib, w: lib.nn.init.orthogonal_(w[0]),
    lambda lib, w: lib.nn.init.sparse_(w[2], 0.5),
], ids=["kaiming-1d", "xavier-1d", "bad-mode", "eye-3d", "dirac-2d", "orthogonal-1d",
        "sparse-3d"])
def test_init_errors_match_torch(torch, call):
    """Where torch refuses a shape or a setting, tinydl refuses it with the same error type."""
    def shapes(lib):
        return [lib.zeros(4), lib.zeros(2, 3), lib.zeros(2, 3, 4)]
    with pytest.raises(ValueError) as theirs:
        call(torch, shapes(torch))
    with pytest.raises(ValueError):
        call(tinydl, shapes(tinydl))
    assert theirs.type is ValueError


@pytest.mark.torch
def test_deterministic_initializers_match_torch(torch):
    for fill in (lambda lib, t: lib.nn.init.eye_(t.reshape(4, 6)),
                 lambda lib, t: lib.nn.init.dirac_(t.reshape(4, 2, 3), groups=2),
                 lambda lib, t: lib.nn.init.constant_(t, 0.3)):
        ours, theirs = tinydl.zeros(24), torch.zeros(24)
        ours = fill(tinydl, ours)
        theirs = fill(torch, theirs)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ---------------------------------------------------------------------------------------------
# parameters_to_vector / vector_to_parameters
# ---------------------------------------------------------------------------------------------


def test_parameters_to_vector_round_trip_and_gradient():
    model = nn.Linear(3, 2)
    vec = parameters_to_vector(model.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(vec.numpy()[:6], model.weight.numpy().reshape(-1))
    (vec * tinydl.arange(8).float()).sum().backward()  # differentiable: d/dw = position
    np.testing.assert_array_equal(model.weight.grad.numpy(), np.arange(6).reshape(2, 3))
    vector_to_parameters(tinydl.arange(8).float(), model.parameters())
    np.testing.assert_array_equal(model.bias.numpy(), [6.0, 7.0])
    assert model.bias.dtype == np.float32
    with pytest.raises(tinydl.ShapeError, match=r"vec has shape \(7,\), but the parameters "):
        vector_to_parameters(tinydl.zeros(7), model.parameters())


@pytest.mark.torch
def test_parameters_to_vector_matches_torch(torch):
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    ours = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_array_equal(
        parameters_to_vector(ours.parameters()).numpy(),
        torch.nn.utils.parameters_to_vector(theirs.parameters()).detach().numpy())
