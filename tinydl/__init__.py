"""tinydl: a deep-learning framework built from scratch on NumPy, small enough to read.

The names most programs need live here: ``Tensor`` and the ways to make one, the ops as
functions (``tinydl.exp(x)``, ``tinydl.matmul(a, b)``), gradient modes and ``manual_seed``.
Layers are in ``tinydl.nn``, optimizers in ``tinydl.optim``, data in ``tinydl.data``, and the
composite functions (softmax, conv2d, attention, ...) in ``tinydl.functional`` (import as F).
"""
import numpy as _numpy

from tinydl import _allocator  # noqa: F401  (keeps freed array memory: fewer page faults)
from tinydl.tensor import Tensor
from tinydl.autograd import (Function, detect_anomaly, enable_grad, grad, inference_mode,
                             is_grad_enabled, no_grad, set_grad_enabled)
from tinydl.backend import Device, cuda_is_available, get_device, set_device
from tinydl.creation import (arange, eye, from_numpy, full, full_like, linspace, ones, ones_like,
                             rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros,
                             zeros_like)
from tinydl.errors import AnomalyError, DeviceError, DTypeError, GraphError, ShapeError, TinyDLError
from tinydl.ops.elementwise import (abs, add, clamp, clip, div, erf, exp, log, maximum, minimum,
                                    mul, neg, pow, sign, sqrt, sub, where)
from tinydl.ops.linalg import matmul
from tinydl.ops.nn import gelu, log_softmax, relu, sigmoid, softmax, tanh
from tinydl.ops.reduce import (amax, amin, argmax, argmin, logsumexp, max, mean, min, sort, std,
                               sum, sum_to, topk, var)
from tinydl.ops.shape import (broadcast_to, cat, chunk, clone, concatenate, flatten, movedim, pad,
                              permute, reshape, split, squeeze, stack, swapaxes, swapdims, t,
                              transpose, unsqueeze)
from tinydl.promotion import promote_types, result_type
from tinydl.random import Generator, get_rng_state, manual_seed, set_rng_state
from tinydl.serialization import load, save
from tinydl.threads import get_num_threads, set_num_threads

# dtypes under PyTorch's names (x.dtype == tinydl.float32 holds; pass them as dtype=...)
float16 = half = _numpy.dtype(_numpy.float16)
float32 = float = _numpy.dtype(_numpy.float32)  # noqa: A001 (PyTorch's names)
float64 = double = _numpy.dtype(_numpy.float64)
uint8 = _numpy.dtype(_numpy.uint8)
int8 = _numpy.dtype(_numpy.int8)
int16 = short = _numpy.dtype(_numpy.int16)
int32 = int = _numpy.dtype(_numpy.int32)  # noqa: A001
int64 = long = _numpy.dtype(_numpy.int64)
bool = bool_ = _numpy.dtype(_numpy.bool_)  # noqa: A001
device = Device  # tinydl.device("cpu"), as torch.device

__version__ = "0.1.0"

from tinydl import data, functional, io, metrics, nn, optim, text, train, viz  # noqa: E402  (they use the names above)
from tinydl import cuda, utils  # noqa: E402  (PyTorch's paths: tinydl.cuda, tinydl.utils.data)
