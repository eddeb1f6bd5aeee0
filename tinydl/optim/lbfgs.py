"""L-BFGS: a quasi-Newton method that builds a curvature estimate from the last few steps.

Unlike the other optimizers, ``step`` needs a closure that recomputes the loss (zero_grad,
forward, backward, return loss), because one step evaluates the loss several times:

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    optimizer.step(closure)

One step runs up to ``max_iter`` iterations on the flattened parameters x with gradient g:

    d = -H g           the two-loop recursion over the stored pairs (s = x_new - x_old,
                       y = g_new - g_old, kept when y.s > 1e-10, at most history_size),
                       with H's diagonal guess y.s / y.y from the newest pair
    t = lr             (on the very first iteration min(1, 1 / sum|g|) * lr)
    x = x + t d        then the loss and g are evaluated again

and stops early when max|g| <= tolerance_grad, the directional derivative g.d is above
-tolerance_change, the step or the loss change is below tolerance_change, or the closure has
run max_eval times. With ``line_search_fn="strong_wolfe"`` the step t is searched for along d
instead (see line_search.py). The algorithm is PyTorch's. All parameters must be in one group;
the optimizer state lives under the first parameter, as in PyTorch.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tinydl.autograd import enable_grad
from tinydl.optim.line_search import strong_wolfe
from tinydl.optim.optimizer import Optimizer


class LBFGS(Optimizer):
    """LBFGS(params, lr=1, max_iter=20, max_eval=None (max_iter * 5 // 4),
    tolerance_grad=1e-7, tolerance_change=1e-9, history_size=100, line_search_fn=None).

    line_search_fn: None takes the step lr * d; "strong_wolfe" searches along d for a step
    that satisfies the strong Wolfe conditions (line_search.py).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                             f"{line_search_fn!r}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                        tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                        history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS: all parameters must be in one group (it works on them "
                             "as one flat vector); pass model.parameters()")
        self._params = self.param_groups[0]["params"]

    def _check_group(self, group: dict[str, Any]) -> None:
        self._check_range("LBFGS", "lr", group["lr"], 0.0)

    def _flat_grad(self) -> Any:
        """Every parameter's gradient (zeros where it has none), joined into one vector."""
        xp = self._params[0].xp
        parts = [xp.zeros(p.size, dtype=p.dtype) if p.grad is None else p.grad.data.reshape(-1)
                 for p in self._params]
        return xp.concatenate(parts)

    def _add_to_params(self, step: float, direction: Any) -> None:
        """x = x + step * direction, the flat direction cut back into parameter shapes."""
        offset = 0
        for p in self._params:
            size = p.size
            p.data += step * direction[offset:offset + size].reshape(p.shape)
            offset += size

    def _evaluator(self, closure: Callable[[], Any], direction: Any) -> Callable:
        """evaluate(t): the loss and flat gradient at x + t * direction; x is restored."""
        def evaluate(step: float) -> tuple[float, Any]:
            saved = [p.data.copy() for p in self._params]
            self._add_to_params(step, direction)
            with enable_grad():
                loss = float(closure())
            grad = self._flat_grad().copy()
            for p, data in zip(self._params, saved):
                p.data = data
            return loss, grad
        return evaluate

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run up to max_iter iterations; returns the loss closure() gave before the first."""
        if closure is None:
            raise TypeError("LBFGS.step: needs a closure that recomputes the loss (zero_grad, "
                            "forward, backward, return loss): optimizer.step(closure)")
        group = self.param_groups[0]
        lr, history_size = group["lr"], group["history_size"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        xp = self._params[0].xp
        state = self._state_for(self._params[0])
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            first_loss = closure()
        loss = float(first_loss)
        evals = 1
        state["func_evals"] += 1
        grad = self._flat_grad()
        if float(xp.abs(grad).max()) <= tolerance_grad:
            return first_loss

        direction, step = state.get("d"), state.get("t")
        old_dirs, old_steps, inverse_ys = (state.get("old_dirs"), state.get("old_stps"),
                                           state.get("ro"))
        h_diag, prev_grad = state.get("H_diag"), state.get("prev_flat_grad")
        iteration = 0
        while iteration < group["max_iter"]:
            iteration += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                direction = -grad
                old_dirs, old_steps, inverse_ys, h_diag = [], [], [], 1.0
            else:
                y = grad - prev_grad
                s = direction * step
                ys = float(y @ s)
                if ys > 1e-10:  # keep the pair only when the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_steps.pop(0)
                        inverse_ys.pop(0)
                    old_dirs.append(y)
                    old_steps.append(s)
                    inverse_ys.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                alphas = [0.0] * len(old_dirs)
                q = -grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    alphas[i] = float(old_steps[i] @ q) * inverse_ys[i]
                    q = q - alphas[i] * old_dirs[i]
                direction = q * h_diag
                for i in range(len(old_dirs)):
                    beta = float(old_dirs[i] @ direction) * inverse_ys[i]
                    direction = direction + (alphas[i] - beta) * old_steps[i]
            prev_grad = grad.copy()
            prev_loss = loss
            if state["n_iter"] == 1:
                step = min(1.0, 1.0 / float(xp.abs(grad).sum())) * lr
            else:
                step = lr
            slope = float(grad @ direction)
            if slope > -tolerance_change:
                break
            evaluated = 0
            if group["line_search_fn"] == "strong_wolfe":
                loss, grad, step, evaluated = strong_wolfe(
                    self._evaluator(closure, direction), step, direction, loss, grad, slope,
                    max_ls=group["max_eval"] - evals)
                self._add_to_params(step, direction)
            else:
                self._add_to_params(step, direction)
                if iteration != group["max_iter"]:
                    with enable_grad():
                        loss = float(closure())
                    grad = self._flat_grad()
                    evaluated = 1
            evals += evaluated
            state["func_evals"] += evaluated
            if iteration == group["max_iter"] or evals >= group["max_eval"]:
                break
            if float(xp.abs(grad).max()) <= tolerance_grad:
                break
            if float(xp.abs(direction * step).max()) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=direction, t=step, old_dirs=old_dirs, old_stps=old_steps, ro=inverse_ys,
                     H_diag=h_diag, prev_flat_grad=prev_grad, prev_loss=prev_loss)
        return first_loss
