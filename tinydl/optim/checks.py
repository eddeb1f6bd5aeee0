"""Input checks shared by the optimizer updates: ``adam_update_`` and ``sgd_momentum_update_``
(and their one-call-per-group versions) run them once, before the kernel the registry picks
(the NumPy reference or a Numba loop)."""
import numpy as np

from tinydl.backend import backend_of, get_array_module

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_state(op, param, named_arrays):
    """Every state array must be a writable contiguous array shaped and typed like param."""
    dtype = getattr(param, "dtype", None)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{op}: param must be a float32 or float64 NumPy array, got "
            f"{getattr(param, 'dtype', type(param).__name__)}; convert it with "
            f".astype(np.float32)"
        )
    kind, shape = type(param), param.shape
    for name, array in (("param", param), *named_arrays):  # (once per tensor and step: one pass)
        if type(array) is not kind or array.shape != shape or array.dtype != dtype:
            raise ValueError(
                f"{op}: {name} must be a {dtype} array of shape {shape} like param, "
                f"got {getattr(array, 'dtype', type(array).__name__)} with shape "
                f"{getattr(array, 'shape', None)}"
            )
        flags = array.flags
        if not flags.c_contiguous:
            raise ValueError(
                f"{op}: {name} (shape {shape}) must be C-contiguous so the update can "
                f"run in place over its flat memory; create it with np.ascontiguousarray"
            )
        if name != "grad" and not getattr(flags, "writeable", True):
            raise ValueError(f"{op}: {name} is read-only, but the update writes into it")


def check_adam_hyper(op, step, lr, beta1, beta2, eps, weight_decay):
    if not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"{op}: step must be an int >= 1 (the 1-based step count), got {step!r}")
    if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
        raise ValueError(f"{op}: betas must lie in [0, 1), got beta1={beta1}, beta2={beta2}")
    if lr < 0 or eps < 0 or weight_decay < 0:
        raise ValueError(
            f"{op}: lr, eps and weight_decay must be >= 0, got lr={lr}, eps={eps}, "
            f"weight_decay={weight_decay}"
        )


def check_sgd_hyper(op, buf, lr, momentum, dampening, nesterov, weight_decay):
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


def fusable(pairs):
    """Whether a group's (parameter, gradient array) pairs can go through a one-call update:
    CPU float32 or float64 arrays of one dtype (anything else goes one parameter at a time)."""
    if not pairs:
        return False
    dtype = pairs[0][0].data.dtype
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        return False
    for param, grad in pairs:  # (a plain loop: this runs every step)
        data = param.data
        if data.dtype != dtype or grad.dtype != dtype or not (_on_cpu(data) and _on_cpu(grad)):
            return False
    return True


def _on_cpu(array):
    """Whether ``array`` lives in host memory (a NumPy array)."""
    return type(array) is np.ndarray or backend_of(array).device_type == "cpu"


def contiguous(grad):
    """The kernels walk flat memory; a transposed gradient view is copied first."""
    if grad.flags.c_contiguous:
        return grad
    return get_array_module(grad).ascontiguousarray(grad)
