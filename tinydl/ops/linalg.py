"""Matrix multiplication: 1-D, 2-D and batched (batch dims broadcast), through BLAS."""
from __future__ import annotations

from typing import Any

from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import ShapeError
from tinydl.ops.common import binary_operands
from tinydl.tensor import Tensor


class MatMul(Function):
    """a @ b with NumPy's rules: (..., m, k) @ (..., k, n) -> (..., m, n); 1-D operands are
    treated as a row (left) or a column (right) vector and that dim is dropped again."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return get_array_module(a).matmul(a, b)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        a, b = ctx.inputs
        # Give 1-D operands (and the gradient) back the dim matmul dropped, so the
        # batched formulas below apply: dA = dC @ B^T, dB = A^T @ dC.
        a2 = a.reshape(1, -1) if a.ndim == 1 else a          # (k,) -> (1, k)
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b          # (k,) -> (k, 1)
        grad2 = grad
        if a.ndim == 1:
            grad2 = grad2.unsqueeze(-2 if b.ndim > 1 else 0)  # (..., n) -> (..., 1, n)
        if b.ndim == 1:
            grad2 = grad2.unsqueeze(-1)                       # (..., m) -> (..., m, 1)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            ### BEGIN SOLUTION task 2.2
            # HINT: dA = dC @ B^T, transposing B's last two axes with swapaxes(-1, -2)
            grad_a = grad2 @ b2.swapaxes(-1, -2)              # (..., m, k)
            ### END SOLUTION
            if a.ndim == 1:
                grad_a = grad_a.squeeze(-2)                    # (..., 1, k) -> (..., k)
        if ctx.needs_input_grad[1]:
            ### BEGIN SOLUTION task 2.2
            # HINT: dB = A^T @ dC, transposing A's last two axes with swapaxes(-1, -2)
            grad_b = a2.swapaxes(-1, -2) @ grad2              # (..., k, n)
            ### END SOLUTION
            if b.ndim == 1:
                grad_b = grad_b.squeeze(-1)                    # (..., k, 1) -> (..., k)
        return grad_a, grad_b


def _check_matmul_shapes(a_shape: tuple, b_shape: tuple) -> None:
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ShapeError(f"matmul: shapes {a_shape} and {b_shape}: 0-d tensors cannot be "
                         "matrix-multiplied; use * for scalars")
    inner_a = a_shape[-1]
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if inner_a != inner_b:
        raise ShapeError(f"matmul: shapes {a_shape} and {b_shape} do not align: inner dims "
                         f"{inner_a} != {inner_b} (a's last dim must equal b's "
                         f"{'only' if len(b_shape) == 1 else 'second-to-last'} dim; "
                         "transpose one of them?)")
    batch_a, batch_b = a_shape[:-2], b_shape[:-2]
    for n, m in zip(reversed(batch_a), reversed(batch_b)):
        if n != m and n != 1 and m != 1:
            raise ShapeError(f"matmul: shapes {a_shape} and {b_shape}: batch dims {batch_a} and "
                             f"{batch_b} cannot broadcast")


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product a @ b. Shapes: (m, k) @ (k, n) -> (m, n); batched (..., m, k) @ (..., k, n)."""
    a, b = binary_operands(a, b)
    _check_matmul_shapes(a.shape, b.shape)
    return MatMul.apply(a, b)
