"""The one Function behind ``Module.register_full_backward_hook``: an identity with a tap.

Forward passes its inputs through unchanged. Backward hands the gradients arriving for its
outputs to ``tap`` (a callable taking and returning a tuple of gradient Tensors, one per
output), which may look at them or replace them; what it returns flows on to the inputs. A
module wraps its tensor inputs in one tap and its outputs in another: the output tap sees
grad_output first, the input tap sees grad_input once backward has gone through the module.

It is private (not an op a user calls) and has no OpSpec: as a function it is the identity,
and the hook tests in tests/test_module_hooks.py check its gradients against torch's hooks.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tinydl.autograd import Context, Function


class _GradientTap(Function):
    """y_i = x_i; backward returns tap((dy_1, dy_2, ...))."""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, tap: Callable[[tuple], tuple]) -> Any:
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    @staticmethod
    def backward(ctx: Context, *grad_outputs: Any) -> Any:
        grads = tuple(ctx.params["tap"](grad_outputs))
        return grads[0] if len(grads) == 1 else grads


def tap_gradients(tensors: tuple, tap: Callable[[tuple], tuple]) -> tuple:
    """``tensors`` passed through a _GradientTap (a tuple of new Tensors, same values)."""
    out = _GradientTap.apply(*tensors, tap=tap)
    return out if isinstance(out, tuple) else (out,)
