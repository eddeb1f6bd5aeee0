"""Numba versions of the optimizer updates, registered against the NumPy references.

The readable formulas are in ``tinydl/optim/adam.py`` (``adam_update_reference``,
``adam_multi_update_reference``) and ``tinydl/optim/sgd.py`` (``sgd_momentum_update_reference``,
``sgd_multi_update_reference``), registered there as the ``"numpy"`` kernels; PyTorch's
algorithms (torch.optim.Adam / AdamW / SGD). The loops here make one parallel pass over the
flat arrays, reading and writing each element once with no scratch arrays. The callers
(``adam_update_``, ``sgd_momentum_update_`` and the optimizers' one-call-per-group updates in
tinydl.optim) check the arguments first: float arrays of one shape and dtype, C-contiguous,
writable.
"""

import functools
import math

import numpy as np

from tinydl.kernels._jit import jit, numba_available
from tinydl.kernels.registry import register

prange = range  # compiled kernels see numba.prange here (see _jit.py)
# 1 as a float32: "1 - beta1" with an int 1 would make Numba compute in float64 (slower; a
# float64 parameter still computes in float64).
_ONE = np.float32(1)


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
            p = p * (_ONE - lr * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = exp_avg[n] + (_ONE - beta1) * (g - exp_avg[n])
        v = beta2 * exp_avg_sq[n] + (_ONE - beta2) * (g * g)
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


# ----------------------------------------------------------------------------- Adam, all parameters in one call

# Parameters are handed to the kernel as tuples of flat arrays, padded with empty arrays to a
# length in _TUPLE_SIZES: Numba compiles once per tuple length, so three lengths cover every
# model. A model with more tensors goes through in chunks of _TUPLE_SIZES[-1]: Numba's parallel
# compiler slows down steeply with the tuple's length (64 tensors: minutes; 128: it refuses).
# The work is cut into blocks of at most _BLOCK elements, (tensor, start, stop) rows, spread
# over the cores when there are enough of them.
_TUPLE_SIZES = (4, 8, 16)
_BLOCK = 16_384


### BEGIN FASTER task 3.4
@jit(parallel=True)
def _adam_multi_kernel(params, grads, exp_avgs, exp_avg_sqs, blocks, scalars, per_tensor):
    """One Adam step over every tensor; blocks (nb, 3) int64 rows (tensor, start, stop).

    scalars: [1 - beta1, beta2, 1 - beta2, eps, l2, decay] in the parameters' dtype, with
    l2 = weight_decay (Adam) or 0 and decay = 1 - lr weight_decay (AdamW) or 1, so one loop
    serves both. per_tensor (T, 2): step size lr / (1 - beta1^t) and sqrt(1 - beta2^t).
    """
    one_minus_beta1, beta2, one_minus_beta2 = scalars[0], scalars[1], scalars[2]
    eps, l2, decay = scalars[3], scalars[4], scalars[5]
    for b in prange(blocks.shape[0]):
        k, start, stop = blocks[b, 0], blocks[b, 1], blocks[b, 2]
        step_size, correction2_sqrt = per_tensor[k, 0], per_tensor[k, 1]
        p, g = params[k][start:stop], grads[k][start:stop]
        m, v = exp_avgs[k][start:stop], exp_avg_sqs[k][start:stop]
        for n in range(p.shape[0]):
            gn = g[n] + l2 * p[n]
            mn = m[n] + one_minus_beta1 * (gn - m[n])
            vn = beta2 * v[n] + one_minus_beta2 * (gn * gn)
            m[n] = mn
            v[n] = vn
            p[n] = p[n] * decay - step_size * (mn / (np.sqrt(vn) / correction2_sqrt + eps))
### END FASTER


def _padded(arrays, empty):
    """arrays as a tuple padded with ``empty`` to the next length in _TUPLE_SIZES."""
    size = next((n for n in _TUPLE_SIZES if n >= len(arrays)), len(arrays))
    return tuple(arrays) + (empty,) * (size - len(arrays))


@functools.lru_cache(maxsize=64)
def _blocks(sizes):
    """(nb, 3) int64 rows (tensor, start, stop) cutting tensors of ``sizes`` into _BLOCK pieces."""
    rows = [(k, start, min(size, start + _BLOCK))
            for k, size in enumerate(sizes) for start in range(0, size, _BLOCK)]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _in_tensor_chunks(kernel, flat_arrays, scalars, per_tensor):
    """kernel(*tuples, blocks, scalars, per_tensor[chunk]) over the tensors, _TUPLE_SIZES[-1] at
    a time: flat_arrays are lists of flat arrays of one dtype (the i-th of each belong
    together), handed over as tuples padded by _padded; per_tensor has one entry per tensor."""
    empty = np.empty(0, dtype=flat_arrays[0][0].dtype)
    chunk = _TUPLE_SIZES[-1]
    for first in range(0, len(flat_arrays[0]), chunk):
        pieces = [arrays[first:first + chunk] for arrays in flat_arrays]
        kernel(*(_padded(arrays, empty) for arrays in pieces),
               _blocks(tuple(array.size for array in pieces[0])), scalars, per_tensor[first:first + chunk])


### BEGIN FASTER task 3.4
def adam_multi_update_numba(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps,
                            weight_decay, decoupled):
    """``tinydl.optim.adam.adam_multi_update_reference`` as one Numba call over every tensor.

    params, grads, exp_avgs, exp_avg_sqs: lists of C-contiguous arrays of one float dtype
    (checked by the caller), updated in place; steps: each tensor's 1-based step number.
    """
    dtype = params[0].dtype
    flat = [[array.reshape(-1) for array in arrays] for arrays in (params, grads, exp_avgs,
                                                                  exp_avg_sqs)]
    scalars = np.array([1 - beta1, beta2, 1 - beta2, eps,
                        0.0 if decoupled else weight_decay,
                        1 - lr * weight_decay if decoupled else 1.0], dtype=dtype)

    def corrections(step):  # (step size, sqrt of the second moment's bias correction)
        return lr / (1 - beta1 ** step), math.sqrt(1 - beta2 ** step)

    if steps.count(steps[0]) == len(steps):  # the usual case: one step count, one row
        per_tensor = np.empty((len(steps), 2), dtype=dtype)
        per_tensor[:] = corrections(steps[0])
    else:
        per_tensor = np.array([corrections(step) for step in steps], dtype=dtype).reshape(-1, 2)
    _in_tensor_chunks(_adam_multi_kernel, flat, scalars, per_tensor)
    return params
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
                velocity = momentum * buf[n] + (_ONE - dampening) * g
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


# ----------------------------------------------------------------------------- SGD, all parameters in one call

### BEGIN FASTER task 3.3
@jit(parallel=True)
def _sgd_multi_kernel(params, grads, bufs, blocks, scalars, first_steps):
    """One SGD step over every tensor; blocks (nb, 3) int64 rows (tensor, start, stop).

    scalars: [lr, momentum, 1 - dampening, weight_decay, nesterov (1 or 0)] in the parameters'
    dtype; first_steps (T,) bool: the tensor's momentum buffer starts now (buf = g). With
    momentum 0 the bufs are not touched (the caller passes the params in their place).
    """
    lr, momentum, one_minus_dampening = scalars[0], scalars[1], scalars[2]
    weight_decay, nesterov = scalars[3], scalars[4] != 0
    for b in prange(blocks.shape[0]):
        k, start, stop = blocks[b, 0], blocks[b, 1], blocks[b, 2]
        p, g, buf = params[k], grads[k], bufs[k]
        first_step, decay = first_steps[k], weight_decay != 0
        if momentum == 0:  # plain SGD: no buffer to read or write
            for n in range(np.uint64(start), np.uint64(stop)):  # unsigned: no negative-index check
                gn = g[n] + weight_decay * p[n] if decay else g[n]
                p[n] = p[n] - lr * gn
        else:
            for n in range(np.uint64(start), np.uint64(stop)):
                gn = g[n] + weight_decay * p[n] if decay else g[n]
                velocity = gn if first_step else momentum * buf[n] + one_minus_dampening * gn
                buf[n] = velocity
                p[n] = p[n] - lr * (gn + momentum * velocity if nesterov else velocity)
### END FASTER


### BEGIN FASTER task 3.3
def sgd_multi_update_numba(params, grads, bufs, first_steps, lr, momentum, dampening, nesterov,
                           weight_decay):
    """``tinydl.optim.sgd.sgd_multi_update_reference`` as one Numba call over every tensor.

    params, grads, bufs (None entries when momentum = 0): lists of C-contiguous arrays of one
    float dtype (checked by the caller), updated in place; first_steps: one bool per tensor.
    """
    flat_params = [array.reshape(-1) for array in params]
    flat_grads = [array.reshape(-1) for array in grads]
    flat_bufs = [array.reshape(-1) for array in bufs] if momentum != 0 else flat_params
    scalars = np.array([lr, momentum, 1 - dampening, weight_decay, float(bool(nesterov))],
                       dtype=params[0].dtype)
    firsts = np.array([bool(first) for first in first_steps], dtype=np.bool_)
    _in_tensor_chunks(_sgd_multi_kernel, [flat_params, flat_grads, flat_bufs], scalars, firsts)
    return params
### END FASTER


### BEGIN FASTER task 3.4
register("adam_update_", "numba", adam_update_numba, available=numba_available, default=True)
### END FASTER
### BEGIN FASTER task 3.4
register("adam_multi_update_", "numba", adam_multi_update_numba, available=numba_available,
         default=True)
### END FASTER
### BEGIN FASTER task 3.3
register("sgd_momentum_update_", "numba", sgd_momentum_update_numba, available=numba_available,
         default=True)
### END FASTER
### BEGIN FASTER task 3.3
register("sgd_multi_update_", "numba", sgd_multi_update_numba, available=numba_available,
         default=True)
### END FASTER
