"""Optimizer updates (the NumPy references in tinydl.optim, the Numba loops in tinydl.kernels):
vs plain formulas, vs torch.optim, Numba vs NumPy, in-place behaviour and errors."""

import math

import numpy as np
import pytest

from tinydl.kernels import optim as numba_optim
from tinydl.optim import adam, sgd

ADAM = {"reference": adam.adam_update_reference, "numba": numba_optim.adam_update_numba,
        "registry": adam.adam_update_}


def _sgd_one_tensor_through(multi_update):
    """A one-group update (sgd_multi_update_*) called with one tensor, in the signature of the
    one-tensor update, so the formula and torch tests run it too."""
    def update(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay, first_step):
        return multi_update([param], [grad], [buf], [first_step], lr, momentum, dampening,
                            nesterov, weight_decay)[0]
    return update


SGD = {"reference": sgd.sgd_momentum_update_reference,
       "numba": numba_optim.sgd_momentum_update_numba, "registry": sgd.sgd_momentum_update_,
       "multi reference": _sgd_one_tensor_through(sgd.sgd_multi_update_reference),
       "multi numba": _sgd_one_tensor_through(numba_optim.sgd_multi_update_numba)}

ADAM_CASES = {  # lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad
    "adam": (1e-2, 0.9, 0.999, 1e-8, 0.0, False, False),
    "adam_weight_decay": (3e-2, 0.8, 0.99, 1e-6, 0.1, False, False),
    "adamw": (1e-2, 0.9, 0.95, 1e-8, 0.05, True, False),
    "adam_amsgrad": (2e-2, 0.9, 0.999, 1e-8, 0.01, False, True),
    "adamw_amsgrad": (2e-2, 0.85, 0.9, 1e-7, 0.2, True, True),
}
SGD_CASES = {  # lr, momentum, dampening, nesterov, weight_decay
    "plain": (0.1, 0.0, 0.0, False, 0.0),
    "plain_weight_decay": (0.1, 0.0, 0.0, False, 0.01),
    "momentum": (0.05, 0.9, 0.0, False, 0.0),
    "momentum_dampening_decay": (0.05, 0.8, 0.3, False, 0.02),
    "nesterov": (0.05, 0.9, 0.0, True, 0.0),
    "nesterov_weight_decay": (0.05, 0.9, 0.0, True, 0.03),
}


def gradients(shape, steps=10, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


# ----------------------------------------------------------------------------- plain formulas

def adam_by_formula(param, grads, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad):
    """Adam/AdamW written out step by step (new arrays, no in-place tricks)."""
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    v_max = np.zeros_like(param)
    for t, grad in enumerate(grads, start=1):
        if decoupled:
            param = param * (1 - lr * weight_decay)
        else:
            grad = grad + weight_decay * param
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat = m / (1 - beta1**t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2**t)
        else:
            v_hat = v / (1 - beta2**t)
        param = param - lr * m_hat / (np.sqrt(v_hat) + eps)
    return param, m, v


def sgd_by_formula(param, grads, lr, momentum, dampening, nesterov, weight_decay):
    buf = None
    for grad in grads:
        grad = grad + weight_decay * param
        if momentum:
            buf = grad if buf is None else momentum * buf + (1 - dampening) * grad
            grad = grad + momentum * buf if nesterov else buf
        param = param - lr * grad
    return param, buf


def run_adam(update, param, grads, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad):
    param = param.copy()
    m, v = np.zeros_like(param), np.zeros_like(param)
    v_max = np.zeros_like(param) if amsgrad else None
    for step, grad in enumerate(grads, start=1):
        returned = update(param, grad, m, v, step, lr, beta1, beta2, eps, weight_decay,
                          decoupled, v_max)
        assert returned is param  # updated in place
    return param, m, v


def run_sgd(update, param, grads, lr, momentum, dampening, nesterov, weight_decay):
    param = param.copy()
    buf = np.zeros_like(param) if momentum else None
    for step, grad in enumerate(grads):
        returned = update(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay,
                          step == 0)
        assert returned is param
    return param, buf


@pytest.mark.parametrize("impl", ["reference", "numba", "registry"])
@pytest.mark.parametrize("case", list(ADAM_CASES))
def test_adam_matches_the_formula(impl, case):
    param = np.random.default_rng(1).standard_normal((7, 5))
    grads = gradients(param.shape)
    got = run_adam(ADAM[impl], param, grads, *ADAM_CASES[case])
    want = adam_by_formula(param, grads, *ADAM_CASES[case])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("impl", ["reference", "numba", "registry", "multi reference", "multi numba"])
@pytest.mark.parametrize("case", list(SGD_CASES))
def test_sgd_matches_the_formula(impl, case):
    param = np.random.default_rng(2).standard_normal(33)
    grads = gradients(param.shape, seed=3)
    got_param, got_buf = run_sgd(SGD[impl], param, grads, *SGD_CASES[case])
    want_param, want_buf = sgd_by_formula(param, grads, *SGD_CASES[case])
    np.testing.assert_allclose(got_param, want_param, rtol=1e-12, atol=1e-14)
    if want_buf is not None:
        np.testing.assert_allclose(got_buf, want_buf, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("path", ["numpy", "numba"])
def test_registry_dispatch_follows_tinydl_kernels(path, monkeypatch):
    if path == "numba":
        pytest.importorskip("numba")
    monkeypatch.setenv("TINYDL_KERNELS", path)
    param = np.random.default_rng(12).standard_normal(9)
    grads = gradients(param.shape, steps=3, seed=13)
    got = run_sgd(sgd.sgd_momentum_update_, param, grads, *SGD_CASES["nesterov_weight_decay"])
    want = sgd_by_formula(param, grads, *SGD_CASES["nesterov_weight_decay"])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)


def test_one_adam_step_by_hand():
    # Step 1 with zero state: m = (1-b1) g, v = (1-b2) g^2, so m_hat = g, v_hat = g^2 and the
    # step is lr * g / (|g| + eps) = lr * sign(g) when eps = 0.
    param = np.array([1.0, -2.0, 0.5])
    grad = np.array([0.3, -4.0, 2.0])
    m, v = np.zeros(3), np.zeros(3)
    adam.adam_update_reference(param, grad, m, v, 1, 0.1, 0.9, 0.999, 0.0, 0.0, False)
    np.testing.assert_allclose(param, [0.9, -1.9, 0.4], rtol=1e-14)
    np.testing.assert_allclose(m, [0.03, -0.4, 0.2], rtol=1e-14)
    np.testing.assert_allclose(v, [0.00009, 0.016, 0.004], rtol=1e-12)


@pytest.mark.parametrize("case", ["adam_weight_decay", "adamw_amsgrad"])
def test_numba_matches_reference_in_float32(case):
    param = np.random.default_rng(4).standard_normal(1000).astype(np.float32)
    grads = gradients(param.shape, seed=5, dtype=np.float32)
    got = run_adam(numba_optim.adam_update_numba, param, grads, *ADAM_CASES[case])
    want = run_adam(adam.adam_update_reference, param, grads, *ADAM_CASES[case])
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 * np.abs(w).max())


def test_sgd_numba_matches_reference_in_float32():
    param = np.random.default_rng(6).standard_normal(1000).astype(np.float32)
    grads = gradients(param.shape, seed=7, dtype=np.float32)
    got = run_sgd(numba_optim.sgd_momentum_update_numba, param, grads,
                  *SGD_CASES["nesterov_weight_decay"])
    want = run_sgd(sgd.sgd_momentum_update_reference, param, grads,
                   *SGD_CASES["nesterov_weight_decay"])
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_updates_leave_the_gradient_untouched(impl):
    param = np.ones(4)
    grad = np.array([1.0, 2.0, 3.0, 4.0])
    ADAM[impl](param, grad, np.zeros(4), np.zeros(4), 1, 0.1, 0.9, 0.999, 1e-8, 0.5, False)
    SGD[impl](param, grad, np.zeros(4), 0.1, 0.9, 0.0, True, 0.5, True)
    np.testing.assert_array_equal(grad, [1.0, 2.0, 3.0, 4.0])


# ----------------------------------------------------------------------------- torch.optim

@pytest.mark.torch
@pytest.mark.parametrize("impl", ["reference", "numba"])
@pytest.mark.parametrize("case", list(ADAM_CASES))
def test_adam_matches_torch_over_ten_steps(impl, case):
    torch = pytest.importorskip("torch")
    lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad = ADAM_CASES[case]
    param = np.random.default_rng(8).standard_normal((6, 4))
    grads = gradients(param.shape, seed=9)
    weight = torch.nn.Parameter(torch.from_numpy(param.copy()))
    torch_class = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizer = torch_class([weight], lr=lr, betas=(beta1, beta2), eps=eps,
                            weight_decay=weight_decay, amsgrad=amsgrad, foreach=False)
    for grad in grads:
        weight.grad = torch.from_numpy(grad.copy())
        optimizer.step()
    got_param, got_m, got_v = run_adam(ADAM[impl], param, grads, *ADAM_CASES[case])
    state = optimizer.state[weight]
    np.testing.assert_allclose(got_param, weight.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_m, state["exp_avg"].numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_v, state["exp_avg_sq"].numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize("impl", ["reference", "numba", "multi numba"])
@pytest.mark.parametrize("case", list(SGD_CASES))
def test_sgd_matches_torch_over_ten_steps(impl, case):
    torch = pytest.importorskip("torch")
    lr, momentum, dampening, nesterov, weight_decay = SGD_CASES[case]
    param = np.random.default_rng(10).standard_normal(12)
    grads = gradients(param.shape, seed=11)
    weight = torch.nn.Parameter(torch.from_numpy(param.copy()))
    optimizer = torch.optim.SGD([weight], lr=lr, momentum=momentum, dampening=dampening,
                                nesterov=nesterov, weight_decay=weight_decay, foreach=False)
    for grad in grads:
        weight.grad = torch.from_numpy(grad.copy())
        optimizer.step()
    got_param, got_buf = run_sgd(SGD[impl], param, grads, *SGD_CASES[case])
    np.testing.assert_allclose(got_param, weight.detach().numpy(), rtol=1e-12, atol=1e-14)
    if momentum:
        np.testing.assert_allclose(got_buf, optimizer.state[weight]["momentum_buffer"].numpy(),
                                   rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("path", ["numpy", "numba"])
def test_bad_state_raises_one_clear_error(path, monkeypatch):
    """The checks run before either kernel (the Numba loops trust their arguments)."""
    monkeypatch.setenv("TINYDL_KERNELS", path)
    adam, sgd = ADAM["registry"], SGD["registry"]
    param = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"adam_update_: exp_avg must be a float64 array of "
                                         r"shape \(4, 3\) like param, got float32 with shape "
                                         r"\(4, 3\)"):
        adam(param, param.copy(), np.zeros((4, 3), np.float32), param.copy(), 1, 0.1, 0.9,
             0.999, 1e-8, 0.0, False)
    with pytest.raises(ValueError, match=r"param \(shape \(4, 2\)\) must be C-contiguous"):
        strided = param[:, :2]
        adam(strided, strided.copy(), strided.copy(), strided.copy(), 1, 0.1, 0.9, 0.999, 1e-8,
             0.0, False)
    with pytest.raises(ValueError, match=r"step must be an int >= 1 \(the 1-based step count\), "
                                         r"got 0"):
        adam(param, param.copy(), param.copy(), param.copy(), 0, 0.1, 0.9, 0.999, 1e-8, 0.0,
             False)
    with pytest.raises(TypeError, match=r"param must be a float32 or float64 NumPy array, got "
                                        r"int64"):
        adam(np.zeros(3, np.int64), np.zeros(3), np.zeros(3), np.zeros(3), 1, 0.1, 0.9, 0.999,
             1e-8, 0.0, False)
    with pytest.raises(ValueError, match=r"sgd_momentum_update_: nesterov needs momentum > 0 "
                                         r"and dampening = 0, got momentum=0.0"):
        sgd(param, param.copy(), None, 0.1, 0.0, 0.0, True, 0.0, True)
    with pytest.raises(ValueError, match=r"momentum=0.9 needs a momentum buffer; pass "
                                         r"buf=np.zeros_like\(param\)"):
        sgd(param, param.copy(), None, 0.1, 0.9, 0.0, False, 0.0, True)


def test_bias_correction_uses_the_step_number():
    # After one update at step 100 (not 1) the bias corrections are almost 1, so the move is
    # lr * m / (sqrt(v) + eps) with m = (1-b1) g, v = (1-b2) g^2.
    param, grad = np.array([0.0]), np.array([2.0])
    adam.adam_update_reference(param, grad, np.zeros(1), np.zeros(1), 100, 1.0, 0.5, 0.5, 0.0,
                                0.0, False)
    expected = -(0.5 * 2.0 / (1 - 0.5**100)) / math.sqrt(0.5 * 4.0 / (1 - 0.5**100))
    np.testing.assert_allclose(param, [expected], rtol=1e-14)


# ----------------------------------------------------------------------------- fused Adam, all tensors

@pytest.mark.parametrize("case", ["adam", "adam_weight_decay", "adamw"])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_fused_adam_matches_the_reference_tensor_by_tensor(case, dtype, tol):
    pytest.importorskip("numba")
    lr, beta1, beta2, eps, weight_decay, decoupled, _ = ADAM_CASES[case]
    rng = np.random.default_rng(3)
    # sizes across the kernel's block boundary, a 0-d-like single element and an empty tensor
    shapes = [(numba_optim._BLOCK + 7,), (3, 5), (1,), (0,), (40, 41)]
    steps = [1, 4, 2, 1, 7]  # tensors may be at different steps (a frozen layer, say)
    state = {impl: [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(4)]
             for impl in ("fused", "reference")}
    state["reference"] = [[a.copy() for a in arrays] for arrays in state["fused"]]
    numba_optim.adam_multi_update_numba(*state["fused"][:3], [np.abs(a) for a in state["fused"][3]],
                                        steps, lr, beta1, beta2, eps, weight_decay, decoupled)
    adam.adam_multi_update_reference(*state["reference"][:3],
                                     [np.abs(a) for a in state["reference"][3]], steps, lr, beta1,
                                     beta2, eps, weight_decay, decoupled)
    for fused, reference in zip(state["fused"], state["reference"]):
        for a, b in zip(fused, reference):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_adam_step_makes_one_fused_call_per_group(monkeypatch):
    import tinydl
    from tinydl import nn, optim
    from tinydl.kernels import registry

    calls = []
    reference = adam.adam_multi_update_reference
    monkeypatch.setattr(registry, "get", lambda op, device="cpu": (
        (lambda *args: calls.append(len(args[0])) or reference(*args))
        if op == "adam_multi_update_" else registry._choose(op, device).fn))
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(tinydl.ones(2, 3)).sum().backward()
    opt.step()
    assert calls == [4]  # four parameters, one call
    assert all(opt.state[p]["step"] == 1 for p in model.parameters())


# ----------------------------------------------------------------------------- SGD, a whole group in one call

@pytest.mark.parametrize("case", list(SGD_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_sgd_matches_the_reference_tensor_by_tensor(case, dtype):
    pytest.importorskip("numba")
    lr, momentum, dampening, nesterov, weight_decay = SGD_CASES[case]
    rng = np.random.default_rng(4)
    # sizes across the kernel's block boundary, a single element and an empty tensor
    shapes = [(numba_optim._BLOCK + 7,), (3, 5), (1,), (0,), (40, 41)]
    first_steps = [True, False, True, False, False]  # buffers started at different steps
    arrays = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(3)]
    fused = [[a.copy() for a in group] for group in arrays]
    reference = [[a.copy() for a in group] for group in arrays]
    for state in (fused, reference):
        if not momentum:
            state[2] = [None] * len(shapes)
    numba_optim.sgd_multi_update_numba(*fused, first_steps, lr, momentum, dampening, nesterov,
                                       weight_decay)
    sgd.sgd_multi_update_reference(*reference, first_steps, lr, momentum, dampening, nesterov,
                                   weight_decay)
    for got_arrays, want_arrays in zip(fused, reference):
        for got, want in zip(got_arrays, want_arrays):
            if want is not None:
                np.testing.assert_array_equal(got, want)  # the same operations, in the same order
    moved = [not np.array_equal(p, a) for p, a in zip(fused[0], arrays[0]) if a.size]
    assert all(moved)


def _group_update_cases(sizes):
    """(kernel, numba version, reference, state arrays per tensor, the rest of the arguments)
    for the one-call-per-group Adam and SGD updates over tensors of ``sizes``."""
    count = len(sizes)
    return {
        "adam": (numba_optim._adam_multi_kernel, numba_optim.adam_multi_update_numba,
                 adam.adam_multi_update_reference, 4,
                 ([1 + k % 4 for k in range(count)], 1e-2, 0.9, 0.99, 1e-8, 0.1, True)),
        "sgd": (numba_optim._sgd_multi_kernel, numba_optim.sgd_multi_update_numba,
                sgd.sgd_multi_update_reference, 3,
                ([k % 2 == 0 for k in range(count)], 0.05, 0.9, 0.1, False, 0.01)),
    }


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("budget", [1, 2])
def test_group_update_over_more_tensors_than_one_kernel_call_takes(optimizer, budget, monkeypatch):
    # 37 tensors go through in chunks (the kernels take tuples of at most 16); with a budget of
    # 2 (and a threshold the chunks pass) they run on the parallel copy
    pytest.importorskip("numba")
    from tinydl import threads

    monkeypatch.setattr(threads, "_budget", budget)
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 100_000)
    sizes = [40_000 if k % 3 == 0 else k + 1 for k in range(37)]
    kernel, fused_update, reference_update, arrays, rest = _group_update_cases(sizes)[optimizer]
    rng = np.random.default_rng(5)
    fused = [[np.abs(rng.standard_normal(n)).astype(np.float32) for n in sizes] for _ in range(arrays)]
    reference = [[a.copy() for a in group] for group in fused]
    fused_update(*fused, *rest)
    reference_update(*reference, *rest)
    for fused_arrays, reference_arrays in zip(fused, reference):
        for a, b in zip(fused_arrays, reference_arrays):
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6)
    if budget == 2:
        assert True in kernel._dispatchers  # the parallel copy was used


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_step_makes_one_call_per_group_and_matches_the_one_tensor_path(momentum, monkeypatch):
    import tinydl
    from tinydl import nn, optim
    from tinydl.kernels import registry

    calls = []
    reference = sgd.sgd_multi_update_reference
    monkeypatch.setattr(registry, "get", lambda op, device="cpu": (
        (lambda *args: calls.append(len(args[0])) or reference(*args))
        if op == "sgd_multi_update_" else registry._choose(op, device).fn))

    def train(update_group):
        tinydl.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=momentum, weight_decay=0.01,
                        maximize=True)
        if update_group is not None:
            monkeypatch.setattr(opt, "_update_group", update_group.__get__(opt))
        for step in range(3):
            opt.zero_grad()
            model(tinydl.ones(2, 3) * (step + 1)).square().sum().backward()
            opt.step()
        return [p.numpy().copy() for p in model.parameters()], opt

    grouped, opt = train(None)
    assert calls == [4, 4, 4]  # four parameters, one call a step
    assert all(("momentum_buffer" in opt.state.get(p, {})) == bool(momentum)
               for p in opt.param_groups[0]["params"])
    one_by_one, _ = train(optim.Optimizer._update_group)  # the base class: one tensor at a time
    for got, want in zip(grouped, one_by_one):
        np.testing.assert_array_equal(got, want)


def test_sgd_step_over_a_group_names_a_bad_momentum_buffer():
    import tinydl
    from tinydl import nn, optim

    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(tinydl.ones(1, 3)).sum().backward()
    opt.step()
    opt.state[model.weight]["momentum_buffer"] = np.zeros((3, 3), np.float32)  # not the weight's shape
    with pytest.raises(ValueError, match=r"sgd_multi_update_: buf must be a float32 array of shape "
                                         r"\(2, 3\) like param, got float32 with shape \(3, 3\)"):
        opt.step()
