"""tinydl: a deep-learning framework built from scratch on NumPy, small enough to read.

The names most programs need live here: ``Tensor`` and the ways to make one, the ops as
functions (``tinydl.exp(x)``, ``tinydl.matmul(a, b)``), gradient modes and ``manual_seed``.
Layers are in ``tinydl.nn``, optimizers in ``tinydl.optim``, data in ``tinydl.data``, and the
composite functions (softmax, conv2d, attention, ...) in ``tinydl.functional`` (import as F).
"""
import numpy as _numpy

from tinydl import _allocator  # noqa: F401  (keeps freed array memory: fewer page faults)
from tinydl.tensor import Tensor
from tinydl.autograd import (Function, detect_anomaly, enable_grad, grad, is_grad_enabled,
                             no_grad, set_grad_enabled)
from tinydl.backend import Device, cuda_is_available, get_device, set_device
from tinydl.creation import (arange, eye, from_numpy, full, full_like, linspace, ones, ones_like,
                             rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros,
                             zeros_like)
from tinydl.errors import AnomalyError, DeviceError, DTypeError, GraphError, ShapeError, TinyDLError
from tinydl.ops.elementwise import (abs, add, clamp, clip, div, erf, exp, log, maximum, minimum,
                                    mul, neg, pow, sign, sqrt, sub, where)
from tinydl.ops.linalg import matmul
from tinydl.ops.nn import gelu, log_softmax, relu, sigmoid, softmax, tanh
from tinydl.ops.reduce import (argmax, argmin, logsumexp, max, mean, min, std, sum, sum_to,
                               var)
from tinydl.ops.shape import (broadcast_to, cat, chunk, concatenate, flatten, pad, permute,
                              reshape, split, squeeze, stack, swapaxes, transpose, unsqueeze)
from tinydl.random import get_rng_state, manual_seed, set_rng_state
from tinydl.threads import get_num_threads, set_num_threads

float16 = _numpy.float16
float32 = _numpy.float32
float64 = _numpy.float64
int32 = _numpy.int32
int64 = _numpy.int64
bool_ = _numpy.bool_
long = _numpy.int64

__version__ = "0.1.0"

from tinydl import data, functional, io, metrics, nn, optim, text, train, viz  # noqa: E402  (they use the names above)
