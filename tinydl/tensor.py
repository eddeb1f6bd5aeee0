"""Tensor: an array (NumPy or CuPy) plus what autograd needs to differentiate through it.

A Tensor holds ``data`` (an array of its device's array module), ``requires_grad``, and after
``backward()`` its gradient in ``grad``. Tensors made by an op also point to the graph node
(``_ctx``) that made them. Operators (``+ - * / ** @``, comparisons, indexing) call the ops in
``tinydl.ops``; each op is a ``Function`` with its forward and backward side by side.

dtype rules: floating data becomes float32 unless a dtype is given (float64 for gradcheck);
integer data stays integer (int64 for Python ints), bools stay bool. Operators follow
PyTorch's type promotion (``tinydl.promotion``): ``x * 2.0`` stays float32, ``int + 0.5`` and
``int / int`` give float32.

In-place methods (``add_``, ``-=``, ``x[i] = v``, ...) change the tensor's own array and bump
its version; ``autograd.modify_in_place`` holds the rules (PyTorch's).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy

from tinydl import backend
from tinydl.errors import DTypeError, GraphError, ShapeError

DEFAULT_FLOAT = numpy.float32


class _Size(int):
    """Number of elements, also callable like PyTorch's ``t.size()`` / ``t.size(dim)``."""

    def __new__(cls, count: int, shape: tuple):
        obj = super().__new__(cls, count)
        obj._shape = shape
        return obj

    def __call__(self, dim: int | None = None) -> Any:
        return self._shape if dim is None else self._shape[dim]


def _normalize_dtype(dtype: Any) -> Any:
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in ("float", "double", "long", "int", "bool"):
        dtype = {"float": "float32", "double": "float64", "long": "int64", "int": "int32",
                 "bool": "bool"}[dtype]
    return numpy.dtype(dtype)


def _to_array(data: Any, dtype: Any, device: Any) -> Any:
    """Turn an array-like into an array of the right dtype on the right device."""
    if isinstance(data, Tensor):
        array = data.data
    elif backend.get_array_module(data) is not numpy or isinstance(data, numpy.ndarray):
        array = data
    else:
        try:
            array = numpy.asarray(data)
        except ValueError:
            array = numpy.empty(0, dtype=object)
        if array.dtype == object:
            raise DTypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                             "(ragged lists or mixed types?); give a rectangular list of numbers")
    if dtype is not None:
        if array.dtype != dtype:
            array = array.astype(dtype)
    elif array.dtype.kind == "f" and array.dtype != DEFAULT_FLOAT and not isinstance(data, Tensor):
        array = array.astype(DEFAULT_FLOAT)
    elif array.dtype.kind in "iu" and not hasattr(data, "dtype"):
        array = array.astype(numpy.int64)
    if device is None and backend._default_device[0] is not None and isinstance(
            array, numpy.ndarray) and not isinstance(data, Tensor):
        device = backend._default_device[0]  # host data follows tinydl.set_device(...)
    if device is not None:
        array = backend.to_device(array, device)
    return array


class Tensor:
    """An n-dimensional array that records the operations on it for backpropagation.

    Args:
        data: array-like (nested lists, a number, a NumPy/CuPy array, another Tensor).
        dtype: e.g. ``tinydl.float64``; floats default to float32.
        requires_grad: track operations so ``backward()`` fills ``.grad``.
        device: "cpu" (default: where ``data`` is) or "cuda".
    """

    # NumPy arrays on the left of an operator defer to Tensor's reflected operators, so
    # ``numpy_array * tensor`` returns a Tensor instead of an array of Tensors.
    __array_ufunc__ = None

    # defaults shared by every tensor; an instance stores only what differs
    grad: Tensor | None = None
    _ctx = None          # the graph node (autograd.Context) that made this tensor
    _out_index = 0       # which output of that node this tensor is
    _retains_grad = False
    _post_accumulate_grad_hooks: list | None = None  # see register_post_accumulate_grad_hook
    name: str | None = None
    _version_cell: list | None = None  # [version, clock time of last change]; None: unchanged
    _base: Tensor | None = None      # the tensor whose memory (and version) this view shares
    _history: list | None = None       # graph states before recorded in-place changes

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False,
                 device: Any = None, name: str | None = None):
        self.data = _to_array(data, _normalize_dtype(dtype), device)
        self.requires_grad = False
        if name is not None:
            self.name = name
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_op(cls, array: Any, ctx: Any, index: int) -> Tensor:
        """Wrap an op's output array; ``ctx`` is its graph node (None when not recorded)."""
        tensor = object.__new__(Tensor)
        if not isinstance(array, backend._ARRAY_TYPES):  # a NumPy scalar (a whole reduction)
            array = (numpy.asarray(array) if isinstance(array, numpy.generic)
                     else backend.get_array_module(array).asarray(array))
        tensor.data = array
        if ctx is None:
            tensor.requires_grad = False
        else:
            tensor.requires_grad = True
            tensor._ctx = ctx
            if index:
                tensor._out_index = index
        return tensor

    # ---- description -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> _Size:
        """Number of elements; ``t.size()`` gives the shape as in PyTorch."""
        return _Size(self.data.size, self.data.shape)

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def device(self) -> backend.Device:
        return backend.device_of(self.data)

    @property
    def xp(self) -> Any:
        """The array module (numpy or cupy) this tensor's data belongs to."""
        owner = backend._BACKEND_BY_ARRAY_TYPE.get(type(self.data))  # (get_array_module, inlined)
        return backend.get_array_module(self.data) if owner is None else owner.xp

    @property
    def _version(self) -> int:
        """How many times this tensor's values were changed in place (PyTorch's name)."""
        return autograd._version(self)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        return self._ctx

    def __repr__(self) -> str:
        body = numpy.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(",
                                  precision=4)
        extras = []
        if self.dtype != DEFAULT_FLOAT and self.dtype.kind == "f":
            extras.append(f"dtype={self.dtype}")
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use (t).all() or (t).any()")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.kind not in "iu" or self.size != 1:
            raise TypeError("only integer tensors of one element can be used as an index")
        return int(self.item())

    __hash__ = object.__hash__

    # ---- conversion ----------------------------------------------------------------------------
    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python "
                             f"number, this one has shape {self.shape}")
        return backend.to_numpy(self.data).reshape(()).item()

    def numpy(self) -> numpy.ndarray:
        """The data as a NumPy array (shares memory on the CPU)."""
        return backend.to_numpy(self.data)

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no grad); in-place changes show in both."""
        detached = Tensor._from_op(self.data, None, 0)
        detached._base = self if self._base is None else self._base
        return detached

    def clone(self) -> Tensor:
        """A copy of the data that stays connected to the graph."""
        return ops.shape.clone(self)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Start (or stop) tracking gradients for this leaf tensor; returns it."""
        if requires_grad and self.dtype.kind not in "fc":
            raise DTypeError(f"requires_grad: only floating tensors can require gradients, this "
                             f"one is {self.dtype}; convert it first with .float() or .double()")
        if not requires_grad and self._ctx is not None:
            raise GraphError("requires_grad_(False): this tensor was made by an op; use "
                             ".detach() to cut it from the graph")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise GraphError("retain_grad: this tensor does not require grad")
        self._retains_grad = True
        if self._ctx is not None:
            self._ctx.retains_output_grad = True
        return self

    def register_post_accumulate_grad_hook(self, hook: Any) -> Any:
        """Call ``hook(self)`` during each backward once this leaf's ``.grad`` is complete.

        As in PyTorch: the hook sees the accumulated ``.grad`` (all contributions of this
        backward added), runs before backward returns, and its return value is ignored.
        Returns a handle; ``handle.remove()`` unregisters the hook. (DistributedDataParallel
        uses it to start averaging a bucket of gradients while backward is still running.)
        """
        return autograd.add_post_accumulate_grad_hook(self, hook)

    def zero_grad_(self) -> None:
        self.grad = None

    def to(self, target: Any) -> Tensor:
        """``t.to("cuda")`` moves to a device (differentiably); ``t.to(tinydl.float64)`` casts."""
        if isinstance(target, backend.Device) or backend.is_device_name(target):
            return ops.shape.to_device(self, target)
        return self.astype(target)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype`` (differentiable between float types)."""
        return ops.elementwise.cast(self, _normalize_dtype(dtype))

    type = astype

    def float(self) -> Tensor:
        return self.astype(numpy.float32)

    def double(self) -> Tensor:
        return self.astype(numpy.float64)

    def long(self) -> Tensor:
        return self.astype(numpy.int64)

    def int(self) -> Tensor:
        return self.astype(numpy.int32)

    def bool(self) -> Tensor:
        return self.astype(numpy.bool_)

    # ---- autograd ----------------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        """Backpropagate from this tensor, adding d(self)/d(leaf) into each leaf's ``.grad``.

        grad: the starting gradient, same shape as self (default 1 for a one-element tensor).
        retain_graph: keep the graph for another backward. create_graph: record the backward
        pass itself, for higher-order derivatives.
        """
        autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    # ---- arithmetic ----------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return ops.elementwise.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.elementwise.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.elementwise.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.elementwise.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.elementwise.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.elementwise.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.elementwise.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.elementwise.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.elementwise.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.elementwise.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.elementwise.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.elementwise.abs(self)

    # comparisons give bool tensors and are not differentiable
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.elementwise.compare(self, other, "eq")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.elementwise.compare(self, other, "ne")

    def __lt__(self, other: Any) -> Tensor:
        return ops.elementwise.compare(self, other, "lt")

    def __le__(self, other: Any) -> Tensor:
        return ops.elementwise.compare(self, other, "le")

    def __gt__(self, other: Any) -> Tensor:
        return ops.elementwise.compare(self, other, "gt")

    def __ge__(self, other: Any) -> Tensor:
        return ops.elementwise.compare(self, other, "ge")

    # ---- indexing ------------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Tensor:
        return ops.shape.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[index] = value`` in place; recorded (gradients flow) when value or t need them."""
        def direct(array: Any) -> None:
            ops.shape.assign_at(array, index, value.data if isinstance(value, Tensor) else value)

        autograd.modify_in_place(self, "setitem", lambda t: ops.shape.setitem(t, index, value),
                                 (value,), direct=direct, same_category=False)

    # ---- in-place methods: each changes this tensor and returns it --------------------------
    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """self += alpha * other, in place."""
        return autograd.modify_in_place(
            self, "add_", lambda t: t + (other if alpha == 1 else other * alpha), (other,))

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """self -= alpha * other, in place."""
        return autograd.modify_in_place(
            self, "sub_", lambda t: t - (other if alpha == 1 else other * alpha), (other,))

    def mul_(self, other: Any) -> Tensor:
        return autograd.modify_in_place(self, "mul_", lambda t: t * other, (other,))

    def div_(self, other: Any) -> Tensor:
        return autograd.modify_in_place(self, "div_", lambda t: t / other, (other,))

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return autograd.modify_in_place(self, "clamp_", lambda t: t.clamp(min, max))

    clip_ = clamp_

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """Set the elements where ``mask`` is true to ``value``, in place."""
        return autograd.modify_in_place(
            self, "masked_fill_", lambda t: ops.elementwise.where(mask, value, t), (value,),
            same_category=False)

    def copy_(self, source: Any) -> Tensor:
        """Copy ``source``'s values (broadcast, cast to self's dtype) into self."""
        return self._fill("copy_", source)

    def fill_(self, value: Any) -> Tensor:
        return self._fill("fill_", value)

    def zero_(self) -> Tensor:
        return self._fill("zero_", 0)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill with uniform samples from [a, b) drawn from tinydl's generator."""
        from tinydl.random import generator  # random imports tensor

        return self._fill("uniform_", generator().uniform(a, b, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with normal samples N(mean, std**2) drawn from tinydl's generator."""
        from tinydl.random import generator  # random imports tensor

        return self._fill("normal_", generator().normal(mean, std, self.shape))

    def _fill(self, op_name: str, value: Any) -> Tensor:
        """self[...] = value: the values before are gone, so is their gradient."""
        def direct(array: Any) -> None:
            source = value.data if isinstance(value, Tensor) else value
            if getattr(source, "ndim", 0) and backend.get_array_module(source) is not self.xp:
                source = backend.to_device(source, self.device)
            array[...] = source

        return autograd.modify_in_place(
            self, op_name, lambda t: ops.shape.setitem(t, Ellipsis, value), (value,),
            direct=direct, same_category=False)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    # ---- methods that mirror the ops (so x.exp() reads like PyTorch) ---------------------------
    def exp(self) -> Tensor:
        return ops.elementwise.exp(self)

    def log(self) -> Tensor:
        return ops.elementwise.log(self)

    def sqrt(self) -> Tensor:
        return ops.elementwise.sqrt(self)

    def abs(self) -> Tensor:
        return ops.elementwise.abs(self)

    def pow(self, exponent: Any) -> Tensor:
        return ops.elementwise.pow(self, exponent)

    def maximum(self, other: Any) -> Tensor:
        return ops.elementwise.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return ops.elementwise.minimum(self, other)

    def relu(self) -> Tensor:
        return ops.nn.relu(self)

    def sigmoid(self) -> Tensor:
        return ops.nn.sigmoid(self)

    def tanh(self) -> Tensor:
        return ops.nn.tanh(self)

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        return ops.nn.softmax(self, axis if dim is None else dim)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        return ops.nn.log_softmax(self, axis if dim is None else dim)

    def mean(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return ops.reduce.mean(self, axis, keepdims, **torch_names)

    def max(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Any:
        """The largest value; with an int ``dim``, the (values, indices) pair as in PyTorch."""
        return ops.reduce.max(self, axis, keepdims, **torch_names)

    def min(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Any:
        """The smallest value; with an int ``dim``, the (values, indices) pair as in PyTorch."""
        return ops.reduce.min(self, axis, keepdims, **torch_names)

    def var(self, axis: Any = None, keepdims: bool = False, correction: int = 1,
            **torch_names: Any) -> Tensor:
        return ops.reduce.var(self, axis, keepdims, correction, **torch_names)

    def std(self, axis: Any = None, keepdims: bool = False, correction: int = 1,
            **torch_names: Any) -> Tensor:
        return ops.reduce.std(self, axis, keepdims, correction, **torch_names)

    def logsumexp(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return ops.reduce.logsumexp(self, axis, keepdims, **torch_names)

    def argmax(self, axis: int | None = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return ops.reduce.argmax(self, axis, keepdims, **torch_names)

    def argmin(self, axis: int | None = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
        return ops.reduce.argmin(self, axis, keepdims, **torch_names)

    def reshape(self, *shape: Any) -> Tensor:
        return ops.shape.reshape(self, *shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return ops.shape.flatten(self, start_dim, end_dim)

    def transpose(self, *dims: Any) -> Tensor:
        """``t.transpose(d0, d1)`` swaps two dims (PyTorch, at any ndim); ``t.transpose()``
        reverses them and ``t.transpose((2, 0, 1))`` permutes (NumPy)."""
        return ops.shape.transpose(self, *dims)

    def permute(self, *dims: Any) -> Tensor:
        """Reorder all dims: (N, H, W, C).permute(0, 3, 1, 2) -> (N, C, H, W)."""
        return ops.shape.permute(self, *dims)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        return ops.shape.swapaxes(self, axis1, axis2)

    swapdims = swapaxes

    def movedim(self, source: Any, destination: Any) -> Tensor:
        return ops.shape.movedim(self, source, destination)

    def t(self) -> Tensor:
        """Transpose of a tensor with at most 2 dims (PyTorch's ``t()``)."""
        return ops.shape.t(self)

    @property
    def T(self) -> Tensor:  # NumPy's name
        """All dims reversed."""
        return ops.shape.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:  # PyTorch's name
        """The last two dims swapped (a batch of matrices transposed)."""
        if self.ndim < 2:
            raise ShapeError(f"mT: needs at least 2 dims, this tensor has shape {self.shape}")
        return ops.shape.swapaxes(self, -1, -2)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        return ops.shape.squeeze(self, axis if dim is None else dim)

    def unsqueeze(self, dim: int | None = None, *, axis: int | None = None) -> Tensor:
        return ops.shape.unsqueeze(self, dim, axis=axis)

    def broadcast_to(self, *shape: Any) -> Tensor:
        return ops.shape.broadcast_to(self, *shape)

    def split(self, split_size_or_sections: Any, axis: int = 0, *, dim: int | None = None) -> tuple:
        return ops.shape.split(self, split_size_or_sections, axis if dim is None else dim)

    def matmul(self, other: Any) -> Tensor:
        return ops.linalg.matmul(self, other)

    # ==== breadth: elementwise math, reductions and scans, selection, shape, linalg ============
    # (PyTorch's Tensor methods; each calls the function of the same name in tinydl.ops.*)

    # elementwise math (tinydl.ops.math, tinydl.ops.bitwise)
    def sin(self) -> Tensor:
        return ops.math.sin(self)

    def cos(self) -> Tensor:
        return ops.math.cos(self)

    def tan(self) -> Tensor:
        return ops.math.tan(self)

    def asin(self) -> Tensor:
        return ops.math.asin(self)

    def acos(self) -> Tensor:
        return ops.math.acos(self)

    def atan(self) -> Tensor:
        return ops.math.atan(self)

    arcsin, arccos, arctan = asin, acos, atan

    def atan2(self, other: Any) -> Tensor:
        return ops.math.atan2(self, other)

    arctan2 = atan2

    def sinh(self) -> Tensor:
        return ops.math.sinh(self)

    def cosh(self) -> Tensor:
        return ops.math.cosh(self)

    def asinh(self) -> Tensor:
        return ops.math.asinh(self)

    def acosh(self) -> Tensor:
        return ops.math.acosh(self)

    def atanh(self) -> Tensor:
        return ops.math.atanh(self)

    arcsinh, arccosh, arctanh = asinh, acosh, atanh

    def rsqrt(self) -> Tensor:
        return ops.math.rsqrt(self)

    def reciprocal(self) -> Tensor:
        return ops.math.reciprocal(self)

    def square(self) -> Tensor:
        return ops.math.square(self)

    def floor(self) -> Tensor:
        return ops.math.floor(self)

    def ceil(self) -> Tensor:
        return ops.math.ceil(self)

    def round(self, decimals: int = 0) -> Tensor:
        return ops.math.round(self, decimals=decimals)

    def trunc(self) -> Tensor:
        return ops.math.trunc(self)

    fix = trunc

    def frac(self) -> Tensor:
        return ops.math.frac(self)

    def sign(self) -> Tensor:
        return ops.math.sign(self)

    sgn = sign

    def log2(self) -> Tensor:
        return ops.math.log2(self)

    def log10(self) -> Tensor:
        return ops.math.log10(self)

    def log1p(self) -> Tensor:
        return ops.math.log1p(self)

    def expm1(self) -> Tensor:
        return ops.math.expm1(self)

    def exp2(self) -> Tensor:
        return ops.math.exp2(self)

    def erf(self) -> Tensor:
        return ops.elementwise.erf(self)

    def erfc(self) -> Tensor:
        return ops.math.erfc(self)

    def erfinv(self) -> Tensor:
        return ops.math.erfinv(self)

    def hypot(self, other: Any) -> Tensor:
        return ops.math.hypot(self, other)

    def logaddexp(self, other: Any) -> Tensor:
        return ops.math.logaddexp(self, other)

    def logaddexp2(self, other: Any) -> Tensor:
        return ops.math.logaddexp2(self, other)

    def lerp(self, end: Any, weight: Any) -> Tensor:
        return ops.math.lerp(self, end, weight)

    def copysign(self, other: Any) -> Tensor:
        return ops.math.copysign(self, other)

    def fmod(self, other: Any) -> Tensor:
        return ops.math.fmod(self, other)

    def remainder(self, other: Any) -> Tensor:
        return ops.math.remainder(self, other)

    def floor_divide(self, other: Any) -> Tensor:
        return ops.math.floor_divide(self, other)

    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return ops.elementwise.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return ops.elementwise.sub(self, other if alpha == 1 else other * alpha)

    subtract = sub

    def mul(self, other: Any) -> Tensor:
        return ops.elementwise.mul(self, other)

    multiply = mul

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return ops.math.div(self, other, rounding_mode=rounding_mode)

    divide = true_divide = div

    def neg(self) -> Tensor:
        return ops.elementwise.neg(self)

    negative = neg

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # PyTorch names
        return ops.math.clamp(self, min, max)

    clip = clamp

    def clamp_min(self, min: Any) -> Tensor:
        return ops.math.clamp(self, min=min)

    def clamp_max(self, max: Any) -> Tensor:
        return ops.math.clamp(self, max=max)

    def nan_to_num(self, nan: float = 0.0, posinf: Any = None, neginf: Any = None) -> Tensor:
        return ops.math.nan_to_num(self, nan, posinf, neginf)

    def isnan(self) -> Tensor:
        return ops.math.isnan(self)

    def isinf(self) -> Tensor:
        return ops.math.isinf(self)

    def isposinf(self) -> Tensor:
        return ops.math.isposinf(self)

    def isneginf(self) -> Tensor:
        return ops.math.isneginf(self)

    def isfinite(self) -> Tensor:
        return ops.math.isfinite(self)

    def isclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                equal_nan: bool = False) -> Tensor:
        return ops.math.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other: Any, rtol: float = 1e-5, atol: float = 1e-8,
                 equal_nan: bool = False) -> bool:
        return ops.math.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: Any) -> bool:
        return ops.math.equal(self, other)

    def eq(self, other: Any) -> Tensor:
        return ops.bitwise.eq(self, other)

    def ne(self, other: Any) -> Tensor:
        return ops.bitwise.ne(self, other)

    def lt(self, other: Any) -> Tensor:
        return ops.bitwise.lt(self, other)

    def le(self, other: Any) -> Tensor:
        return ops.bitwise.le(self, other)

    def gt(self, other: Any) -> Tensor:
        return ops.bitwise.gt(self, other)

    def ge(self, other: Any) -> Tensor:
        return ops.bitwise.ge(self, other)

    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

    def bitwise_and(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_and(self, other)

    def bitwise_or(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_or(self, other)

    def bitwise_xor(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_xor(self, other)

    def bitwise_not(self) -> Tensor:
        return ops.bitwise.bitwise_not(self)

    def bitwise_left_shift(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_right_shift(self, other)

    def logical_and(self, other: Any) -> Tensor:
        return ops.bitwise.logical_and(self, other)

    def logical_or(self, other: Any) -> Tensor:
        return ops.bitwise.logical_or(self, other)

    def logical_xor(self, other: Any) -> Tensor:
        return ops.bitwise.logical_xor(self, other)

    def logical_not(self) -> Tensor:
        return ops.bitwise.logical_not(self)

    # operators: & | ^ ~ << >> need integer or bool tensors; // and % as in Python
    __and__ = bitwise_and
    __or__ = bitwise_or
    __xor__ = bitwise_xor
    __invert__ = bitwise_not
    __lshift__ = bitwise_left_shift
    __rshift__ = bitwise_right_shift
    __floordiv__ = floor_divide
    __mod__ = remainder

    def __rand__(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_and(other, self)

    def __ror__(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_or(other, self)

    def __rxor__(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_xor(other, self)

    def __rlshift__(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_left_shift(other, self)

    def __rrshift__(self, other: Any) -> Tensor:
        return ops.bitwise.bitwise_right_shift(other, self)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.math.floor_divide(other, self)

    def __rmod__(self, other: Any) -> Tensor:
        return ops.math.remainder(other, self)

    def addcmul(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return ops.math.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return ops.math.addcdiv(self, tensor1, tensor2, value=value)

    def logit(self, eps: Any = None) -> Tensor:
        return ops.math.logit(self, eps)

    def xlogy(self, other: Any) -> Tensor:
        return ops.math.xlogy(self, other)

    def deg2rad(self) -> Tensor:
        return ops.math.deg2rad(self)

    def rad2deg(self) -> Tensor:
        return ops.math.rad2deg(self)

    def signbit(self) -> Tensor:
        return ops.math.signbit(self)

    def diff(self, n: int = 1, dim: int = -1, prepend: Any = None, append: Any = None) -> Tensor:
        return ops.math.diff(self, n, dim, prepend, append)

    # reductions and scans (tinydl.ops.statistics, tinydl.ops.scan)
    def sum(self, *args: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
        if not args and not kwargs and dtype is None and self.data.dtype.kind in "fc":
            return ops.reduce.Sum.apply(self, axes=None, keepdims=False)  # x.sum(): the op itself
        return ops.statistics.sum(self, *args, dtype=dtype, **kwargs)

    def prod(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return ops.statistics.prod(self, dim, keepdim, dtype=dtype)

    def nansum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return ops.statistics.nansum(self, dim, keepdim, dtype=dtype)

    def nanmean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return ops.statistics.nanmean(self, dim, keepdim, dtype=dtype)

    def any(self, dim: Any = None, keepdim: bool = False, **numpy_names: Any) -> Tensor:
        return ops.statistics.any(self, dim, keepdim, **numpy_names)

    def all(self, dim: Any = None, keepdim: bool = False, **numpy_names: Any) -> Tensor:
        return ops.statistics.all(self, dim, keepdim, **numpy_names)

    def amax(self, dim: Any = (), keepdim: bool = False, **numpy_names: Any) -> Tensor:
        return ops.statistics.amax(self, dim, keepdim, **numpy_names)

    def amin(self, dim: Any = (), keepdim: bool = False, **numpy_names: Any) -> Tensor:
        return ops.statistics.amin(self, dim, keepdim, **numpy_names)

    def aminmax(self, *, dim: Any = None, keepdim: bool = False) -> tuple:
        return ops.statistics.aminmax(self, dim=dim, keepdim=keepdim)

    def count_nonzero(self, dim: Any = None) -> Tensor:
        return ops.statistics.count_nonzero(self, dim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False,
             dtype: Any = None) -> Tensor:
        return ops.linalg.torch_norm(self, p, dim, keepdim, dtype)

    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        return ops.scan.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
        return ops.scan.cumprod(self, dim, dtype=dtype)

    def cummax(self, dim: int) -> tuple:
        return ops.scan.cummax(self, dim)

    def cummin(self, dim: int) -> tuple:
        return ops.scan.cummin(self, dim)

    def logcumsumexp(self, dim: int) -> Tensor:
        return ops.scan.logcumsumexp(self, dim)

    def median(self, dim: Any = None, keepdim: bool = False) -> Any:
        return ops.selection.median(self, dim, keepdim)

    def mode(self, dim: int = -1, keepdim: bool = False) -> tuple:
        return ops.selection.mode(self, dim, keepdim)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> tuple:
        return ops.selection.kthvalue(self, k, dim, keepdim)

    def bincount(self, weights: Any = None, minlength: int = 0) -> Tensor:
        return ops.selection.bincount(self, weights, minlength)

    def histc(self, bins: int = 100, min: Any = 0, max: Any = 0) -> Tensor:
        return ops.selection.histc(self, bins, min, max)

    # sorting and selection (tinydl.ops.selection)
    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False,
             **numpy_names: Any) -> tuple:
        return ops.selection.sort(self, dim, descending, stable, **numpy_names)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False,
                **numpy_names: Any) -> Tensor:
        return ops.selection.argsort(self, dim, descending, stable, **numpy_names)

    def msort(self) -> Tensor:
        return ops.selection.msort(self)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> tuple:
        return ops.selection.topk(self, k, dim, largest, sorted)

    def unique(self, sorted: bool = True, return_inverse: bool = False,
               return_counts: bool = False, dim: Any = None) -> Any:
        return ops.selection.unique(self, sorted, return_inverse, return_counts, dim)

    def unique_consecutive(self, return_inverse: bool = False, return_counts: bool = False) -> Any:
        return ops.selection.unique_consecutive(self, return_inverse, return_counts)

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        return ops.selection.nonzero(self, as_tuple=as_tuple)

    def argwhere(self) -> Tensor:
        return ops.selection.argwhere(self)

    def gather(self, dim: int, index: Any) -> Tensor:
        return ops.selection.gather(self, dim, index)

    def scatter(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                reduce: str | None = None) -> Tensor:
        return ops.selection.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index: Any, src: Tensor) -> Tensor:
        return ops.selection.scatter_add(self, dim, index, src)

    def scatter_reduce(self, dim: int, index: Any, src: Tensor, reduce: str, *,
                       include_self: bool = True) -> Tensor:
        return ops.selection.scatter_reduce(self, dim, index, src, reduce,
                                            include_self=include_self)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return ops.selection.index_select(self, dim, index)

    def index_add(self, dim: int, index: Any, source: Tensor, *, alpha: Any = 1) -> Tensor:
        return ops.selection.index_add(self, dim, index, source, alpha=alpha)

    def index_fill(self, dim: int, index: Any, value: Any) -> Tensor:
        return ops.selection.index_fill(self, dim, index, value)

    def take_along_dim(self, indices: Any, dim: Any = None) -> Tensor:
        return ops.selection.take_along_dim(self, indices, dim)

    def take(self, index: Any) -> Tensor:
        return ops.arrange.take(self, index)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return ops.selection.masked_fill(self, mask, value)

    def masked_select(self, mask: Any) -> Tensor:
        return ops.selection.masked_select(self, mask)

    def multinomial(self, num_samples: int, replacement: bool = False) -> Tensor:
        return ops.selection.multinomial(self, num_samples, replacement)

    def bernoulli(self, p: Any = None) -> Tensor:
        return ops.selection.bernoulli(self, p)

    # shape (tinydl.ops.arrange) and creation from an existing tensor
    def contiguous(self) -> Tensor:
        """The same tensor (tinydl's arrays are always usable as they are)."""
        return self

    def is_contiguous(self) -> bool:
        return True

    def view_as(self, other: Tensor) -> Tensor:
        return ops.shape.reshape(self, other.shape)

    reshape_as = view_as

    def expand(self, *sizes: Any) -> Tensor:
        sizes = ops.shape._shape_arg(sizes)
        lead = len(sizes) - self.ndim
        sizes = tuple(self.shape[i - lead] if n == -1 and i >= lead else n
                      for i, n in enumerate(sizes))
        return ops.shape.broadcast_to(self, sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return ops.shape.broadcast_to(self, other.shape)

    def type_as(self, other: Tensor) -> Tensor:
        return self.astype(other.dtype)

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        return ops.shape.chunk(self, chunks, dim)

    def tensor_split(self, indices_or_sections: Any, dim: int = 0) -> tuple:
        return ops.arrange.tensor_split(self, indices_or_sections, dim)

    def unbind(self, dim: int = 0) -> tuple:
        return ops.arrange.unbind(self, dim)

    def unflatten(self, dim: int, sizes: Any) -> Tensor:
        return ops.arrange.unflatten(self, dim, sizes)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        return ops.arrange.narrow(self, dim, start, length)

    def select(self, dim: int, index: int) -> Tensor:
        return ops.arrange.select(self, dim, index)

    def flip(self, *dims: Any) -> Tensor:
        return ops.arrange.flip(self, dims[0] if len(dims) == 1 else dims)

    def fliplr(self) -> Tensor:
        return ops.arrange.fliplr(self)

    def flipud(self) -> Tensor:
        return ops.arrange.flipud(self)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return ops.arrange.roll(self, shifts, dims)

    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> Tensor:
        return ops.arrange.rot90(self, k, dims)

    def repeat(self, *sizes: Any) -> Tensor:
        return ops.arrange.repeat(self, *sizes)

    def tile(self, *dims: Any) -> Tensor:
        return ops.arrange.tile(self, dims[0] if len(dims) == 1 and not isinstance(dims[0], int)
                                else dims)

    def repeat_interleave(self, repeats: Any, dim: Any = None, *,
                          output_size: Any = None) -> Tensor:
        return ops.arrange.repeat_interleave(self, repeats, dim)

    def tril(self, diagonal: int = 0) -> Tensor:
        return ops.arrange.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return ops.arrange.triu(self, diagonal)

    def diag(self, diagonal: int = 0) -> Tensor:
        return ops.arrange.diag(self, diagonal)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        return ops.arrange.diagonal(self, offset, dim1, dim2)

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        return ops.arrange.diag_embed(self, offset, dim1, dim2)

    def trace(self) -> Tensor:
        return ops.arrange.trace(self)

    def _new(self, values: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
        made = Tensor(values, dtype=self.dtype if dtype is None else dtype,
                      device=self.device if device is None else device)
        return made.requires_grad_(True) if requires_grad else made

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype and device (unless given)."""
        return self._new(numpy.zeros(ops.shape._shape_arg(size)), dtype, device, requires_grad)

    new_empty = new_zeros

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """Ones of ``size`` with this tensor's dtype and device (unless given)."""
        return self._new(numpy.ones(ops.shape._shape_arg(size)), dtype, device, requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """``fill_value`` everywhere in ``size``, with this tensor's dtype and device."""
        return self._new(numpy.full(tuple(size), fill_value), dtype, device, requires_grad)

    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None,
                   requires_grad: bool = False) -> Tensor:
        """A copy of ``data`` with this tensor's dtype and device (unless given)."""
        data = backend.as_numpy(data) if isinstance(data, Tensor) else numpy.array(data)
        return self._new(data, dtype, device, requires_grad)

    # linear algebra (tinydl.ops.linalg)
    def mm(self, mat2: Any) -> Tensor:
        return ops.linalg.mm(self, mat2)

    def bmm(self, mat2: Any) -> Tensor:
        return ops.linalg.bmm(self, mat2)

    def mv(self, vec: Any) -> Tensor:
        return ops.linalg.mv(self, vec)

    def dot(self, other: Any) -> Tensor:
        return ops.linalg.dot(self, other)

    def outer(self, vec2: Any) -> Tensor:
        return ops.linalg.outer(self, vec2)

    def inner(self, other: Any) -> Tensor:
        return ops.linalg.inner(self, other)

    def cross(self, other: Any, dim: Any = None) -> Tensor:
        return ops.linalg.cross(self, other, dim)

    def kron(self, other: Any) -> Tensor:
        return ops.linalg.kron(self, other)

    def addmm(self, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return ops.linalg.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return ops.linalg.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def det(self) -> Tensor:
        return ops.linalg.det(self)

    def inverse(self) -> Tensor:
        return ops.linalg.inv(self)

    def matrix_power(self, n: int) -> Tensor:
        return ops.linalg.matrix_power(self, n)

    # in-place versions (PyTorch's trailing underscore): each computes the out-of-place op and
    # writes it into this tensor through autograd.modify_in_place (version counter, graph rules)
    def _change(self, op_name: str, compute: Any, *operands: Any) -> Tensor:
        return autograd.modify_in_place(self, op_name, compute, operands, same_category=False)

    def scatter_(self, dim: int, index: Any, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Tensor:
        return self._change("scatter_", lambda t: ops.selection.scatter(
            t, dim, index, src, value=value, reduce=reduce), src)

    def scatter_add_(self, dim: int, index: Any, src: Tensor) -> Tensor:
        return self._change("scatter_add_",
                            lambda t: ops.selection.scatter_add(t, dim, index, src), src)

    def scatter_reduce_(self, dim: int, index: Any, src: Tensor, reduce: str, *,
                        include_self: bool = True) -> Tensor:
        return self._change("scatter_reduce_", lambda t: ops.selection.scatter_reduce(
            t, dim, index, src, reduce, include_self=include_self), src)

    def index_add_(self, dim: int, index: Any, source: Tensor, *, alpha: Any = 1) -> Tensor:
        return self._change("index_add_", lambda t: ops.selection.index_add(
            t, dim, index, source, alpha=alpha), source)

    def index_fill_(self, dim: int, index: Any, value: Any) -> Tensor:
        return self._change("index_fill_", lambda t: ops.selection.index_fill(t, dim, index, value),
                            value)

    def tril_(self, diagonal: int = 0) -> Tensor:
        return self._change("tril_", lambda t: ops.arrange.tril(t, diagonal))

    def triu_(self, diagonal: int = 0) -> Tensor:
        return self._change("triu_", lambda t: ops.arrange.triu(t, diagonal))

    def clamp_min_(self, min: Any) -> Tensor:
        return self._change("clamp_min_", lambda t: ops.math.clamp(t, min=min), min)

    def clamp_max_(self, max: Any) -> Tensor:
        return self._change("clamp_max_", lambda t: ops.math.clamp(t, max=max), max)

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        return self._change("lerp_", lambda t: ops.math.lerp(t, end, weight), end, weight)

    def addcmul_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return self._change("addcmul_", lambda t: ops.math.addcmul(t, tensor1, tensor2,
                                                                   value=value), tensor1, tensor2)

    def addcdiv_(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        return self._change("addcdiv_", lambda t: ops.math.addcdiv(t, tensor1, tensor2,
                                                                   value=value), tensor1, tensor2)

    def floor_(self) -> Tensor:
        return self._change("floor_", ops.math.floor)

    def ceil_(self) -> Tensor:
        return self._change("ceil_", ops.math.ceil)

    def round_(self, decimals: int = 0) -> Tensor:
        return self._change("round_", lambda t: ops.math.round(t, decimals=decimals))

    def trunc_(self) -> Tensor:
        return self._change("trunc_", ops.math.trunc)

    def abs_(self) -> Tensor:
        return self._change("abs_", ops.elementwise.abs)

    def neg_(self) -> Tensor:
        return self._change("neg_", ops.elementwise.neg)

    def exp_(self) -> Tensor:
        return self._change("exp_", ops.elementwise.exp)

    def log_(self) -> Tensor:
        return self._change("log_", ops.elementwise.log)

    def sqrt_(self) -> Tensor:
        return self._change("sqrt_", ops.elementwise.sqrt)

    def pow_(self, exponent: Any) -> Tensor:
        return self._change("pow_", lambda t: ops.elementwise.pow(t, exponent), exponent)

    def sin_(self) -> Tensor:
        return self._change("sin_", ops.math.sin)

    def cos_(self) -> Tensor:
        return self._change("cos_", ops.math.cos)

    def sigmoid_(self) -> Tensor:
        return self._change("sigmoid_", ops.nn.sigmoid)

    def tanh_(self) -> Tensor:
        return self._change("tanh_", ops.nn.tanh)

    def relu_(self) -> Tensor:
        return self._change("relu_", ops.nn.relu)

    # ==== end of the breadth block =============================================================


from tinydl import autograd, ops  # noqa: E402 (both need Tensor defined first)
