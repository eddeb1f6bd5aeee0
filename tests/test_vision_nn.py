"""Conv2d, pooling and BatchNorm modules and the CNN models: PyTorch's names, layouts and
initialisation, weights copied across from torch models giving the same outputs and grads."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinydl
import tinydl.functional as F
from benchmarks.bench_cnn import torch_seed_net  # the same nets in PyTorch (shared with the benchmark)
from tinydl import nn
from tinydl.errors import ShapeError
from tinydl.models import LeNet5, Seed002Net, Seed004Net


def _copy_from_torch(model, torch_model):
    """Load a torch model's state dict arrays (same names and layouts) into a tinydl model."""
    model.load_state_dict({k: v.detach().numpy() for k, v in torch_model.state_dict().items()})


@pytest.mark.torch
@pytest.mark.parametrize("which", ["002", "004"])
def test_seed_nets_match_torch_with_copied_weights(torch, which):
    torch.manual_seed(0)
    theirs = torch_seed_net(torch, f"seed{which}")
    ours = Seed002Net() if which == "002" else Seed004Net()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    _copy_from_torch(ours, theirs)
    shape = (6, 1, 28, 28) if which == "002" else (6, 3, 32, 32)
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = ours(tinydl.tensor(x))
    ref = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=2e-5)
    (out * out).sum().backward()
    (ref * ref).sum().backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert p.grad.dtype == np.float32, name
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-3, atol=1e-4,
                                   err_msg=name)


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
@pytest.mark.parametrize("size", [8, 9])  # 9: pooling drops the last row and column
def test_pooling_before_relu_gives_relu_before_pooling_exactly(monkeypatch, kernels, size):
    """The CNN models pool first, then apply ReLU (tinydl/models/cnn.py): the same values and
    gradients as ReLU first, bit for bit, on windows that are all negative, hold ties (of zeros
    too), -0.0 or a NaN, in a convolution's channel-major memory order."""
    monkeypatch.setenv("TINYDL_KERNELS", kernels)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    x[0, 0, :2, :2] = -1.0                      # a window of negatives: no gradient either way
    x[0, 1, :2, :2] = [[0.0, -0.0], [0.0, -2]]  # zeros tie
    x[0, 2, :2, :2] = [[0.5, 0.5], [-1, 0.5]]   # a positive tie: the first one gets the gradient
    x[1, 0, :2, :2] = [[1.0, np.nan], [3, 0]]   # a NaN in the window
    x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    grad = rng.standard_normal((2, 3, size // 2, size // 2)).astype(np.float32)
    results = []
    for pool_first in (True, False):
        inputs = tinydl.tensor(x, requires_grad=True)
        if pool_first:
            out = F.relu(F.max_pool2d(inputs, 2))
        else:
            out = F.max_pool2d(F.relu(inputs), 2)
        out.backward(tinydl.tensor(grad))
        results.append((out.numpy(), inputs.grad.numpy()))
    (out, dx), (expected_out, expected_dx) = results
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(expected_out))
    np.testing.assert_array_equal(dx, expected_dx)
    assert dx[0, :, :2, :2].tolist() == [[[0, 0], [0, 0]], [[0, 0], [0, 0]],
                                         [[grad[0, 2, 0, 0], 0], [0, 0]]]


def test_lenet_pooling_first_matches_relu_first():
    """LeNet5's forward (pooling, then ReLU) against the layers applied in the textbook order."""
    tinydl.manual_seed(0)
    model = LeNet5()
    x = tinydl.tensor(np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32))
    h = F.max_pool2d(F.relu(model.conv1(x)), 2)
    h = F.max_pool2d(F.relu(model.conv2(h)), 2)
    expected = model.fc3(F.relu(model.fc2(F.relu(model.fc1(h.flatten(1))))))
    np.testing.assert_array_equal(model(x).numpy(), expected.numpy())


def test_parameter_counts_match_the_seeds():
    """93,322 is the Keras summary of seed 002's model; seed 004's net, hand-counted:
    896 + 18,496 + 4096*128 + 128 + 1,290 = 545,098; LeNet-5: 61,706."""
    assert Seed002Net().num_parameters() == 93_322
    assert Seed004Net().num_parameters() == 545_098
    assert LeNet5().num_parameters() == 61_706


def test_models_check_their_input_shape():
    with pytest.raises(ShapeError, match=r"Seed002Net: expected images of shape \(N, 1, 28, 28\), "
                                         r"got \(2, 28, 28\).*unsqueeze\(1\)"):
        Seed002Net()(tinydl.randn(2, 28, 28))
    with pytest.raises(ShapeError, match=r"Seed004Net: expected .*\(N, 3, 32, 32\)"):
        Seed004Net()(tinydl.randn(2, 3, 28, 28))
    assert LeNet5(3, 7, image_size=32)(tinydl.randn(2, 3, 32, 32)).shape == (2, 7)
    with pytest.raises(ValueError, match="LeNet5: image_size must be 28 or 32"):
        LeNet5(image_size=64)


def test_seed002_keras_init_is_glorot_uniform_with_zero_bias():
    tinydl.manual_seed(0)
    model = Seed002Net()
    bound = math.sqrt(6.0 / (64 * 9 + 64 * 9))  # conv3: fan_in = fan_out = 64*3*3
    w = model.conv3.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.all(model.conv3.bias.numpy() == 0)


def test_lenet_learns_a_two_class_image_task():
    """Bright top half vs bright bottom half: 25 plain SGD steps separate them."""
    tinydl.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = np.arange(16) % 2
    images = rng.random((16, 1, 28, 28)).astype(np.float32) * 0.5
    images[labels == 0, :, :14] += 0.5
    images[labels == 1, :, 14:] += 0.5
    model = LeNet5(num_classes=2)
    x, rows = tinydl.tensor(images), np.arange(16)

    def loss_now():
        return -F.log_softmax(model(x), axis=1)[rows, labels].mean()

    first = loss_now().item()
    for _ in range(25):
        model.zero_grad()
        loss = loss_now()
        loss.backward()
        with tinydl.no_grad():
            for p in model.parameters():
                p.data -= 0.1 * p.grad.data
    assert loss_now().item() < 0.3 * first
    assert (model(x).numpy().argmax(1) == labels).mean() == 1.0


# ---- Conv2d -----------------------------------------------------------------------------------


def test_conv2d_default_init_is_pytorchs():
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, fan_in = 16*3*3 = 144."""
    tinydl.manual_seed(0)
    conv = nn.Conv2d(16, 64, 3)
    bound = 1 / 12
    w, b = conv.weight.numpy(), conv.bias.numpy()
    assert w.shape == (64, 16, 3, 3) and b.shape == (64,) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # the std of a uniform
    assert list(conv.state_dict()) == ["weight", "bias"]
    assert nn.Conv2d(3, 4, 3, bias=False).bias is None


@pytest.mark.torch
@pytest.mark.parametrize("kernel, dilation", [(3, 1), (4, 1), ((2, 5), 2)])
def test_conv2d_padding_same_and_valid_match_torch(torch, kernel, dilation):
    ours = nn.Conv2d(2, 3, kernel, padding="same", dilation=dilation)
    theirs = torch.nn.Conv2d(2, 3, kernel, padding="same", dilation=dilation)
    _copy_from_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 8)).astype(np.float32)
    out = ours(tinydl.tensor(x))
    assert out.shape == (2, 3, 9, 8)
    np.testing.assert_allclose(out.numpy(), theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)
    valid = nn.Conv2d(2, 3, 3, padding="valid")
    assert valid(tinydl.tensor(x)).shape == (2, 3, 7, 6)


def test_conv2d_module_errors_and_repr():
    with pytest.raises(ValueError, match="Conv2d: padding='same' needs stride 1"):
        nn.Conv2d(1, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv2d: padding must be an int, a pair, 'valid' or"):
        nn.Conv2d(1, 2, 3, padding="full")
    assert repr(nn.Conv2d(1, 2, 3, stride=2, padding=1, bias=False)) == \
        "Conv2d(1, 2, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)"


def test_pool_modules_wrap_the_functions():
    x = tinydl.randn(2, 3, 8, 8)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).numpy(), F.max_pool2d(x, 2).numpy())
    np.testing.assert_array_equal(nn.AvgPool2d(3, 2, 1, count_include_pad=False)(x).numpy(),
                                  F.avg_pool2d(x, 3, 2, 1, count_include_pad=False).numpy())
    assert nn.AdaptiveAvgPool2d((1, 1))(x).shape == (2, 3, 1, 1)
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"


# ---- BatchNorm -----------------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("cls, shape", [("BatchNorm2d", (4, 3, 5, 5)), ("BatchNorm1d", (6, 3)),
                                        ("BatchNorm1d", (4, 3, 7))])
def test_batch_norm_modules_match_torch_through_train_and_eval(torch, cls, shape, momentum):
    ours = getattr(nn, cls)(3, momentum=momentum)
    theirs = getattr(torch.nn, cls)(3, momentum=momentum)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-1, 1)
    _copy_from_torch(ours, theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    for step in range(3):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        out, ref = ours(tinydl.tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-5)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours, name).numpy(),
                                   getattr(theirs, name).numpy(), rtol=1e-5, err_msg=name)
    assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked) == 3
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(ours(tinydl.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)


@pytest.mark.torch
def test_batch_norm_without_affine_or_running_stats_matches_torch(torch):
    ours = nn.BatchNorm2d(2, affine=False, track_running_stats=False)
    theirs = torch.nn.BatchNorm2d(2, affine=False, track_running_stats=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    x = np.random.default_rng(1).standard_normal((3, 2, 4, 4)).astype(np.float32)
    for mode in ("train", "eval"):  # without running stats, eval uses the batch's stats too
        getattr(ours, mode)()
        getattr(theirs, mode)()
        np.testing.assert_allclose(ours(tinydl.tensor(x)).numpy(),
                                   theirs(torch.tensor(x)).numpy(), atol=1e-5)


def test_batch_norm_eval_uses_running_stats_by_hand():
    bn = nn.BatchNorm1d(2, eps=0.0).eval()
    bn.running_mean.data[...] = [1.0, -1.0]
    bn.running_var.data[...] = [4.0, 0.25]
    out = bn(tinydl.tensor([[3.0, 0.0]]))
    np.testing.assert_allclose(out.numpy(), [[1.0, 2.0]])
    bn.train()
    bn.reset_running_stats()
    assert bn.running_mean.numpy().tolist() == [0, 0] and int(bn.num_batches_tracked.item()) == 0


def test_batch_norm_module_errors():
    with pytest.raises(ShapeError, match=r"BatchNorm2d: expected input of shape \(N, C, H, W\), "
                                         r"got \(4, 3\)"):
        nn.BatchNorm2d(3)(tinydl.randn(4, 3))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\): input has 5 channels"):
        nn.BatchNorm1d(3)(tinydl.randn(4, 5))
