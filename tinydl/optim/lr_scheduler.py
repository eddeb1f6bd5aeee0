"""Learning-rate schedulers: change ``optimizer.param_groups[i]["lr"]`` as training goes on.

Call ``scheduler.step()`` once per epoch (or per batch, for warm-up), after
``optimizer.step()``. ``get_last_lr()`` gives the learning rates now in use.

Each scheduler follows PyTorch's rules, including its step-by-step ("recursive") formulas,
which rescale the *current* lr, so that several schedulers can be chained and a user may still
change the lr by hand. Creating a scheduler performs step 0 (for most, the lr is unchanged;
LinearLR starts at ``start_factor * lr``) and records each group's starting lr as
``group["initial_lr"]``.

``state_dict()`` returns plain numbers and lists (saveable with tinydl.io.save); the optimizer
is not part of it, and neither are LambdaLR's functions. To resume, build the optimizer and the
scheduler first, then load both state dicts (building a scheduler performs step 0, which may
change the lr).
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from typing import Any

from tinydl.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: keeps ``last_epoch`` and ``base_lrs`` and writes each new lr to the groups."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected a tinydl optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for number, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} "
                                   f"needs param_groups[{number}]['initial_lr']; load the "
                                   "optimizer's state_dict first (or start with last_epoch=-1)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True  # true during the step the constructor makes
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The lr for each group at ``self.last_epoch`` (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch and set each group's lr.

        epoch: jump to this epoch instead (PyTorch deprecates it too): the lr then comes from
        the schedule's closed form where it has one.
        """
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            lrs = self._closed_form_lr() if hasattr(self, "_closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def _initial_step(self) -> None:
        """Perform step 0 again (SequentialLR does it when it hands over to a scheduler)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the latest step, one per parameter group."""
        return list(self._last_lr)

    _SAVED = ("base_lrs", "last_epoch", "_step_count", "_last_lr")

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's counters and settings as plain values (no optimizer)."""
        return {key: _copied(getattr(self, key)) for key in self._SAVED}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (also after tinydl.io.save/load)."""
        missing = [key for key in self._SAVED if key not in state_dict]
        if missing:
            raise KeyError(f"{type(self).__name__}.load_state_dict: the saved state lacks "
                           f"{missing}; was it saved from a {type(self).__name__}?")
        for key in self._SAVED:
            setattr(self, key, _copied(state_dict[key]))


def _copied(value: Any) -> Any:
    """Lists are copied, 0-d arrays (from a loaded file) become Python numbers."""
    if isinstance(value, (list, tuple)):
        return [_copied(v) for v in value]
    if hasattr(value, "shape") and value.shape == () and hasattr(value, "item"):
        return value.item()
    return value


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs:
    lr_e = lr_0 * gamma^(e // step_size)."""

    _SAVED = LRScheduler._SAVED + ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each epoch listed in ``milestones`` (by gamma^k for an
    epoch listed k times)."""

    _SAVED = LRScheduler._SAVED + ("milestones", "gamma")

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        times = self.milestones.count(self.last_epoch)
        if times == 0:
            return self._current_lrs()
        return [lr * self.gamma ** times for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        passed = bisect.bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: lr_e = lr_0 * gamma^e."""

    _SAVED = LRScheduler._SAVED + ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine decay from the base lr to ``eta_min`` over ``T_max`` epochs (then back up):

        lr_e = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2

    computed step by step from the current lr, as PyTorch does.
    """

    _SAVED = LRScheduler._SAVED + ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if T_max <= 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch, period, low = self.last_epoch, self.T_max, self.eta_min
        current = self._current_lrs()
        if self._is_initial:
            return current
        if self._step_count == 1 and epoch > 0:  # resumed: use the closed form once
            return [low + (base - low) * (1 + math.cos(epoch * math.pi / period)) / 2
                    for base in self.base_lrs]
        if (epoch - 1 - period) % (2 * period) == 0:  # at the bottom: start climbing again
            return [lr + (base - low) * (1 - math.cos(math.pi / period)) / 2
                    for lr, base in zip(current, self.base_lrs)]
        ratio = (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1)
                                                                          / period))
        return [ratio * (lr - low) + low for lr in current]

    def _closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr_e = base_lr * lr_lambda(e): any schedule as a function of the epoch (e.g. warm-up:
    ``LambdaLR(opt, lambda e: min(1.0, (e + 1) / 100))``). One function, or one per group."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | Sequence[Callable],
                 last_epoch: int = -1):
        groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(f"LambdaLR: got {len(lr_lambda)} functions for {groups} "
                                 "parameter groups; give one, or one per group")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be callable, got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class LinearLR(LRScheduler):
    """Scale the lr linearly from ``start_factor`` to ``end_factor`` times its base over
    ``total_iters`` epochs, then keep it (a linear warm-up with the defaults)."""

    _SAVED = LRScheduler._SAVED + ("start_factor", "end_factor", "total_iters")

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3,
                 end_factor: float = 1.0, total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        current = self._current_lrs()
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in current]
        if self._is_initial or self.last_epoch > self.total_iters:
            return current
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor
                                 + (self.last_epoch - 1) * change)
        return [lr * factor for lr in current]

    def _closed_form_lr(self) -> list[float]:
        done = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * done)
                for base in self.base_lrs]


class ReduceLROnPlateau:
    """Cut the lr by ``factor`` when a metric stops improving for ``patience`` epochs.

    Call ``scheduler.step(val_loss)`` once per epoch. mode "min" (a loss) or "max" (an
    accuracy); a value counts as better than the best so far by more than ``threshold``:
    relative (best * (1 - threshold) for "min") or absolute (best - threshold). After a cut,
    ``cooldown`` epochs pass before bad epochs count again; the lr never goes below ``min_lr``
    (one value, or one per group), and cuts smaller than ``eps`` are skipped.
    """

    _SAVED = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown",
              "min_lrs", "eps", "best", "num_bad_epochs", "cooldown_counter", "last_epoch",
              "_last_lr")

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau: expected a tinydl optimizer, got "
                            f"{type(optimizer).__name__}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"ReduceLROnPlateau: got {len(min_lr)} min_lr values for "
                                 f"{groups} parameter groups")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * groups
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, value: float) -> bool:
        if self.mode == "min":
            bar = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" \
                else self.best - self.threshold
            return value < bar
        bar = self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" \
            else self.best + self.threshold
        return value > bar

    def step(self, metrics: Any) -> None:
        """Record this epoch's metric (a number or a one-element tensor); cut the lr if stuck."""
        value = float(metrics)
        self.last_epoch += 1
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        for group, floor in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                group["lr"] = new

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def get_last_lr(self) -> list[float]:
        """The learning rates now in use, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Settings, counters and the best value so far, as plain values."""
        return {key: _copied(getattr(self, key)) for key in self._SAVED}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        missing = [key for key in self._SAVED if key not in state_dict]
        if missing:
            raise KeyError(f"ReduceLROnPlateau.load_state_dict: the saved state lacks {missing}")
        for key in self._SAVED:
            setattr(self, key, _copied(state_dict[key]))


# ---------------------------------------------------------------------------------------------
# More schedules: multiplicative, constant and polynomial factors, warm restarts, cycles, and
# the two ways of combining schedulers (one after another, or all at once).
# ---------------------------------------------------------------------------------------------


def _per_group(name: str, optimizer: Optimizer, value: Any) -> list:
    """One value per parameter group: a list of that length, or one value repeated."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{name}: got {len(value)} values for {groups} parameter groups; "
                             "give one, or one per group")
        return list(value)
    return [value] * groups


class MultiplicativeLR(LambdaLR):
    """Multiply the CURRENT lr by ``lr_lambda(e)`` at every epoch e >= 1 (LambdaLR multiplies
    the base lr instead): ``MultiplicativeLR(opt, lambda e: 0.95)`` is ExponentialLR(0.95)."""

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * fn(self.last_epoch) for fn, lr in zip(self.lr_lambdas, self._current_lrs())]


class ConstantLR(LRScheduler):
    """Scale the lr by ``factor`` for the first ``total_iters`` epochs, then restore it."""

    _SAVED = LRScheduler._SAVED + ("factor", "total_iters")

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1):
        if not 0 <= factor <= 1:
            raise ValueError(f"ConstantLR: factor must be in [0, 1], got {factor!r}")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        current = self._current_lrs()
        if self.last_epoch == 0:
            return [lr * self.factor for lr in current]
        if self.last_epoch != self.total_iters:
            return current
        return [lr * (1.0 / self.factor) for lr in current]

    def _closed_form_lr(self) -> list[float]:
        after = self.last_epoch >= self.total_iters
        return [base * (self.factor + after * (1 - self.factor)) for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """Decay the lr to 0 over ``total_iters`` epochs: lr_e = base_lr * (1 - e / total_iters)^power
    (linear with power=1), then keep it."""

    _SAVED = LRScheduler._SAVED + ("total_iters", "power")

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1):
        self.total_iters = total_iters
        self.power = power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        current = self._current_lrs()
        if self._is_initial or self.last_epoch > self.total_iters:
            return current
        factor = ((1.0 - self.last_epoch / self.total_iters)
                  / (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return [lr * factor for lr in current]

    def _closed_form_lr(self) -> list[float]:
        left = 1.0 - min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * left ** self.power for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine decay from the base lr to ``eta_min`` over T_0 epochs, then a restart at the base
    lr; each period is ``T_mult`` times longer than the one before (SGDR, Loshchilov & Hutter):

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    ``step(epoch)`` accepts fractional epochs, to anneal within an epoch:
    ``scheduler.step(epoch + batch / batches_per_epoch)``.
    """

    _SAVED = LRScheduler._SAVED + ("T_0", "T_i", "T_mult", "eta_min", "T_cur")

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1,
                 eta_min: float = 0.0, last_epoch: int = -1):
        if not isinstance(T_0, int) or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0 must be a positive int, got "
                             f"{T_0!r}")
        if not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_mult must be an int >= 1, got "
                             f"{T_mult!r}")
        self.T_0 = self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur
                                                                     / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or jump to ``epoch`` (a float allowed)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:  # a restart
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts.step: epoch must be >= 0, got "
                             f"{epoch!r}")
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:  # the number of finished periods n solves T_0 (T_mult^n - 1) / (T_mult - 1)
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult ** n
        else:
            self.T_i = self.T_0
            self.T_cur = epoch
        self._step_count += 1
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()


class _MomentumCycle:
    """Shared by CyclicLR and OneCycleLR: they move momentum (SGD's ``momentum`` or Adam's
    beta1) opposite to the lr."""

    def _setup_momentum(self, optimizer: Optimizer, base_momentum: Any, max_momentum: Any,
                        last_epoch: int) -> None:
        name = type(self).__name__
        if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
            raise ValueError(f"{name}: cycle_momentum=True needs an optimizer with momentum "
                             f"or betas (SGD, Adam, ...), got {type(optimizer).__name__}; pass "
                             "cycle_momentum=False")
        self.use_beta1 = "betas" in optimizer.defaults
        self.base_momentums = _per_group(f"{name} base_momentum", optimizer, base_momentum)
        self.max_momentums = _per_group(f"{name} max_momentum", optimizer, max_momentum)
        if last_epoch == -1:
            for high, low, group in zip(self.max_momentums, self.base_momentums,
                                        optimizer.param_groups):
                self._set_momentum(group, high)
                group["max_momentum"] = high
                group["base_momentum"] = low

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value


class CyclicLR(_MomentumCycle, LRScheduler):
    """Cycle the lr between ``base_lr`` and ``max_lr`` (Smith, 2017), stepped every BATCH.

    A cycle climbs for ``step_size_up`` steps and falls for ``step_size_down`` (default: the
    same). mode: "triangular" (constant height), "triangular2" (height halves each cycle),
    "exp_range" (height times gamma^step), or your own ``scale_fn`` (of the cycle number, or
    of the step with ``scale_mode="iterations"``). With ``cycle_momentum`` the momentum moves
    the opposite way, between ``max_momentum`` and ``base_momentum``.
    """

    _SAVED = LRScheduler._SAVED + ("max_lrs", "total_size", "step_ratio", "mode", "gamma",
                                   "scale_mode", "cycle_momentum")

    def __init__(self, optimizer: Optimizer, base_lr: float | Sequence[float],
                 max_lr: float | Sequence[float], step_size_up: int = 2000,
                 step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: float = 0.8, max_momentum: float = 0.9, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"CyclicLR: expected a tinydl optimizer, got "
                            f"{type(optimizer).__name__}")
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"CyclicLR: mode must be 'triangular', 'triangular2' or "
                             f"'exp_range' (or pass scale_fn), got {mode!r}")
        base_lrs = _per_group("CyclicLR base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group("CyclicLR max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        self.mode, self.gamma, self.scale_mode = mode, gamma, scale_mode
        self.custom_scale_fn = scale_fn
        if scale_fn is None:  # the built-in modes fix the scale mode
            self.scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self._setup_momentum(optimizer, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x: float) -> float:
        """The cycle's height factor at x (the cycle number or the step)."""
        if self.custom_scale_fn is not None:
            return self.custom_scale_fn(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle  # position in the cycle, 0..1
        if x <= self.step_ratio:
            rise = x / self.step_ratio
        else:
            rise = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base + (high - base) * rise * scale
               for base, high in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, low, high in zip(self.optimizer.param_groups, self.base_momentums,
                                        self.max_momentums):
                self._set_momentum(group, high - (high - low) * rise * scale)
        return lrs


class OneCycleLR(_MomentumCycle, LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018), stepped every BATCH for ``total_steps`` steps
    (or ``epochs * steps_per_epoch``):

    the lr climbs from max_lr / div_factor to max_lr over the first ``pct_start`` of the steps,
    then anneals to max_lr / div_factor / final_div_factor ("cos" or "linear"). With
    ``three_phase`` it climbs, comes back down symmetrically, then anneals. With
    ``cycle_momentum`` the momentum moves the opposite way between max_momentum and
    base_momentum. Stepping past total_steps is an error.
    """

    _SAVED = LRScheduler._SAVED + ("total_steps", "anneal_strategy", "cycle_momentum")

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR: expected a tinydl optimizer, got "
                            f"{type(optimizer).__name__}")
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(value, int) or value <= 0:
                    raise ValueError(f"OneCycleLR: {name} must be a positive int, got {value!r}")
            total_steps = epochs * steps_per_epoch
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: total_steps must be a positive int, got "
                             f"{total_steps!r}")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be a float in [0, 1], got "
                             f"{pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self.total_steps = total_steps
        self.anneal_strategy = anneal_strategy
        peak = float(pct_start * total_steps) - 1
        # each phase: (its last step, lr from, lr to, momentum from, momentum to)
        if three_phase:
            self.phases = [(peak, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr",
                            "base_momentum", "max_momentum"),
                           (total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                            "max_momentum")]
        else:
            self.phases = [(peak, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (total_steps - 1, "max_lr", "min_lr", "base_momentum",
                            "max_momentum")]
        max_lrs = _per_group("OneCycleLR max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for high, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = high / div_factor
                group["max_lr"] = high
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self._setup_momentum(optimizer, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)
        return (end - start) * fraction + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, but total_steps is "
                             f"{self.total_steps}; raise total_steps (or epochs)")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for number, (end, lr_from, lr_to, m_from, m_to) in enumerate(self.phases):
                if step <= end or number == len(self.phases) - 1:
                    fraction = (step - start) / (end - start)
                    lrs.append(self._anneal(group[lr_from], group[lr_to], fraction))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m_from], group[m_to],
                                                               fraction))
                    break
                start = end
        return lrs


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the epochs in ``milestones``
    (a warm-up then a decay: ``SequentialLR(opt, [warmup, cosine], milestones=[5])``).

    At a milestone the next scheduler starts from its own epoch 0 (from the base lr).
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1):
        _check_parts("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers need "
                             f"{len(schedulers) - 1} milestones, got {len(milestones)}")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:  # undo what building the schedulers did
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:
            _undo_one_epoch(scheduler)
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        self.last_epoch += 1
        index = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._update_lr(0)  # a hand-over: the next scheduler starts at its epoch 0
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        return {"last_epoch": self.last_epoch, "_last_lr": list(self._last_lr),
                "_milestones": list(self._milestones),
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_parts(self, state_dict)
        self.last_epoch = int(_copied(state_dict["last_epoch"]))
        self._milestones = _copied(state_dict["_milestones"])


class ChainedScheduler(LRScheduler):
    """Step every scheduler in ``schedulers`` at each step, so their factors multiply
    (a warm-up and a decay at the same time)."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None):
        if not schedulers:
            raise ValueError("ChainedScheduler: give at least one scheduler")
        optimizer = optimizer or schedulers[0].optimizer
        _check_parts("ChainedScheduler", optimizer, schedulers)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def step(self) -> None:  # type: ignore[override]
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"_last_lr": list(self._last_lr),
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _load_parts(self, state_dict)


def _check_parts(name: str, optimizer: Optimizer, schedulers: Sequence[Any]) -> None:
    """The schedulers a SequentialLR/ChainedScheduler combines: at least one, same optimizer."""
    if not schedulers:
        raise ValueError(f"{name}: give at least one scheduler")
    for number, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{name}: scheduler {number} is a ReduceLROnPlateau, which needs "
                             "the metric in step(metric); step it on its own")
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(f"{name}: scheduler {number} is a {type(scheduler).__name__}, not "
                            "a learning-rate scheduler")
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{name}: scheduler {number} ({type(scheduler).__name__}) drives a "
                             "different optimizer; build every scheduler on the same one")


def _undo_one_epoch(scheduler: LRScheduler) -> None:
    """Step a scheduler (or the schedulers inside a combined one) back one epoch."""
    if hasattr(scheduler, "_schedulers"):
        for inner in scheduler._schedulers:
            _undo_one_epoch(inner)
    else:
        scheduler.last_epoch -= 1


def _load_parts(combined: Any, state_dict: dict[str, Any]) -> None:
    saved = state_dict["_schedulers"]
    if len(saved) != len(combined._schedulers):
        raise ValueError(f"{type(combined).__name__}.load_state_dict: the saved state has "
                         f"{len(saved)} schedulers, this one has {len(combined._schedulers)}")
    for scheduler, state in zip(combined._schedulers, saved):
        scheduler.load_state_dict(state)
    combined._last_lr = _copied(state_dict["_last_lr"])
