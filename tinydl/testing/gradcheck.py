"""Numerical gradient checks: compare backward's gradients with central differences.

``gradcheck(fn, inputs)`` reduces fn's output(s) to one number with fixed random weights,
L = sum(w * fn(inputs)), and compares dL/dx from backward with (L(x + eps) - L(x - eps)) / 2eps:
element by element for small inputs, along random directions for large ones. Inputs must be
float64 (float32 differences are too coarse to check anything).
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy

from tinydl.autograd import grad as autograd_grad
from tinydl.tensor import Tensor


class GradcheckError(AssertionError):
    """Backward and the numerical derivative disagree (the message says where and by how much)."""


def _outputs(result: Any) -> list[Tensor]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _projection_weights(outputs: list[Tensor], seed: int) -> list[numpy.ndarray]:
    rng = numpy.random.default_rng(seed)
    return [rng.uniform(0.5, 1.5, size=o.shape) * rng.choice([-1.0, 1.0], size=o.shape)
            for o in outputs]


def _scalar_value(fn: Callable, inputs: Sequence[Any], weights: list) -> float:
    outputs = _outputs(fn(*inputs))  # grad stays on: gradgradcheck's fn calls backward inside
    return float(sum(numpy.sum(o.numpy().astype(numpy.float64) * w)
                     for o, w in zip(outputs, weights)))


def _value_with_step(fn: Callable, inputs: Sequence[Any], weights: list, data: numpy.ndarray,
                     original: numpy.ndarray, step: numpy.ndarray) -> float:
    """The weighted output of ``fn`` with an input's ``data`` set to ``original + step`` (same
    shape), restored to ``original`` afterwards."""
    data[...] = original + step
    try:
        return _scalar_value(fn, inputs, weights)
    finally:
        data[...] = original


def _check_dtypes(inputs: Sequence[Any]) -> list[int]:
    positions = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not positions:
        raise ValueError("gradcheck: no input requires grad; pass Tensors with requires_grad=True")
    for i in positions:
        if inputs[i].dtype != numpy.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs "
                             "(tinydl.tensor(x, dtype=tinydl.float64, requires_grad=True))")
    return positions


def gradcheck(fn: Callable, inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, max_elements: int = 512, directions: int = 8,
              seed: int = 0) -> bool:
    """Check backward's gradients of ``fn`` at ``inputs`` against central differences.

    fn: maps the inputs to a Tensor (any shape) or a tuple of Tensors.
    inputs: Tensors (float64, requires_grad=True for the ones to check) and other arguments.
    Inputs with more than ``max_elements`` elements are checked along ``directions`` random
    directions instead of element by element. Returns True or raises GradcheckError.
    """
    positions = _check_dtypes(inputs)
    outputs = _outputs(fn(*inputs))
    weights = _projection_weights(outputs, seed)
    checked = [inputs[i] for i in positions]
    # backward with the weights as the starting gradient gives d(sum(w * out))/dx without
    # building that sum, so a check never depends on the Mul and Sum ops it may be testing
    analytic = [numpy.zeros(t.shape) for t in checked]
    grads = _weighted_grads(outputs, weights, checked, create_graph=False)
    for i, g in enumerate(grads):
        if g is not None:
            analytic[i] = g.numpy().astype(numpy.float64)
    rng = numpy.random.default_rng(seed + 1)
    for position, tensor, analytic_grad in zip(positions, checked, analytic):
        data = tensor.data
        # value_at(step): the weighted output with this input moved by step (then put back)
        value_at = functools.partial(_value_with_step, fn, inputs, weights, data, data.copy())
        if tensor.size <= max_elements:
            numeric = numpy.zeros(tensor.shape)
            for flat in range(tensor.size):
                step = numpy.zeros(tensor.size)
                step[flat] = eps
                step = step.reshape(tensor.shape)
                numeric.reshape(-1)[flat] = (value_at(step) - value_at(-step)) / (2 * eps)
            _compare(numeric, analytic_grad, atol, rtol, f"input {position}", per_element=True)
        else:
            for d in range(directions):
                direction = rng.standard_normal(tensor.shape)
                direction /= numpy.linalg.norm(direction)
                numeric = (value_at(eps * direction) - value_at(-eps * direction)) / (2 * eps)
                projected = float(numpy.sum(analytic_grad * direction))
                _compare(numpy.array([numeric]), numpy.array([projected]), atol, rtol,
                         f"input {position}, random direction {d}", per_element=False)
    return True


def _weighted_grads(outputs: list[Tensor], weights: list[numpy.ndarray], inputs: list[Tensor],
                    create_graph: bool) -> list[Any]:
    """d(sum_k w_k * out_k)/d(inputs), None for inputs that do not affect the outputs."""
    pairs = [(o, w) for o, w in zip(outputs, weights) if o.requires_grad]
    if not pairs:
        return [None] * len(inputs)
    return list(autograd_grad([o for o, _ in pairs], inputs,
                              grad_outputs=[Tensor(w, dtype=o.dtype) for o, w in pairs],
                              create_graph=create_graph, allow_unused=True))


def _compare(numeric: numpy.ndarray, analytic: numpy.ndarray, atol: float, rtol: float,
             where: str, per_element: bool) -> None:
    error = numpy.abs(numeric - analytic)
    allowed = atol + rtol * numpy.abs(numeric)
    if numpy.all(error <= allowed) and numpy.all(numpy.isfinite(analytic)):
        return
    worst = numpy.unravel_index(numpy.argmax(numpy.where(numpy.isfinite(error), error - allowed,
                                                          numpy.inf)), error.shape)
    position = f" at element {tuple(int(i) for i in worst)}" if per_element else ""
    raise GradcheckError(
        f"gradcheck: {where}{position}: analytic gradient {analytic[worst]:.8g} vs numerical "
        f"{numeric[worst]:.8g} (difference {error[worst]:.3g}, allowed {allowed[worst]:.3g})")


def gradgradcheck(fn: Callable, inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, max_elements: int = 256, seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of the gradient of fn (weighted by fixed random w).

    This differentiates backward itself (built with ``create_graph=True``), so it catches a
    backward that is right at first order but not written in differentiable ops.
    """
    positions = _check_dtypes(inputs)
    weights = _projection_weights(_outputs(fn(*inputs)), seed)

    def first_derivatives(*xs: Any) -> tuple:
        checked = [xs[i] for i in positions]
        grads = _weighted_grads(_outputs(fn(*xs)), weights, checked, create_graph=True)
        return tuple(Tensor(numpy.zeros(x.shape), dtype=x.dtype) if g is None else g
                     for g, x in zip(grads, checked))

    return gradcheck(first_derivatives, inputs, eps=eps, atol=atol, rtol=rtol,
                     max_elements=max_elements, seed=seed + 3)
