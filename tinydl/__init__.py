"""tinydl: a deep-learning framework built from scratch on NumPy, small enough to read.

The names most programs need live here: ``Tensor`` and the ways to make one, the ops as
functions (``tinydl.exp(x)``, ``tinydl.matmul(a, b)``), gradient modes and ``manual_seed``.
Layers are in ``tinydl.nn``, optimizers in ``tinydl.optim``, data in ``tinydl.data``, and the
composite functions (softmax, conv2d, attention, ...) in ``tinydl.functional`` (import as F).
"""
from tinydl import _allocator  # keeps freed array memory: fewer page faults
from tinydl.tensor import Tensor
from tinydl.autograd import (Function, detect_anomaly, enable_grad, grad, inference_mode,
                             is_grad_enabled, no_grad, set_grad_enabled)
from tinydl.backend import Device, cuda_is_available, get_device, set_device
from tinydl.dtypes import (bool, bool_, double, float, float16, float32, float64, half, int,
                           int8, int16, int32, int64, long, short, uint8)
from tinydl.creation import (arange, eye, from_numpy, full, full_like, linspace, ones, ones_like,
                             rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros,
                             zeros_like)
from tinydl.errors import AnomalyError, DeviceError, DTypeError, GraphError, ShapeError, TinyDLError
from tinydl.ops.elementwise import abs, add, erf, exp, log, maximum, minimum, mul, neg, pow, sqrt, sub
from tinydl.ops.linalg import matmul
from tinydl.ops.nn import gelu, log_softmax, relu, sigmoid, softmax, tanh
from tinydl.ops.reduce import argmax, argmin, logsumexp, max, mean, min, std, sum_to, var
from tinydl.ops.shape import (broadcast_to, cat, chunk, clone, concatenate, flatten, movedim, pad,
                              permute, reshape, split, squeeze, stack, swapaxes, swapdims, t,
                              transpose, unsqueeze)
from tinydl.promotion import promote_types, result_type
from tinydl.random import Generator, get_rng_state, manual_seed, set_rng_state
from tinydl.serialization import load, save
from tinydl.threads import get_num_threads, set_num_threads

# ---- elementwise math, reductions and scans, selection, shape, linalg ---------------------------
from tinydl.creation import empty, empty_like, logspace, randint_like
from tinydl.ops.arrange import (atleast_1d, atleast_2d, broadcast_shapes, broadcast_tensors,
                                cartesian_prod, column_stack, diag, diag_embed, diagonal, flip,
                                fliplr, flipud, hstack, meshgrid, narrow, repeat_interleave, roll,
                                rot90, row_stack, select, take, tensor_split, tile, trace, tril,
                                triu, unbind, unflatten, vstack)
from tinydl.ops.bitwise import (bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or,
                                bitwise_right_shift, bitwise_xor, eq, ge, greater, greater_equal,
                                gt, le, less, less_equal, logical_and, logical_not, logical_or,
                                logical_xor, lt, ne, not_equal)
from tinydl.ops.einsum import einsum
from tinydl.ops.linalg import (addbmm, addmm, addmv, baddbmm, bmm, cross, det, dot, ger, inner,
                               kron, matrix_power, mm, mv, outer, tensordot, vdot)
from tinydl.ops.linalg import inv as inverse
from tinydl.ops.linalg import torch_norm as norm
from tinydl.ops.math import (acos, acosh, addcdiv, addcmul, allclose, arccos, arccosh, arcsin,
                             arcsinh, arctan, arctan2, arctanh, asin, asinh, atan, atan2, atanh,
                             ceil, clamp, clamp_max, clamp_min, copysign, cos, cosh, deg2rad, diff,
                             div, divide, equal, erfc, erfinv, exp2, expm1, fix, floor,
                             floor_divide, fmod, frac, hypot, isclose, isfinite, isinf, isnan,
                             isneginf, isposinf, isreal, lerp, log1p, log2, log10, logaddexp,
                             logaddexp2, logit, nan_to_num, rad2deg, reciprocal, remainder, round,
                             rsqrt, sgn, sign, signbit, sin, sinh, square, tan, true_divide, trunc,
                             xlogy)
from tinydl.ops.math import clamp as clip
from tinydl.ops.scan import cummax, cummin, cumprod, cumsum, logcumsumexp
from tinydl.ops.selection import (argsort, argwhere, bernoulli, bincount, bucketize, gather,
                                  histc, index_add, index_fill, index_select, kthvalue,
                                  masked_fill, masked_select, median, mode, msort, multinomial,
                                  nonzero, scatter, scatter_add, scatter_reduce, searchsorted, sort,
                                  take_along_dim, topk, unique, unique_consecutive, where)
from tinydl.ops.statistics import (all, amax, amin, aminmax, any, count_nonzero, nanmean, nansum,
                                   prod, std_mean, sum, var_mean)

# The subpackages come last: they import the names above. tinydl.cuda and tinydl.utils.data are
# PyTorch's paths (torch.cuda.is_available(), torch.utils.data.DataLoader).
from tinydl import cuda, data, functional, io, linalg, metrics, nn, optim, text, train, utils, viz

device = Device  # tinydl.device("cpu"), as torch.device
__version__ = "0.1.0"
