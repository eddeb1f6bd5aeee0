"""Neural-network primitives: activations and (log-)softmax, each with a fused forward."""
from __future__ import annotations

import math
from typing import Any

from tinydl import backend
from tinydl.autograd import Context, Function, is_grad_enabled
from tinydl.backend import backend_of, get_array_module
from tinydl.errors import ShapeError
from tinydl.kernels import registry
from tinydl.ops.common import as_tensor, normalize_axes
from tinydl.ops.elementwise import erf
from tinydl.ops.linalg import matmul_arrays
from tinydl.tensor import Tensor


class ReLU(Function):
    """max(a, 0)"""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return _kernel("relu_forward", a)(a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        x = ctx.inputs[0].data
        if not is_grad_enabled() and grad.dtype == x.dtype:  # a kernel on arrays
            return Tensor._from_op(_kernel("relu_backward", x)(x, grad.data), None, 0)
        return grad * (x > 0).astype(grad.dtype)


class Sigmoid(Function):
    """1 / (1 + e^-a), computed as (tanh(a/2) + 1) / 2 so it never overflows"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        xp = get_array_module(a)
        return (xp.tanh(a * 0.5) + 1) * 0.5

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        out = ctx.output
        return grad * out * (1.0 - out)


class Tanh(Function):
    """hyperbolic tangent"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return get_array_module(a).tanh(a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        out = ctx.output
        return grad * (1.0 - out * out)


_TANH_GELU_C = math.sqrt(2.0 / math.pi)
_TANH_GELU_K = 0.044715


# The array formulas of GELU and of ReLU's backward: the readable references, registered as the
# "numpy" kernels (tinydl/kernels/activation.py has the Numba versions).

def gelu_forward_reference(x: Any, approximate: str = "none") -> Any:
    """GELU of x, elementwise ("none": exact with erf; "tanh": the tanh approximation)."""
    xp = get_array_module(x)
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(_TANH_GELU_C * (x + _TANH_GELU_K * x * x * x)))
    return 0.5 * x * (1 + backend.erf(xp, x / backend.SQRT_2))


def gelu_backward_reference(x: Any, grad: Any, approximate: str = "none") -> Any:
    """grad * gelu'(x), elementwise: Φ(x) + x φ(x), or the tanh formula's derivative."""
    xp = get_array_module(x)
    if approximate == "tanh":
        t = xp.tanh(_TANH_GELU_C * (x + _TANH_GELU_K * x * x * x))
        d_inner = _TANH_GELU_C * (1 + 3 * _TANH_GELU_K * x * x)
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
    cdf = 0.5 * (1 + backend.erf(xp, x / backend.SQRT_2))
    pdf = xp.exp(-0.5 * x * x) / backend.SQRT_2_PI
    return grad * (cdf + x * pdf)


def relu_forward_reference(x: Any) -> Any:
    """max(x, 0), elementwise (NaN stays NaN)."""
    return get_array_module(x).maximum(x, 0)


def relu_backward_reference(x: Any, grad: Any) -> Any:
    """grad where x > 0, else 0: ReLU's backward (a mask, a cast and a product)."""
    return grad * (x > 0).astype(grad.dtype)


registry.register("gelu_forward", "numpy", gelu_forward_reference)
registry.register("gelu_backward", "numpy", gelu_backward_reference)
registry.register("relu_forward", "numpy", relu_forward_reference)
registry.register("relu_backward", "numpy", relu_backward_reference)
_REFERENCES = {"gelu_forward": gelu_forward_reference, "gelu_backward": gelu_backward_reference,
               "relu_forward": relu_forward_reference, "relu_backward": relu_backward_reference}


# Below these sizes (elements) a kernel call's fixed cost (~6 µs) outweighs its saving, and the
# reference runs; measured on 2 cores, ReLU's backward at 8192 elements: reference 4.4 µs,
# Numba 7.6 µs. GELU's Numba kernels won at every size measured (4096 elements and up).
_SMALL_ARRAY = {"relu_forward": 16_384, "relu_backward": 16_384}


def _kernel(op_name: str, array: Any):
    """The registry's kernel for ``op_name`` on ``array``'s device (the reference for dtypes
    other than float32 and float64, which the Numba kernels do not take, and for arrays
    smaller than ``_SMALL_ARRAY[op_name]`` elements)."""
    if (array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8)
            or array.size < _SMALL_ARRAY.get(op_name, 0)):
        return _REFERENCES[op_name]
    return registry.get(op_name, backend_of(array).device_type)


class GELU(Function):
    """x·Φ(x) (exact, with erf) or its tanh approximation (GPT-2's "gelu_new").

    Forward and (unrecorded) backward are kernels on arrays (``gelu_forward_reference`` and
    ``gelu_backward_reference`` above, or their Numba versions); a recorded backward
    (create_graph=True) uses tinydl ops, so second derivatives work.
    """

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any, approximate: str = "none") -> Any:
        return _kernel("gelu_forward", a)(a, approximate)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        x = ctx.inputs[0]
        if not is_grad_enabled():
            dx = _kernel("gelu_backward", x.data)(x.data, grad.data, ctx.params["approximate"])
            return Tensor(dx, dtype=grad.dtype)
        if ctx.params["approximate"] == "tanh":
            inner = _TANH_GELU_C * (x + _TANH_GELU_K * x * x * x)
            t = inner.tanh()
            d_inner = _TANH_GELU_C * (1.0 + 3 * _TANH_GELU_K * x * x)
            return grad * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner)
        cdf = 0.5 * (1.0 + erf(x * (1.0 / backend.SQRT_2)))
        pdf = (x * x * -0.5).exp() * (1.0 / backend.SQRT_2_PI)
        return grad * (cdf + x * pdf)


class Softmax(Function):
    """exp(a) / sum(exp(a)) along ``axis``, shifted by the max (stable for ±1e4)"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any, axis: int = -1) -> Any:
        xp = get_array_module(a)
        shifted = xp.exp(a - xp.max(a, axis=axis, keepdims=True))
        return shifted / xp.sum(shifted, axis=axis, keepdims=True)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        out = ctx.output
        axis = ctx.params["axis"]
        ### BEGIN SOLUTION task 2.3
        # HINT: for s = softmax(a): da = s * (g - sum(g * s, axis, keepdims=True))
        return out * (grad - (grad * out).sum(axis, keepdims=True))
        ### END SOLUTION


class LogSoftmax(Function):
    """a - logsumexp(a) along ``axis`` (stable for ±1e4)"""

    promotion = "float"

    @staticmethod
    def forward(ctx: Context, a: Any, axis: int = -1) -> Any:
        xp = get_array_module(a)
        shifted = a - xp.max(a, axis=axis, keepdims=True)
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        axis = ctx.params["axis"]
        ### BEGIN SOLUTION task 2.3
        # HINT: for l = log_softmax(a): da = g - exp(l) * sum(g, axis, keepdims=True)
        return grad - ctx.output.exp() * grad.sum(axis, keepdims=True)
        ### END SOLUTION


class Linear(Function):
    """x @ weight^T + bias as one node: (..., in) -> (..., out).

    Its backward computes the weight gradient as grad^T @ x, a fresh contiguous (out, in)
    array, where the composed x @ weight.T would hand back a transposed view.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, weight: Any, bias: Any = None) -> Any:
        out = matmul_arrays(x, weight.T)                             # one GEMM over all rows
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        x, weight = ctx.inputs[0], ctx.inputs[1]
        needs = ctx.needs_input_grad
        ### BEGIN FASTER task 3.1
        if not is_grad_enabled():  # a plain backward builds no graph: same formulas, on arrays
            return _linear_backward_on_arrays(needs, x.data, weight.data, grad.data, len(ctx.inputs) == 3)
        ### END FASTER
        grad2 = grad.reshape(-1, weight.shape[0])                   # (N, out), N = all leading dims
        grad_x = grad_weight = grad_bias = None
        ### BEGIN SOLUTION task 3.1
        # HINT: dx = g @ W; dW = g^T @ x over all leading dims (use grad2); db = sum of g rows
        if needs[0]:
            grad_x = grad @ weight                                   # (..., in)
        if needs[1]:
            grad_weight = grad2.swapaxes(0, 1) @ x.reshape(-1, weight.shape[1])  # (out, in)
        if len(ctx.inputs) == 3 and needs[2]:
            grad_bias = grad2.sum(0)                                 # (out,)
        ### END SOLUTION
        if len(ctx.inputs) == 2:
            return grad_x, grad_weight
        return grad_x, grad_weight, grad_bias


### BEGIN FASTER task 3.1
def _linear_backward_on_arrays(needs: tuple, x: Any, weight: Any, grad: Any, has_bias: bool) -> tuple:
    """Linear.backward's formulas on the arrays: x (..., in), weight (out, in), grad (..., out).

    For a backward that records no graph (create_graph=False, nearly always): the five tinydl
    ops of the recorded version cost about a fifth of a small MLP's whole training step in
    Python overhead; here they are three array expressions.
    """
    xp = get_array_module(grad)
    grad_rows = grad.reshape(-1, weight.shape[0])                # (N, out)
    grad_x = matmul_arrays(grad, weight) if needs[0] else None  # (..., in)
    grad_weight = (xp.matmul(grad_rows.T, x.reshape(-1, weight.shape[1]))  # (out, in)
                   if needs[1] else None)
    grads = [grad_x, grad_weight]
    if has_bias:
        grads.append(grad_rows.sum(0) if needs[2] else None)     # (out,)
    return tuple(None if g is None else Tensor._from_op(g, None, 0) for g in grads)
### END FASTER


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight^T + bias. Shapes: x (..., in), weight (out, in), bias (out,) -> (..., out)."""
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape}: the input's last dim must equal in_features "
                         f"(weight.shape[1]); check the layer sizes")
    if bias is None:
        return Linear.apply(x, weight)
    if bias.shape != (weight.shape[0],):
        raise ShapeError(f"linear: bias of shape {bias.shape} does not fit weight of shape "
                         f"{weight.shape}; it must be (out_features,) = ({weight.shape[0]},)")
    return Linear.apply(x, weight, bias)


def relu(a: Tensor) -> Tensor:
    """max(a, 0), elementwise."""
    return ReLU.apply(as_tensor(a))


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + exp(-a)), elementwise."""
    return Sigmoid.apply(as_tensor(a))


def tanh(a: Tensor) -> Tensor:
    """tanh(a), elementwise."""
    return Tanh.apply(as_tensor(a))


def gelu(a: Tensor, approximate: str = "none") -> Tensor:
    """GELU: a·Φ(a); ``approximate="tanh"`` for the tanh formula (as in PyTorch)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(as_tensor(a), approximate=approximate)


def softmax(a: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Softmax along ``dim`` (``axis=`` too; default -1): positive, sums to 1 along it."""
    return _along_one_dim(Softmax, "softmax", a, dim, axis)


def log_softmax(a: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """log(softmax(a)) along ``dim`` (``axis=`` too; default -1), without overflow or log(0)."""
    return _along_one_dim(LogSoftmax, "log_softmax", a, dim, axis)


def _along_one_dim(fn: type, name: str, a: Any, dim: Any, axis: Any) -> Tensor:
    a = as_tensor(a)
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"{name}: give dim= or axis= (the same thing), not both")
    chosen = -1 if dim is None and axis is None else dim if dim is not None else axis
    axes = normalize_axes(chosen, a.ndim, name)
    if a.ndim == 0:  # a 0-d tensor is one row of one element (PyTorch accepts dim 0 or -1)
        return fn.apply(a.reshape(1), axis=0).reshape(())
    return fn.apply(a, axis=axes[0])
