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


def test_multiplicative_lr():
    # e >= 1 multiplies the current lr by 0.5 on odd epochs and 1 on even ones
    scheduler = lr_scheduler.MultiplicativeLR(make_optimizer(),
                                              lambda e: 0.5 if e % 2 else 1.0)
    assert lr_sequence(scheduler, 6) == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_constant_lr():
    scheduler = lr_scheduler.ConstantLR(make_optimizer(), factor=0.5, total_iters=3)
    assert lr_sequence(scheduler, 6) == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]


def test_polynomial_lr():
    # (1 - e / 4)^2 for e = 0..4, then 0: 1, 9/16, 1/4, 1/16, 0, 0
    scheduler = lr_scheduler.PolynomialLR(make_optimizer(), total_iters=4, power=2.0)
    np.testing.assert_allclose(lr_sequence(scheduler, 6), [1, 9 / 16, 1 / 4, 1 / 16, 0, 0],
                               atol=1e-15)


def test_cosine_annealing_warm_restarts_doubles_its_period():
    # T_0 = 2, T_mult = 2: periods of 2 then 4 epochs, each starting at the base lr
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(make_optimizer(), T_0=2, T_mult=2)
    expected = [1.0, 0.5, 1.0] + [(1 + math.cos(math.pi * k / 4)) / 2 for k in (1, 2, 3)] + [1.0]
    np.testing.assert_allclose(lr_sequence(scheduler, 7), expected, atol=1e-15)
    scheduler.step(2.5)  # a fractional epoch: half-way into the period of 4 from epoch 2
    assert scheduler.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi * 0.5 / 4)) / 2)


def test_cyclic_lr_triangular_and_momentum():
    # base 0.1, max 0.5, 2 steps up and 2 down: 0.1, 0.3, 0.5, 0.3, 0.1, 0.3, ...
    optimizer = make_optimizer()
    scheduler = lr_scheduler.CyclicLR(optimizer, 0.1, 0.5, step_size_up=2)
    momenta = []
    lrs = []
    for _ in range(6):
        lrs.append(scheduler.get_last_lr()[0])
        momenta.append(optimizer.param_groups[0]["momentum"])
        scheduler.step()
    np.testing.assert_allclose(lrs, [0.1, 0.3, 0.5, 0.3, 0.1, 0.3])
    np.testing.assert_allclose(momenta, [0.9, 0.85, 0.8, 0.85, 0.9, 0.85])


def test_one_cycle_lr_linear():
    # 10 steps, peak after 3 (pct_start 0.3 -> the rise ends at step 2): 0.04 -> 1 -> 4e-6
    optimizer = make_optimizer()
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=10,
                                        anneal_strategy="linear", cycle_momentum=False)
    lrs = lr_sequence(scheduler, 10)
    assert lrs[0] == pytest.approx(0.04) and lrs[2] == pytest.approx(1.0)
    assert lrs[1] == pytest.approx(0.52)
    assert lrs[9] == pytest.approx(0.04 / 1e4)
    with pytest.raises(ValueError, match="stepped 11 times, but total_steps is 10"):
        scheduler.step()


def test_sequential_lr_warm_up_then_decay():
    # 3 epochs of ConstantLR(0.1), then ExponentialLR(0.5) from the base lr
    optimizer = make_optimizer()
    warm = lr_scheduler.ConstantLR(optimizer, factor=0.1, total_iters=3)
    decay = lr_scheduler.ExponentialLR(optimizer, gamma=0.5)
    scheduler = lr_scheduler.SequentialLR(optimizer, [warm, decay], milestones=[3])
    np.testing.assert_allclose(lr_sequence(scheduler, 6), [0.1, 0.1, 0.1, 1.0, 0.5, 0.25])


def test_chained_scheduler_multiplies_the_factors():
    optimizer = make_optimizer()
    chained = lr_scheduler.ChainedScheduler([
        lr_scheduler.ConstantLR(optimizer, factor=0.5, total_iters=2),
        lr_scheduler.ExponentialLR(optimizer, gamma=0.9)])
    np.testing.assert_allclose(lr_sequence(chained, 4), [0.5, 0.45, 0.81, 0.729])


def test_combined_scheduler_errors():
    optimizer, other = make_optimizer(), make_optimizer()
    step = lr_scheduler.StepLR(other, step_size=2)
    with pytest.raises(ValueError, match="scheduler 0 \\(StepLR\\) drives a different optimizer"):
        lr_scheduler.SequentialLR(optimizer, [step], milestones=[])
    with pytest.raises(ValueError, match="2 schedulers need 1 milestones, got 0"):
        lr_scheduler.SequentialLR(other, [step, step], milestones=[])
    plateau = lr_scheduler.ReduceLROnPlateau(other)
    with pytest.raises(ValueError, match="ReduceLROnPlateau, which needs the metric"):
        lr_scheduler.ChainedScheduler([plateau])
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with momentum"):
        lr_scheduler.OneCycleLR(tinydl.optim.Adagrad([tinydl.nn.Parameter(np.zeros(1))]),
                                max_lr=1.0, total_steps=5)
    with pytest.raises(ValueError, match="give total_steps, or epochs and steps_per_epoch"):
        lr_scheduler.OneCycleLR(optimizer, max_lr=1.0)


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
    "constant": lambda opt: lr_scheduler.ConstantLR(opt, factor=0.2, total_iters=4),
    "polynomial": lambda opt: lr_scheduler.PolynomialLR(opt, total_iters=15, power=0.5),
    "warm_restarts": lambda opt: lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2),
    "cyclic": lambda opt: lr_scheduler.CyclicLR(opt, 0.01, 0.1, step_size_up=3,
                                                mode="triangular2"),
    "one_cycle": lambda opt: lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=30),
    "multiplicative": lambda opt: lr_scheduler.MultiplicativeLR(opt, lambda e: 0.9),
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
    "MultiplicativeLR": dict(lr_lambda=lambda e: 0.97 if e % 3 else 1.01),
    "ConstantLR": dict(factor=0.25, total_iters=17),
    "PolynomialLR": dict(total_iters=60, power=1.7),
    "CosineAnnealingWarmRestarts": dict(T_0=7, T_mult=2, eta_min=1e-3),
    "CyclicLR": dict(base_lr=[0.01, 0.002], max_lr=0.2, step_size_up=9, step_size_down=4,
                     mode="exp_range", gamma=0.99, base_momentum=0.7, max_momentum=0.95),
    "OneCycleLR": dict(max_lr=[0.3, 0.1], total_steps=100, pct_start=0.25, three_phase=True),
}


COMBINED_SCHEDULERS = {
    "SequentialLR": lambda m, opt: m.SequentialLR(
        opt, [m.LinearLR(opt, start_factor=0.1, total_iters=10),
              m.CosineAnnealingLR(opt, T_max=40), m.StepLR(opt, step_size=5, gamma=0.7)],
        milestones=[10, 55]),
    "ChainedScheduler": lambda m, opt: m.ChainedScheduler(
        [m.LinearLR(opt, start_factor=0.2, total_iters=8), m.ExponentialLR(opt, gamma=0.98),
         m.MultiStepLR(opt, milestones=[30, 60], gamma=0.5)]),
    "SequentialLR-of-chained": lambda m, opt: m.SequentialLR(
        opt, [m.ChainedScheduler([m.ExponentialLR(opt, gamma=0.95),
                                  m.ConstantLR(opt, factor=0.3, total_iters=9)]),
              m.PolynomialLR(opt, total_iters=50, power=2.0)],
        milestones=[12]),
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
@pytest.mark.parametrize("name", sorted(COMBINED_SCHEDULERS))
def test_combined_schedulers_match_torch(torch, name):
    lrs = (0.1, 0.03)
    ours_opt = make_optimizer(lrs)
    theirs_opt = _torch_optimizer(torch, lrs)
    ours = COMBINED_SCHEDULERS[name](lr_scheduler, ours_opt)
    theirs = COMBINED_SCHEDULERS[name](torch.optim.lr_scheduler, theirs_opt)
    np.testing.assert_allclose(_run(ours, ours_opt, 100), _run(theirs, theirs_opt, 100),
                               rtol=1e-10, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["CyclicLR", "OneCycleLR"])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_cycled_momentum_matches_torch(torch, name, optimizer):
    """SGD's momentum or Adam's beta1 moves opposite to the lr, as in PyTorch."""
    key = "momentum" if optimizer == "SGD" else "betas"
    histories = []
    for module, lib in ((lr_scheduler, tinydl), (torch.optim.lr_scheduler, torch)):
        groups = [{"params": [lib.zeros(2, requires_grad=True)]}]
        opt = getattr(lib.optim, optimizer)(groups, lr=0.1, **({"momentum": 0.9}
                                                                 if optimizer == "SGD" else {}))
        scheduler = getattr(module, name)(opt, **TORCH_SCHEDULERS[name] | (
            dict(base_lr=0.01, max_lr=0.2) if name == "CyclicLR" else dict(max_lr=0.3)))
        history = []
        for _ in range(60):
            opt.step()
            scheduler.step()
            value = opt.param_groups[0][key]
            history.append(value if optimizer == "SGD" else list(value))
        histories.append(history)
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-12)


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
