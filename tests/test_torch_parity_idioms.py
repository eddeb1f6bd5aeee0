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


# ==== optimizers and schedules ==================================================================


# ==== data ======================================================================================
