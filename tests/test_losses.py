"""Losses: hand-worked values (always run), PyTorch as the oracle (skipped without torch),
stability at logits of ±1e4, dtype discipline and the errors a user sees."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl
import tinydl.functional as F
from tinydl import nn
from tinydl.errors import DTypeError, ShapeError
from tinydl.testing import strategies as S

LN2 = math.log(2.0)


def f64(values, requires_grad=False):
    return tinydl.tensor(np.asarray(values, dtype=np.float64), dtype=tinydl.float64,
                         requires_grad=requires_grad)


# ---------------------------------------------------------------------------------------------
# Worked examples the seed systems got wrong
# ---------------------------------------------------------------------------------------------


def test_seed_worked_examples():
    # Seed 004's MSE table (its printed value, 1.05, was wrong). Errors y_pred - y_true are
    # [1.0, -1.0, 0.6, 0.0, 0.2]; squared: [1.0, 1.0, 0.36, 0.0, 0.04], sum 2.4, / 5 = 0.48.
    y_true = [3.0, 5.0, 2.5, 7.0, 4.0]
    y_pred = [4.0, 4.0, 3.1, 7.0, 4.2]
    assert F.mse_loss(f64(y_pred), f64(y_true)).item() == pytest.approx(0.48, abs=1e-12)
    # sigmoid(2) = 1 / (1 + e^-2) = 1 / 1.135335283 = 0.880797 (the seed said 0.869)
    assert round(float(tinydl.sigmoid(tinydl.tensor(2.0))), 4) == 0.8808


# ---------------------------------------------------------------------------------------------
# Hand-worked values
# ---------------------------------------------------------------------------------------------


def test_mse_hand_worked():
    # errors [-0.5, 0.5, 0, 1] -> squares [0.25, 0.25, 0, 1]: mean 0.375, sum 1.5
    pred, true = f64([2.5, 0.0, 2.0, 8.0], True), f64([3.0, -0.5, 2.0, 7.0])
    loss = F.mse_loss(pred, true)
    assert loss.item() == pytest.approx(0.375)
    loss.backward()  # d/dpred = 2 * error / 4
    np.testing.assert_allclose(pred.grad.numpy(), [-0.25, 0.25, 0.0, 0.5])
    assert F.mse_loss(pred, true, reduction="sum").item() == pytest.approx(1.5)
    np.testing.assert_allclose(F.mse_loss(pred, true, reduction="none").numpy(),
                               [0.25, 0.25, 0.0, 1.0])


def test_mse_refuses_shapes_that_would_broadcast():
    with pytest.raises(ShapeError, match=r"mse_loss: input shape \(4, 1\) and target shape "
                                         r"\(4,\) differ.*reshape"):
        F.mse_loss(tinydl.zeros(4, 1), tinydl.zeros(4))


# Two samples worked by hand: softmax([0, ln 3]) = [1/4, 3/4], softmax([0, 0]) = [1/2, 1/2].
LOGITS = [[0.0, math.log(3.0)], [0.0, 0.0]]
LOSS_A = -math.log(0.75)  # sample 0, label 1
LOSS_B = LN2  # sample 1, label 0


def test_cross_entropy_hand_worked():
    logits = f64(LOGITS, True)
    loss = F.cross_entropy(logits, [1, 0])
    assert loss.item() == pytest.approx((LOSS_A + LOSS_B) / 2)
    loss.backward()  # (softmax - one_hot) / N
    np.testing.assert_allclose(logits.grad.numpy(), [[0.125, -0.125], [-0.25, 0.25]])
    np.testing.assert_allclose(F.cross_entropy(f64(LOGITS), [1, 0], reduction="none").numpy(),
                               [LOSS_A, LOSS_B])


def test_cross_entropy_class_weights_give_a_weighted_mean():
    # weight = [2, 1]: sample 0 (label 1) weighs 1, sample 1 (label 0) weighs 2
    loss = F.cross_entropy(f64(LOGITS), [1, 0], weight=[2.0, 1.0])
    assert loss.item() == pytest.approx((1 * LOSS_A + 2 * LOSS_B) / 3)
    summed = F.cross_entropy(f64(LOGITS), [1, 0], weight=[2.0, 1.0], reduction="sum")
    assert summed.item() == pytest.approx(LOSS_A + 2 * LOSS_B)


def test_cross_entropy_ignore_index_averages_over_the_rest():
    logits = f64(LOGITS, True)
    loss = F.cross_entropy(logits, [1, -100])
    assert loss.item() == pytest.approx(LOSS_A)
    loss.backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[0.25, -0.25], [0.0, 0.0]])
    per_sample = F.cross_entropy(f64(LOGITS), [1, 7], ignore_index=7, reduction="none")
    np.testing.assert_allclose(per_sample.numpy(), [LOSS_A, 0.0])


def test_cross_entropy_ignore_index_that_is_a_class_skips_those_labels():
    # ignore_index=1 is a real class here, so the one-node fast path must not take the batch:
    # only sample 0 counts, -log(1/2) (the fast path would average all three, 4 ln 2 / 3)
    logits = f64([[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]], True)
    loss = F.cross_entropy(logits, np.array([0, 1, 1]), ignore_index=1)
    assert loss.item() == pytest.approx(math.log(2.0))
    loss.backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[-0.5, 0.5], [0.0, 0.0], [0.0, 0.0]])


def test_cross_entropy_all_ignored_is_nan_as_in_pytorch():
    assert math.isnan(F.cross_entropy(f64(LOGITS), [-100, -100]).item())


def test_cross_entropy_label_smoothing_hand_worked():
    # eps = 0.2, C = 2, sample 0: (1 - eps) * nll + eps / C * (-(log 1/4 + log 3/4))
    smooth = -(math.log(0.25) + math.log(0.75))
    expected = 0.8 * LOSS_A + 0.1 * smooth
    loss = F.cross_entropy(f64(LOGITS[:1]), [1], label_smoothing=0.2)
    assert loss.item() == pytest.approx(expected)


def test_cross_entropy_probability_targets_hand_worked():
    # target [1/2, 1/2] on sample 0: -(1/2 log 1/4 + 1/2 log 3/4)
    loss = F.cross_entropy(f64(LOGITS[:1]), f64([[0.5, 0.5]]))
    assert loss.item() == pytest.approx(-(0.5 * math.log(0.25) + 0.5 * math.log(0.75)))


def test_cross_entropy_unbatched_and_spatial():
    assert F.cross_entropy(f64(LOGITS[0]), 1).item() == pytest.approx(LOSS_A)
    # (N=1, C=2, d=2): the two positions are the two samples above
    spatial = f64(np.array(LOGITS).T[None])  # (1, 2, 2): class dim second
    out = F.cross_entropy(spatial, [[1, 0]], reduction="none")
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out.numpy(), [[LOSS_A, LOSS_B]])


def test_nll_loss_hand_worked():
    # picks -2 (sample 0, label 1) and -3 (sample 1, label 0): mean of 2 and 3
    log_probs = f64([[-1.0, -2.0], [-3.0, -0.5]], True)
    loss = F.nll_loss(log_probs, [1, 0])
    assert loss.item() == pytest.approx(2.5)
    loss.backward()
    np.testing.assert_allclose(log_probs.grad.numpy(), [[0.0, -0.5], [-0.5, 0.0]])


def test_binary_cross_entropy_hand_worked():
    p, t = f64([0.8, 0.8, 0.0, 1.0], True), f64([1.0, 0.0, 1.0, 1.0])
    losses = F.binary_cross_entropy(p, t, reduction="none")
    # -log 0.8, -log 0.2, log(0) clamped to -100 -> 100, and -log 1 = 0
    np.testing.assert_allclose(losses.numpy(), [-math.log(0.8), -math.log(0.2), 100.0, 0.0])
    losses.sum().backward()
    # (p - t) / max(p (1 - p), 1e-12): -0.2/0.16, 0.8/0.16, -1/1e-12, 0/1e-12
    np.testing.assert_allclose(p.grad.numpy(), [-1.25, 5.0, -1e12, 0.0])


def test_binary_cross_entropy_weight():
    loss = F.binary_cross_entropy(f64([0.8, 0.8]), f64([1.0, 0.0]), weight=[2.0, 0.5])
    assert loss.item() == pytest.approx((-2 * math.log(0.8) - 0.5 * math.log(0.2)) / 2)


def test_bce_with_logits_hand_worked_including_the_gradient_at_zero():
    x = f64([0.0, 0.0, 1e4, 1e4, -1e4], True)
    t = f64([1.0, 0.0, 0.0, 1.0, 1.0])
    losses = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    # log 2 at x = 0; a confident wrong answer costs |x|, a confident right one 0
    np.testing.assert_allclose(losses.numpy(), [LN2, LN2, 1e4, 0.0, 1e4])
    losses.sum().backward()  # sigmoid(x) - t: 0.5 - t at x = 0
    np.testing.assert_allclose(x.grad.numpy(), [-0.5, 0.5, 1.0, 0.0, -1.0])


def test_bce_with_logits_pos_weight_weighs_positives():
    loss = F.binary_cross_entropy_with_logits(f64([[0.0, 0.0]]), f64([[1.0, 0.0]]),
                                              pos_weight=[3.0, 3.0], reduction="sum")
    assert loss.item() == pytest.approx(3 * LN2 + LN2)  # the negative is not re-weighted


# ---------------------------------------------------------------------------------------------
# Stability, dtypes, modules, errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    logits = tinydl.tensor(np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype), requires_grad=True)
    loss = F.cross_entropy(logits, [1, 1], reduction="sum")  # wrong by 2e4, then right
    assert loss.item() == pytest.approx(2e4)
    loss.backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[1.0, -1.0], [0.0, 0.0]])
    assert np.isfinite(logits.grad.numpy()).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_stable_for_huge_logits(dtype):
    x = tinydl.tensor(np.array([1e4, -1e4], dtype=dtype), requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, tinydl.tensor(np.array([0.0, 0.0], dtype=dtype)),
                                              reduction="sum")
    assert loss.item() == pytest.approx(1e4)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.0])


@pytest.mark.parametrize("labels_dtype", [np.int64, np.int32, np.uint8])
def test_integer_labels_keep_float32(labels_dtype):
    logits = tinydl.randn(4, 3, requires_grad=True)
    labels = tinydl.tensor(np.array([0, 2, 1, 2], dtype=labels_dtype))
    for loss in (F.cross_entropy(logits, labels, weight=np.array([1.0, 2.0, 3.0])),
                 F.cross_entropy(logits, labels, label_smoothing=0.1),
                 F.nll_loss(logits.log_softmax(1), labels)):
        assert loss.dtype == np.float32
        logits.grad = None
        loss.backward()
        assert logits.grad.dtype == np.float32


def test_other_losses_keep_float32_with_float64_targets():
    x = tinydl.rand(3, requires_grad=True)
    target = np.array([0.0, 1.0, 0.5])  # float64 NumPy targets
    for loss in (F.mse_loss(x, target), F.binary_cross_entropy(x * 0.5 + 0.25, target),
                 F.binary_cross_entropy_with_logits(x, target, pos_weight=np.ones(3))):
        assert loss.dtype == np.float32
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32


@pytest.mark.parametrize("bad", [3, -1])
def test_label_out_of_range_names_the_value_and_the_classes(bad):
    with pytest.raises(IndexError, match=rf"cross_entropy: target contains label {bad}, outside "
                                         r"\[0, 3\) .*3 classes"):
        F.cross_entropy(tinydl.zeros(2, 3), [0, bad])
    with pytest.raises(IndexError, match=rf"nll_loss: target contains label {bad}"):
        F.nll_loss(tinydl.zeros(2, 3), [bad, 0])


def test_cross_entropy_shape_and_dtype_errors():
    with pytest.raises(ShapeError, match=r"integer target of shape \(2, 1\) .* need shape \(2,\)"):
        F.cross_entropy(tinydl.zeros(2, 3), tinydl.tensor([[0], [1]]))
    with pytest.raises(ShapeError, match=r"float target of shape \(2,\) .*integer tensor"):
        F.cross_entropy(tinydl.zeros(2, 3), tinydl.tensor([0.0, 1.0]))
    with pytest.raises(ShapeError, match=r"weight must have one entry per class, shape \(3,\)"):
        F.cross_entropy(tinydl.zeros(2, 3), [0, 1], weight=[1.0, 2.0])
    with pytest.raises(DTypeError, match="input must be a floating tensor"):
        F.cross_entropy(tinydl.tensor([[1, 2]]), [0])
    with pytest.raises(DTypeError, match="integer class labels or float class probabilities"):
        F.cross_entropy(tinydl.zeros(2, 3), tinydl.tensor([True, False]))
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none'"):
        F.cross_entropy(tinydl.zeros(2, 3), [0, 1], reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        F.cross_entropy(tinydl.zeros(2, 3), [0, 1], label_smoothing=1.5)


def test_bce_errors():
    with pytest.raises(ValueError, match=r"input value must lie in \[0, 1\], found 1.5.*sigmoid"):
        F.binary_cross_entropy(tinydl.tensor([1.5]), tinydl.tensor([1.0]))
    with pytest.raises(ValueError, match=r"target value must lie in \[0, 1\], found -1"):
        F.binary_cross_entropy(tinydl.tensor([0.5]), tinydl.tensor([-1.0]))
    with pytest.raises(ShapeError, match=r"target shape \(3,\) must equal input shape \(3, 1\)"):
        F.binary_cross_entropy_with_logits(tinydl.zeros(3, 1), tinydl.zeros(3))


def test_loss_modules_match_the_functions():
    logits, labels = f64(LOGITS), [1, 0]
    weighted = nn.CrossEntropyLoss(weight=np.array([2.0, 1.0]), label_smoothing=0.1)
    assert weighted(logits, labels).item() == pytest.approx(
        F.cross_entropy(logits, labels, weight=np.array([2.0, 1.0]), label_smoothing=0.1).item())
    assert "weight" in weighted.state_dict()
    assert nn.NLLLoss(ignore_index=0)(logits, labels).item() == pytest.approx(
        -logits.numpy()[0, 1])
    assert nn.MSELoss(reduction="sum")(f64([1.0, 2.0]), f64([0.0, 0.0])).item() == 5.0
    assert nn.BCELoss()(f64([0.5]), f64([1.0])).item() == pytest.approx(LN2)
    with_pos = nn.BCEWithLogitsLoss(pos_weight=np.array([3.0]))
    assert with_pos(f64([[0.0]]), f64([[1.0]])).item() == pytest.approx(3 * LN2)
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="average")


def test_losses_run_on_the_standin_device():
    from tinydl.testing import standin

    standin.register()
    criterion = nn.CrossEntropyLoss(weight=np.array([2.0, 1.0])).to("standin")
    logits = f64(LOGITS).to("standin").detach().requires_grad_()
    loss = criterion(logits, [1, -100])
    loss.backward()
    assert loss.device == "standin"
    assert loss.item() == pytest.approx(LOSS_A)
    np.testing.assert_allclose(logits.grad.numpy(), [[0.25, -0.25], [0.0, 0.0]])


# ---------------------------------------------------------------------------------------------
# PyTorch as the oracle (float64, forward and backward)
# ---------------------------------------------------------------------------------------------


@st.composite
def _classification(draw, probabilities=False):
    """Logits (N, C, *spatial), a target, optional weight, ignore_index, smoothing, reduction."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(2, 5))
    spatial = draw(st.sampled_from([(), (3,), (2, 2)]))
    logits = draw(S.arrays((n, c) + spatial, -5.0, 5.0))
    if probabilities:
        raw = draw(S.arrays((n, c) + spatial, 0.0, 1.0)) + 1e-3
        target = raw / raw.sum(axis=1, keepdims=True)
        ignore_index = -100
    else:
        ignore_index = draw(st.sampled_from([-100, 0, 1]))
        target = draw(hnp.arrays(np.int64, (n,) + spatial, elements=st.integers(-1, c - 1)))
        target = np.where(target == -1, ignore_index, target)
    weight = draw(st.one_of(st.none(), S.arrays((c,), 0.1, 3.0)))
    smoothing = draw(st.sampled_from([0.0, 0.1, 0.5]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return logits, target, weight, ignore_index, smoothing, reduction


def _compare_with_torch(torch, ours, theirs, our_inputs, their_inputs):
    """Forward values, then gradients of a random weighting of the outputs."""
    expected = theirs.detach().numpy()
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-12, equal_nan=True)
    if np.isnan(expected).any():
        return
    weights = np.random.default_rng(0).standard_normal(expected.shape)
    (ours * f64(weights)).sum().backward()
    (theirs * torch.from_numpy(weights)).sum().backward()
    for mine, reference in zip(our_inputs, their_inputs):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.torch
@settings(max_examples=40)
@given(case=_classification())
def test_cross_entropy_with_labels_matches_torch(case):
    torch = pytest.importorskip("torch")
    logits, target, weight, ignore_index, smoothing, reduction = case
    ours_x = f64(logits, True)
    theirs_x = torch.tensor(logits, requires_grad=True)
    kwargs = dict(ignore_index=ignore_index, label_smoothing=smoothing, reduction=reduction)
    ours = F.cross_entropy(ours_x, target, weight=weight, **kwargs)
    theirs = torch.nn.functional.cross_entropy(
        theirs_x, torch.from_numpy(target),
        weight=None if weight is None else torch.from_numpy(weight), **kwargs)
    _compare_with_torch(torch, ours, theirs, [ours_x], [theirs_x])


@pytest.mark.torch
@settings(max_examples=25)
@given(case=_classification(probabilities=True))
def test_cross_entropy_with_probabilities_matches_torch(case):
    torch = pytest.importorskip("torch")
    logits, target, weight, _, smoothing, reduction = case
    ours_x, ours_t = f64(logits, True), f64(target, True)
    theirs_x = torch.tensor(logits, requires_grad=True)
    theirs_t = torch.tensor(target, requires_grad=True)
    kwargs = dict(label_smoothing=smoothing, reduction=reduction)
    ours = F.cross_entropy(ours_x, ours_t, weight=weight, **kwargs)
    theirs = torch.nn.functional.cross_entropy(
        theirs_x, theirs_t, weight=None if weight is None else torch.from_numpy(weight), **kwargs)
    _compare_with_torch(torch, ours, theirs, [ours_x, ours_t], [theirs_x, theirs_t])


@pytest.mark.torch
@settings(max_examples=25)
@given(case=_classification())
def test_nll_loss_matches_torch(case):
    torch = pytest.importorskip("torch")
    logits, target, weight, ignore_index, _, reduction = case
    ours_x = f64(logits, True)
    theirs_x = torch.tensor(logits, requires_grad=True)
    ours = F.nll_loss(ours_x, target, weight=weight, ignore_index=ignore_index,
                      reduction=reduction)
    theirs = torch.nn.functional.nll_loss(
        theirs_x, torch.from_numpy(target),
        weight=None if weight is None else torch.from_numpy(weight), ignore_index=ignore_index,
        reduction=reduction)
    _compare_with_torch(torch, ours, theirs, [ours_x], [theirs_x])


@st.composite
def _binary(draw):
    shape = draw(S.shapes(min_dims=1, max_dims=3))
    return (draw(S.arrays(shape, -6.0, 6.0)), draw(S.arrays(shape, 0.0, 1.0)),
            draw(st.one_of(st.none(), S.arrays(shape[-1:], 0.1, 3.0))),
            draw(st.one_of(st.none(), S.arrays(shape[-1:], 0.1, 3.0))),
            draw(st.sampled_from(["mean", "sum", "none"])))


@pytest.mark.torch
@settings(max_examples=25)
@given(case=_binary())
def test_binary_losses_match_torch(case):
    torch = pytest.importorskip("torch")
    logits, target, weight, pos_weight, reduction = case
    tf = torch.nn.functional
    as_torch = (lambda a: None if a is None else torch.from_numpy(a))
    # on logits, with weight and pos_weight
    ours_x, ours_t = f64(logits, True), f64(target, True)
    theirs_x = torch.tensor(logits, requires_grad=True)
    theirs_t = torch.tensor(target, requires_grad=True)
    ours = F.binary_cross_entropy_with_logits(ours_x, ours_t, weight=weight, reduction=reduction,
                                              pos_weight=pos_weight)
    theirs = tf.binary_cross_entropy_with_logits(theirs_x, theirs_t, weight=as_torch(weight),
                                                 reduction=reduction,
                                                 pos_weight=as_torch(pos_weight))
    _compare_with_torch(torch, ours, theirs, [ours_x, ours_t], [theirs_x, theirs_t])
    # on probabilities sigmoid(logits), with weight
    probs = 1.0 / (1.0 + np.exp(-logits))
    ours_p, ours_t = f64(probs, True), f64(target, True)
    theirs_p = torch.tensor(probs, requires_grad=True)
    theirs_t = torch.tensor(target, requires_grad=True)
    ours = F.binary_cross_entropy(ours_p, ours_t, weight=weight, reduction=reduction)
    theirs = tf.binary_cross_entropy(theirs_p, theirs_t, weight=as_torch(weight),
                                     reduction=reduction)
    _compare_with_torch(torch, ours, theirs, [ours_p, ours_t], [theirs_p, theirs_t])


@pytest.mark.torch
@settings(max_examples=15)
@given(shape=S.shapes(), reduction=st.sampled_from(["mean", "sum", "none"]), data=st.data())
def test_mse_loss_matches_torch(shape, reduction, data):
    torch = pytest.importorskip("torch")
    a, b = data.draw(S.arrays(shape)), data.draw(S.arrays(shape))
    ours_a, ours_b = f64(a, True), f64(b, True)
    theirs_a, theirs_b = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    _compare_with_torch(torch, F.mse_loss(ours_a, ours_b, reduction=reduction),
                        torch.nn.functional.mse_loss(theirs_a, theirs_b, reduction=reduction),
                        [ours_a, ours_b], [theirs_a, theirs_b])


@pytest.mark.torch
def test_huge_logits_match_torch_in_float32(torch):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=np.float32)
    ours_x = tinydl.tensor(logits, requires_grad=True)
    theirs_x = torch.tensor(logits, requires_grad=True)
    ours = F.cross_entropy(ours_x, [1, 2], label_smoothing=0.1)
    theirs = torch.nn.functional.cross_entropy(theirs_x, torch.tensor([1, 2]), label_smoothing=0.1)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-6)
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), atol=1e-6)
