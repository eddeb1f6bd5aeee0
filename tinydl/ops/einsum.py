"""einsum: products and sums of tensors written as index equations ("bij,bjk->bik").

The wrapper first makes every equation simple: it spells out "..." as letters, takes the
diagonal where a letter repeats inside one operand ("ii->i"), and sums away letters that occur
in one operand only and not in the output. What is left, each letter at most once per operand,
is the ``Einsum`` primitive, whose backward is einsum again: the gradient of operand k is
einsum(output, the other operands -> operand k's letters). So it differentiates any number of
times.
"""
from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import ShapeError
from tinydl.ops.common import as_tensor
from tinydl.tensor import Tensor


class Einsum(Function):
    """xp.einsum on operands whose letters are distinct within each operand."""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, inputs: tuple = (), output: str = "") -> Any:
        equation = ",".join(inputs) + "->" + output
        return get_array_module(arrays[0]).einsum(equation, *arrays, optimize=len(arrays) > 2)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        inputs, output = ctx.params["inputs"], ctx.params["output"]
        grads = []
        for k, (tensor, letters) in enumerate(zip(ctx.inputs, inputs)):
            if not ctx.needs_input_grad[k]:
                grads.append(None)
                continue
            others = [(t, s) for j, (t, s) in enumerate(zip(ctx.inputs, inputs)) if j != k]
            grads.append(_contract([grad] + [t for t, _ in others],
                                   [output] + [s for _, s in others], letters,
                                   {c: n for c, n in zip(letters, tensor.shape)}))
        return tuple(grads)


def _contract(tensors: list, subscripts: list, output: str, sizes: dict) -> Tensor:
    """einsum(subscripts -> output) where output may hold letters found in no operand
    (the gradient broadcasts along them)."""
    present = set("".join(subscripts))
    kept = "".join(c for c in output if c in present)
    result = Einsum.apply(*tensors, inputs=tuple(subscripts), output=kept)
    if kept == output:
        return result
    shape = tuple(sizes[c] if c in present else 1 for c in output)
    return result.reshape(shape).broadcast_to(tuple(sizes[c] for c in output))


def _parse(equation: str, operands: Sequence[Tensor]) -> tuple[list[str], str]:
    """Split the equation into input subscripts and output, with "..." spelled as letters."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ShapeError(f"einsum: the equation {equation!r} names {len(inputs)} operands but "
                         f"{len(operands)} were given")
    used = set(c for c in equation if c.isalpha())
    spare = [c for c in string.ascii_letters if c not in used]
    ellipsis_dims = max((t.ndim - len(s.replace("...", "")) for s, t in zip(inputs, operands)
                         if "..." in s), default=0)
    broadcast = "".join(spare[:ellipsis_dims])
    spelled = []
    for s, t in zip(inputs, operands):
        if "..." in s:
            own = t.ndim - len(s.replace("...", ""))
            s = s.replace("...", broadcast[ellipsis_dims - own:])
        if len(s) != t.ndim or not all(c.isalpha() for c in s):
            raise ShapeError(f"einsum: subscripts {s!r} do not fit an operand of shape {t.shape} "
                             f"(one letter per dim)")
        spelled.append(s)
    if arrow:
        output = rhs.replace("...", broadcast)
    else:  # implicit output: "..." first, then the letters used exactly once, sorted
        counts = "".join(spelled)
        output = broadcast + "".join(sorted(c for c in set(counts) if counts.count(c) == 1
                                            and c not in broadcast))
    return spelled, output


def _take_diagonals(t: Tensor, letters: str) -> tuple[Tensor, str]:
    """Where a letter repeats in one operand, keep the diagonal (as "ii" means)."""
    from tinydl.ops.arrange import diagonal  # arrange imports nothing of ours

    while len(set(letters)) != len(letters):
        c = next(c for c in letters if letters.count(c) > 1)
        first = letters.index(c)
        second = letters.index(c, first + 1)
        if t.shape[first] != t.shape[second]:
            raise ShapeError(f"einsum: letter {c!r} repeats over dims of sizes {t.shape[first]} "
                             f"and {t.shape[second]}")
        t = diagonal(t, 0, first, second)  # the diagonal becomes the last dim
        letters = "".join(x for i, x in enumerate(letters) if i not in (first, second)) + c
    return t, letters


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation: ``einsum("bij,bjk->bik", a, b)`` is a batched matmul.

    Letters shared between operands are multiplied along; letters missing from the output
    (after "->") are summed. "..." stands for the leading dims. Operands may also be given
    as one list: ``einsum("ij,jk", [a, b])``.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = [as_tensor(t) for t in operands]
    if not tensors:
        raise ShapeError("einsum: needs at least one operand")
    inputs, output = _parse(equation, tensors)
    sizes: dict = {}
    for s, t in zip(inputs, tensors):
        for c, n in zip(s, t.shape):
            if sizes.get(c, n) != n and 1 not in (n, sizes[c]):
                raise ShapeError(f"einsum: letter {c!r} has size {sizes[c]} in one operand and "
                                 f"{n} in another ({equation!r})")
            sizes[c] = max(n, sizes.get(c, n))
    if len(set(output)) != len(output) or any(c not in sizes for c in output):
        raise ShapeError(f"einsum: output {output!r} must name distinct letters of the inputs")
    simple, letters_list = [], []
    for t, s in zip(tensors, inputs):
        full = tuple(sizes[c] for c in s)
        if t.shape != full:  # a size-1 dim meets a larger one: broadcast (gradients sum back)
            t = t.broadcast_to(full)
        t, s = _take_diagonals(t, s)
        lonely = [i for i, c in enumerate(s) if c not in output and
                  sum(c in other for other in inputs) == 1]
        if lonely:  # a letter only this operand has, and not in the output: sum it now
            t = t.sum(dim=tuple(lonely))
            s = "".join(c for i, c in enumerate(s) if i not in lonely)
        simple.append(t)
        letters_list.append(s)
    return Einsum.apply(*simple, inputs=tuple(letters_list), output=output)
