"""Learning-rate schedulers: hand-worked sequences (always run), 100 steps against PyTorch's
schedulers (skipped without torch), and state_dict round trips through tinydl.io."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinydl
from tinydl import io
from tinydl.optim import SGD, lr_scheduler


def make_optimizer(lrs=(1.0,)):
    """An SGD over one small parameter per group, with the given learning rates."""
    groups = [{"params": [tinydl.nn.Parameter(np.zeros(2))], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0], momentum=0.9)


def lr_sequence(scheduler, epochs, metrics=None):
    """The lr of group 0 at epochs 0..epochs-1 (stepping after each)."""
    values = []
    for epoch in range(epochs):
        values.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
    return values


# ---------------------------------------------------------------------------------------------
# Hand-worked sequences
# ---------------------------------------------------------------------------------------------


def test_step_lr():
    # halve every 3 epochs: 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25
    scheduler = lr_scheduler.StepLR(make_optimizer(), step_size=3, gamma=0.5)
    assert lr_sequence(scheduler, 8) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_multi_step_lr_with_a_repeated_milestone():
    # x0.1 at epoch 2, x0.01 at epoch 5 (listed twice)
    scheduler = lr_scheduler.MultiStepLR(make_optimizer(), milestones=[5, 2, 5], gamma=0.1)
    assert lr_sequence(scheduler, 7) == pytest.approx([1, 1, 0.1, 0.1, 0.1, 0.001, 0.001])


def test_exponential_lr():
    scheduler = lr_scheduler.ExponentialLR(make_optimizer(), gamma=0.5)
    assert lr_sequence(scheduler, 4) == [1, 0.5, 0.25, 0.125]


def test_cosine_annealing_lr_follows_the_closed_form_down_and_back_up():
    # eta_min + (1 - eta_min)(1 + cos(pi e / 4)) / 2 with eta_min = 0.1:
    # e = 0: 1, e = 1: 0.1 + 0.9 * 0.853553 = 0.868198, e = 2: 0.55, e = 4: 0.1, e = 6: 0.55
    scheduler = lr_scheduler.CosineAnnealingLR(make_optimizer(), T_max=4, eta_min=0.1)
    expected = [0.1 + 0.9 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(9)]
    assert lr_sequence(scheduler, 9) == pytest.approx(expected, abs=1e-12)
    assert expected[2] == pytest.approx(0.55) and expected[4] == pytest.approx(0.1)


def test_lambda_lr_warm_up_per_group():
    optimizer = make_optimizer(lrs=(1.0, 0.1))
    scheduler = lr_scheduler.LambdaLR(optimizer, [lambda e: min(1.0, (e + 1) / 4),
                                                  lambda e: 0.5 ** e])
    assert lr_sequence(scheduler, 5) == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert scheduler.get_last_lr()[1] == pytest.approx(0.1 * 0.5 ** 5)


def test_linear_lr_warm_up():
    # factor 0.25 -> 1 over 3 epochs: 0.25, 0.5, 0.75, 1, then 1
    scheduler = lr_scheduler.LinearLR(make_optimizer(), start_factor=0.25, total_iters=3)
    assert lr_sequence(scheduler, 5) == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])


def test_reduce_lr_on_plateau():
    # patience 1: the second epoch in a row without a 1% improvement halves the lr;
    # cooldown 1: the epoch after a cut does not count.
    optimizer = make_optimizer()
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1,
                                               threshold=0.01, cooldown=1, min_lr=0.2)
    metrics = [1.0, 0.995, 0.999, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    # epoch 1: best 1.0 | 2: 0.995 not 1% better (1 bad) | 3: 2 bad -> lr 0.5, cooldown
    # 4: 0.9 better, cooldown ends | 5: 1 bad | 6: 2 bad -> 0.25 | 7: cooldown | 8: 1 bad
    # 9: 2 bad -> max(0.125, 0.2) = 0.2 | 10: cooldown
    lrs = []
    for value in metrics:
        scheduler.step(value)
        lrs.append(scheduler.get_last_lr()[0])
    assert lrs == [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2]
    assert scheduler.best == 0.9


def test_reduce_lr_on_plateau_max_mode_abs_threshold():
    optimizer = make_optimizer()
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=0,
                                               threshold=0.1, threshold_mode="abs")
    scheduler.step(0.5)  # best 0.5
    scheduler.step(0.55)  # not 0.1 above the best: cut to 0.1
    assert scheduler.get_last_lr() == [pytest.approx(0.1)]
    scheduler.step(0.7)  # better: no cut
    assert scheduler.get_last_lr() == [pytest.approx(0.1)]


def test_scheduler_errors():
    optimizer = make_optimizer()
    with pytest.raises(TypeError, match="expected a tinydl optimizer"):
        lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        lr_scheduler.StepLR(optimizer, step_size=0)
    with pytest.raises(ValueError, match="factor must be < 1"):
        lr_scheduler.ReduceLROnPlateau(optimizer, factor=2.0)
    with pytest.raises(ValueError, match="got 2 functions for 1 parameter groups"):
        lr_scheduler.LambdaLR(optimizer, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(KeyError, match=r"needs param_groups\[0\]\['initial_lr'\]"):
        lr_scheduler.ExponentialLR(make_optimizer(), gamma=0.9, last_epoch=5)


# ---------------------------------------------------------------------------------------------
# state_dict round trips
# ---------------------------------------------------------------------------------------------

SCHEDULERS = {
    "step": lambda opt: lr_scheduler.StepLR(opt, step_size=3, gamma=0.7),
    "multistep": lambda opt: lr_scheduler.MultiStepLR(opt, milestones=[4, 12, 12], gamma=0.5),
    "exponential": lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.95),
    "cosine": lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.01),
    "lambda": lambda opt: lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1 + e)),
    "linear": lambda opt: lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=6),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_state_dict_round_trip_through_io(name, tmp_path):
    optimizer = make_optimizer(lrs=(0.5, 0.05))
    scheduler = SCHEDULERS[name](optimizer)
    lr_sequence(scheduler, 10)
    io.save({"optim": optimizer.state_dict(), "sched": scheduler.state_dict()},
            tmp_path / "ckpt.npz")
    expected = lr_sequence(scheduler, 10)
    loaded = io.load(tmp_path / "ckpt.npz")
    # as in PyTorch: build both, then load both (building a LinearLR changes the lr)
    resumed_optimizer = make_optimizer(lrs=(0.5, 0.05))
    resumed = SCHEDULERS[name](resumed_optimizer)
    resumed_optimizer.load_state_dict(loaded["optim"])
    resumed.load_state_dict(loaded["sched"])
    assert lr_sequence(resumed, 10) == expected


def test_reduce_lr_on_plateau_state_round_trip(tmp_path):
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8] * 2
    scheduler = lr_scheduler.ReduceLROnPlateau(make_optimizer(), patience=2, cooldown=1)
    lr_sequence(scheduler, 7, metrics)
    io.save({"optim": scheduler.optimizer.state_dict(), "sched": scheduler.state_dict()},
            tmp_path / "ckpt.npz")
    expected = lr_sequence(scheduler, 13, metrics[7:])
    loaded = io.load(tmp_path / "ckpt.npz")
    optimizer = make_optimizer()
    optimizer.load_state_dict(loaded["optim"])
    resumed = lr_scheduler.ReduceLROnPlateau(optimizer)
    resumed.load_state_dict(loaded["sched"])
    assert lr_sequence(resumed, 13, metrics[7:]) == expected
    assert resumed.patience == 2 and resumed.cooldown == 1


# ---------------------------------------------------------------------------------------------
# PyTorch as the oracle: 100 epochs, two parameter groups
# ---------------------------------------------------------------------------------------------

TORCH_SCHEDULERS = {
    "StepLR": dict(step_size=7, gamma=0.8),
    "MultiStepLR": dict(milestones=[10, 30, 30, 75], gamma=0.5),
    "ExponentialLR": dict(gamma=0.97),
    "CosineAnnealingLR": dict(T_max=23, eta_min=1e-3),
    "LinearLR": dict(start_factor=0.05, end_factor=0.9, total_iters=40),
    "LambdaLR": dict(lr_lambda=lambda e: min(1.0, (e + 1) / 10) * 0.99 ** e),
}


def _torch_optimizer(torch, lrs):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)


def _run(scheduler, optimizer, epochs, metrics=None):
    history = []
    for epoch in range(epochs):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
        history.append(list(scheduler.get_last_lr()))
    return np.array(history)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TORCH_SCHEDULERS))
def test_100_epochs_match_torch(torch, name):
    lrs = (0.1, 0.03)
    ours_opt = make_optimizer(lrs)
    ours = getattr(lr_scheduler, name)(ours_opt, **TORCH_SCHEDULERS[name])
    theirs_opt = _torch_optimizer(torch, lrs)
    theirs = getattr(torch.optim.lr_scheduler, name)(theirs_opt, **TORCH_SCHEDULERS[name])
    np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(_run(ours, ours_opt, 100), _run(theirs, theirs_opt, 100),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.torch
def test_chained_schedulers_match_torch(torch):
    """Two recursive schedulers on one optimizer compose, as in PyTorch."""
    lrs = (0.1,)
    histories = []
    for module, opt in ((lr_scheduler, make_optimizer(lrs)),
                        (torch.optim.lr_scheduler, _torch_optimizer(torch, lrs))):
        warm = module.LinearLR(opt, start_factor=0.1, total_iters=5)
        decay = module.ExponentialLR(opt, gamma=0.9)
        history = []
        for _ in range(30):
            opt.step()
            warm.step()
            decay.step()
            history.append(opt.param_groups[0]["lr"])
        histories.append(history)
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("settings", [
    dict(),
    dict(mode="max", factor=0.5, patience=3, threshold=0.05, cooldown=2),
    dict(patience=2, threshold=0.1, threshold_mode="abs", min_lr=[0.02, 0.01], eps=1e-3),
])
def test_reduce_lr_on_plateau_matches_torch(torch, settings):
    rng = np.random.default_rng(7)
    metrics = np.cumsum(rng.normal(0.0, 0.05, 100)) + 1.0  # a wandering "validation loss"
    lrs = (0.1, 0.05)
    ours_opt = make_optimizer(lrs)
    theirs_opt = _torch_optimizer(torch, lrs)
    ours = lr_scheduler.ReduceLROnPlateau(ours_opt, **settings)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **settings)
    ours_history = _run(ours, ours_opt, 100, metrics)
    theirs_history = _run(theirs, theirs_opt, 100, metrics)
    np.testing.assert_allclose(ours_history, theirs_history, rtol=1e-12)
    assert len(np.unique(ours_history[:, 0])) > 1  # the schedule did cut the lr
