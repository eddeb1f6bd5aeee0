"""The sandboxed worker: runs a student's functions on the grader's inputs, and nothing else.

Started by sandbox.py inside bubblewrap as ``python -I worker.py CONFIG_JSON`` from the grader's
own copy of this file and wire.py (never the student's). CONFIG_JSON holds the student tree's
path inside the sandbox and, when the sandbox starts as root, the user to drop to. The worker
then reads call frames on stdin and answers each on the original stdout; what the student's code
prints goes to stderr, which the grader only ever shows as a truncated note on public tests.

A call is ``{"fn": "module:qualname", "args": [...], "kwargs": {...}}``. Tensors arrive as
``{"$": "tensor", "id", "data", "requires_grad", "node"}`` and graph nodes as ``{"$": "ctx",
...}``; they are rebuilt with the student's own Tensor and Context classes. Float leaves get
``requires_grad=True`` so that whatever the student's code computes from them is recorded as a
graph. The answer is ``{"ok": true, "result", "nodes", "args"}``: tensors in the result are
references to inputs (``ref``), outputs of recorded nodes (``out``, each node naming its Function
and parameters so the grader can replay it with its own ops) or constants (``tensor``); "args"
returns every array argument after the call (optimizer updates work in place). A failure is
``{"ok": false, "error": "Type: message"}``.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import traceback
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's folder off
import wire  # the grader's copy, beside this file

_ERROR_CHARS = 2000


class _Absent:
    """Stands in for a class the package does not have: nothing is an instance of it."""


class _Student:
    """The student's tinydl classes and the per-call tables that map wire ids to objects."""

    def __init__(self, tinydl):
        try:  # the student's package, on sys.path now; a course package without them: plain values
            from tinydl.autograd import Context
            from tinydl.tensor import Tensor
        except ImportError:
            Context = Tensor = _Absent
        self.tinydl, self.Tensor, self.Context = tinydl, Tensor, Context
        self.reset()

    def reset(self) -> None:
        self.tensor_ids: dict[int, int] = {}  # id(student tensor) -> grader's tensor id
        self.tensors: dict[int, object] = {}  # grader's tensor id -> student tensor
        self.ctx_ids: dict[int, int] = {}  # id(student context) -> grader's node id
        self.ctxs: dict[int, object] = {}  # grader's node id -> student context
        self.keep: list = []  # strong references the rebuilt weakrefs point to
        self.nodes: list = []  # recorded nodes of the answer, in order
        self.node_index: dict[int, int] = {}

    # ---- grader -> student ------------------------------------------------------------------
    def decode(self, tag: str, obj: dict, decoder: wire.Decoder):
        if tag == "tensor":
            data = decoder.decode(obj["data"])
            tensor = self.Tensor._from_op(data, None, 0)
            self.tensor_ids[id(tensor)] = int(obj["id"])
            self.tensors[int(obj["id"])] = tensor  # before its node, whose outputs refer to it
            node = decoder.decode(obj.get("node"))
            if node is None:  # a leaf: record what the student's code computes from it
                tensor.requires_grad = bool(obj.get("requires_grad")) or data.dtype.kind == "f"
            else:
                tensor.requires_grad, tensor._ctx = True, node
                if obj.get("index"):
                    tensor._out_index = int(obj["index"])
            return tensor
        if tag == "ref":
            return self.tensors[int(obj["id"])]
        if tag == "ctx":
            key = int(obj["id"])
            if key in self.ctxs:
                return self.ctxs[key]
            ctx = self.Context(_resolve(obj.get("fn")), (), {}, ())
            self.ctxs[key] = ctx
            self.ctx_ids[id(ctx)] = key
            inputs = tuple(decoder.decode(obj["inputs"]))
            if isinstance(getattr(type(ctx), "inputs", None), property):
                ctx.graph_inputs = inputs  # inputs is a checked view of graph_inputs
            else:
                ctx.inputs = inputs
            ctx.params = decoder.decode(obj["params"])
            ctx.needs_input_grad = tuple(decoder.decode(obj["needs"]))
            ctx.saved = decoder.decode(obj["saved"])
            outputs = decoder.decode(obj["outputs"])
            self.keep.extend(outputs)
            ctx.output_refs = tuple(weakref.ref(t) if t is not None else (lambda: None) for t in outputs)
            return ctx
        if tag == "ctxref":
            return self.ctxs[int(obj["id"])]
        if tag == "opaque":
            return None
        if tag == "object":
            return wire.decode_object(obj, decoder, _resolve)
        raise wire.WireError(f"unknown tag {tag!r}")

    # ---- student -> grader ------------------------------------------------------------------
    def encode(self, value, encoder: wire.Encoder):
        if isinstance(value, self.Tensor):
            known = self.tensor_ids.get(id(value))
            if known is not None:
                return {"$": "ref", "id": known}
            ctx = getattr(value, "_ctx", None)
            if ctx is not None and id(ctx) not in self.ctx_ids:
                return {"$": "out", "node": self._node(ctx, encoder), "index": int(getattr(value, "_out_index", 0))}
            return {"$": "tensor", "data": encoder.array(value.data)}
        if isinstance(value, self.Context):
            if id(value) in self.ctx_ids:
                return {"$": "ctxref", "id": self.ctx_ids[id(value)]}
            raise wire.WireError("a graph node the grader did not send cannot be returned")
        return wire.encode_object(value, encoder)

    def _node(self, ctx, encoder: wire.Encoder) -> int:
        if id(ctx) in self.node_index:
            return self.node_index[id(ctx)]
        inputs = [encoder.encode(t) for t in ctx.inputs]  # their nodes come first
        fn = ctx.fn
        record = {"$": "node", "fn": f"{fn.__module__}:{fn.__qualname__}", "inputs": {"$": "list", "v": inputs},
                  "params": encoder.encode(dict(ctx.params))}
        self.nodes.append(record)
        self.node_index[id(ctx)] = len(self.nodes) - 1
        return len(self.nodes) - 1


def _resolve(name):
    """The student's object called ``module:qualname``, or None when it is missing."""
    if not isinstance(name, str) or ":" not in name:
        return None
    module_name, qualname = name.split(":", 1)
    if module_name != "tinydl" and not module_name.startswith("tinydl."):
        return None
    try:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj


def _install_callbacks(names: list[str], read, answer_fd: int, student: _Student) -> None:
    """Make each of the student's functions in ``names`` (other tasks') ask the grader instead."""

    def callback(name: str, args: tuple, kwargs: dict):
        encoder = wire.Encoder(lambda value, enc: _constant(value, enc, student))
        body = {"callback": name, "args": encoder.encode(list(args)), "kwargs": encoder.encode(dict(kwargs))}
        wire.write_frame(answer_fd, encoder.frame({"$": "dict", "v": body}))
        reply = wire.read_frame(read, student.decode)
        if not reply.get("ok"):
            raise RuntimeError(f"{name} (the teacher's) failed on these arguments: {reply.get('error')}")
        return reply.get("result")

    for name in names:
        function = _resolve(name)
        function = getattr(function, "__func__", function)
        if function is None or not hasattr(function, "__code__") or function.__code__.co_freevars:
            continue  # missing or not a plain function: the student's own code runs
        function.__globals__["__tinydl_grading_callback__"] = callback
        namespace: dict = {}
        exec(f"def trampoline(*args, **kwargs):\n    return __tinydl_grading_callback__({name!r}, args, kwargs)\n",
             function.__globals__, namespace)
        function.__code__ = namespace["trampoline"].__code__


def _constant(value, encoder: wire.Encoder, student: _Student):
    """Callback arguments: tensors travel as their values, objects as their attributes."""
    if isinstance(value, student.Tensor):
        known = student.tensor_ids.get(id(value))
        return {"$": "ref", "id": known} if known is not None else {"$": "tensor", "data": encoder.array(value.data)}
    return wire.encode_object(value, encoder)


def _answer(student: _Student, request: dict, args: list, kwargs: dict) -> bytes:
    fn = _resolve(request.get("fn"))
    if fn is None:
        raise LookupError(f"{request.get('fn')} is missing from the submitted package")
    enable_grad = getattr(student.tinydl, "enable_grad", None)
    if enable_grad is None:
        result = fn(*args, **kwargs)
    else:
        with enable_grad():  # record what the student computes from the inputs
            result = fn(*args, **kwargs)
    encoder = wire.Encoder(student.encode)
    body = {"ok": True, "nodes": None}  # the nodes come first: the grader replays them before the result
    body["result"] = encoder.encode(result)
    body["args"] = {"$": "list", "v": [encoder.array(a) if isinstance(a, wire.np.ndarray) else None for a in args]}
    body["nodes"] = {"$": "list", "v": student.nodes}
    return encoder.frame({"$": "dict", "v": body})


def _error_frame(error: BaseException) -> bytes:
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return wire.pack({"ok": False, "error": text[-_ERROR_CHARS:]})


def _drop_privileges(config: dict) -> None:
    user = config.get("drop_to")
    if user is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(int(user))
        os.setuid(int(user))  # from here on RLIMIT_NPROC counts this user's processes
    for name, value in config.get("limits", {}).items():
        limit = getattr(resource, name)
        resource.setrlimit(limit, (int(value), int(value)))


def main() -> None:
    config = json.loads(sys.argv[1])
    answer_fd, request_fd = os.dup(1), os.dup(0)
    os.dup2(2, 1)  # the student's prints go to stderr: never to the answer pipe
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    _drop_privileges(config)
    sys.path.insert(0, config["tree"])
    read = wire.fd_reader(request_fd)
    try:
        import tinydl  # the student's package

        student = _Student(tinydl)
        _install_callbacks(config.get("callbacks", []), read, answer_fd, student)
        broken = None
    except BaseException as error:  # a package that does not import fails every call, with the reason
        student, broken = None, error
    while True:
        try:
            if student is not None:
                student.reset()
            if broken is not None:
                wire.read_frame(read, lambda tag, obj, decoder: None)
                raise ImportError(f"importing the submitted tinydl failed: {broken!r}")
            request = wire.read_frame(read, student.decode)
            frame = _answer(student, request, list(request.get("args", [])), dict(request.get("kwargs", {})))
        except EOFError:
            return
        except BaseException as error:  # every failure is the student's answer
            frame = _error_frame(error)
        wire.write_frame(answer_fd, frame)


if __name__ == "__main__":
    main()
