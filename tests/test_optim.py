"""Optimizers: hand-worked single steps (always run), 100-step trajectories against PyTorch
for every option combination (float64, to 1e-10), state_dict round trips through tinydl.io,
dtype preservation, gradient clipping and the errors a user sees."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinydl
from tinydl import io, optim
from tinydl.errors import DTypeError, ShapeError
from tinydl.nn.utils import clip_grad_norm_, clip_grad_value_


def param(values, dtype=np.float64):
    # a copy: optimizer steps write into the parameter's array
    return tinydl.nn.Parameter(np.array(values, dtype=dtype), dtype=dtype)


def take_steps(opt, p, grads):
    """Run one optimizer step per gradient (each set by hand on p)."""
    for g in grads:
        p.grad = tinydl.tensor(np.asarray(g, dtype=p.dtype), dtype=p.dtype)
        opt.step()
    return p.numpy()


# ---------------------------------------------------------------------------------------------
# Hand-worked steps (no torch needed)
# ---------------------------------------------------------------------------------------------


def test_sgd_plain_step():
    # p - lr * g = [1 - 0.1 * 0.5, -2 - 0.1 * 0.25] = [0.95, -2.025]
    p = param([1.0, -2.0])
    np.testing.assert_allclose(take_steps(optim.SGD([p], lr=0.1), p, [[0.5, 0.25]]),
                               [0.95, -2.025])


def test_sgd_momentum_with_dampening():
    # step 1: buf = g = 0.5 (no dampening on the first step), p = 1 - 0.1 * 0.5 = 0.95
    # step 2: buf = 0.9 * 0.5 + (1 - 0.5) * 0.5 = 0.7, p = 0.95 - 0.1 * 0.7 = 0.88
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    assert take_steps(opt, p, [[0.5]])[0] == pytest.approx(0.95)
    assert take_steps(opt, p, [[0.5]])[0] == pytest.approx(0.88)
    assert opt.state[p]["momentum_buffer"][0] == pytest.approx(0.7)


def test_sgd_nesterov():
    # step 1: buf = 0.5, direction = g + 0.9 * buf = 0.95, p = 1 - 0.095 = 0.905
    # step 2: buf = 0.9 * 0.5 + 0.5 = 0.95, direction = 0.5 + 0.855 = 1.355, p = 0.7695
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    assert take_steps(opt, p, [[0.5]])[0] == pytest.approx(0.905)
    assert take_steps(opt, p, [[0.5]])[0] == pytest.approx(0.7695)


def test_sgd_weight_decay_and_maximize():
    # g + wd * p = 0.5 + 0.1 * 1 = 0.6, p = 1 - 0.1 * 0.6 = 0.94
    p = param([1.0])
    assert take_steps(optim.SGD([p], lr=0.1, weight_decay=0.1), p, [[0.5]])[0] == \
        pytest.approx(0.94)
    # maximize climbs: p = 1 + 0.1 * 0.5 = 1.05
    p = param([1.0])
    assert take_steps(optim.SGD([p], lr=0.1, maximize=True), p, [[0.5]])[0] == \
        pytest.approx(1.05)


def test_adam_steps_by_lr_for_a_constant_gradient():
    # step 1: m = 0.1 * 2 = 0.2, v = 0.001 * 4 = 0.004; m / (1 - 0.9) = 2, v / (1 - 0.999) = 4
    #         p = 1 - 0.1 * 2 / (sqrt(4) + 1e-8)
    # step 2: m = 0.9 * 0.2 + 0.2 = 0.38, v = 0.999 * 0.004 + 0.004 = 0.007996;
    #         0.38 / (1 - 0.81) = 2, 0.007996 / (1 - 0.998001) = 4: the same step again
    p = param([1.0])
    opt = optim.Adam([p], lr=0.1)
    one_step = 0.1 * 2 / (2 + 1e-8)
    assert take_steps(opt, p, [[2.0]])[0] == pytest.approx(1 - one_step, abs=1e-12)
    assert take_steps(opt, p, [[2.0]])[0] == pytest.approx(1 - 2 * one_step, abs=1e-12)
    state = opt.state[p]
    assert state["step"] == 2
    assert state["exp_avg"][0] == pytest.approx(0.38)
    assert state["exp_avg_sq"][0] == pytest.approx(0.007996)


def test_adam_amsgrad_uses_the_largest_second_moment():
    # gradients 2 then 0: v1 = 0.004, v2 = 0.999 * 0.004 = 0.003996, max = 0.004
    # m2 = 0.9 * 0.2 = 0.18; step 2 = 0.1 * (0.18 / 0.19) / (sqrt(v / 0.001999) + 1e-8)
    p1 = 1 - 0.1 * 2 / (2 + 1e-8)
    m_hat = 0.18 / (1 - 0.9 ** 2)
    for amsgrad, v in ((False, 0.003996), (True, 0.004)):
        p = param([1.0])
        final = take_steps(optim.Adam([p], lr=0.1, amsgrad=amsgrad), p, [[2.0], [0.0]])
        expected = p1 - 0.1 * m_hat / (math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
        assert final[0] == pytest.approx(expected, abs=1e-12)


def test_adam_weight_decay_is_l2_and_adamw_is_decoupled():
    # Adam, wd = 0.5: g = 2 + 0.5 * 1 = 2.5, and a first step moves lr * 2.5 / (2.5 + eps)
    p = param([1.0])
    assert take_steps(optim.Adam([p], lr=0.1, weight_decay=0.5), p, [[2.0]])[0] == \
        pytest.approx(1 - 0.1 * 2.5 / (2.5 + 1e-8), abs=1e-12)
    # AdamW, wd = 0.1: p = 1 * (1 - 0.1 * 0.1) = 0.99, then the Adam step of 0.1 * 2 / (2 + eps)
    p = param([1.0])
    assert take_steps(optim.AdamW([p], lr=0.1, weight_decay=0.1), p, [[2.0]])[0] == \
        pytest.approx(0.99 - 0.1 * 2 / (2 + 1e-8), abs=1e-12)


def test_rmsprop_first_step():
    # s = (1 - 0.99) * 2^2 = 0.04, p = 1 - 0.01 * 2 / (sqrt(0.04) + 1e-8) = 1 - 0.1
    p = param([1.0])
    assert take_steps(optim.RMSprop([p], lr=0.01), p, [[2.0]])[0] == \
        pytest.approx(1 - 0.01 * 2 / (0.2 + 1e-8), abs=1e-12)


def test_adagrad_steps_with_lr_decay():
    # step 1: sum = 4, p = 1 - 0.1 * 2 / (2 + eps) = 0.9
    # step 2: sum = 8, the lr decays to 0.1 / (1 + 1 * 0.5), p = 0.9 - (0.1 / 1.5) * 2 / sqrt(8)
    p = param([1.0])
    opt = optim.Adagrad([p], lr=0.1, lr_decay=0.5)
    p1 = 1 - 0.1 * 2 / (2 + 1e-10)
    assert take_steps(opt, p, [[2.0]])[0] == pytest.approx(p1, abs=1e-12)
    assert take_steps(opt, p, [[2.0]])[0] == pytest.approx(p1 - 0.1 / 1.5 * 2 / (math.sqrt(8) + 1e-10),
                                                           abs=1e-12)
    assert opt.state[p]["sum"][0] == 8.0 and opt.state[p]["step"] == 2


def test_adadelta_first_step():
    # square_avg = 0.1 * 4 = 0.4; delta = sqrt(0 + 1e-6) / sqrt(0.4 + 1e-6) * 2
    p = param([1.0])
    opt = optim.Adadelta([p], lr=1.0, rho=0.9, eps=1e-6)
    delta = math.sqrt(1e-6) / math.sqrt(0.4 + 1e-6) * 2
    assert take_steps(opt, p, [[2.0]])[0] == pytest.approx(1 - delta, abs=1e-14)
    assert opt.state[p]["acc_delta"][0] == pytest.approx(0.1 * delta * delta, rel=1e-12)


def test_adamax_first_step():
    # m = 0.1 * 2 = 0.2, u = max(0, |2| + 1e-8); p = 1 - 0.1 / (1 - 0.9) * 0.2 / u
    p = param([1.0])
    assert take_steps(optim.Adamax([p], lr=0.1), p, [[2.0]])[0] == \
        pytest.approx(1 - 0.2 / (2 + 1e-8), abs=1e-14)


def test_nadam_first_step():
    mu1 = 0.9 * (1 - 0.5 * 0.96 ** 0.004)
    mu2 = 0.9 * (1 - 0.5 * 0.96 ** 0.008)
    denom = math.sqrt(0.004 / 0.001) + 1e-8  # v = 0.001 * 4, bias-corrected: 4
    expected = 1 - 0.1 * (1 - mu1) / (1 - mu1) * 2 / denom - 0.1 * mu2 / (1 - mu1 * mu2) * 0.2 / denom
    p = param([1.0])
    opt = optim.NAdam([p], lr=0.1)
    assert take_steps(opt, p, [[2.0]])[0] == pytest.approx(expected, abs=1e-14)
    assert opt.state[p]["mu_product"] == pytest.approx(mu1)


def test_radam_takes_a_plain_momentum_step_while_the_variance_is_unreliable():
    # rho_inf = 1999, rho_1 = 1999 - 2 * 0.999 / 0.001 = 1 <= 5: p = 1 - lr * m / (1 - beta1)
    p = param([1.0])
    assert take_steps(optim.RAdam([p], lr=0.1), p, [[2.0]])[0] == pytest.approx(0.8, abs=1e-14)


def test_asgd_first_step_and_averaging():
    # p = 1 * (1 - 1e-4 * 0.1) - 0.1 * 2; ax = p (mu = 1); eta_2 = 0.1 / (1 + 1e-5)^0.75
    p = param([1.0])
    opt = optim.ASGD([p], lr=0.1)
    assert take_steps(opt, p, [[2.0]])[0] == pytest.approx(0.99999 - 0.2, abs=1e-14)
    assert opt.state[p]["ax"][0] == p.numpy()[0]
    assert opt.state[p]["eta"] == pytest.approx(0.1 / (1 + 1e-5) ** 0.75, rel=1e-14)
    assert opt.state[p]["mu"] == 1.0


def test_rprop_grows_and_shrinks_the_step_by_the_gradient_sign():
    # step 1: no previous gradient, each entry moves by lr against its sign: [0.9, 1.1]
    # step 2: entry 0 kept its sign (step 0.1 * 1.2), entry 1 flipped (step 0.1 * 0.5, no move)
    p = param([1.0, 1.0])
    opt = optim.Rprop([p], lr=0.1)
    np.testing.assert_allclose(take_steps(opt, p, [[2.0, -2.0]]), [0.9, 1.1])
    np.testing.assert_allclose(take_steps(opt, p, [[1.0, 3.0]]), [0.78, 1.1])
    np.testing.assert_allclose(opt.state[p]["step_size"], [0.12, 0.05])
    np.testing.assert_array_equal(opt.state[p]["prev"], [1.0, 0.0])


def test_lbfgs_solves_a_one_dimensional_quadratic_in_two_iterations():
    # f = (x - 3)^2 from x = 0: g = -6, first step t = min(1, 1/6) along d = 6 lands on x = 1
    # (g = -4); the secant pair (s = 1, y = 2) gives H = 1/2, so d = 2 and x = 3 exactly
    x = param([0.0])
    opt = optim.LBFGS([x], lr=1.0)

    def closure():
        opt.zero_grad()
        loss = ((x - 3.0) ** 2).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 9.0  # the loss before the step
    assert x.numpy()[0] == pytest.approx(3.0, abs=1e-12)
    assert opt.state[x]["func_evals"] == 3


def test_lbfgs_errors():
    x = param([0.0])
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        optim.LBFGS([x], line_search_fn="backtracking")
    with pytest.raises(TypeError, match="LBFGS.step: needs a closure"):
        optim.LBFGS([x]).step()
    with pytest.raises(ValueError, match="Rprop: etas must satisfy"):
        optim.Rprop([x], etas=(1.5, 1.2))


def test_torch_only_flags_are_accepted():
    """Every optimizer takes the implementation flags its PyTorch namesake takes."""
    x = param([0.0])
    for make in (optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad,
                 optim.Adadelta, optim.Adamax, optim.NAdam, optim.RAdam, optim.ASGD, optim.Rprop):
        flags = dict(foreach=False, differentiable=False, maximize=False)
        if make not in (optim.Adagrad, optim.SGD):
            flags["capturable"] = False
        if make in (optim.SGD, optim.Adam, optim.AdamW, optim.Adagrad):
            flags["fused"] = None
        make([x], **flags)


@pytest.mark.torch
def test_signatures_take_torchs_arguments(torch):
    """Every argument of torch's constructor is an argument of tinydl's, with the same default."""
    import inspect

    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam",
                 "RAdam", "ASGD", "Rprop", "LBFGS"):
        theirs = inspect.signature(getattr(torch.optim, name).__init__).parameters
        ours = inspect.signature(getattr(optim, name).__init__).parameters
        for arg, spec in theirs.items():
            assert arg in ours, f"{name} lacks {arg}"
            if arg not in ("self", "params"):
                assert ours[arg].default == spec.default, f"{name}({arg}=) default differs"


def test_parameters_without_a_gradient_are_left_alone():
    a, b = param([1.0]), param([2.0])
    opt = optim.Adam([a, b], lr=0.1)
    take_steps(opt, a, [[1.0]])
    assert b.numpy()[0] == 2.0 and b not in opt.state


def test_param_groups_take_their_own_hyper_parameters_and_lr_can_change():
    a, b = param([1.0]), param([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.0
    a.grad = b.grad = tinydl.tensor(np.array([1.0]), dtype=np.float64)
    opt.step()
    assert (a.numpy()[0], b.numpy()[0]) == pytest.approx((0.9, 0.5))
    opt.param_groups[0]["lr"] = 1.0
    opt.step()
    assert a.numpy()[0] == pytest.approx(-0.1)
    c = param([3.0])
    opt.add_param_group({"params": c, "lr": 0.01})
    assert opt.param_groups[2]["params"] == [c] and opt.param_groups[2]["dampening"] == 0.0


def test_zero_grad():
    p = param([1.0, 2.0])
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    p.grad = None
    p.sum().backward()  # a gradient that is a read-only broadcast view
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert p.grad is None


def test_closure_is_called_and_its_loss_returned():
    p = param([3.0])
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0 and p.numpy()[0] == pytest.approx(3.0 - 0.25 * 6.0)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True, weight_decay=0.01),
    lambda ps: optim.AdamW(ps, lr=0.1),
    lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.5, centered=True),
    lambda ps: optim.Adagrad(ps, lr=0.1, weight_decay=0.01),
    lambda ps: optim.Adadelta(ps, weight_decay=0.01),
    lambda ps: optim.Adamax(ps, lr=0.1),
    lambda ps: optim.NAdam(ps, lr=0.1),
    lambda ps: optim.RAdam(ps, lr=0.1, decoupled_weight_decay=True, weight_decay=0.01),
    lambda ps: optim.ASGD(ps, lr=0.1, t0=1),
    lambda ps: optim.Rprop(ps, lr=0.1),
], ids=["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "radam",
        "asgd", "rprop"])
def test_float32_parameters_and_state_stay_float32(make):
    p = param(np.linspace(-1, 1, 6).reshape(2, 3), dtype=np.float32)
    opt = make([p])
    for _ in range(3):
        opt.zero_grad()
        (p * p * p).sum().backward()
        opt.step()
    assert p.dtype == np.float32
    for value in opt.state[p].values():
        if hasattr(value, "dtype"):
            assert value.dtype == np.float32


def test_state_lives_on_the_parameters_device():
    from tinydl.testing import standin

    standin.register()
    p = tinydl.nn.Parameter(tinydl.tensor([1.0, 2.0]).to("standin").data)
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    (p * p).sum().backward()
    opt.step()
    for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
        assert isinstance(opt.state[p][key], standin.StandInArray)
    np.testing.assert_allclose(p.numpy(), [0.9, 1.9], atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adagrad(ps, lr=0.1, weight_decay=0.1),
    lambda ps: optim.Adadelta(ps),
    lambda ps: optim.Adamax(ps),
    lambda ps: optim.NAdam(ps, decoupled_weight_decay=True, weight_decay=0.1),
    lambda ps: optim.RAdam(ps),
    lambda ps: optim.ASGD(ps, t0=0),
    lambda ps: optim.Rprop(ps),
    lambda ps: optim.LBFGS(ps, line_search_fn="strong_wolfe"),
], ids=["adagrad", "adadelta", "adamax", "nadam", "radam", "asgd", "rprop", "lbfgs"])
def test_new_optimizers_run_on_the_stand_in_device(make):
    """No direct NumPy call in an update: state and steps stay on the parameter's device."""
    from tinydl.testing import standin

    standin.register()
    p = tinydl.nn.Parameter(tinydl.tensor([1.0, 2.0]).to("standin").data)
    opt = make([p])

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert isinstance(p.data, standin.StandInArray)
    assert p.numpy()[0] < 1.0  # it moved downhill
    for value in opt.state[p].values():
        if hasattr(value, "shape") and value.shape:
            assert isinstance(value, standin.StandInArray)


def test_optimizer_errors():
    p = param([1.0])
    with pytest.raises(ValueError, match="SGD: got an empty list of parameters"):
        optim.SGD([], lr=0.1)
    assert optim.SGD([p]).param_groups[0]["lr"] == 1e-3  # PyTorch 2's default
    with pytest.raises(ValueError, match=r"SGD: lr must be a number >= 0.0, got -0.1"):
        optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0 and dampening = 0"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"Adam: betas\[1\] must be a number >= 0.0 and < 1.0"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="a parameter appears twice"):
        optim.Adam([p, p])
    with pytest.raises(ValueError, match="a parameter appears twice"):
        optim.Adam([{"params": [p]}, {"params": [p]}])
    with pytest.raises(TypeError, match="not a set"):
        optim.Adam({p})
    with pytest.raises(ValueError, match=r"cannot optimize a tensor of shape \(1,\) that an op"):
        optim.Adam([p * 2])
    with pytest.raises(DTypeError, match="can only optimize floating tensors"):
        optim.Adam([tinydl.tensor([1, 2])])


# ---------------------------------------------------------------------------------------------
# state_dict
# ---------------------------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.01, lr_decay=0.01),
    "adadelta": lambda ps: optim.Adadelta(ps),
    "adamax": lambda ps: optim.Adamax(ps),
    "nadam": lambda ps: optim.NAdam(ps, weight_decay=1e-3),
    "radam": lambda ps: optim.RAdam(ps),
    "asgd": lambda ps: optim.ASGD(ps, t0=3),
    "rprop": lambda ps: optim.Rprop(ps),
}


def _problem(seed=0, dtype=np.float64):
    """Data and initial parameters of a small MLP regression: 3 -> 4 (tanh) -> 2."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2))
    init = [rng.standard_normal((3, 4)) * 0.5, rng.standard_normal(4) * 0.1,
            rng.standard_normal((4, 2)) * 0.5, rng.standard_normal(2) * 0.1]
    return x.astype(dtype), y.astype(dtype), [a.astype(dtype) for a in init]


def _tinydl_loss(params, x, y):
    w1, b1, w2, b2 = params
    out = (x @ w1 + b1).tanh() @ w2 + b2
    return ((out - y) ** 2).mean()


def _tinydl_train(opt, params, x, y, steps, sign=1.0):
    x, y = tinydl.tensor(x, dtype=x.dtype), tinydl.tensor(y, dtype=y.dtype)
    for _ in range(steps):
        opt.zero_grad()
        (_tinydl_loss(params, x, y) * sign).backward()
        opt.step()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_through_io_repeats_the_steps_bit_for_bit(name, tmp_path):
    x, y, init = _problem()
    params = [param(a) for a in init]
    opt = OPTIMIZERS[name](params)
    _tinydl_train(opt, params, x, y, steps=5)
    io.save({"params": [p.numpy() for p in params], "optim": opt.state_dict()},
            tmp_path / "ckpt.npz")
    _tinydl_train(opt, params, x, y, steps=5)
    loaded = io.load(tmp_path / "ckpt.npz")
    resumed = [param(a) for a in loaded["params"]]
    resumed_opt = OPTIMIZERS[name](resumed)
    resumed_opt.load_state_dict(loaded["optim"])
    _tinydl_train(resumed_opt, resumed, x, y, steps=5)
    for a, b in zip(params, resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert resumed_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_state_dict_layout_and_independence():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad = tinydl.tensor(np.array([1.0, 1.0]), dtype=np.float64)
    opt.step()
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert state["param_groups"][1]["lr"] == 0.5
    assert state["param_groups"][0]["betas"] == (0.9, 0.999)
    assert list(state["state"]) == ["0"]  # b never had a gradient, so no state
    assert state["state"]["0"]["step"] == 1
    assert isinstance(state["state"]["0"]["exp_avg"], np.ndarray)
    saved = state["state"]["0"]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(state["state"]["0"]["exp_avg"], saved)  # a copy, not a view


def test_load_state_dict_errors():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = tinydl.tensor(np.array([1.0, 1.0]), dtype=np.float64)
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="the saved state has 1 parameter groups, this optimizer "
                                         "has 2"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="group 0 has 1 parameters in the saved state and 2 here"):
        optim.SGD([a, b], lr=0.1).load_state_dict(saved)
    with pytest.raises(ShapeError, match=r"state 'momentum_buffer' has shape \(2,\) but its "
                                         r"parameter has shape \(1,\)"):
        optim.SGD([b], lr=0.1).load_state_dict(saved)


# ---------------------------------------------------------------------------------------------
# PyTorch as the oracle: 100 steps of a small MLP, every option combination, float64
# ---------------------------------------------------------------------------------------------


def _torch_train(torch, opt, params, x, y, steps, sign=1.0):
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        w1, b1, w2, b2 = params
        out = torch.tanh(x @ w1 + b1) @ w2 + b2
        (((out - y) ** 2).mean() * sign).backward()
        opt.step()


def _sgd_cases():
    cases = []
    for momentum in (0.0, 0.9):
        for dampening in (0.0, 0.3):
            for nesterov in (False, True):
                if nesterov and (momentum == 0 or dampening != 0):
                    continue
                if momentum == 0 and dampening != 0:  # dampening only acts on momentum
                    continue
                for weight_decay in (0.0, 0.01):
                    for maximize in (False, True):
                        cases.append(dict(lr=0.05, momentum=momentum, dampening=dampening,
                                          nesterov=nesterov, weight_decay=weight_decay,
                                          maximize=maximize))
    return cases


def _adam_cases():
    return [dict(lr=0.01, betas=(0.8, 0.99), amsgrad=amsgrad, weight_decay=wd, maximize=maximize)
            for amsgrad in (False, True) for wd in (0.0, 0.05) for maximize in (False, True)]


def _rmsprop_cases():
    return [dict(lr=0.005, momentum=momentum, centered=centered, weight_decay=wd,
                 maximize=maximize)
            for momentum in (0.0, 0.5) for centered in (False, True) for wd in (0.0, 0.05)
            for maximize in (False, True)]


TORCH_CASES = ([("SGD", c) for c in _sgd_cases()] + [("Adam", c) for c in _adam_cases()]
               + [("AdamW", c) for c in _adam_cases()]
               + [("RMSprop", c) for c in _rmsprop_cases()])


def _breadth_cases():
    """The optimizers added for PyTorch breadth, each option on and off."""
    flags = [dict(weight_decay=wd, maximize=mx) for wd in (0.0, 0.05) for mx in (False, True)]
    cases = [("Adagrad", dict(lr=0.05, lr_decay=ld, initial_accumulator_value=iv, **f))
             for ld in (0.0, 0.01) for iv in (0.0, 0.1) for f in flags]
    cases += [("Adadelta", dict(lr=0.5, rho=0.8, **f)) for f in flags]
    cases += [("Adamax", dict(lr=0.01, betas=(0.8, 0.99), **f)) for f in flags]
    for name in ("NAdam", "RAdam"):
        cases += [(name, dict(lr=0.01, betas=(0.8, 0.99), decoupled_weight_decay=dec, **f))
                  for dec in (False, True) for f in flags]
    cases += [("NAdam", dict(lr=0.01, momentum_decay=0.01))]
    cases += [("ASGD", dict(lr=0.05, lambd=1e-3, alpha=0.7, t0=t0, **f))
              for t0 in (20.0, 1e6) for f in flags]
    cases += [("Rprop", dict(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-4, 0.5), maximize=mx))
              for mx in (False, True)]
    return cases


TORCH_CASES += _breadth_cases()


def _case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items() if k not in ("lr", "betas"))


@pytest.mark.torch
@pytest.mark.parametrize("case", TORCH_CASES, ids=[_case_id(c) for c in TORCH_CASES])
def test_100_steps_match_torch(torch, case):
    name, kwargs = case
    x, y, init = _problem(seed=1)
    # maximize=True climbs the negated loss, so both runs still descend the MSE
    sign = -1.0 if kwargs.get("maximize") else 1.0
    ours = [param(a) for a in init]
    our_opt = getattr(optim, name)(ours, **kwargs)
    _tinydl_train(our_opt, ours, x, y, steps=100, sign=sign)
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    # torch keeps scalar state (NAdam's mu_product, ASGD's eta and mu) in the default dtype:
    # float64 here, like the parameters, so the trajectories can agree to 1e-10
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        their_opt = getattr(torch.optim, name)(theirs, foreach=False, **kwargs)
        _torch_train(torch, their_opt, theirs, x, y, steps=100, sign=sign)
    finally:
        torch.set_default_dtype(default_dtype)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=1e-10)
    # the state agrees too, under the same names
    their_state = their_opt.state_dict()["state"]
    for index, state in our_opt.state_dict()["state"].items():
        for key, value in state.items():
            reference = their_state[int(index)][key]
            if key == "step":
                assert value == int(reference.item())
            elif value is not None:
                np.testing.assert_allclose(value, reference.numpy(), rtol=0, atol=1e-10)


@pytest.mark.torch
def test_param_groups_with_different_settings_match_torch(torch):
    x, y, init = _problem(seed=2)
    ours = [param(a) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]

    def groups(ps):
        return [{"params": ps[:2], "lr": 0.02}, {"params": ps[2:], "weight_decay": 0.1}]

    our_opt = optim.AdamW(groups(ours), lr=0.005, amsgrad=True)
    their_opt = torch.optim.AdamW(groups(theirs), lr=0.005, amsgrad=True, foreach=False)
    _tinydl_train(our_opt, ours, x, y, steps=50)
    _torch_train(torch, their_opt, theirs, x, y, steps=50)
    our_opt.param_groups[1]["lr"] = their_opt.param_groups[1]["lr"] = 0.05
    _tinydl_train(our_opt, ours, x, y, steps=50)
    _torch_train(torch, their_opt, theirs, x, y, steps=50)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=1e-10)


@pytest.mark.torch
def test_loads_a_torch_adam_state_dict(torch):
    """A PyTorch state_dict (tensors turned into NumPy, int keys) resumes in tinydl."""
    x, y, init = _problem(seed=3)
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    their_opt = torch.optim.Adam(theirs, lr=0.01, amsgrad=True, foreach=False)
    _torch_train(torch, their_opt, theirs, x, y, steps=10)
    saved = their_opt.state_dict()
    converted = {"state": {k: {name: v.numpy().copy() for name, v in s.items()}
                           for k, s in saved["state"].items()},
                 "param_groups": saved["param_groups"]}
    ours = [param(p.detach().numpy().copy()) for p in theirs]
    our_opt = optim.Adam(ours, lr=0.01, amsgrad=True)
    our_opt.load_state_dict(converted)
    _tinydl_train(our_opt, ours, x, y, steps=10)
    _torch_train(torch, their_opt, theirs, x, y, steps=10)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("history_size, line_search", [(3, None), (100, None),
                                                        (3, "strong_wolfe"),
                                                        (100, "strong_wolfe")])
def test_lbfgs_matches_torch(torch, history_size, line_search):
    x, y, init = _problem(seed=5)
    ours = [param(a) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    lr = 0.5 if line_search is None else 1.0
    our_opt = optim.LBFGS(ours, lr=lr, max_iter=7, history_size=history_size,
                          line_search_fn=line_search)
    their_opt = torch.optim.LBFGS(theirs, lr=lr, max_iter=7, history_size=history_size,
                                  line_search_fn=line_search)
    xt, yt = tinydl.tensor(x, dtype=x.dtype), tinydl.tensor(y, dtype=y.dtype)

    def our_closure():
        our_opt.zero_grad()
        loss = _tinydl_loss(ours, xt, yt)
        loss.backward()
        return loss

    def their_closure():
        their_opt.zero_grad()
        w1, b1, w2, b2 = theirs
        out = torch.tanh(torch.from_numpy(x) @ w1 + b1) @ w2 + b2
        loss = ((out - torch.from_numpy(y)) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(6):
        assert our_opt.step(our_closure).item() == pytest.approx(
            their_opt.step(their_closure).item(), rel=1e-9)
    # atol 1e-9: the two libraries' float64 products round differently, by CPU as well, and 42
    # quasi-Newton iterations amplify that (history 100, no line search: 1.1e-10 on an AVX2 CPU,
    # under 1e-10 on an AVX-512 one); an error in the method itself moves the weights by far more
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=0, atol=1e-9)
    assert our_opt.state[ours[0]]["func_evals"] == their_opt.state[theirs[0]]["func_evals"]


@pytest.mark.torch
@pytest.mark.parametrize("lr", [1.0, 0.01])  # 0.01: the search must grow the step first
def test_lbfgs_strong_wolfe_on_rosenbrock_matches_torch(torch, lr):
    """A curved valley: the line search brackets and zooms (and grows a small first step)."""
    results = []
    for lib in (tinydl, torch):
        p = lib.tensor(np.array([-1.5, 2.0]), dtype=lib.float64).requires_grad_()
        opt = lib.optim.LBFGS([p], lr=lr, max_iter=12, line_search_fn="strong_wolfe")

        def closure(opt=opt, p=p):
            opt.zero_grad()
            loss = (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
            loss.backward()
            return loss

        losses = [opt.step(closure).item() for _ in range(3)]
        results.append((losses, p.detach().numpy().copy(), opt.state[p]["func_evals"]))
    (our_losses, ours, our_evals), (their_losses, theirs, their_evals) = results
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-10)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    assert our_evals == their_evals and our_losses[-1] < our_losses[0]


# ---------------------------------------------------------------------------------------------
# Gradient clipping
# ---------------------------------------------------------------------------------------------


def _with_grads(*grads):
    params = []
    for g in grads:
        p = param(np.zeros(len(g)))
        p.grad = tinydl.tensor(np.asarray(g, dtype=np.float64), dtype=np.float64)
        params.append(p)
    return params


def test_clip_grad_norm_hand_worked():
    # joint vector [3, 4, 0]: 2-norm 5, so grads scale by 1 / (5 + 1e-6)
    params = _with_grads([3.0, 4.0], [0.0])
    total = clip_grad_norm_(params, max_norm=1.0)
    assert isinstance(total, float) and total == pytest.approx(5.0)
    np.testing.assert_allclose(params[0].grad.numpy(), [3 / (5 + 1e-6), 4 / (5 + 1e-6)])
    # inf-norm: the largest |entry| is 4; the 1-norm is 7
    assert clip_grad_norm_(_with_grads([3.0, -4.0]), 10.0, norm_type=math.inf) == 4.0
    assert clip_grad_norm_(_with_grads([3.0], [-4.0]), 10.0, norm_type=1) == 7.0


def test_clip_grad_norm_leaves_small_gradients_alone():
    params = _with_grads([0.3, 0.4])
    assert clip_grad_norm_(params, max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad.numpy(), [0.3, 0.4])
    assert clip_grad_norm_([param([1.0])], 1.0) == 0.0  # no gradients at all


def test_clip_grad_norm_keeps_float32_and_reports_non_finite():
    p = param([3.0, 4.0], dtype=np.float32)
    p.grad = tinydl.tensor([3.0, 4.0])
    clip_grad_norm_(p, 1.0)
    assert p.grad.dtype == np.float32
    with pytest.raises(RuntimeError, match="total 2.0-norm of the gradients is inf"):
        clip_grad_norm_(_with_grads([np.inf]), 1.0, error_if_nonfinite=True)


def test_clip_grad_value():
    params = _with_grads([-3.0, 0.5, 2.0])
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.numpy(), [-1.0, 0.5, 1.0])


@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_clip_grad_norm_matches_torch(torch, norm_type):
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ours = _with_grads(*[g.reshape(-1) for g in grads])
    theirs = [torch.zeros(g.size, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(theirs, grads):
        t.grad = torch.from_numpy(g.reshape(-1).copy())
    total = clip_grad_norm_(ours, 0.5, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type=norm_type)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
