"""OpSpec: one declaration per differentiable op, from which the test suite generates
forward-vs-reference, gradcheck, gradgradcheck, dtype and PyTorch-comparison tests.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class OpSpec:
    """Everything the generated tests need to know about one op.

    name: test id. fn: the tinydl call, ``fn(*tensors) -> Tensor | tuple``.
    reference: the same on float64 NumPy arrays (an independent formula, not tinydl).
    inputs: a hypothesis strategy drawing the list of input arrays.
    torch_fn: the same in PyTorch on torch tensors (None when torch has no equivalent).
    differentiable: indices of the inputs whose gradients are checked (default: all float).
    gradgrad: also check second derivatives. eps: the central-difference step.
    """

    name: str
    fn: Callable[..., Any]
    reference: Callable[..., Any]
    inputs: Any
    torch_fn: Callable[..., Any] | None = None
    differentiable: tuple[int, ...] | None = None
    gradgrad: bool = True
    eps: float = 1e-6
    forward_atol: float = 1e-8
    grad_atol: float = 1e-5
    grad_rtol: float = 1e-3

    def differentiable_positions(self, arrays: list) -> list[int]:
        if self.differentiable is not None:
            return list(self.differentiable)
        return [i for i, a in enumerate(arrays) if getattr(a, "dtype", None) is not None
                and a.dtype.kind == "f"]
