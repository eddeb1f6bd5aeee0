"""``tinydl.save`` / ``tinydl.load``: PyTorch's names for saving state dicts and tensors.

Files are tinydl's checkpoint format (``tinydl.io``: .npz arrays plus a JSON tree), written
atomically; loading never runs code (no pickle). So, unlike ``torch.save(model)``, only data
can be saved: a module or optimizer passed whole is refused with the one-line fix.
"""
from __future__ import annotations

from typing import Any

import numpy

from tinydl import io
from tinydl.tensor import Tensor


def save(obj: Any, path: Any) -> None:
    """Save a tensor, a state dict, or a dict/list/tuple of them and plain values to ``path``."""
    for kind, name in (("param_groups", "optimizer"), ("state_dict", "model")):
        if hasattr(obj, kind) and callable(getattr(obj, "state_dict", None)):
            raise TypeError(
                f"save: got a {type(obj).__name__} object; tinydl saves data, never pickled "
                f"objects: pass {name}.state_dict() (and rebuild the {type(obj).__name__} "
                f"before {name}.load_state_dict(tinydl.load(path)))")
    io.save(obj, path)


def load(path: Any, map_location: Any = None, weights_only: bool = True) -> Any:
    """Load what ``save`` wrote: the same structure, with arrays back as Tensors (of their
    saved dtype). ``map_location`` moves them to a device; ``weights_only`` is accepted for
    PyTorch code (tinydl files only ever hold data)."""
    del weights_only  # always true in tinydl: there is nothing else to load
    return _to_tensors(io.load(path), map_location)


def _to_tensors(value: Any, device: Any) -> Any:
    if isinstance(value, dict):
        return {key: _to_tensors(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_tensors(item, device) for item in value)
    if isinstance(value, numpy.ndarray):
        return Tensor(value, dtype=value.dtype, device=device)
    return value
