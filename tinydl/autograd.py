"""Reverse-mode automatic differentiation: Function, the graph, and the backward pass.

How it fits together
--------------------
* Every differentiable primitive is a ``Function`` subclass with two static methods:
  ``forward(ctx, *arrays, **params) -> array`` computes on raw arrays, and
  ``backward(ctx, *grad_outputs) -> grads`` returns one gradient Tensor (or None) per input.
  Backward is written with tinydl ops, so it can itself be differentiated
  (``create_graph=True`` gives second derivatives).
* ``Function.apply(*tensors)`` runs forward and, when gradients are being recorded, leaves a
  ``Context`` on the output tensor: the node of the graph. It holds the inputs, what forward
  saved, and room for the output gradients during a backward pass.
* ``run_backward`` walks the nodes from the outputs back to the leaves in reverse topological
  order (with an explicit stack, so a chain of 100,000 ops works), adds up the gradient of
  every value used more than once, and reduces each gradient to its input's shape
  (un-broadcasting happens here and nowhere else).
* In-place changes (``x.add_(1)``, ``x -= y``, ``x[0] = 0``) go through ``modify_in_place``.
  Each bumps the tensor's version and stamps it with the time of the change (a counter of
  in-place changes); a node remembers when it was recorded, and backward reading an input
  (``ctx.inputs``) or the output (``ctx.output``) changed since raises a ``GraphError``
  naming the op and the tensor, PyTorch's rule: never a silent wrong gradient.

How a new op takes part (nothing to write for either rule)
---------------------------------------------------------
* Type promotion: a Function that combines its inputs elementwise sets the class attribute
  ``promotion = "common"`` (inputs cast to PyTorch's result dtype; Python numbers and arrays
  are accepted and lifted) or ``"float"`` (the same, then integers and bools become float32,
  as true division and exp do). ``apply`` does the rest, with ``tinydl.promotion.promote``.
* Version counters: read saved inputs through ``ctx.inputs`` and the output through
  ``ctx.output`` in backward (checked there); read ``ctx.graph_inputs`` when only shapes,
  dtypes or devices are needed (no check, so no false alarm). A Function whose output is a
  view of its first input's memory sets ``returns_view = True`` so both share one version.
  An in-place method is ``modify_in_place(target, name, compute, operands)`` with ``compute``
  the out-of-place op: the rules for no_grad, leaves and recorded non-leaves live there.
"""
from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tinydl import threads
from tinydl.errors import AnomalyError, DeviceError, DTypeError, GraphError, ShapeError
from tinydl.promotion import promote
from tinydl.tensor import Tensor  # tensor.py imports this module only after defining Tensor

# ---------------------------------------------------------------------------------------------
# Modes: recording gradients on/off and anomaly detection, per thread.
# ---------------------------------------------------------------------------------------------


class _Modes(threading.local):
    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.backward_of: str | None = None  # the op whose backward is running (for anomalies)


_modes = _Modes()


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward."""
    return _modes.grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn gradient recording on or off inside a ``with`` block (or a decorated function)."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(_modes.grad_enabled)
        _modes.grad_enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        _modes.grad_enabled = self._previous.pop()


class no_grad(set_grad_enabled):
    """``with tinydl.no_grad():`` (or ``@tinydl.no_grad()``): build no graph, as for inference."""

    def __init__(self) -> None:
        super().__init__(False)


class inference_mode(set_grad_enabled):
    """PyTorch's ``inference_mode``: in tinydl the same as ``no_grad`` (``mode=False`` records)."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__(not mode)


class enable_grad(set_grad_enabled):
    """Record gradients again inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)


class detect_anomaly(contextlib.ContextDecorator):
    """Check every op's forward and backward results; raise naming the first op that gives NaN/Inf."""

    def __enter__(self) -> None:
        self._previous = _modes.anomaly
        _modes.anomaly = True

    def __exit__(self, *exc: Any) -> None:
        _modes.anomaly = self._previous


def _check_finite(op_name: str, phase: str, arrays: Iterable[Any]) -> None:
    for array in arrays:
        if array is None or array.dtype.kind not in "fc":
            continue
        from tinydl.backend import get_array_module  # only under detect_anomaly
        xp = get_array_module(array)
        if not bool(xp.isfinite(array).all()):
            bad = "NaN" if bool(xp.isnan(array).any()) else "Inf"
            if _modes.backward_of is not None:  # an op run inside some op's backward
                op_name, phase = _modes.backward_of, f"backward (in its {op_name})"
            raise AnomalyError(
                f"{op_name}: {phase} produced {bad} (output shape {tuple(array.shape)}); "
                f"look at the inputs of this {op_name} (log of 0? division by 0? overflow in exp?)")


# ---------------------------------------------------------------------------------------------
# Function and its Context
# ---------------------------------------------------------------------------------------------


class Context:
    """A node of the graph: one application of a Function.

    ``inputs``        the input Tensors (backward differentiates through them)
    ``saved``         constants forward kept for backward (masks, shapes, indices)
    ``params``        the keyword arguments forward was called with (axis=..., shape=...)
    ``output``        the output Tensor (held weakly: the graph does not keep it alive)
    ``needs_input_grad``  one bool per input
    """

    # defaults shared by every node; a node only stores what differs
    saved: tuple = ()
    recorded_at = 0  # the in-place clock when this node was recorded
    output_refs: tuple = ()
    output_meta: tuple = ()
    output_grads: list | None = None
    retains_output_grad = False
    freed = False

    def __init__(self, fn: type, inputs: tuple, params: dict, needs_input_grad: tuple):
        self.fn = fn
        self.graph_inputs = inputs
        self.params = params
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays or values that backward needs (freed after backward)."""
        self.saved = values

    @property
    def saved_values(self) -> tuple:
        if self.freed:
            raise _freed_graph_error(self.fn)
        return self.saved

    @property
    def inputs(self) -> tuple:
        """The input Tensors, for backward to read; raises if one was changed in place since."""
        inputs = self.graph_inputs
        if _clock[0] <= self.recorded_at:  # nothing was changed in place since this node
            return inputs
        for i, tensor in enumerate(inputs):
            if _changed_at(tensor) > self.recorded_at:
                raise _modified_error(self.fn, f"input {i}", tensor)
        return inputs

    @property
    def output(self) -> Any:
        """The (single) output Tensor of this node; raises if it was changed in place since."""
        output = self.output_refs[0]()
        if output is not None and _changed_at(output) > self.recorded_at:
            raise _modified_error(self.fn, "its output", output)
        return output

    def __repr__(self) -> str:
        return f"<{self.fn.__name__}Backward>"


def _modified_error(fn: type, which: str, tensor: Any) -> GraphError:
    name = f" '{tensor.name}'" if tensor.name else ""
    return GraphError(
        f"{fn.op_name()}: one of the tensors needed for gradient computation has been modified "
        f"by an inplace operation: {which} of {fn.op_name()}, the {tensor.dtype} tensor{name} of "
        f"shape {tuple(tensor.shape)}, was changed in place after {fn.op_name()} saved it (it "
        f"is now at version {_version(tensor)}); make the in-place change after "
        "backward(), or change a copy (t = t.clone()) or write it out of place (t = t + 1)")


def _freed_graph_error(fn: type) -> GraphError:
    return GraphError(
        f"backward: the graph through {fn.__name__} was already freed by an earlier backward(); "
        "to backpropagate through the same graph twice, pass retain_graph=True the first time")


class Function:
    """Base class of differentiable primitives. Subclasses define forward and backward."""

    #: added to the message when forward rejects its inputs' shapes
    error_hint = ""
    #: None, "common" or "float": how ``apply`` promotes the inputs' dtypes (see the top)
    promotion: str | None = None
    #: True when the output shares the first input's memory (reshape, transpose, slicing)
    returns_view = False

    @staticmethod
    def forward(ctx: Context, *arrays: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def op_name(cls) -> str:
        return cls.__name__.lower()

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Any:
        """Run forward on the inputs' arrays; record a graph node when gradients are needed."""
        promotion = cls.promotion
        if len(inputs) == 2:  # the common arities are spelled out: this runs for every op
            a, b = inputs
            if promotion is not None and not (  # same-dtype tensors need no promotion
                    isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype is b.data.dtype
                    and (promotion == "common" or a.data.dtype.kind == "f")):
                inputs = a, b = promote(inputs, promotion)
            needs_input_grad = (a.requires_grad, b.requires_grad)
            arrays = (a.data, b.data)
            if type(arrays[0]) is not type(arrays[1]):
                _raise_device_mismatch(cls, inputs)
        elif len(inputs) == 1:
            a = inputs[0]
            if promotion is not None and not (
                    isinstance(a, Tensor) and (promotion == "common" or a.data.dtype.kind == "f")):
                inputs = (a,) = promote(inputs, promotion)
            needs_input_grad = (a.requires_grad,)
            arrays = (a.data,)
        else:
            if promotion is not None:
                inputs = promote(inputs, promotion)
            needs_input_grad = tuple([t.requires_grad for t in inputs])
            arrays = tuple([t.data for t in inputs])
            if len({type(array) for array in arrays}) > 1:
                _raise_device_mismatch(cls, inputs)
        record = _modes.grad_enabled and True in needs_input_grad
        ctx = Context(cls, inputs, params, needs_input_grad)
        if record and _clock[0]:  # (0: nothing was ever changed in place)
            ctx.recorded_at = _clock[0]
        try:
            out = cls.forward(ctx, *arrays, **params)
        except (ValueError, IndexError) as err:
            if isinstance(err, ShapeError):
                raise
            shapes = " and ".join(str(tuple(a.shape)) for a in arrays)
            hint = f"; {cls.error_hint}" if cls.error_hint else ""
            raise ShapeError(f"{cls.op_name()}: inputs of shapes {shapes} do not fit ({err})"
                             f"{hint}") from None
        if _modes.anomaly:
            _check_finite(cls.op_name(), "forward", out if isinstance(out, tuple) else (out,))
        node = ctx if record else None
        if type(out) is tuple:
            outputs = tuple([Tensor._from_op(o, node, i) for i, o in enumerate(out)])
            if record:
                ctx.output_refs = tuple([weakref.ref(o) for o in outputs])
                ctx.output_meta = tuple([(o.shape, o.dtype) for o in out])
            return outputs
        output = Tensor._from_op(out, node, 0)
        if cls.returns_view:  # one version counter for the view and its base
            output._base = inputs[0] if inputs[0]._base is None else inputs[0]._base
        if record:
            ctx.output_refs = (weakref.ref(output),)
        return output


def _raise_device_mismatch(fn: type, inputs: Sequence[Any]) -> None:
    devices = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in inputs)
    raise DeviceError(f"{fn.op_name()}: inputs are on different devices ({devices}); "
                      "move them to one device first with .to(device)")


# ---------------------------------------------------------------------------------------------
# The backward pass
# ---------------------------------------------------------------------------------------------


def _topological_order(roots: Sequence[Context]) -> list[Context]:
    """Nodes reachable from ``roots``, each before all the nodes it depends on (iterative DFS)."""
    ### BEGIN SOLUTION task 6.1
    # HINT: iterative depth-first search from the roots (a stack), each node once; reverse the postorder
    postorder: list[Context] = []
    visited: set[Context] = set()  # (nodes hash by identity)
    stack: list[tuple[Context, bool]] = [(root, False) for root in roots]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            postorder.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        if node.freed:
            raise _freed_graph_error(node.fn)
        stack.append((node, True))
        for node_input in node.graph_inputs:
            child = node_input._ctx if node_input._history is None else _state_at(node, node_input)[0]
            if child is not None and child not in visited:
                stack.append((child, False))
    postorder.reverse()
    return postorder
    ### END SOLUTION


def _reduce_to_shape(grad: Any, shape: tuple, ctx: Context) -> Any:
    """Un-broadcast: sum ``grad`` down to ``shape`` (the one place this happens)."""
    from tinydl.ops.reduce import sum_to  # ops import this module

    try:
        return sum_to(grad, shape)
    except ShapeError as err:
        raise GraphError(f"{ctx.fn.__name__}.backward returned a gradient of shape "
                         f"{tuple(grad.shape)} for an input of shape {shape}: {err}") from None


# ---------------------------------------------------------------------------------------------
# Hooks run once a leaf's gradient is complete (Tensor.register_post_accumulate_grad_hook)
# ---------------------------------------------------------------------------------------------

_hooked_leaves = [0]  # how many hooks are registered: backward looks for them only when > 0


class RemovableHandle:
    """Returned by ``register_post_accumulate_grad_hook``; ``handle.remove()`` unregisters."""

    def __init__(self, hooks: list, hook: Callable):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
            _hooked_leaves[0] -= 1


def add_post_accumulate_grad_hook(tensor: Any, hook: Callable) -> RemovableHandle:
    """Call ``hook(tensor)`` in each backward, after the last gradient is added to ``.grad``."""
    if tensor._ctx is not None:
        raise GraphError("register_post_accumulate_grad_hook: only leaf tensors accumulate "
                         "into .grad; this tensor was made by an op (use register_hook-style "
                         "code on its leaves instead)")
    if not tensor.requires_grad:
        raise GraphError("register_post_accumulate_grad_hook: this tensor does not require "
                         "grad, so backward never reaches it; call .requires_grad_() first")
    if "_post_accumulate_grad_hooks" not in tensor.__dict__:
        tensor._post_accumulate_grad_hooks = []
    tensor._post_accumulate_grad_hooks.append(hook)
    _hooked_leaves[0] += 1
    return RemovableHandle(tensor._post_accumulate_grad_hooks, hook)


def _hook_schedule(order: list[Context], roots: Sequence[Any]) -> list[tuple[int, Any]]:
    """(index of the last node feeding the leaf, leaf) for every hooked leaf, latest first."""
    last_use: dict[int, tuple[int, Any]] = {id(r): (-1, r) for r in roots
                                            if r._ctx is None and r._post_accumulate_grad_hooks}
    for index, ctx in enumerate(order):
        for tensor in ctx.graph_inputs:
            if tensor._ctx is None and tensor._post_accumulate_grad_hooks:
                last_use[id(tensor)] = (index, tensor)
    return sorted(last_use.values(), key=lambda item: item[0], reverse=True)


class _GradSink:
    """Where gradients end up: leaves' ``.grad`` (backward) or a dict (``tinydl.grad``)."""

    __slots__ = ("create_graph", "capture_ids", "captured", "handed_out", "reached")

    def __init__(self, capture: Sequence[Any] | None, create_graph: bool):
        self.create_graph = create_graph
        self.capture_ids = None if capture is None else {id(t): i for i, t in enumerate(capture)}
        self.captured: list[Any] = [None] * (0 if capture is None else len(capture))
        self.handed_out: set[int] = set()
        self.reached: set[int] = set()  # leaves that got a gradient (for the hooks)

    def run_hooks_before(self, index: int, schedule: list[tuple[int, Any]]) -> None:
        """Run the post-accumulate hooks of leaves whose last contribution came before ``index``."""
        while schedule and schedule[-1][0] < index:
            leaf = schedule.pop()[1]
            if id(leaf) in self.reached:
                for hook in list(leaf._post_accumulate_grad_hooks):
                    hook(leaf)

    def leaf(self, tensor: Any, grad: Any) -> None:
        if self.capture_ids is not None:
            index = self.capture_ids.get(id(tensor))
            if index is not None:
                self._add_captured(index, grad)
            return
        if not self.create_graph:
            # a leaf's .grad must be its own writable array (optimizers and clipping update it
            # in place): copy a gradient shared with another leaf or a read-only broadcast view
            grad_id = id(grad)
            if grad_id in self.handed_out or not getattr(grad.data.flags, "writeable", True):
                grad = Tensor._from_op(grad.data.copy(), None, 0)
                grad_id = id(grad)
            self.handed_out.add(grad_id)
        tensor.grad = grad if tensor.grad is None else tensor.grad + grad
        if _hooked_leaves[0]:  # (only the hooks read it)
            self.reached.add(id(tensor))

    def non_leaf(self, tensor: Any, grad: Any) -> None:
        if self.capture_ids is not None:
            index = self.capture_ids.get(id(tensor))
            if index is not None:
                self._add_captured(index, grad)
        elif tensor._retains_grad:
            tensor.grad = grad if tensor.grad is None else tensor.grad + grad

    def _add_captured(self, index: int, grad: Any) -> None:
        old = self.captured[index]
        self.captured[index] = grad if old is None else old + grad


def run_backward(roots: Sequence[Any], root_grads: Sequence[Any], retain_graph: bool,
                 create_graph: bool, capture: Sequence[Any] | None = None) -> list[Any]:
    """Backpropagate ``root_grads`` from ``roots``; fill ``.grad`` or return captured grads."""
    sink = _GradSink(capture, create_graph)
    capturing = capture is not None
    order = _topological_order([r._ctx for r in roots if r._ctx is not None])
    hooks = _hook_schedule(order, roots) if _hooked_leaves[0] and not capturing else []
    for root, grad in zip(roots, root_grads):
        if root._ctx is None:
            sink.leaf(root, grad)
        else:
            _add_output_grad(root._ctx, root._out_index, grad)
    anomaly = _modes.anomaly
    previous_mode = _modes.grad_enabled
    _modes.grad_enabled = create_graph  # backward builds a graph only for higher derivatives
    try:
        for index, ctx in enumerate(order):
            if hooks:
                sink.run_hooks_before(index, hooks)
            grad_outputs = ctx.output_grads
            ctx.output_grads = None
            if grad_outputs is None:  # no gradient reached this node
                continue
            if len(grad_outputs) > 1:
                _fill_missing_grads(ctx, grad_outputs)
            if capturing or ctx.retains_output_grad:
                for index, grad in enumerate(grad_outputs):
                    output = ctx.output_refs[index]()
                    if output is not None:
                        sink.non_leaf(output, grad)
            if anomaly:
                _modes.backward_of = ctx.fn.op_name()
            input_grads = ctx.fn.backward(ctx, *grad_outputs)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
            if anomaly:
                _check_finite(ctx.fn.op_name(), "backward",
                              [g.data for g in input_grads if g is not None])
            for tensor, grad in zip(ctx.graph_inputs, input_grads):
                if grad is None:
                    continue
                if tensor._history is None:
                    if not tensor.requires_grad:
                        continue
                    node, out_index = tensor._ctx, tensor._out_index
                else:  # changed in place since: route to the node that made the value used
                    node, out_index, requires_grad = _state_at(ctx, tensor)
                    if not requires_grad:
                        continue
                array = tensor.data
                if grad.data.shape != array.shape:
                    grad = _reduce_to_shape(grad, array.shape, ctx)
                dtype = grad.data.dtype
                if dtype is not array.dtype and dtype != array.dtype:  # (identity: the usual case)
                    grad = grad.astype(array.dtype)  # gradients keep their input's dtype
                if node is None:
                    sink.leaf(tensor, grad)
                else:
                    _add_output_grad(node, out_index, grad)
        if hooks:
            sink.run_hooks_before(len(order), hooks)
    finally:
        _modes.grad_enabled = previous_mode
        _modes.backward_of = None
    if not retain_graph:
        # Freed only now: a later node's backward may still read an output (exp, tanh)
        # that only an earlier node's inputs kept alive.
        for ctx in order:
            ctx.graph_inputs = ()
            if ctx.saved:  # (most nodes keep the class's empty default)
                ctx.saved = ()
            ctx.freed = True
    return sink.captured


def _add_output_grad(ctx: Context, index: int, grad: Any) -> None:
    if ctx.freed:
        raise _freed_graph_error(ctx.fn)
    if ctx.output_grads is None:
        ctx.output_grads = [None] * len(ctx.output_refs)
    old = ctx.output_grads[index]
    ctx.output_grads[index] = grad if old is None else old + grad


def _fill_missing_grads(ctx: Context, grad_outputs: list) -> None:
    """Outputs no gradient reached (an unused piece of a split) get zeros."""
    if all(g is not None for g in grad_outputs):  # (`None in` would compare tensors)
        return
    reference = next(g for g in grad_outputs if g is not None)
    xp = reference.xp
    for index, grad in enumerate(grad_outputs):
        if grad is None:
            shape, dtype = ctx.output_meta[index]
            grad_outputs[index] = Tensor(xp.zeros(shape, dtype=dtype))


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` is left alone).

    outputs: a Tensor or a sequence of them; grad_outputs: matching Tensors (None for scalars).
    With ``create_graph=True`` the returned gradients are part of a graph themselves, so they
    can be differentiated again (Hessian-vector products, gradient penalties).
    """
    single_input = isinstance(inputs, Tensor)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if single_input else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    roots, root_grads = [], []
    for output, given in zip(outputs, grad_outputs):
        if not output.requires_grad:
            raise GraphError(f"grad: an output of shape {output.shape} does not require grad "
                             "(was it computed under no_grad, or from tensors without requires_grad?)")
        roots.append(output)
        root_grads.append(_root_grad(output, given, "grad"))
    for tensor in inputs:
        if not tensor.requires_grad:
            raise GraphError(f"grad: an input of shape {tensor.shape} does not require grad; "
                             "call .requires_grad_() on it before computing the outputs")
    keep = create_graph if retain_graph is None else retain_graph
    grads = run_backward(roots, root_grads, keep, create_graph, capture=inputs)
    for tensor, g in zip(inputs, grads):
        if g is None and not allow_unused:
            raise GraphError(f"grad: an input of shape {tensor.shape} was not used to compute the "
                             "outputs; pass allow_unused=True to get None for it")
    return tuple(grads)


def _root_grad(root: Any, given: Any, caller: str) -> Any:
    """The starting gradient: ones for a scalar root, else the one the user passed."""
    if given is None:
        if root.data.size != 1:
            raise GraphError(
                f"{caller}: the output has shape {root.shape}, not a scalar, so the starting "
                "gradient is ambiguous; pass it explicitly, e.g. out.backward(grad=tinydl.ones_like(out)), "
                "or reduce first with out.sum()")
        ones = root.data.copy()  # (a copy and a fill: a third of xp.ones's time, once a backward)
        ones.fill(1)
        return Tensor._from_op(ones, None, 0)
    given = given if isinstance(given, Tensor) else Tensor(given, dtype=root.dtype)
    if given.shape != root.shape:
        raise ShapeError(f"{caller}: grad of shape {given.shape} does not match the output's "
                         f"shape {root.shape}")
    return given


def backward(root: Any, grad: Any = None, retain_graph: bool = False,
             create_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf) into every leaf's ``.grad`` (see ``Tensor.backward``)."""
    if not root.requires_grad:
        raise GraphError("backward: this tensor does not require grad, so there is nothing to "
                         "backpropagate (did you compute it under no_grad, or forget "
                         "requires_grad=True on the inputs?)")
    threads.follow_machine_load()  # once a second at most: the default budget fits the machine
    run_backward([root], [_root_grad(root, grad, "backward")], retain_graph, create_graph)


def once_differentiable(backward_fn: Callable) -> Callable:
    """Mark a backward written on raw arrays: a second derivative through it raises clearly."""

    def guarded(ctx: Context, *grad_outputs: Any) -> Any:
        if _modes.grad_enabled and any(t.requires_grad for t in ctx.graph_inputs):
            raise GraphError(f"{ctx.fn.op_name()}: this fused kernel is differentiable once only; "
                             "for second derivatives set TINYDL_KERNELS=numpy to use the "
                             "composed reference ops")
        return backward_fn(ctx, *grad_outputs)

    return guarded


# ---------------------------------------------------------------------------------------------
# In-place changes and version counters
# ---------------------------------------------------------------------------------------------


#: the in-place clock: how many in-place changes the process made so far (a node compares
#: its inputs' change times with the time it was recorded)
_clock = [0]


def _version(tensor: Any) -> int:
    """How often ``tensor``'s memory was changed in place (views count their base's changes)."""
    cell = (tensor if tensor._base is None else tensor._base)._version_cell
    return 0 if cell is None else cell[0]


def _changed_at(tensor: Any) -> int:
    """The clock time of the last in-place change of ``tensor``'s memory (0: never)."""
    cell = (tensor if tensor._base is None else tensor._base)._version_cell
    return 0 if cell is None else cell[1]


def bump_version(tensor: Any) -> None:
    """Record that ``tensor``'s values changed in place (the counter lives on the base)."""
    base = tensor if tensor._base is None else tensor._base
    _clock[0] += 1
    if base._version_cell is None:
        base._version_cell = [0, 0]
    base._version_cell[0] += 1
    base._version_cell[1] = _clock[0]


def _state_at(ctx: Context, tensor: Any) -> tuple:
    """(node, output index, requires_grad) of ``tensor`` as it was when ``ctx`` recorded it."""
    for until, node, index, requires_grad in tensor._history:
        if ctx.recorded_at < until:
            return node, index, requires_grad
    return tensor._ctx, tensor._out_index, tensor.requires_grad


_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def modify_in_place(target: Any, op_name: str, compute: Callable[[Any], Any],
                    operands: Sequence[Any] = (), direct: Callable[[Any], None] | None = None,
                    same_category: bool = True) -> Any:
    """Change ``target``'s values in place to ``compute(target)``; returns ``target``.

    compute: the out-of-place op (``lambda t: t + other``). direct: optional faster write on
    the raw array, used when no gradient is involved. same_category: refuse results of a
    higher dtype category (an int tensor cannot take ``+= 0.5``), as PyTorch does.
    The rules (PyTorch's): without gradients involved the values just change; a leaf that
    requires grad may change only under ``no_grad``; otherwise the change is recorded: the
    op's node reads a copy of the old value and ``target`` becomes that node's output, so
    gradients flow through it (``y = x * 2; y.add_(1)`` keeps dy/dx = 2).
    """
    recording = _modes.grad_enabled and (target.requires_grad or any(
        isinstance(o, Tensor) and o.requires_grad for o in operands))
    if not recording:
        if direct is not None:
            direct(target.data)
        else:
            _write(target, compute(target), op_name, same_category)
        bump_version(target)
        return target
    if target._ctx is None and target.requires_grad:
        raise GraphError(
            f"{op_name}: a leaf tensor that requires grad (shape {tuple(target.shape)}) cannot "
            "be changed in place while gradients are recorded; update parameters inside "
            "`with tinydl.no_grad():` (as optimizers do), or change a copy: t = t.clone()")
    if target._base is not None:
        raise GraphError(
            f"{op_name}: this tensor of shape {tuple(target.shape)} is a view (a slice, reshape, "
            "transpose or detach) of another tensor, and tinydl does not record an in-place "
            "change with gradients through a view. Assign through the base instead "
            "(base[index] = value), or work on a copy: t = t.clone()")
    old = Tensor._from_op(target.data.copy(), target._ctx, target._out_index)
    old.requires_grad = target.requires_grad
    new = compute(old)
    _write(target, new, op_name, same_category)
    bump_version(target)
    history = list(target._history or ())
    history.append((_clock[0], target._ctx, target._out_index, target.requires_grad))
    target._history = history
    target._ctx, target._out_index, target.requires_grad = new._ctx, new._out_index, True
    if new._ctx is not None:  # the node's output is now the target (at its new version)
        refs = list(new._ctx.output_refs)
        refs[new._out_index] = weakref.ref(target)
        new._ctx.output_refs = tuple(refs)
        new._ctx.recorded_at = _clock[0]
    return target


def _write(target: Any, new: Any, op_name: str, same_category: bool) -> None:
    """Copy ``new``'s values into ``target``'s array (casting to target's dtype)."""
    if same_category and _CATEGORY[new.dtype.kind] > _CATEGORY[target.dtype.kind]:
        raise DTypeError(
            f"{op_name}: the result has dtype {new.dtype}, which cannot be stored in place in a "
            f"{target.dtype} tensor; write it out of place (t = t + other), or convert first "
            "(t = t.float())")
    if new.shape != target.shape:
        raise ShapeError(
            f"{op_name}: the result has shape {tuple(new.shape)}, but the tensor changed in "
            f"place has shape {tuple(target.shape)}; an in-place op cannot change the shape")
    target.data[...] = new.data
