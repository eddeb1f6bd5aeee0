"""The strong Wolfe line search LBFGS uses with ``line_search_fn="strong_wolfe"``.

Given a direction d from the current point x (loss f, gradient g, slope gtd = g.d < 0), find a
step t whose new point satisfies both strong Wolfe conditions:

    sufficient decrease:  f(x + t d) <= f + c1 * t * gtd
    curvature:            |g(x + t d).d| <= c2 * |gtd|

Phase 1 grows t (each new trial is a cubic fit of the last two points, kept within
[t + 0.01 (t - t_prev), 10 t]) until the conditions hold or an interval that must contain an
acceptable t is found (the loss went up, or the slope turned non-negative). Phase 2 ("zoom")
shrinks that interval by cubic interpolation, nudging trials away from its ends when progress
stalls. The steps follow Nocedal & Wright, Numerical Optimization, algorithms 3.5 and 3.6, in
PyTorch's variant (so tinydl's LBFGS takes PyTorch's steps).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def cubic_minimum(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                  bounds: tuple[float, float] | None = None) -> float:
    """The minimizer, clipped to ``bounds`` (default: between x1 and x2), of the cubic through
    (x1, f1) and (x2, f2) with slopes g1 and g2; the middle of the bounds if it has none."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        position = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        position = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(position, low), high)


def strong_wolfe(evaluate: Callable[[float], tuple[float, Any]], step: float, direction: Any,
                 loss: float, grad: Any, slope: float, c1: float = 1e-4, c2: float = 0.9,
                 tolerance_change: float = 1e-9,
                 max_ls: int = 25) -> tuple[float, Any, float, int]:
    """Search along ``direction``; returns (loss, flat gradient, step, evaluations).

    evaluate(t): the loss and flat gradient at x + t * direction (x itself is left unchanged).
    """
    d_norm = float(abs(direction).max())
    new_loss, new_grad = evaluate(step)
    evals = 1
    new_slope = float(new_grad @ direction)
    prev_step, prev_loss, prev_grad, prev_slope = 0.0, loss, grad, slope
    done = False
    iteration = 0
    # phase 1: find an interval [t_a, t_b] that holds an acceptable step (or accept one)
    while iteration < max_ls:
        went_up = new_loss > loss + c1 * step * slope or (iteration > 1 and new_loss >= prev_loss)
        if not went_up and abs(new_slope) <= -c2 * slope:
            steps, losses, grads, slopes = [step], [new_loss], [new_grad], [new_slope]
            done = True
            break
        if went_up or new_slope >= 0:
            steps, losses = [prev_step, step], [prev_loss, new_loss]
            grads, slopes = [prev_grad, new_grad], [prev_slope, new_slope]
            break
        low, high = step + 0.01 * (step - prev_step), step * 10
        next_step = cubic_minimum(prev_step, prev_loss, prev_slope, step, new_loss, new_slope,
                                  bounds=(low, high))
        prev_step, prev_loss, prev_grad, prev_slope = step, new_loss, new_grad, new_slope
        step = next_step
        new_loss, new_grad = evaluate(step)
        evals += 1
        new_slope = float(new_grad @ direction)
        iteration += 1
    if iteration == max_ls:
        steps, losses, grads, slopes = [0.0, step], [loss, new_loss], [grad, new_grad], \
            [slope, new_slope]

    # phase 2 (zoom): shrink the interval; `best` indexes its end with the lower loss
    stalled = False
    best, worst = (0, 1) if losses[0] <= losses[-1] else (1, 0)
    while not done and iteration < max_ls:
        if abs(steps[1] - steps[0]) * d_norm < tolerance_change:
            break
        step = cubic_minimum(steps[0], losses[0], slopes[0], steps[1], losses[1], slopes[1])
        # keep the trial at least 10% of the interval away from its ends
        margin = 0.1 * (max(steps) - min(steps))
        if min(max(steps) - step, step - min(steps)) < margin:
            if stalled or step >= max(steps) or step <= min(steps):
                if abs(step - max(steps)) < abs(step - min(steps)):
                    step = max(steps) - margin
                else:
                    step = min(steps) + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        new_loss, new_grad = evaluate(step)
        evals += 1
        new_slope = float(new_grad @ direction)
        iteration += 1
        if new_loss > loss + c1 * step * slope or new_loss >= losses[best]:
            steps[worst], losses[worst], grads[worst], slopes[worst] = \
                step, new_loss, new_grad, new_slope
            best, worst = (0, 1) if losses[0] <= losses[1] else (1, 0)
        else:
            if abs(new_slope) <= -c2 * slope:
                done = True
            elif new_slope * (steps[worst] - steps[best]) >= 0:
                steps[worst], losses[worst] = steps[best], losses[best]
                grads[worst], slopes[worst] = grads[best], slopes[best]
            steps[best], losses[best], grads[best], slopes[best] = \
                step, new_loss, new_grad, new_slope
    return losses[best], grads[best], steps[best], evals
