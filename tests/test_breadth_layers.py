"""The breadth layers as modules: torch state-dict parity for every new layer with parameters,
hand-computed values that run without torch, and the errors a user meets.

The functions themselves are declared as OpSpecs (tests/specs_activations.py,
tests/specs_layers.py, tests/specs_margin_losses.py), which generate forward, gradient and
PyTorch checks; here the modules' wiring, defaults and state dicts are checked.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinydl
import tinydl.functional as F
from tinydl import nn
from tinydl.errors import ShapeError


def _copy_state(ours, theirs):
    """torch's state_dict into tinydl's module, by name (the names must match exactly)."""
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert sorted(state) == sorted(ours.state_dict())
    ours.load_state_dict(state)


def _same_outputs_and_gradients(torch, ours, theirs, *arrays, atol=1e-5, calls=None, **call):
    """Forward both modules on the same inputs (through ``calls`` = (ours, theirs) functions
    when given), backward a fixed random weighting, compare outputs and all gradients."""
    our_inputs = [tinydl.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    their_inputs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    our_call, their_call = calls or (ours, theirs)
    out, expected = our_call(*our_inputs, **call), their_call(*their_inputs, **call)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=atol, rtol=1e-4)
    weights = np.random.default_rng(1).standard_normal(expected.shape).astype(np.float32)
    (out * tinydl.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for name, parameter in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad.numpy(),
                                   parameter.grad.numpy(), atol=atol, rtol=1e-4, err_msg=name)
    for mine, theirs_input in zip(our_inputs, their_inputs):
        if theirs_input.requires_grad:
            np.testing.assert_allclose(mine.grad.numpy(), theirs_input.grad.numpy(), atol=atol,
                                       rtol=1e-4)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


LAYERS_WITH_PARAMETERS = [
    ("Conv1d", (3, 4, 3), dict(stride=2, padding=1, dilation=2), (2, 3, 11)),
    ("Conv1d", (4, 4, 3), dict(groups=2, padding="same", padding_mode="circular"), (2, 4, 7)),
    ("Conv2d", (4, 6, 3), dict(groups=2, padding=2, padding_mode="reflect"), (2, 4, 6, 5)),
    ("Conv2d", (4, 8, 3), dict(groups=4, padding="same", padding_mode="replicate"), (1, 4, 5, 5)),
    ("Conv3d", (2, 3, (2, 3, 2)), dict(stride=(1, 2, 1), padding=1), (2, 2, 4, 5, 3)),
    ("ConvTranspose1d", (3, 2, 4), dict(stride=3, padding=1, output_padding=2), (2, 3, 5)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 3, 4)),
    ("PReLU", (3,), {}, (2, 3, 4)),
    ("GroupNorm", (2, 4), {}, (3, 4, 5)),
    ("InstanceNorm2d", (3,), dict(affine=True, track_running_stats=True), (2, 3, 4, 5)),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, args, kwargs, shape", LAYERS_WITH_PARAMETERS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYERS_WITH_PARAMETERS)])
def test_layer_loads_a_torch_state_dict_and_matches(torch, name, args, kwargs, shape):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    ours = getattr(nn, name)(*args, **kwargs)
    with torch.no_grad():  # affine parameters start at 1 and 0: make them informative
        for parameter in theirs.parameters():
            parameter.add_(torch.randn(parameter.shape) * 0.3)
    _copy_state(ours, theirs)
    _same_outputs_and_gradients(torch, ours, theirs, _x(*shape))
    if name == "InstanceNorm2d":  # running statistics updated the same way
        np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(),
                                   rtol=1e-5)


@pytest.mark.torch
def test_conv_transpose_output_size_picks_the_output_padding(torch):
    torch.manual_seed(0)
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    ours = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    _copy_state(ours, theirs)
    _same_outputs_and_gradients(torch, ours, theirs, _x(1, 2, 4, 4), output_size=[8, 8])


@pytest.mark.torch
def test_embedding_bag_module_matches_torch(torch):
    torch.manual_seed(0)
    for mode in ("sum", "mean", "max"):
        theirs = torch.nn.EmbeddingBag(7, 3, mode=mode, padding_idx=0)
        ours = nn.EmbeddingBag(7, 3, mode=mode, padding_idx=0)
        _copy_state(ours, theirs)
        ids, offsets = np.array([1, 0, 4, 4, 6, 2, 0]), np.array([0, 3, 3, 5])
        _same_outputs_and_gradients(torch, ours, theirs, ids, offsets)


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_loads_a_torch_state_dict_and_matches(torch, norm_first):
    torch.manual_seed(0)
    options = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                   dim_feedforward=16, dropout=0.0, batch_first=True, norm_first=norm_first)
    theirs, ours = torch.nn.Transformer(**options), nn.Transformer(**options)
    _copy_state(ours, theirs)
    src, tgt = _x(2, 5, 8), _x(2, 4, 8, seed=1)
    our_mask = nn.Transformer.generate_square_subsequent_mask(4)
    their_mask = torch.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(our_mask.numpy(), their_mask.numpy())
    padding = np.array([[False] * 5, [False] * 3 + [True] * 2])
    calls = (lambda s, t: ours(s, t, tgt_mask=our_mask,
                               src_key_padding_mask=tinydl.tensor(padding),
                               memory_key_padding_mask=tinydl.tensor(padding)),
             lambda s, t: theirs(s, t, tgt_mask=their_mask,
                                 src_key_padding_mask=torch.tensor(padding),
                                 memory_key_padding_mask=torch.tensor(padding)))
    _same_outputs_and_gradients(torch, ours, theirs, src, tgt, calls=calls)


def test_transformer_init_is_xavier_and_the_stacks_end_with_a_norm():
    model = nn.Transformer(d_model=16, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=32)
    bound = np.sqrt(6 / (16 + 32))  # xavier_uniform_ of linear1.weight (32, 16)
    weight = model.encoder.layers[0].linear1.weight.numpy()
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.8 * bound
    assert isinstance(model.encoder.norm, nn.LayerNorm)
    assert isinstance(model.decoder.norm, nn.LayerNorm)
    with pytest.raises(ShapeError, match="different batch sizes"):
        model(tinydl.zeros(3, 2, 16), tinydl.zeros(3, 5, 16))


# ---- hand-computed values (no torch) ------------------------------------------------------


def test_activation_values_by_hand():
    x = tinydl.tensor([-4.0, -1.0, 0.25, 3.0, 7.0])
    np.testing.assert_allclose(F.relu6(x).numpy(), [0, 0, 0.25, 3, 6])
    np.testing.assert_allclose(F.hardtanh(x).numpy(), [-1, -1, 0.25, 1, 1])
    np.testing.assert_allclose(F.hardsigmoid(x).numpy(), [0, 2 / 6, 3.25 / 6, 1, 1], rtol=1e-6)
    np.testing.assert_allclose(F.hardswish(x).numpy(), [0, -2 / 6, 0.25 * 3.25 / 6, 3, 7],
                               rtol=1e-6)
    np.testing.assert_allclose(F.softshrink(x, 0.5).numpy(), [-3.5, -0.5, 0, 2.5, 6.5])
    np.testing.assert_allclose(F.hardshrink(x, 0.5).numpy(), [-4, -1, 0, 3, 7])
    np.testing.assert_allclose(F.threshold(x, 1.0, -9.0).numpy(), [-9, -9, -9, 3, 7])
    np.testing.assert_allclose(F.softsign(x).numpy(), [-0.8, -0.5, 0.2, 0.75, 0.875])
    np.testing.assert_allclose(F.glu(tinydl.tensor([2.0, 0.0])).numpy(), [1.0])
    np.testing.assert_allclose(F.rrelu(x, 0.1, 0.3, training=False).numpy()[:2], [-0.8, -0.2],
                               rtol=1e-6)
    np.testing.assert_allclose(F.softplus(tinydl.tensor([30.0, 0.0])).numpy(),
                               [30.0, np.log(2)], rtol=1e-6)


def test_rrelu_training_draws_one_slope_per_element_from_the_range():
    tinydl.manual_seed(0)
    x = -tinydl.ones(1000)
    slopes = -nn.RReLU(0.1, 0.3)(x).numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    layer = nn.RReLU(0.1, 0.3).eval()
    np.testing.assert_allclose(layer(x).numpy(), -0.2, rtol=1e-6)


def test_prelu_learns_its_slope():
    layer = nn.PReLU(num_parameters=2, init=0.5)
    out = layer(tinydl.tensor([[-2.0, -4.0], [1.0, -1.0]]))
    np.testing.assert_allclose(out.numpy(), [[-1.0, -2.0], [1.0, -0.5]])
    out.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(), [-2.0, -5.0])
    with pytest.raises(ShapeError, match="prelu: weight has 2 values"):
        layer(tinydl.zeros(2, 3))


def test_pad_modes_by_hand():
    x = tinydl.tensor([[[1.0, 2.0, 3.0]]])
    assert F.pad(x, (2, 1), mode="reflect").numpy().tolist() == [[[3, 2, 1, 2, 3, 2]]]
    assert F.pad(x, (2, 1), mode="replicate").numpy().tolist() == [[[1, 1, 1, 2, 3, 3]]]
    assert F.pad(x, (2, 1), mode="circular").numpy().tolist() == [[[2, 3, 1, 2, 3, 1]]]
    assert F.pad(x, (1, 0), value=-1.0).numpy().tolist() == [[[-1, 1, 2, 3]]]
    with pytest.raises(ValueError, match="reflect padding \\(3, 0\\) of dim 2 \\(size 3\\)"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode must be"):
        F.pad(x, (1, 1), mode="mirror")


def test_depthwise_conv_by_hand():
    x = tinydl.tensor(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    weight = tinydl.tensor(np.array([1.0, 10.0], dtype=np.float32).reshape(2, 1, 1, 1))
    out = F.conv2d(x, weight, groups=2)
    np.testing.assert_allclose(out.numpy(), [[[[0, 1], [2, 3]], [[40, 50], [60, 70]]]])
    with pytest.raises(ValueError, match="groups=3 must be a positive int dividing"):
        F.conv2d(x, weight, groups=3)


def test_conv_transpose_spreads_each_pixel_by_hand():
    x = tinydl.tensor(np.array([[[[1.0, 2.0]]]], dtype=np.float32))    # (1, 1, 1, 2)
    weight = tinydl.ones(1, 1, 1, 2)
    out = F.conv_transpose2d(x, weight, stride=1)                        # overlaps add up
    np.testing.assert_allclose(out.numpy(), [[[[1, 3, 2]]]])


def test_pools_by_hand():
    x = tinydl.tensor(np.array([[[1.0, 5.0, 2.0, 4.0, 3.0]]], dtype=np.float32))
    np.testing.assert_allclose(F.max_pool1d(x, 2).numpy(), [[[5, 4]]])
    np.testing.assert_allclose(F.max_pool1d(x, 2, ceil_mode=True).numpy(), [[[5, 4, 3]]])
    np.testing.assert_allclose(F.avg_pool1d(x, 2).numpy(), [[[3, 3]]])
    np.testing.assert_allclose(F.adaptive_avg_pool1d(x, 1).numpy(), [[[3]]])
    image = tinydl.tensor(np.array([[[[1.0, 2.0], [4.0, 3.0]]]], dtype=np.float32))
    out, indices = F.max_pool2d(image, 2, return_indices=True)
    assert indices.numpy().tolist() == [[[[2]]]] and indices.dtype == np.int64
    restored = F.max_unpool2d(out, indices, 2)
    np.testing.assert_allclose(restored.numpy(), [[[[0, 0], [4, 0]]]])
    for bad in (4, -1):  # outside the 2x2 output plane either way
        with pytest.raises(ValueError, match="max_unpool2d"):
            F.max_unpool2d(out, np.full((1, 1, 1, 1), bad), 2)
    volume = tinydl.tensor(np.arange(8, dtype=np.float32).reshape(1, 1, 2, 2, 2))
    np.testing.assert_allclose(F.max_pool3d(volume, 2).numpy(), [[[[[7]]]]])
    np.testing.assert_allclose(F.avg_pool3d(volume, 2).numpy(), [[[[[3.5]]]]])


def test_resampling_by_hand():
    x = tinydl.tensor(np.array([[[[0.0, 1.0]]]], dtype=np.float32))      # (1, 1, 1, 2)
    np.testing.assert_allclose(F.interpolate(x, scale_factor=2).numpy(), [[[[0, 0, 1, 1],
                                                                            [0, 0, 1, 1]]]])
    wide = F.interpolate(x, size=(1, 4), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(wide.numpy(), [[[[0, 1 / 3, 2 / 3, 1]]]], rtol=1e-6)
    half = F.interpolate(x, size=(1, 4), mode="bilinear")                 # half-pixel centres
    np.testing.assert_allclose(half.numpy(), [[[[0, 0.25, 0.75, 1]]]])
    channels = tinydl.tensor(np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1))
    assert F.pixel_shuffle(channels, 2).numpy().tolist() == [[[[0, 1], [2, 3]]]]
    np.testing.assert_array_equal(F.pixel_unshuffle(F.pixel_shuffle(channels, 2), 2).numpy(),
                                  channels.numpy())
    cols = F.unfold(tinydl.tensor(np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)), 2)
    assert cols.shape == (1, 4, 4) and cols.numpy()[0, :, 0].tolist() == [0, 1, 3, 4]
    ones = F.fold(tinydl.ones(1, 4, 4), (3, 3), 2)                       # window counts
    assert ones.numpy()[0, 0].tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]


def test_channel_dropout_zeros_whole_channels():
    tinydl.manual_seed(0)
    x = tinydl.ones(4, 8, 3, 3)
    out = nn.Dropout2d(0.5)(x).numpy()
    per_channel = out.reshape(4, 8, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()                # all or nothing
    assert 0 < (per_channel[:, :, 0] == 0).sum() < 32
    layer = nn.Dropout1d(0.5).eval()
    np.testing.assert_array_equal(layer(tinydl.ones(2, 3, 4)).numpy(), 1.0)


def test_normalization_layers_by_hand():
    x = tinydl.tensor(np.array([[[1.0, 3.0], [2.0, 6.0]]], dtype=np.float32))  # (1, 2, 2)
    np.testing.assert_allclose(nn.InstanceNorm1d(2)(x).numpy(), [[[-1, 1], [-1, 1]]], atol=1e-4)
    grouped = nn.GroupNorm(1, 2, eps=0.0)(x).numpy()                        # one group: all 4
    expected = (np.array([1, 3, 2, 6]) - 3) / np.std([1, 3, 2, 6])
    np.testing.assert_allclose(grouped.reshape(-1), expected, rtol=1e-5)
    lrn = nn.LocalResponseNorm(1, alpha=1.0, beta=1.0, k=0.0)(x).numpy()      # x / x²
    np.testing.assert_allclose(lrn, 1 / x.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="num_channels 3 must be divisible by num_groups 2"):
        nn.GroupNorm(2, 3)


def test_embedding_bag_by_hand():
    weight = tinydl.tensor(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=np.float32))
    ids, offsets = tinydl.tensor([0, 1, 2, 2]), tinydl.tensor([0, 2, 2])
    sums = F.embedding_bag(ids, weight, offsets, mode="sum")
    assert sums.numpy().tolist() == [[1, 2], [0, 0], [6, 6]]                 # an empty bag: 0
    means = F.embedding_bag(ids, weight, offsets)
    assert means.numpy().tolist() == [[0.5, 1], [0, 0], [3, 3]]
    with pytest.raises(ValueError, match="per_sample_weights only works with mode='sum'"):
        F.embedding_bag(ids, weight, offsets, per_sample_weights=tinydl.ones(4))


def test_losses_by_hand():
    x, t = tinydl.tensor([0.0, 2.0, -3.0]), tinydl.tensor([0.5, 0.0, 0.0])
    assert float(F.l1_loss(x, t, reduction="sum")) == pytest.approx(5.5)
    np.testing.assert_allclose(F.smooth_l1_loss(x, t, reduction="none").numpy(),
                               [0.125, 1.5, 2.5])
    np.testing.assert_allclose(F.huber_loss(x, t, reduction="none", delta=2.0).numpy(),
                               [0.125, 2.0, 4.0])
    y = tinydl.tensor([1.0, -1.0, -1.0])
    np.testing.assert_allclose(F.hinge_embedding_loss(x, y, reduction="none").numpy(),
                               [0.0, 0.0, 4.0])
    np.testing.assert_allclose(F.margin_ranking_loss(x, t, y, reduction="none").numpy(),
                               [0.5, 2.0, 0.0])
    scores = tinydl.tensor([[0.1, 0.2, 0.4]])
    loss = F.multi_margin_loss(scores, tinydl.tensor([2]))
    assert float(loss) == pytest.approx((0.7 + 0.8) / 3)
    assert float(F.kl_div(tinydl.tensor([[0.0, -1e9]]), tinydl.tensor([[1.0, 0.0]]),
                          reduction="batchmean")) == 0.0                   # 0·log 0 is 0
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.L1Loss(reduction="avg")
    with pytest.raises(IndexError, match="multi_margin_loss: target labels must be in"):
        F.multi_margin_loss(scores, tinydl.tensor([3]))


def test_layer_reprs_name_their_settings():
    assert repr(nn.Conv1d(2, 4, 3, groups=2, padding_mode="reflect")) == (
        "Conv1d(2, 4, kernel_size=(3,), stride=(1,), groups=2, padding_mode='reflect')")
    assert repr(nn.ELU(alpha=0.5)) == "ELU(alpha=0.5)"
    assert repr(nn.Upsample(scale_factor=2, mode="bilinear")).startswith(
        "Upsample(size=None, scale_factor=2, mode='bilinear'")
    assert repr(nn.SmoothL1Loss(beta=0.5)) == "SmoothL1Loss(reduction='mean')"
