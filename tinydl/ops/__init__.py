"""Differentiable primitives, grouped by kind. Each is a Function with forward and backward."""
from tinydl.ops import elementwise, linalg, nn, reduce, shape
from tinydl.ops import conv, loss, normalization, recurrent
from tinydl.ops import arrange, bitwise, einsum, math, scan, selection, statistics
from tinydl.ops import hooks
