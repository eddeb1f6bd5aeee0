"""Fused, in-place optimizer updates on arrays (one parameter at a time).

The formulas are PyTorch's (torch.optim.Adam / AdamW / SGD, single-tensor path):

Adam / AdamW, step t >= 1 (decoupled=True is AdamW):
    AdamW:  param *= 1 - lr * weight_decay
    Adam:   g = grad + weight_decay * param          (else g = grad)
    exp_avg    += (1 - beta1) * (g - exp_avg)        (a lerp towards g)
    exp_avg_sq  = beta2 * exp_avg_sq + (1 - beta2) * g * g
    v = max(amsgrad_max, exp_avg_sq) stored back into amsgrad_max   (AMSGrad only, else exp_avg_sq)
    param -= lr / (1 - beta1**t) * exp_avg / (sqrt(v) / sqrt(1 - beta2**t) + eps)

SGD:
    g = grad + weight_decay * param
    momentum buffer: buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g
    step direction:  g + momentum * buf (nesterov), buf (momentum), g (momentum = 0)
    param -= lr * direction

Each update reads and writes every element once. The NumPy versions work in place with
``out=`` and use at most two scratch arrays of the parameter's size; the Numba versions make
a single parallel pass over the flat arrays with no scratch at all.
"""

import math

import numpy as np

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----------------------------------------------------------------------------- input checks

def _check_state(op, param, named_arrays):
    """Every state array must be a writable contiguous array shaped and typed like param."""
    if not isinstance(param, np.ndarray) or param.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{op}: param must be a float32 or float64 NumPy array, got "
            f"{getattr(param, 'dtype', type(param).__name__)}; convert it with "
            f".astype(np.float32)"
        )
    for name, array in (("param", param), *named_arrays):
        if not isinstance(array, np.ndarray) or array.shape != param.shape \
                or array.dtype != param.dtype:
            raise ValueError(
                f"{op}: {name} must be a {param.dtype} array of shape {param.shape} like param, "
                f"got {getattr(array, 'dtype', type(array).__name__)} with shape "
                f"{getattr(array, 'shape', None)}"
            )
        if not array.flags.c_contiguous:
            raise ValueError(
                f"{op}: {name} (shape {array.shape}) must be C-contiguous so the update can "
                f"run in place over its flat memory; create it with np.ascontiguousarray"
            )
    for name, array in (("param", param), *named_arrays):
        if name != "grad" and not array.flags.writeable:
            raise ValueError(f"{op}: {name} is read-only, but the update writes into it")


def _check_adam_hyper(op, step, lr, beta1, beta2, eps, weight_decay):
    if not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"{op}: step must be an int >= 1 (the 1-based step count), got {step!r}")
    if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
        raise ValueError(f"{op}: betas must lie in [0, 1), got beta1={beta1}, beta2={beta2}")
    if lr < 0 or eps < 0 or weight_decay < 0:
        raise ValueError(
            f"{op}: lr, eps and weight_decay must be >= 0, got lr={lr}, eps={eps}, "
            f"weight_decay={weight_decay}"
        )


def _check_sgd_hyper(op, buf, lr, momentum, dampening, nesterov, weight_decay):
    if lr < 0 or momentum < 0 or weight_decay < 0:
        raise ValueError(
            f"{op}: lr, momentum and weight_decay must be >= 0, got lr={lr}, "
            f"momentum={momentum}, weight_decay={weight_decay}"
        )
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"{op}: nesterov needs momentum > 0 and dampening = 0, got momentum={momentum}, "
            f"dampening={dampening}"
        )
    if momentum != 0 and buf is None:
        raise ValueError(
            f"{op}: momentum={momentum} needs a momentum buffer; pass buf=np.zeros_like(param) "
            f"and first_step=True on the first step"
        )


# ----------------------------------------------------------------------------- Adam / AdamW

def adam_update_reference(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                          weight_decay, decoupled, amsgrad_max=None):
    """One Adam (decoupled=False) or AdamW (decoupled=True) step, in place, with NumPy.

    param, grad, exp_avg, exp_avg_sq (and amsgrad_max for AMSGrad): arrays of one shape and
    dtype; param, exp_avg, exp_avg_sq and amsgrad_max are updated in place. step: the 1-based
    step number this update makes. Returns param.
    """
    op = "adam_update_"
    state = [("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)]
    if amsgrad_max is not None:
        state.append(("amsgrad_max", amsgrad_max))
    _check_state(op, param, state)
    _check_adam_hyper(op, step, lr, beta1, beta2, eps, weight_decay)
    scratch = np.empty_like(param)
    if weight_decay != 0 and decoupled:
        param *= 1 - lr * weight_decay
    g = grad
    if weight_decay != 0 and not decoupled:
        g = np.multiply(param, weight_decay)  # second scratch array: grad itself stays unchanged
        g += grad
    # exp_avg += (1 - beta1) * (g - exp_avg)
    np.subtract(g, exp_avg, out=scratch)
    scratch *= 1 - beta1
    exp_avg += scratch
    # exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
    exp_avg_sq *= beta2
    np.multiply(g, g, out=scratch)
    scratch *= 1 - beta2
    exp_avg_sq += scratch
    second_moment = exp_avg_sq
    if amsgrad_max is not None:
        np.maximum(amsgrad_max, exp_avg_sq, out=amsgrad_max)
        second_moment = amsgrad_max
    # param -= step_size * exp_avg / (sqrt(second_moment) / sqrt(bias_correction2) + eps)
    step_size = lr / (1 - beta1 ** step)
    np.sqrt(second_moment, out=scratch)
    scratch /= math.sqrt(1 - beta2 ** step)
    scratch += eps
    np.divide(exp_avg, scratch, out=scratch)
    scratch *= step_size
    param -= scratch
    return param


@jit(parallel=True)
def _adam_kernel(param, grad, exp_avg, exp_avg_sq, amsgrad_max, use_amsgrad, lr, beta1, beta2,
                 eps, weight_decay, decoupled, step_size, bias_correction2_sqrt):
    """Flat (n,) arrays; one pass: each element is read and written once."""
    for n in prange(param.shape[0]):
        p = param[n]
        g = grad[n]
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = exp_avg[n] + (1 - beta1) * (g - exp_avg[n])
        v = beta2 * exp_avg_sq[n] + (1 - beta2) * (g * g)
        exp_avg[n] = m
        exp_avg_sq[n] = v
        if use_amsgrad:
            v = max(amsgrad_max[n], v)
            amsgrad_max[n] = v
        param[n] = p - step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + eps))


def adam_update_numba(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                      weight_decay, decoupled, amsgrad_max=None):
    """``adam_update_reference`` as one parallel Numba pass; same arguments and results."""
    op = "adam_update_"
    state = [("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)]
    if amsgrad_max is not None:
        state.append(("amsgrad_max", amsgrad_max))
    _check_state(op, param, state)
    _check_adam_hyper(op, step, lr, beta1, beta2, eps, weight_decay)
    real = param.dtype.type  # hyperparameters in the parameter's dtype keep float32 math float32
    use_amsgrad = amsgrad_max is not None
    flat_max = amsgrad_max.reshape(-1) if use_amsgrad else param.reshape(-1)[:0]
    _adam_kernel(
        param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
        flat_max, use_amsgrad, real(lr), real(beta1), real(beta2), real(eps),
        real(weight_decay), bool(decoupled), real(lr / (1 - beta1 ** step)),
        real(math.sqrt(1 - beta2 ** step)))
    return param


# ----------------------------------------------------------------------------- SGD

def sgd_momentum_update_reference(param, grad, buf, lr, momentum, dampening, nesterov,
                                  weight_decay, first_step):
    """One SGD step (with optional momentum, dampening, Nesterov, weight decay), in place.

    param, grad, buf: arrays of one shape and dtype; buf is the momentum buffer (None when
    momentum = 0). On the first step (first_step=True) buf is overwritten with the gradient,
    as PyTorch creates the buffer then; afterwards it is updated in place. Returns param.
    """
    op = "sgd_momentum_update_"
    _check_sgd_hyper(op, buf, lr, momentum, dampening, nesterov, weight_decay)
    _check_state(op, param, [("grad", grad)] + ([("buf", buf)] if momentum != 0 else []))
    work = np.empty_like(param)  # scratch array
    g = grad
    if weight_decay != 0:  # g = grad + weight_decay * param
        g = np.multiply(param, weight_decay, out=work)
        g += grad
    direction = g
    if momentum != 0:
        if first_step:
            np.copyto(buf, g)
        elif dampening == 0:
            buf *= momentum
            buf += g
        else:  # buf = momentum * buf + (1 - dampening) * g; g is not needed afterwards
            buf *= momentum
            buf += np.multiply(g, 1 - dampening, out=work)
        if nesterov:  # direction = g + momentum * buf (dampening is 0, so g is intact)
            direction = np.multiply(buf, momentum, out=work if g is grad else None)
            direction += g
        else:
            direction = buf
    param -= np.multiply(direction, lr, out=work)
    return param


@jit(parallel=True)
def _sgd_kernel(param, grad, buf, lr, momentum, dampening, nesterov, weight_decay, first_step):
    """Flat (n,) arrays (buf empty when momentum = 0); one pass over the elements."""
    for n in prange(param.shape[0]):
        g = grad[n]
        if weight_decay != 0:
            g = g + weight_decay * param[n]
        if momentum != 0:
            if first_step:
                velocity = g
            else:
                velocity = momentum * buf[n] + (1 - dampening) * g
            buf[n] = velocity
            if nesterov:
                g = g + momentum * velocity
            else:
                g = velocity
        param[n] = param[n] - lr * g


def sgd_momentum_update_numba(param, grad, buf, lr, momentum, dampening, nesterov,
                              weight_decay, first_step):
    """``sgd_momentum_update_reference`` as one parallel Numba pass; same arguments and results."""
    op = "sgd_momentum_update_"
    _check_sgd_hyper(op, buf, lr, momentum, dampening, nesterov, weight_decay)
    _check_state(op, param, [("grad", grad)] + ([("buf", buf)] if momentum != 0 else []))
    real = param.dtype.type  # hyperparameters in the parameter's dtype keep float32 math float32
    flat_buf = buf.reshape(-1) if momentum != 0 else param.reshape(-1)[:0]
    _sgd_kernel(param.reshape(-1), grad.reshape(-1), flat_buf, real(lr), real(momentum),
                real(dampening), bool(nesterov), real(weight_decay), bool(first_step))
    return param


register("adam_update_", "numpy", adam_update_reference)
register("adam_update_", "numba", adam_update_numba, available=numba_available, default=True)
register("sgd_momentum_update_", "numpy", sgd_momentum_update_reference)
register("sgd_momentum_update_", "numba", sgd_momentum_update_numba, available=numba_available,
         default=True)
