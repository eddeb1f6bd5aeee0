"""Matrix multiplication: 1-D, 2-D and batched (batch dims broadcast), through BLAS."""
from __future__ import annotations

import math
from typing import Any

import numpy

from tinydl import backend
from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import DTypeError, ShapeError
from tinydl.ops.common import as_tensor, binary_operands
from tinydl.ops.constant import constant
from tinydl.tensor import Tensor


def matmul_arrays(a: Any, b: Any) -> Any:
    """The array product a @ b; a stack (..., m, k) times a matrix (k, n) runs as ONE GEMM.

    NumPy's matmul on a stack calls BLAS once per (m, k) matrix: many small GEMMs that a
    second BLAS thread barely speeds up (measured on 2 cores: (32, 128, 128) @ (128, 384)
    2.10 ms, the same numbers as one (4096, 128) @ (128, 384) GEMM 1.39 ms). Folding the
    leading dims into the rows gives the same values, one large GEMM.
    """
    xp = get_array_module(a)
    if a.ndim > 2 and b.ndim == 2:
        rows = a.reshape(-1, a.shape[-1])                      # (..., m, k) -> (M, k)
        return xp.matmul(rows, b).reshape(*a.shape[:-1], b.shape[-1])
    return xp.matmul(a, b)


class MatMul(Function):
    """a @ b with NumPy's rules: (..., m, k) @ (..., k, n) -> (..., m, n); 1-D operands are
    treated as a row (left) or a column (right) vector and that dim is dropped again."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return matmul_arrays(a, b)

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
            if a2.ndim > 2 and b2.ndim == 2:
                # a stack times one matrix: dB sums A^T @ dC over the stack, which is ONE
                # GEMM over all rows: (k, M) @ (M, n), M = A's leading dims folded together
                rows, grad_rows = a2.reshape(-1, a2.shape[-1]), grad2.reshape(-1, grad2.shape[-1])
                grad_b = rows.swapaxes(0, 1) @ grad_rows
            else:
                ### BEGIN SOLUTION task 2.2
                # HINT: dB = A^T @ dC, transposing A's last two axes with swapaxes(-1, -2)
                grad_b = a2.swapaxes(-1, -2) @ grad2          # (..., k, n)
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


# ---------------------------------------------------------------------------------------------
# Products with PyTorch's names (compositions of matmul, with each one's shape contract)
# ---------------------------------------------------------------------------------------------


def _checked_matmul(op: str, fix: str, operands: tuple, names: tuple, ndims: tuple) -> Tensor:
    """matmul after checking each operand's number of dims (mm, bmm, mv and dot do not broadcast)."""
    a, b = binary_operands(*operands)
    for tensor, name, ndim in zip((a, b), names, ndims):
        if tensor.ndim != ndim:
            raise ShapeError(f"{op}: {name} must be {ndim}-D, got shape {tensor.shape} "
                             f"({names[0]} {a.shape}, {names[1]} {b.shape}); {fix}")
    if op == "bmm" and a.shape[0] != b.shape[0]:
        raise ShapeError(f"bmm: batch sizes differ: input {a.shape} and mat2 {b.shape}; bmm does "
                         "not broadcast (use matmul)")
    return matmul(a, b)


def mm(input: Any, mat2: Any) -> Tensor:  # PyTorch's argument names
    """Matrix product of two 2-D tensors: (n, k) @ (k, m) -> (n, m) (no broadcasting)."""
    return _checked_matmul("mm", "use matmul (@) for vectors or batches", (input, mat2),
                           ("input", "mat2"), (2, 2))


def bmm(input: Any, mat2: Any) -> Tensor:
    """Batched matrix product: (b, n, k) @ (b, k, m) -> (b, n, m); batch sizes must match."""
    return _checked_matmul("bmm", "use matmul (@) to broadcast", (input, mat2),
                           ("input", "mat2"), (3, 3))


def mv(input: Any, vec: Any) -> Tensor:
    """Matrix times vector: (n, m) @ (m,) -> (n,)."""
    return _checked_matmul("mv", "use matmul (@) for other shapes", (input, vec),
                           ("input", "vec"), (2, 1))


def dot(input: Any, other: Any) -> Tensor:
    """Dot product of two 1-D tensors of one length: a 0-d tensor."""
    return _checked_matmul("dot", "flatten them first or use matmul/inner", (input, other),
                           ("input", "other"), (1, 1))


vdot = dot


def outer(input: Any, vec2: Any) -> Tensor:
    """Outer product of two 1-D tensors: (n,) x (m,) -> (n, m)."""
    a, b = binary_operands(input, vec2)
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer: needs two 1-D tensors, got shapes {a.shape} and {b.shape}; "
                         "flatten them first")
    return a.unsqueeze(1) * b.unsqueeze(0)


ger = outer


def inner(input: Any, other: Any) -> Tensor:
    """Sum over the last dims: (..a, k) x (..b, k) -> (..a, ..b); a product for 0-d inputs."""
    a, b = binary_operands(input, other)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, dims=([-1], [-1]))


def tensordot(a: Any, b: Any, dims: Any = 2) -> Tensor:
    """Contract ``dims`` (a count of a's last and b's first dims, or two lists) of a and b."""
    a, b = binary_operands(a, b)
    if isinstance(dims, int):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: dims={dims} does not fit shapes {a.shape} and {b.shape}")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in dims)
    dims_a = [d % a.ndim for d in dims_a]
    dims_b = [d % b.ndim for d in dims_b]
    if len(dims_a) != len(dims_b) or any(a.shape[i] != b.shape[j] for i, j in zip(dims_a, dims_b)):
        raise ShapeError(f"tensordot: contracted dims {dims_a} of {a.shape} and {dims_b} of "
                         f"{b.shape} must have equal sizes")
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    size = 1
    for d in dims_a:
        size *= a.shape[d]
    left = a.permute(free_a + dims_a).reshape(-1, size)
    right = b.permute(dims_b + free_b).reshape(size, -1)
    return (left @ right).reshape(tuple(a.shape[d] for d in free_a) +
                                  tuple(b.shape[d] for d in free_b))


def cross(input: Any, other: Any, dim: int | None = None) -> Tensor:
    """Cross product of 3-vectors along ``dim`` (default: the first dim of size 3)."""
    a, b = binary_operands(input, other)
    shape = tuple(numpy.broadcast_shapes(a.shape, b.shape))
    a, b = a.broadcast_to(shape), b.broadcast_to(shape)
    if dim is None:
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise ShapeError(f"cross: no dim of size 3 in shape {shape}")
    dim %= max(len(shape), 1)
    if shape[dim] != 3:
        raise ShapeError(f"cross: dim {dim} of shape {shape} has size {shape[dim]}, not 3")

    def part(t: Tensor, i: int) -> Tensor:
        return t[(slice(None),) * dim + (i,)]

    pieces = [part(a, (i + 1) % 3) * part(b, (i + 2) % 3) - part(a, (i + 2) % 3) * part(b, (i + 1) % 3)
              for i in range(3)]
    from tinydl.ops.shape import stack  # shape is a sibling

    return stack(pieces, axis=dim)


def kron(input: Any, other: Any) -> Tensor:
    """Kronecker product: every element of input times the whole of other, laid out in blocks."""
    a, b = binary_operands(input, other)
    ndim = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (ndim - a.ndim) + a.shape)
    b = b.reshape((1,) * (ndim - b.ndim) + b.shape)
    # (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...) -> (a0*b0, a1*b1, ...)
    a_spread = a.reshape(tuple(x for n in a.shape for x in (n, 1)))
    b_spread = b.reshape(tuple(x for n in b.shape for x in (1, n)))
    return (a_spread * b_spread).reshape(tuple(n * m for n, m in zip(a.shape, b.shape)))


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2), mat1 and mat2 2-D; input broadcasts."""
    return _scaled_sum(input, mm(mat1, mat2), beta, alpha)


def baddbmm(input: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * bmm(batch1, batch2); input broadcasts to (b, n, m)."""
    return _scaled_sum(input, bmm(batch1, batch2), beta, alpha)


def addmv(input: Any, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * (mat @ vec)."""
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


def addbmm(input: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * sum over the batch of bmm(batch1, batch2)."""
    return _scaled_sum(input, bmm(batch1, batch2).sum(dim=0), beta, alpha)


def _scaled_sum(input: Any, product: Tensor, beta: Any, alpha: Any) -> Tensor:
    scaled = product if alpha == 1 else product * alpha
    if beta == 0:  # PyTorch ignores input then, even NaN in it
        return scaled
    return (input if beta == 1 else input * beta) + scaled


# ---------------------------------------------------------------------------------------------
# Norms, inverse, determinant, solve (the tinydl.linalg namespace calls these)
# ---------------------------------------------------------------------------------------------


class VectorNorm(Function):
    """(sum |a|^p)^(1/p) over ``axes`` for a finite p > 0.

    Gradient sign(a) |a|^(p-1) / norm^(p-1), taken as 0 where the norm is 0 (as in PyTorch).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, ord: float = 2.0, axes: Any = None,
                keepdims: bool = False) -> Any:
        xp = get_array_module(a)
        if ord == 2:
            return xp.sqrt(xp.sum(a * a, axis=axes, keepdims=keepdims))
        return xp.sum(xp.abs(a) ** ord, axis=axes, keepdims=keepdims) ** (1.0 / ord)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        from tinydl.ops.elementwise import where  # sibling module
        from tinydl.ops.reduce import _expand_grad, _kept_shape

        a = ctx.inputs[0]
        p, axes = ctx.params["ord"], ctx.params["axes"]
        norm = VectorNorm.apply(a, ord=p, axes=axes, keepdims=True)
        zero = norm.data == 0
        safe = where(zero, 1.0, norm)
        grad = _expand_grad(grad.reshape(_kept_shape(a.shape, axes)), a.shape, axes)
        if p == 2:
            direction = a / safe
        else:
            direction = constant(a.xp.sign(a.data)) * a.abs() ** (p - 1) / safe ** (p - 1)
        return grad * where(zero, 0.0, direction)


def vector_norm(x: Any, ord: Any = 2, dim: Any = None, keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """The p-norm of x over ``dim`` (all elements by default): ord 2, 1, inf, -inf, 0 or any p."""
    from tinydl.ops.common import normalize_axes

    x = as_tensor(x)
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind not in "fc":
        raise DTypeError(f"vector_norm: needs a floating tensor, got {x.dtype}; convert it "
                         "with .float()")
    axes = normalize_axes(dim, x.ndim, "vector_norm") if x.ndim else None
    if ord in (math.inf, -math.inf):
        magnitude = x.abs()
        pick = magnitude.amax if ord > 0 else magnitude.amin
        return pick(dim=axes if axes is not None else tuple(range(x.ndim)), keepdim=keepdim)
    if ord == 0:
        count = (x.data != 0).sum(axis=axes, keepdims=keepdim).astype(x.dtype)
        return (x * 0).abs().sum(dim=axes, keepdim=keepdim) + constant(count)
    if ord < 0:  # (sum |x|^p)^(1/p) with negative p: composed, no zero handling needed
        return (x.abs() ** ord).sum(dim=axes, keepdim=keepdim) ** (1.0 / ord)
    return VectorNorm.apply(x, ord=float(ord), axes=axes, keepdims=keepdim)


def matrix_norm(A: Any, ord: Any = "fro", dim: tuple = (-2, -1), keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """Norm of the matrices in the last two dims: 'fro', 1, -1, inf, -inf (max/min abs
    column or row sum). 'nuc', 2 and -2 need singular values, which tinydl does not have."""
    A = as_tensor(A)
    if A.ndim < 2:
        raise ShapeError(f"matrix_norm: needs a tensor with at least 2 dims, got {A.shape}")
    rows, cols = (d % A.ndim for d in dim)
    if ord == "fro":
        return vector_norm(A, 2, (rows, cols), keepdim, dtype=dtype)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"matrix_norm: ord={ord!r} needs an SVD, which tinydl does not "
                                  "implement; use ord='fro', 1 or inf")
    if ord not in (1, -1, math.inf, -math.inf):
        raise ValueError(f"matrix_norm: ord must be 'fro', 1, -1, inf or -inf, got {ord!r}")
    summed_dim, over_dim = (rows, cols) if abs(ord) == 1 else (cols, rows)
    sums = A.abs().sum(dim=summed_dim, keepdim=True)
    pick = sums.amax if ord > 0 else sums.amin
    out = pick(dim=over_dim, keepdim=True)
    return out if keepdim else out.squeeze(dim=(rows, cols))


def norm(A: Any, ord: Any = None, dim: Any = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """linalg.norm: a vector norm, or a matrix norm when ``dim`` is a pair (or A is 2-D and
    ``ord`` is given). Without ord: the 2-norm of all elements."""
    A = as_tensor(A)
    if isinstance(dim, (tuple, list)) and len(dim) == 2 or (dim is None and ord is not None
                                                             and A.ndim == 2):
        return matrix_norm(A, "fro" if ord is None else ord, tuple(dim or (-2, -1)), keepdim,
                           dtype=dtype)
    if isinstance(ord, str):
        raise ValueError(f"norm: ord={ord!r} is a matrix norm; give a pair of dims")
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)


def torch_norm(input: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False,
               dtype: Any = None) -> Tensor:
    """``torch.norm``: p-norm over ``dim`` (all elements by default); 'fro' is the 2-norm."""
    if p == "nuc":
        return matrix_norm(input, "nuc", tuple(dim or (-2, -1)), keepdim, dtype=dtype)
    return vector_norm(input, 2 if p in ("fro", None) else p, dim, keepdim, dtype=dtype)


def _square_matrices(op: str, A: Tensor) -> None:
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ShapeError(f"{op}: needs square matrices in the last two dims, got shape {A.shape}")
    if A.dtype.kind not in "fc":
        raise DTypeError(f"{op}: needs a floating tensor, got {A.dtype}; convert with .float()")


def _linalg_call(op: str, fn: Any, *arrays: Any) -> Any:
    try:
        return fn(*arrays)
    except Exception as err:  # LinAlgError on NumPy, on CuPy its own
        if "singular" in str(err).lower():
            raise ValueError(f"{op}: the matrix is singular (not invertible); check for "
                             "repeated rows/columns or add a small multiple of the identity") from None
        raise


class Inv(Function):
    """A^-1 of square matrices (batched); d(A^-1) = -A^-1 dA A^-1, so dA = -A^-T G A^-T."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return _linalg_call("inv", get_array_module(a).linalg.inv, a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        inverse_t = inv(ctx.inputs[0]).swapaxes(-1, -2)
        return -(inverse_t @ grad @ inverse_t)


class Det(Function):
    """det(A) of square matrices (batched); d det / dA = det(A) A^-T (A invertible)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return get_array_module(a).linalg.det(a)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        a = ctx.inputs[0]
        scale = (grad * det(a)).unsqueeze(-1).unsqueeze(-1)
        return scale * inv(a).swapaxes(-1, -2)


class Solve(Function):
    """X with A X = B (A square, batched; B (..., n, k)). dB = A^-T G, dA = -dB X^T."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return _linalg_call("solve", get_array_module(a).linalg.solve, a, b)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        a, _ = ctx.inputs
        grad_b = solve(a.swapaxes(-1, -2), grad)
        grad_a = None
        if ctx.needs_input_grad[0]:
            grad_a = -(grad_b @ solve(a, ctx.inputs[1]).swapaxes(-1, -2))
        return grad_a, grad_b


def inv(A: Any) -> Tensor:
    """The inverse of square matrices (..., n, n)."""
    A = as_tensor(A)
    _square_matrices("inv", A)
    return Inv.apply(A)


def det(A: Any) -> Tensor:
    """The determinant of square matrices: (..., n, n) -> (...)."""
    A = as_tensor(A)
    _square_matrices("det", A)
    return Det.apply(A)


def solve(A: Any, B: Any, *, left: bool = True) -> Tensor:
    """X with A @ X = B. A: (..., n, n); B: (..., n, k), or (..., n) for one right-hand side."""
    A, B = binary_operands(A, B)
    _square_matrices("solve", A)
    if not left:
        raise NotImplementedError("solve: left=False is not supported; solve A^T X^T = B^T")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    rhs = B.unsqueeze(-1) if vector else B
    if rhs.shape[-2] != A.shape[-1]:
        raise ShapeError(f"solve: A of shape {A.shape} and B of shape {B.shape} do not fit: "
                         f"B needs {A.shape[-1]} rows")
    batch = tuple(numpy.broadcast_shapes(A.shape[:-2], rhs.shape[:-2]))
    A = A.broadcast_to(batch + A.shape[-2:])
    rhs = rhs.broadcast_to(batch + rhs.shape[-2:])
    out = Solve.apply(A, rhs)
    return out.squeeze(-1) if vector else out


def matrix_power(A: Any, n: int) -> Tensor:
    """A @ A @ ... (n times) by repeated squaring; n = 0 gives the identity, n < 0 uses inv."""
    A = as_tensor(A)
    _square_matrices("matrix_power", A)
    if n < 0:
        A, n = inv(A), -n
    eye = numpy.eye(A.shape[-1], dtype=A.dtype)
    result = A * 0 + as_tensor(backend.to_device(eye, A.device))
    power = A
    while n:
        if n & 1:
            result = result @ power
        power = power @ power if n > 1 else power
        n >>= 1
    return result
