"""``tinydl.linalg``: PyTorch's ``torch.linalg`` names (norms, inverse, determinant, solve).

The Functions live in tinydl.ops.linalg; this module is the namespace users call.
"""
from tinydl.ops.linalg import cross as _cross
from tinydl.ops.linalg import det, inv, matmul, matrix_norm, matrix_power, norm, solve, vector_norm


def cross(input, other, *, dim=-1):  # PyTorch's names
    """Cross product of 3-vectors along ``dim`` (default: the last dim, unlike torch.cross)."""
    return _cross(input, other, dim)


__all__ = ["cross", "det", "inv", "matmul", "matrix_norm", "matrix_power", "norm", "solve",
           "vector_norm"]
