"""The pickle-free format the grader and the sandboxed worker talk in.

A message is one frame on a pipe::

    8 bytes   length of the header, little-endian unsigned
    header    UTF-8 JSON: {"value": <encoded value>, "arrays": [{"dtype", "shape"}, ...]}
    buffers   the raw bytes of each array, in the order of "arrays"

An encoded value is JSON built from: null, booleans, numbers, strings, and objects tagged
with a ``"$"`` key: ``{"$": "array", "i": k}`` (the k-th buffer), ``{"$": "tuple", "v": [...]}``,
``{"$": "list", "v": [...]}``, ``{"$": "dict", "v": {...}}`` (string keys), ``{"$": "slice",
"v": [start, stop, step]}``, ``{"$": "ellipsis"}``, ``{"$": "dtype", "v": "float64"}``,
``{"$": "float", "v": "nan"}`` (non-finite floats), plus whatever tags the caller's ``hook``
adds (tensors, graph nodes). Only numeric and boolean arrays travel; decoding never runs code,
and a frame whose sizes do not add up is refused before anything is allocated.

The worker loads this file from the grader's own copy, so it imports nothing from tinydl.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_FRAME_BYTES = 1 << 30  # 1 GiB: more than any course test sends
_ARRAY_KINDS = "biufc"  # bool, signed, unsigned, float, complex
_LENGTH = struct.Struct("<Q")


class WireError(Exception):
    """A frame or value that does not follow the format above."""


class Encoder:
    """Turn a value into (JSON-able structure, list of arrays). ``hook(value, encoder)`` may
    return an encoded form for objects the format does not know (or None to fall through)."""

    def __init__(self, hook: Callable[[Any, Encoder], Any] | None = None):
        self.hook = hook
        self.arrays: list[np.ndarray] = []

    def array(self, value: Any) -> dict:
        array = np.ascontiguousarray(value)
        if array.dtype.kind not in _ARRAY_KINDS:
            raise WireError(f"cannot send an array of dtype {array.dtype}: only numbers and booleans travel")
        self.arrays.append(array)
        return {"$": "array", "i": len(self.arrays) - 1}

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and not isinstance(value, np.integer):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, np.generic):
            return {"$": "scalar", "a": self.array(np.asarray(value))}
        if self.hook is not None:
            encoded = self.hook(value, self)
            if encoded is not None:
                return encoded
        if isinstance(value, tuple):
            return {"$": "tuple", "v": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return {"$": "list", "v": [self.encode(v) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"$": "dict", "v": {k: self.encode(v) for k, v in value.items()}}
        if isinstance(value, slice):
            return {"$": "slice", "v": [self.encode(value.start), self.encode(value.stop), self.encode(value.step)]}
        if value is Ellipsis:
            return {"$": "ellipsis"}
        if isinstance(value, type) and issubclass(value, np.generic) or isinstance(value, np.dtype):
            return {"$": "dtype", "v": np.dtype(value).name}
        raise WireError(f"cannot send a {type(value).__name__} between the grader and the worker")

    def frame(self, body: Any) -> bytes:
        """One frame of an already encoded ``body`` and the arrays this encoder collected."""
        meta = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in self.arrays]
        header = json.dumps({"value": body, "arrays": meta}, allow_nan=False).encode("utf-8")
        return b"".join([_LENGTH.pack(len(header)), header, *(a.tobytes() for a in self.arrays)])


class Decoder:
    """The inverse of Encoder over one frame's arrays; ``hook(tag, obj, decoder)`` decodes extra tags."""

    def __init__(self, arrays: list[np.ndarray], hook: Callable[[str, dict, Decoder], Any] | None = None):
        self.arrays = arrays
        self.hook = hook

    def decode(self, value: Any) -> Any:
        if not isinstance(value, (dict, list)):
            return value
        if isinstance(value, list):
            raise WireError("a bare JSON list is not an encoded value")
        tag = value.get("$")
        if tag == "array":
            return self.arrays[_index(value.get("i"), len(self.arrays))]
        if tag == "scalar":
            return self.decode(value["a"])[()]
        if tag == "tuple":
            return tuple(self.decode(v) for v in value["v"])
        if tag == "list":
            return [self.decode(v) for v in value["v"]]
        if tag == "dict":
            return {str(k): self.decode(v) for k, v in value["v"].items()}
        if tag == "slice":
            return slice(*(self.decode(v) for v in value["v"]))
        if tag == "ellipsis":
            return Ellipsis
        if tag == "dtype":
            return np.dtype(str(value["v"])).type
        if tag == "float":
            return float(value["v"]) if value["v"] in ("nan", "inf", "-inf") else _bad(value)
        if self.hook is not None:
            return self.hook(tag, value, self)
        return _bad(value)


def encode_object(value: Any, encoder: Encoder, package: str = "tinydl") -> dict | None:
    """An instance of a class of ``package`` as its class name and attributes (None: not one).

    The other side rebuilds it without running any constructor: ``decode_object``."""
    cls = type(value)
    module = getattr(cls, "__module__", "")
    if not (module == package or module.startswith(package + ".")) or not hasattr(value, "__dict__"):
        return None
    state = {k: v for k, v in vars(value).items() if isinstance(k, str)}
    return {"$": "object", "cls": f"{module}:{cls.__qualname__}", "state": encoder.encode(state)}


def decode_object(obj: dict, decoder: Decoder, resolve: Callable[[str], Any]) -> Any:
    """The object ``encode_object`` described, built from this side's class of the same name."""
    cls = resolve(str(obj["cls"]))
    if not isinstance(cls, type):
        raise WireError(f"{obj['cls']} is not a class")
    instance = object.__new__(cls)
    instance.__dict__.update(decoder.decode(obj["state"]))
    return instance


def _index(index: Any, count: int) -> int:
    if not isinstance(index, int) or not 0 <= index < count:
        raise WireError(f"array index {index!r} out of range (the frame has {count} arrays)")
    return index


def _bad(value: Any) -> Any:
    raise WireError(f"unknown encoded value {str(value)[:80]}")


def pack(value: Any, hook: Callable | None = None) -> bytes:
    """One frame holding ``value``."""
    encoder = Encoder(hook)
    return encoder.frame(encoder.encode(value))


def write_frame(fd: int, frame: bytes) -> None:
    """Write one frame (from ``pack`` or ``Encoder.frame``) to file descriptor ``fd``, all of it."""
    data = memoryview(frame)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_frame(read: Callable[[int], bytes], hook: Callable | None = None) -> Any:
    """Read one frame with ``read(n)`` (which returns exactly n bytes or raises) and decode it."""
    (length,) = _LENGTH.unpack(read(_LENGTH.size))
    if length > MAX_FRAME_BYTES:
        raise WireError(f"frame header of {length} bytes is over the {MAX_FRAME_BYTES}-byte limit")
    header = json.loads(read(length).decode("utf-8"))
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise WireError("frame header must be an object with an 'arrays' list")
    specs = []
    total = 0
    for spec in header["arrays"]:
        dtype = np.dtype(str(spec["dtype"]))
        shape = tuple(int(n) for n in spec["shape"])
        if dtype.kind not in _ARRAY_KINDS or any(n < 0 for n in shape) or len(shape) > 64:
            raise WireError(f"refused array spec {spec!r}: numeric dtype and non-negative dims only")
        nbytes = math.prod(shape) * dtype.itemsize
        total += nbytes
        if total > MAX_FRAME_BYTES:
            raise WireError(f"frame declares more than {MAX_FRAME_BYTES} bytes of arrays")
        specs.append((dtype, shape, nbytes))
    arrays = [np.frombuffer(read(nbytes), dtype=dtype).reshape(shape).copy() for dtype, shape, nbytes in specs]
    return Decoder(arrays, hook).decode(header["value"])


def fd_reader(fd: int, deadline_wait: Callable[[], None] | None = None) -> Callable[[int], bytes]:
    """A ``read(n)`` over a file descriptor: exactly n bytes, EOFError when the other side is gone.

    ``deadline_wait()`` is called before each ``os.read`` (it may raise TimeoutError)."""

    def read(count: int) -> bytes:
        parts = []
        while count:
            if deadline_wait is not None:
                deadline_wait()
            chunk = os.read(fd, min(count, 1 << 20))
            if not chunk:
                raise EOFError("the other side closed the pipe")
            parts.append(chunk)
            count -= len(chunk)
        return b"".join(parts)

    return read
