"""``constant(array)``: wrap an array an op computed as a Tensor outside the graph, as it is.

Unlike ``Tensor(array)``, which turns host float64 data into float32 (the user-facing default),
this keeps the array's dtype and device: a float64 mask or shift stays float64 in a float64
computation, so gradients keep their precision.
"""
from __future__ import annotations

from typing import Any

from tinydl.tensor import Tensor


def constant(array: Any) -> Tensor:
    """``array`` (of the active array module) as a Tensor that needs no gradient."""
    return Tensor._from_op(array, None, 0)
