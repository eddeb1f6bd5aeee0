"""Numba versions of the optimizer updates, registered against the NumPy references.

The readable formulas are in ``tinydl/optim/adam.py`` (``adam_update_reference``) and
``tinydl/optim/sgd.py`` (``sgd_momentum_update_reference``), registered there as the
``"numpy"`` kernels; PyTorch's algorithms (torch.optim.Adam / AdamW / SGD). The loops here make
one parallel pass over the flat arrays, reading and writing each element once with no scratch
arrays. The callers (``adam_update_``, ``sgd_momentum_update_`` in tinydl.optim) check the
arguments first: float arrays of one shape and dtype, C-contiguous, writable.
"""

import math

import numpy as np

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)


# ----------------------------------------------------------------------------- Adam / AdamW

### BEGIN FASTER task 3.4
@jit(parallel=True)
def _adam_kernel(param, grad, exp_avg, exp_avg_sq, amsgrad_max, use_amsgrad, lr, beta1, beta2,
                 eps, weight_decay, decoupled, step_size, bias_correction2_sqrt):
    """Flat (n,) arrays; one pass: each element is read and written once."""
    for n in prange(param.shape[0]):
        p = param[n]
        g = grad[n]
        if decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = exp_avg[n] + (1 - beta1) * (g - exp_avg[n])
        v = beta2 * exp_avg_sq[n] + (1 - beta2) * (g * g)
        exp_avg[n] = m
        exp_avg_sq[n] = v
        if use_amsgrad:
            v = max(amsgrad_max[n], v)
            amsgrad_max[n] = v
        param[n] = p - step_size * (m / (np.sqrt(v) / bias_correction2_sqrt + eps))
### END FASTER


### BEGIN FASTER task 3.4
def adam_update_numba(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                      weight_decay, decoupled, amsgrad_max=None):
    """``tinydl.optim.adam.adam_update_reference`` as one parallel Numba pass (checked inputs)."""
    real = param.dtype.type  # hyperparameters in the parameter's dtype keep float32 math float32
    use_amsgrad = amsgrad_max is not None
    flat_max = amsgrad_max.reshape(-1) if use_amsgrad else param.reshape(-1)[:0]
    _adam_kernel(
        param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
        flat_max, use_amsgrad, real(lr), real(beta1), real(beta2), real(eps),
        real(weight_decay), bool(decoupled), real(lr / (1 - beta1 ** step)),
        real(math.sqrt(1 - beta2 ** step)))
    return param
### END FASTER


# ----------------------------------------------------------------------------- SGD

### BEGIN FASTER task 3.3
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
### END FASTER


### BEGIN FASTER task 3.3
def sgd_momentum_update_numba(param, grad, buf, lr, momentum, dampening, nesterov,
                              weight_decay, first_step):
    """``tinydl.optim.sgd.sgd_momentum_update_reference`` as one parallel Numba pass (checked
    inputs)."""
    real = param.dtype.type  # hyperparameters in the parameter's dtype keep float32 math float32
    flat_buf = buf.reshape(-1) if momentum != 0 else param.reshape(-1)[:0]
    _sgd_kernel(param.reshape(-1), grad.reshape(-1), flat_buf, real(lr), real(momentum),
                real(dampening), bool(nesterov), real(weight_decay), bool(first_step))
    return param
### END FASTER


### BEGIN FASTER task 3.4
register("adam_update_", "numba", adam_update_numba, available=numba_available, default=True)
### END FASTER
### BEGIN FASTER task 3.3
register("sgd_momentum_update_", "numba", sgd_momentum_update_numba, available=numba_available,
         default=True)
### END FASTER
