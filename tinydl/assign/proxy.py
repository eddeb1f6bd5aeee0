"""The trusted side of a task: the teacher's tinydl, with the task's functions answered by the worker.

In the grading process (the teacher's tinydl, the teacher's tests), ``install`` replaces the code
of each function that holds one of the task's solution blocks (or FASTER regions) with a call to the student's
function of the same name in the sandboxed worker. Every other function, including every other
task's, stays the teacher's solution, so tasks are graded independently. Replacing the code
object (rather than a module attribute) also reaches every place that imported the function.

Arguments travel in wire.py's format. Tensors go with their data and graph; what the student's
function returns comes back as values or as a recorded graph of tinydl Functions, which this side
replays with its own ops (``Fn.apply``): values come out of the teacher's forward passes, and
a backward written in tinydl ops stays differentiable for second derivatives. Arrays passed in
are updated in place from the worker's copies (optimizer steps).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import wire  # relative: the grader loads a private copy of these modules (runner.py)
from .sandbox import Worker, WorkerDied
from .wire import decode_object, encode_object

CALL_GLOBAL = "__tinydl_grading_call__"


class StudentCodeError(Exception):
    """The student's function raised, returned something unusable, or the worker died."""


def resolve(name: str) -> Any:
    """The teacher's object called ``module:qualname`` (tinydl modules only)."""
    module_name, _, qualname = name.partition(":")
    if not qualname or not (module_name == "tinydl" or module_name.startswith("tinydl.")):
        raise StudentCodeError(f"{name!r} is not a tinydl object")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class _Call:
    """Tables for one call: what went out (by id) and what came back."""

    tensors: dict[int, Any]
    contexts: dict[int, Any]
    replayed: list[tuple]


class Proxy:
    """Sends calls of the task's functions to ``worker`` and turns the answers into teacher objects."""

    def __init__(self, worker: Worker):
        self.worker, self.callbacks = worker, set()
        try:  # the teacher's classes; a course package without them passes plain values only
            from tinydl.autograd import Context, Function
            from tinydl.tensor import Tensor
        except ImportError:
            Context = Function = Tensor = _Absent
        self.Tensor, self.Context, self.Function = Tensor, Context, Function

    def install(self, names: list[str], callbacks: list[str] = ()) -> None:
        """Route every function in ``names`` ("module:qualname") to the worker.

        ``callbacks`` are the other tasks' functions: the worker sends their calls back here,
        where they run the teacher's solution (so the task does not depend on them)."""
        self.callbacks = set(callbacks)
        for name in names:
            function = resolve(name)
            function = getattr(function, "__func__", function)
            if function.__code__.co_freevars:
                raise StudentCodeError(f"{name} is a closure; solution blocks must sit in plain functions")
            function.__globals__[CALL_GLOBAL] = self.call
            namespace: dict[str, Any] = {}
            exec(f"def trampoline(*args, **kwargs):\n    return {CALL_GLOBAL}({name!r}, args, kwargs)\n",
                 function.__globals__, namespace)
            function.__code__ = namespace["trampoline"].__code__
            function.__defaults__ = function.__kwdefaults__ = None

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        table = _Call({}, {}, [])
        encoder = wire.Encoder(lambda value, enc: self._encode(value, enc, table))
        body = {"fn": name, "args": encoder.encode(list(args)), "kwargs": encoder.encode(dict(kwargs))}
        try:
            answer = self.worker.call(encoder.frame({"$": "dict", "v": body}),
                                      lambda tag, obj, dec: self._decode(tag, obj, dec, table),
                                      lambda request: self._callback(request, table))
        except WorkerDied as error:
            raise StudentCodeError(f"{name}: {error}") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise StudentCodeError(f"your {name.replace(':', '.')} raised {error or 'an unreadable answer'}")
        _copy_back(args, answer.get("args"))
        return answer.get("result")

    def _callback(self, request: dict, table: _Call) -> bytes:
        """Run the teacher's function of another task for the student's code; the answer frame."""
        encoder = wire.Encoder(lambda value, enc: self._encode(value, enc, table))
        name = str(request.get("callback"))
        if name not in self.callbacks:
            return wire.pack({"ok": False, "error": f"{name} is not another task's function"})
        try:
            result = resolve(name)(*request.get("args", []), **request.get("kwargs", {}))
            return encoder.frame({"$": "dict", "v": {"ok": True, "result": encoder.encode(result)}})
        except Exception as error:  # the student's code passed arguments that fail
            return wire.pack({"ok": False, "error": f"{type(error).__name__}: {error}"})

    # ---- teacher -> worker ------------------------------------------------------------------
    def _encode(self, value: Any, encoder: wire.Encoder, table: _Call) -> Any:
        if isinstance(value, self.Tensor):
            key = id(value)
            if key in table.tensors:
                return {"$": "ref", "id": key}
            table.tensors[key] = value
            node = getattr(value, "_ctx", None)
            return {"$": "tensor", "id": key, "data": encoder.array(np.asarray(value.data)),
                    "requires_grad": bool(value.requires_grad), "node": encoder.encode(node),
                    "index": int(getattr(value, "_out_index", 0))}
        if isinstance(value, self.Context):
            key = id(value)
            if key in table.contexts:
                return {"$": "ctxref", "id": key}
            table.contexts[key] = value
            fn = value.fn
            return {"$": "ctx", "id": key, "fn": f"{fn.__module__}:{fn.__qualname__}",
                    "inputs": encoder.encode(list(getattr(value, "graph_inputs", None) or value.inputs)),
                    "params": _encode_or_opaque(encoder, dict(value.params)),
                    "needs": encoder.encode(list(value.needs_input_grad)),
                    "saved": _encode_or_opaque(encoder, value.saved),
                    "outputs": encoder.encode([ref() for ref in value.output_refs])}
        return encode_object(value, encoder)

    # ---- worker -> teacher ------------------------------------------------------------------
    def _decode(self, tag: str, obj: dict, decoder: wire.Decoder, table: _Call) -> Any:
        if tag == "node":
            fn = resolve(str(obj["fn"]))
            if not (isinstance(fn, type) and issubclass(fn, self.Function)):
                raise wire.WireError(f"{obj['fn']} is not a tinydl Function")
            inputs = decoder.decode(obj["inputs"])
            if not all(isinstance(t, self.Tensor) for t in inputs):
                raise wire.WireError(f"{obj['fn']}: a recorded node's inputs must be tensors")
            out = fn.apply(*inputs, **decoder.decode(obj["params"]))
            table.replayed.append(out if isinstance(out, tuple) else (out,))
            return None
        if tag == "out":
            return table.replayed[int(obj["node"])][int(obj.get("index", 0))]
        if tag == "ref":
            return table.tensors[int(obj["id"])]
        if tag == "ctxref":
            return table.contexts[int(obj["id"])]
        if tag == "tensor":
            return self.Tensor._from_op(decoder.decode(obj["data"]), None, 0)
        if tag == "object":
            return decode_object(obj, decoder, resolve)
        raise wire.WireError(f"unknown tag {tag!r} in the worker's answer")


class _Absent:
    """Stands in for a class the course's package does not have: nothing is an instance of it."""


def _encode_or_opaque(encoder: wire.Encoder, value: Any) -> Any:
    try:
        return encoder.encode(value)
    except wire.WireError:
        return {"$": "opaque"}  # what the worker cannot use arrives as None


def _copy_back(args: tuple, after: Any) -> None:
    """Write the worker's final state of each array argument into the caller's array."""
    if not isinstance(after, list):
        return
    for original, final in zip(args, after):
        if (isinstance(original, np.ndarray) and isinstance(final, np.ndarray) and original.flags.writeable
                and final.shape == original.shape):
            original[...] = final
