"""Differentiable primitives, grouped by kind. Each is a Function with forward and backward."""
from tinydl.ops import elementwise, linalg, nn, reduce, shape  # noqa: F401
from tinydl.ops import conv, loss, normalization, recurrent  # noqa: F401
from tinydl.ops import hooks  # noqa: F401
