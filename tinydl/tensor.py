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

from typing import Any, Iterator

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
    grad: "Tensor | None" = None
    _ctx = None          # the graph node (autograd.Context) that made this tensor
    _out_index = 0       # which output of that node this tensor is
    _retains_grad = False
    _post_accumulate_grad_hooks: list | None = None  # see register_post_accumulate_grad_hook
    name: str | None = None
    _version_cell: list | None = None  # [version, clock time of last change]; None: unchanged
    _base: "Tensor | None" = None      # the tensor whose memory (and version) this view shares
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
    def _from_op(cls, array: Any, ctx: Any, index: int) -> "Tensor":
        """Wrap an op's output array; ``ctx`` is its graph node (None when not recorded)."""
        tensor = object.__new__(Tensor)
        if not isinstance(array, backend._ARRAY_TYPES):
            array = backend.get_array_module(array).asarray(array)
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
        return backend.get_array_module(self.data)

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

    def __iter__(self) -> Iterator["Tensor"]:
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

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no grad); in-place changes show in both."""
        detached = Tensor._from_op(self.data, None, 0)
        detached._base = self if self._base is None else self._base
        return detached

    def clone(self) -> "Tensor":
        """A copy of the data that stays connected to the graph."""
        return ops.shape.clone(self)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Start (or stop) tracking gradients for this leaf tensor; returns it."""
        if requires_grad and self.dtype.kind not in "fc":
            raise DTypeError(f"requires_grad: only floating tensors can require gradients, this "
                             f"one is {self.dtype}; convert it first with .float() or .double()")
        if not requires_grad and self._ctx is not None:
            raise GraphError("requires_grad_(False): this tensor was made by an op; use "
                             ".detach() to cut it from the graph")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> "Tensor":
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

    def to(self, target: Any) -> "Tensor":
        """``t.to("cuda")`` moves to a device (differentiably); ``t.to(tinydl.float64)`` casts."""
        if isinstance(target, backend.Device) or backend.is_device_name(target):
            return ops.shape.to_device(self, target)
        return self.astype(target)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def astype(self, dtype: Any) -> "Tensor":
        """Cast to ``dtype`` (differentiable between float types)."""
        return ops.elementwise.cast(self, _normalize_dtype(dtype))

    type = astype

    def float(self) -> "Tensor":
        return self.astype(numpy.float32)

    def double(self) -> "Tensor":
        return self.astype(numpy.float64)

    def long(self) -> "Tensor":
        return self.astype(numpy.int64)

    def int(self) -> "Tensor":
        return self.astype(numpy.int32)

    def bool(self) -> "Tensor":
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
    def __add__(self, other: Any) -> "Tensor":
        return ops.elementwise.add(self, other)

    def __radd__(self, other: Any) -> "Tensor":
        return ops.elementwise.add(other, self)

    def __sub__(self, other: Any) -> "Tensor":
        return ops.elementwise.sub(self, other)

    def __rsub__(self, other: Any) -> "Tensor":
        return ops.elementwise.sub(other, self)

    def __mul__(self, other: Any) -> "Tensor":
        return ops.elementwise.mul(self, other)

    def __rmul__(self, other: Any) -> "Tensor":
        return ops.elementwise.mul(other, self)

    def __truediv__(self, other: Any) -> "Tensor":
        return ops.elementwise.div(self, other)

    def __rtruediv__(self, other: Any) -> "Tensor":
        return ops.elementwise.div(other, self)

    def __pow__(self, other: Any) -> "Tensor":
        return ops.elementwise.pow(self, other)

    def __rpow__(self, other: Any) -> "Tensor":
        return ops.elementwise.pow(other, self)

    def __matmul__(self, other: Any) -> "Tensor":
        return ops.linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> "Tensor":
        return ops.linalg.matmul(other, self)

    def __neg__(self) -> "Tensor":
        return ops.elementwise.neg(self)

    def __pos__(self) -> "Tensor":
        return self

    def __abs__(self) -> "Tensor":
        return ops.elementwise.abs(self)

    # comparisons give bool tensors and are not differentiable
    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return ops.elementwise.compare(self, other, "eq")

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return ops.elementwise.compare(self, other, "ne")

    def __lt__(self, other: Any) -> "Tensor":
        return ops.elementwise.compare(self, other, "lt")

    def __le__(self, other: Any) -> "Tensor":
        return ops.elementwise.compare(self, other, "le")

    def __gt__(self, other: Any) -> "Tensor":
        return ops.elementwise.compare(self, other, "gt")

    def __ge__(self, other: Any) -> "Tensor":
        return ops.elementwise.compare(self, other, "ge")

    def __invert__(self) -> "Tensor":
        return ops.elementwise.logical_not(self)

    def __and__(self, other: Any) -> "Tensor":
        return ops.elementwise.compare(self, other, "and")

    def __or__(self, other: Any) -> "Tensor":
        return ops.elementwise.compare(self, other, "or")

    # ---- indexing ------------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> "Tensor":
        return ops.shape.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[index] = value`` in place; recorded (gradients flow) when value or t need them."""
        def direct(array: Any) -> None:
            ops.shape.assign_at(array, index, value.data if isinstance(value, Tensor) else value)

        autograd.modify_in_place(self, "setitem", lambda t: ops.shape.setitem(t, index, value),
                                 (value,), direct=direct, same_category=False)

    # ---- in-place methods: each changes this tensor and returns it --------------------------
    def add_(self, other: Any, *, alpha: Any = 1) -> "Tensor":
        """self += alpha * other, in place."""
        return autograd.modify_in_place(
            self, "add_", lambda t: t + (other if alpha == 1 else other * alpha), (other,))

    def sub_(self, other: Any, *, alpha: Any = 1) -> "Tensor":
        """self -= alpha * other, in place."""
        return autograd.modify_in_place(
            self, "sub_", lambda t: t - (other if alpha == 1 else other * alpha), (other,))

    def mul_(self, other: Any) -> "Tensor":
        return autograd.modify_in_place(self, "mul_", lambda t: t * other, (other,))

    def div_(self, other: Any) -> "Tensor":
        return autograd.modify_in_place(self, "div_", lambda t: t / other, (other,))

    def clamp_(self, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002
        return autograd.modify_in_place(self, "clamp_", lambda t: t.clamp(min, max))

    clip_ = clamp_

    def masked_fill_(self, mask: Any, value: Any) -> "Tensor":
        """Set the elements where ``mask`` is true to ``value``, in place."""
        return autograd.modify_in_place(
            self, "masked_fill_", lambda t: ops.elementwise.where(mask, value, t), (value,),
            same_category=False)

    def copy_(self, source: Any) -> "Tensor":
        """Copy ``source``'s values (broadcast, cast to self's dtype) into self."""
        return self._fill("copy_", source)

    def fill_(self, value: Any) -> "Tensor":
        return self._fill("fill_", value)

    def zero_(self) -> "Tensor":
        return self._fill("zero_", 0)

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> "Tensor":
        """Fill with uniform samples from [a, b) drawn from tinydl's generator."""
        from tinydl.random import generator  # noqa: PLC0415 (random imports tensor)

        return self._fill("uniform_", generator().uniform(a, b, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> "Tensor":
        """Fill with normal samples N(mean, std**2) drawn from tinydl's generator."""
        from tinydl.random import generator  # noqa: PLC0415 (random imports tensor)

        return self._fill("normal_", generator().normal(mean, std, self.shape))

    def _fill(self, op_name: str, value: Any) -> "Tensor":
        """self[...] = value: the values before are gone, so is their gradient."""
        def direct(array: Any) -> None:
            source = value.data if isinstance(value, Tensor) else value
            if getattr(source, "ndim", 0) and backend.get_array_module(source) is not self.xp:
                source = backend.to_device(source, self.device)
            array[...] = source

        return autograd.modify_in_place(
            self, op_name, lambda t: ops.shape.setitem(t, Ellipsis, value), (value,),
            direct=direct, same_category=False)

    def __iadd__(self, other: Any) -> "Tensor":
        return self.add_(other)

    def __isub__(self, other: Any) -> "Tensor":
        return self.sub_(other)

    def __imul__(self, other: Any) -> "Tensor":
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> "Tensor":
        return self.div_(other)

    # ---- methods that mirror the ops (so x.exp() reads like PyTorch) ---------------------------
    def exp(self) -> "Tensor":
        return ops.elementwise.exp(self)

    def log(self) -> "Tensor":
        return ops.elementwise.log(self)

    def sqrt(self) -> "Tensor":
        return ops.elementwise.sqrt(self)

    def abs(self) -> "Tensor":
        return ops.elementwise.abs(self)

    def pow(self, exponent: Any) -> "Tensor":
        return ops.elementwise.pow(self, exponent)

    def clip(self, min: Any = None, max: Any = None) -> "Tensor":  # noqa: A002 (PyTorch names)
        return ops.elementwise.clip(self, min, max)

    clamp = clip

    def maximum(self, other: Any) -> "Tensor":
        return ops.elementwise.maximum(self, other)

    def minimum(self, other: Any) -> "Tensor":
        return ops.elementwise.minimum(self, other)

    def relu(self) -> "Tensor":
        return ops.nn.relu(self)

    def sigmoid(self) -> "Tensor":
        return ops.nn.sigmoid(self)

    def tanh(self) -> "Tensor":
        return ops.nn.tanh(self)

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> "Tensor":
        return ops.nn.softmax(self, axis if dim is None else dim)

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> "Tensor":
        return ops.nn.log_softmax(self, axis if dim is None else dim)

    def sum(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> "Tensor":
        return ops.reduce.sum(self, axis, keepdims, **torch_names)

    def mean(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> "Tensor":
        return ops.reduce.mean(self, axis, keepdims, **torch_names)

    def max(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Any:
        """The largest value; with an int ``dim``, the (values, indices) pair as in PyTorch."""
        return ops.reduce.max(self, axis, keepdims, **torch_names)

    def min(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Any:
        """The smallest value; with an int ``dim``, the (values, indices) pair as in PyTorch."""
        return ops.reduce.min(self, axis, keepdims, **torch_names)

    def amax(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> "Tensor":
        return ops.reduce.amax(self, axis, keepdims, **torch_names)

    def amin(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> "Tensor":
        return ops.reduce.amin(self, axis, keepdims, **torch_names)

    def sort(self, dim: int = -1, descending: bool = False, **numpy_names: Any) -> Any:
        return ops.reduce.sort(self, dim, descending, **numpy_names)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
        return ops.reduce.topk(self, k, dim, largest, sorted)

    def var(self, axis: Any = None, keepdims: bool = False, correction: int = 1,
            **torch_names: Any) -> "Tensor":
        return ops.reduce.var(self, axis, keepdims, correction, **torch_names)

    def std(self, axis: Any = None, keepdims: bool = False, correction: int = 1,
            **torch_names: Any) -> "Tensor":
        return ops.reduce.std(self, axis, keepdims, correction, **torch_names)

    def logsumexp(self, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> "Tensor":
        return ops.reduce.logsumexp(self, axis, keepdims, **torch_names)

    def argmax(self, axis: int | None = None, keepdims: bool = False, **torch_names: Any) -> "Tensor":
        return ops.reduce.argmax(self, axis, keepdims, **torch_names)

    def argmin(self, axis: int | None = None, keepdims: bool = False, **torch_names: Any) -> "Tensor":
        return ops.reduce.argmin(self, axis, keepdims, **torch_names)

    def all(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> "Tensor":
        """True where every element (along ``dim``, default all) is nonzero; a bool tensor."""
        dims = ops.common.normalize_axes(dim if axis is None else axis, self.ndim, "all")
        return Tensor(self.xp.asarray(self.data.all(axis=dims, keepdims=keepdim)))

    def any(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None) -> "Tensor":
        """True where some element (along ``dim``, default all) is nonzero; a bool tensor."""
        dims = ops.common.normalize_axes(dim if axis is None else axis, self.ndim, "any")
        return Tensor(self.xp.asarray(self.data.any(axis=dims, keepdims=keepdim)))

    def reshape(self, *shape: Any) -> "Tensor":
        return ops.shape.reshape(self, *shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> "Tensor":
        return ops.shape.flatten(self, start_dim, end_dim)

    def transpose(self, *dims: Any) -> "Tensor":
        """``t.transpose(d0, d1)`` swaps two dims (PyTorch, at any ndim); ``t.transpose()``
        reverses them and ``t.transpose((2, 0, 1))`` permutes (NumPy)."""
        return ops.shape.transpose(self, *dims)

    def permute(self, *dims: Any) -> "Tensor":
        """Reorder all dims: (N, H, W, C).permute(0, 3, 1, 2) -> (N, C, H, W)."""
        return ops.shape.permute(self, *dims)

    def swapaxes(self, axis1: int, axis2: int) -> "Tensor":
        return ops.shape.swapaxes(self, axis1, axis2)

    swapdims = swapaxes

    def movedim(self, source: Any, destination: Any) -> "Tensor":
        return ops.shape.movedim(self, source, destination)

    def t(self) -> "Tensor":
        """Transpose of a tensor with at most 2 dims (PyTorch's ``t()``)."""
        return ops.shape.t(self)

    @property
    def T(self) -> "Tensor":  # noqa: N802 (NumPy's name)
        """All dims reversed."""
        return ops.shape.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> "Tensor":  # noqa: N802 (PyTorch's name)
        """The last two dims swapped (a batch of matrices transposed)."""
        if self.ndim < 2:
            raise ShapeError(f"mT: needs at least 2 dims, this tensor has shape {self.shape}")
        return ops.shape.swapaxes(self, -1, -2)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> "Tensor":
        return ops.shape.squeeze(self, axis if dim is None else dim)

    def unsqueeze(self, dim: int | None = None, *, axis: int | None = None) -> "Tensor":
        return ops.shape.unsqueeze(self, dim, axis=axis)

    def broadcast_to(self, *shape: Any) -> "Tensor":
        return ops.shape.broadcast_to(self, *shape)

    expand = broadcast_to

    def split(self, split_size_or_sections: Any, axis: int = 0, *, dim: int | None = None) -> tuple:
        return ops.shape.split(self, split_size_or_sections, axis if dim is None else dim)

    def matmul(self, other: Any) -> "Tensor":
        return ops.linalg.matmul(self, other)


from tinydl import autograd, ops  # noqa: E402  (both need Tensor defined first)
