"""Training utilities: a Keras-style ``fit`` loop on top of the PyTorch-style pieces.

``fit`` runs the loop every PyTorch script writes by hand::

    for epoch in range(epochs):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
        # evaluate on val_loader under no_grad, step the scheduler, run the callbacks

and returns a ``History`` of per-epoch numbers (plain Python floats). Around it:

* ``evaluate`` (loss and metrics over a loader) and ``predict`` (outputs as one array);
* callbacks: ``EarlyStopping`` and ``ModelCheckpoint`` (or your own ``Callback``);
* full checkpoints: ``save_checkpoint`` / ``load_checkpoint`` keep the model, the optimizer,
  the scheduler, the epoch and tinydl's random state, so ``fit(..., initial_epoch=k)`` after
  ``load_checkpoint`` continues a run exactly as if it had never stopped.

Batches are tuples ``(inputs..., targets)``: the last element is the target, the others are
passed to the model (``model(*inputs)``), as ``DataLoader(TensorDataset(X, y))`` yields them.
"""
from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from tinydl import io
from tinydl import metrics as metrics_module
from tinydl.autograd import no_grad
from tinydl.data.dataset import TensorDataset
from tinydl.data.loader import DataLoader
from tinydl.distributed import comm
from tinydl.random import get_rng_state, set_rng_state
from tinydl.tensor import Tensor

# ---------------------------------------------------------------------------------------------
# Metrics by name
# ---------------------------------------------------------------------------------------------


def _macro(score: Callable) -> Callable:
    return lambda y_true, y_pred: score(y_true, y_pred, average="macro")


def _class_targets(metric: Callable) -> Callable:
    """``metric`` taking class indices, also accepting what CrossEntropyLoss accepts as targets:
    one-hot or class-probability rows of the output's shape (N, C) become their argmax (N,)."""
    def with_class_targets(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        if y_true.ndim >= 2 and y_true.shape == y_pred.shape and y_true.dtype.kind == "f":
            y_true = y_true.argmax(axis=1)
        return metric(y_true, y_pred)
    return with_class_targets


#: names accepted in ``fit(metrics=[...])``; each maps (y_true, y_pred) -> float
NAMED_METRICS = {
    "accuracy": _class_targets(metrics_module.accuracy),
    "precision": _class_targets(_macro(metrics_module.precision)),
    "recall": _class_targets(_macro(metrics_module.recall)),
    "f1": _class_targets(_macro(metrics_module.f1_score)),
    "top5_accuracy": _class_targets(
        lambda y_true, y_pred: metrics_module.top_k_accuracy(y_true, y_pred, k=5)),
}

# metrics where larger is better (EarlyStopping/ModelCheckpoint mode='auto' looks here)
_HIGHER_IS_BETTER = ("accuracy", "acc", "precision", "recall", "f1", "auc")


def _resolve_metrics(metrics: Any) -> list[tuple[str, Callable]]:
    """metrics -> [(name, fn)]. Accepts names, callables, (name, fn) pairs or a dict."""
    if isinstance(metrics, dict):
        metrics = list(metrics.items())
    elif isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    resolved = []
    for metric in metrics:
        if isinstance(metric, str):
            if metric not in NAMED_METRICS:
                raise ValueError(f"fit: unknown metric {metric!r}; known names are "
                                 f"{sorted(NAMED_METRICS)}, or pass a function "
                                 "(y_true, y_pred) -> float")
            resolved.append((metric, NAMED_METRICS[metric]))
        elif _is_named_pair(metric):
            resolved.append((metric[0], metric[1]))
        elif callable(metric):
            name = getattr(metric, "__name__", "<lambda>")
            if name.startswith("<"):  # a lambda or a partial: nothing to log it under
                raise ValueError("fit: a metric function without a name (a lambda?) cannot be "
                                 "logged; name it with metrics={'name': fn} or ('name', fn)")
            resolved.append((name, metric))
        else:
            raise TypeError(f"fit: a metric must be a name, a function (y_true, y_pred) -> float "
                            f"or a (name, function) pair, got {type(metric).__name__}")
    names = [name for name, _ in resolved]
    if len(set(names)) != len(names) or "loss" in names or "lr" in names:
        raise ValueError(f"fit: metric names {names} must be unique and not 'loss' or 'lr'; "
                         "give them names with (name, function) pairs")
    return resolved


def _is_named_pair(value: Any) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str)
            and callable(value[1]))


class _MetricAccumulator:
    """Collects (targets, outputs) over an epoch; computes each metric on all of them at once.

    distributed: gather every rank's targets and outputs first, so that each rank computes
    the metrics over the whole epoch and logs the same numbers.
    """

    def __init__(self, metric_fns: list[tuple[str, Callable]], distributed: bool = False):
        self.metric_fns = metric_fns
        self.distributed = distributed
        self.targets: list[np.ndarray] = []
        self.outputs: list[np.ndarray] = []

    def add(self, target: Any, output: Any) -> None:
        if self.metric_fns:
            self.targets.append(_to_numpy(target))
            self.outputs.append(_to_numpy(output))

    def results(self) -> dict[str, float]:
        if not self.metric_fns or not self.targets:
            return {}
        y_true = np.concatenate(self.targets)   # (N, ...) over all batches
        y_pred = np.concatenate(self.outputs)   # (N, ...)
        if self.distributed:                    # (N over all ranks, ...)
            y_true, y_pred = comm.all_gather_rows(y_true), comm.all_gather_rows(y_pred)
        return {name: float(fn(y_true, y_pred)) for name, fn in self.metric_fns}


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().numpy()
    return np.asarray(value)


# ---------------------------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------------------------


class History:
    """Per-epoch results of ``fit``: ``history['loss']`` is a list of floats, one per epoch.

    Keys: 'loss', each metric by name, 'val_loss' and 'val_<metric>' when there is a
    validation loader, and 'lr' (the learning rate used during the epoch). ``history.epoch``
    lists the (0-based) epoch numbers the entries belong to.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, Any]) -> None:
        """Record one epoch's logs (values become plain floats)."""
        self.epoch.append(int(epoch))
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def to_dict(self) -> dict[str, list[float]]:
        """A copy as a plain dict {name: [float per epoch]} (JSON-ready)."""
        return {key: list(values) for key, values in self.history.items()}

    def plot(self, path: Any = None, metrics: Any = None) -> Any:
        """Loss and metric curves, train vs val (``tinydl.plot.plot_history``); returns the Figure.

        Under mpirun only rank 0 writes ``path`` (every rank holds the same History).
        """
        from tinydl.plot import plot_history  # matplotlib is optional

        return plot_history(self, path=path if comm.rank() == 0 else None, metrics=metrics)

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.history:
            raise KeyError(f"History: no entry {key!r}; it has {sorted(self.history)}")
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self) -> list[str]:
        return list(self.history)

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        return f"History({len(self)} epochs: {', '.join(self.history)})"


# ---------------------------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------------------------


class Callback:
    """Hooks ``fit`` calls. Override the ones you need; set ``self.stop_training = True`` to
    end training after the current epoch.

    ``fit`` sets ``self.model``, ``self.optimizer`` and ``self.scheduler`` before
    ``on_train_begin``. ``epoch`` is 0-based; ``logs`` is the epoch's dict of floats.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.optimizer: Any = None
        self.scheduler: Any = None
        self.stop_training = False

    def attach(self, model: Any, optimizer: Any, scheduler: Any) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass


def _resolve_mode(op: str, mode: str, monitor: str) -> str:
    """'min' or 'max'; 'auto' is 'max' for accuracy-like names, 'min' otherwise."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{op}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[len("val_"):] if monitor.startswith("val_") else monitor
    return "max" if name in _HIGHER_IS_BETTER or name.endswith("accuracy") else "min"


def _monitored_value(op: str, monitor: str, logs: dict | None) -> float:
    logs = logs or {}
    if monitor not in logs:
        hint = ("pass val_loader to fit, or monitor a training value such as 'loss'"
                if monitor.startswith("val_") else "monitor one of the logged names")
        raise KeyError(f"{op}: monitor {monitor!r} is not in this epoch's logs "
                       f"{sorted(logs)}; {hint}")
    return float(logs[monitor])


class _MonitorMixin:
    """Tracks the best value of ``monitor`` seen so far."""

    monitor: str
    mode: str
    min_delta: float = 0.0
    best: float

    def _reset_best(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf

    def _is_improvement(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_MonitorMixin, Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs in a row.

    An epoch improves when the value beats the best so far by more than ``min_delta``
    (lower for mode 'min', higher for 'max'; 'auto' picks 'max' for accuracy-like names).
    restore_best_weights: at the end of training, load the weights of the best epoch.
    After training: ``best``, ``best_epoch`` and ``stopped_epoch`` (None if it never stopped).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = abs(float(min_delta))
        self.mode = _resolve_mode("EarlyStopping", mode, monitor)
        self.restore_best_weights = restore_best_weights
        self._reset_best()
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self._best_weights: dict | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset_best()
        self.best_epoch = self.stopped_epoch = None
        self.wait = 0
        self._best_weights = None
        self.stop_training = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = _monitored_value("EarlyStopping", self.monitor, logs)
        if self._is_improvement(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_weights = {k: t.numpy().copy()
                                      for k, t in self.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stop_training = True
            self.stopped_epoch = epoch

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self._best_weights is not None:
            self.model.load_state_dict(self._best_weights)


class ModelCheckpoint(_MonitorMixin, Callback):
    """Write a full checkpoint (``save_checkpoint``) during training.

    save_best_only=True: after each epoch whose ``monitor`` value is the best so far;
    save_best_only=False: after every epoch. ``path`` may hold ``{epoch}`` (1-based, the
    number of epochs completed) and log names, e.g. "runs/ckpt-{epoch:02d}-{val_loss:.3f}.npz".
    The checkpoint's 'epoch' is the number of epochs completed, so
    ``fit(..., initial_epoch=ckpt['epoch'])`` resumes after it. ``saved_paths`` lists the writes.
    """

    def __init__(self, path: Any, monitor: str = "val_loss", save_best_only: bool = True,
                 mode: str = "auto"):
        super().__init__()
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.mode = _resolve_mode("ModelCheckpoint", mode, monitor)
        self._reset_best()
        self.saved_paths: list[str] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset_best()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        if self.save_best_only:
            value = _monitored_value("ModelCheckpoint", self.monitor, logs)
            if not self._is_improvement(value):
                return
            self.best = value
        if comm.rank() != 0:
            return  # under mpirun one rank writes (every rank holds the same model)
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"ModelCheckpoint: cannot fill in path {self.path!r} ({err!r}); "
                             f"it may use {{epoch}} and the log names {sorted(logs)}") from None
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, epoch=epoch + 1,
                        logs=logs)
        self.saved_paths.append(path)


# ---------------------------------------------------------------------------------------------
# Full checkpoints
# ---------------------------------------------------------------------------------------------

CHECKPOINT_KIND = "tinydl-training-checkpoint"
_RESERVED_KEYS = ("kind", "model", "optimizer", "scheduler", "epoch", "rng_state")


def save_checkpoint(path: Any, model: Any, optimizer: Any = None, scheduler: Any = None,
                    epoch: int | None = None, **extra: Any) -> None:
    """Write everything needed to resume training to ``path`` (.npz, atomic, no pickle).

    Stored: the model's state_dict, the optimizer's and scheduler's state_dicts (when given;
    tinydl's are made of str-keyed dicts, lists, numbers and NumPy arrays, as io.save needs),
    ``epoch`` (by convention the number of epochs completed), tinydl's random-generator state
    and any ``extra`` values (numbers, strings, arrays, nested dicts/lists of them).
    The file is replaced atomically: a crash mid-write leaves the previous file intact.
    """
    clash = sorted(set(extra) & set(_RESERVED_KEYS))
    if clash:
        raise ValueError(f"save_checkpoint: extra names {clash} are reserved for the "
                         f"checkpoint itself ({', '.join(_RESERVED_KEYS)}); rename them")
    checkpoint = {
        "kind": CHECKPOINT_KIND,
        "model": {name: t.detach().numpy() for name, t in model.state_dict().items()},
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "epoch": None if epoch is None else int(epoch),
        "rng_state": get_rng_state(),
    }
    checkpoint.update(extra)
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(folder, exist_ok=True)
    io.save(checkpoint, path)


def load_checkpoint(path: Any, model: Any, optimizer: Any = None, scheduler: Any = None,
                    restore_rng: bool = True) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` into the given objects.

    Restores the model's weights, the optimizer's and scheduler's state (when given and
    stored) and, with ``restore_rng``, tinydl's random generator, so shuffling and dropout
    continue exactly where the saved run was. Returns the checkpoint as a dict ('epoch' and
    the extra values included).
    """
    checkpoint = io.load(path)
    if not isinstance(checkpoint, dict) or checkpoint.get("kind") != CHECKPOINT_KIND:
        raise io.CheckpointError(
            f"load_checkpoint: '{os.fspath(path)}' is a tinydl file but not a training "
            "checkpoint from save_checkpoint; load it with tinydl.io.load (and "
            "model.load_state_dict for a plain state_dict)")
    model.load_state_dict(checkpoint["model"])
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if checkpoint[name] is None:
            raise io.CheckpointError(f"load_checkpoint: '{os.fspath(path)}' holds no {name} "
                                     f"state; pass {name}=None or save the checkpoint with one")
        target.load_state_dict(checkpoint[name])
    if restore_rng:
        set_rng_state(checkpoint["rng_state"])
    return checkpoint


# ---------------------------------------------------------------------------------------------
# Progress bar (tqdm when installed and stderr is a terminal)
# ---------------------------------------------------------------------------------------------


SILENT, BAR, LINE_PER_EPOCH = 0, 1, 2  # fit's verbose levels, Keras's numbers


def _verbosity(verbose: Any, progress: bool) -> int:
    """fit's verbose argument -> SILENT, BAR or LINE_PER_EPOCH.

    "auto" shows a bar where one can be drawn (a terminal, or Jupyter through ``tqdm.auto``)
    and prints one line per epoch elsewhere (a log file, a test, a CI job)."""
    if not progress:
        return SILENT
    if verbose == "auto":
        can_draw = _stderr_is_terminal() or _in_notebook()
        return BAR if can_draw and _tqdm() is not None else LINE_PER_EPOCH
    if verbose not in (SILENT, BAR, LINE_PER_EPOCH) or isinstance(verbose, bool):
        raise ValueError(f"fit: verbose must be 'auto', 0 (silent), 1 (a progress bar) or 2 (one "
                         f"line per epoch), got {verbose!r}")
    if verbose == BAR and _tqdm() is None:
        return LINE_PER_EPOCH  # no tqdm: pip install "tinydl[progress]" for the bar
    return verbose


def _tqdm() -> Any:
    """tqdm.auto's bar class (a widget in Jupyter, text on a terminal), or None without tqdm."""
    try:
        from tqdm.auto import tqdm  # optional dependency
    except ImportError:
        return None
    return tqdm


def _progress_bar(total: int | None, desc: str, verbosity: int) -> Any:
    """A tqdm bar of ``total`` steps when ``verbosity`` is BAR, else None.

    The caller advances it (``update(1)``), so that it stays open after the last batch for
    the epoch's validation results.
    """
    if verbosity != BAR:
        return None
    return _tqdm()(total=total, desc=desc, file=sys.stderr, leave=True, dynamic_ncols=True)


def _epoch_line(epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> str:
    """One epoch's results as a line: ``epoch 3/10 - loss 0.4123 - accuracy 0.88 - 1.2 s``."""
    parts = [f"epoch {epoch + 1}/{epochs}"] + [f"{key} {value:.4g}" for key, value in logs.items()]
    return " - ".join(parts) + f" - {seconds:.1f} s"


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), where tqdm.auto draws a widget."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def _stderr_is_terminal() -> bool:
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _format_logs(logs: dict[str, float]) -> dict[str, str]:
    return {key: f"{value:.4g}" for key, value in logs.items()}


# ---------------------------------------------------------------------------------------------
# fit / evaluate / predict
# ---------------------------------------------------------------------------------------------


def _split_batch(op: str, batch: Any) -> tuple[tuple, Any]:
    """(inputs..., targets) -> (inputs tuple, targets)."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return tuple(batch[:-1]), batch[-1]
    shape = getattr(batch, "shape", None)
    raise TypeError(f"{op}: each batch must be a tuple (inputs..., targets), got "
                    f"{type(batch).__name__}{'' if shape is None else ' of shape ' + str(shape)}; "
                    "build the loader from TensorDataset(X, y)")


def _num_samples(target: Any) -> int:
    shape = getattr(target, "shape", None)
    return int(shape[0]) if shape else 1


def _scalar_loss(op: str, loss: Any) -> Any:
    if not isinstance(loss, Tensor) or loss.size != 1:
        shape = getattr(loss, "shape", None)
        raise ValueError(f"{op}: loss_fn must return a one-element Tensor, got "
                         f"{type(loss).__name__}{'' if shape is None else ' of shape ' + str(shape)}; "
                         "use a loss with reduction='mean'")
    return loss


def _current_lr(optimizer: Any) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    if groups and "lr" in groups[0]:
        return float(groups[0]["lr"])
    return None


def _step_scheduler(scheduler: Any, logs: dict[str, float]) -> None:
    """One scheduler step per epoch; ReduceLROnPlateau gets val_loss (or loss without val)."""
    from tinydl.optim.lr_scheduler import ReduceLROnPlateau  # optim imports nn

    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(logs["val_loss"] if "val_loss" in logs else logs["loss"])
    else:
        scheduler.step()


def _check_fit_args(epochs: Any, initial_epoch: Any, loss_fn: Any, optimizer: Any) -> None:
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"fit: {name} must be an int >= 0, got {value!r}")
    if initial_epoch > epochs:
        raise ValueError(f"fit: initial_epoch={initial_epoch} is past epochs={epochs}; epochs is "
                         "the number of the last epoch (training runs initial_epoch..epochs-1)")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable (output, target) -> loss, got "
                        f"{type(loss_fn).__name__}")
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"fit: optimizer must have step() and zero_grad(), got "
                        f"{type(optimizer).__name__}")


def _mean_over_samples(op: str, total: float, count: int, distributed: bool) -> float:
    """total / count, both summed over the ranks when distributed."""
    if distributed:
        sums = Tensor(np.array([total, count], dtype=np.float64), dtype=np.float64)
        comm.all_reduce(sums)
        total, count = float(sums.data[0]), int(sums.data[1])
    if count == 0:
        raise ValueError(f"{op} yielded no batches (empty dataset, or drop_last with fewer "
                         "samples than batch_size)")
    return total / count


def _train_one_epoch(model: Any, loader: Any, loss_fn: Any, optimizer: Any,
                     metric_fns: list, bar: Any, distributed: bool = False) -> dict[str, float]:
    model.train()
    accumulator = _MetricAccumulator(metric_fns, distributed)
    total_loss, count = 0.0, 0
    for batch in loader:
        inputs, target = _split_batch("fit", batch)
        optimizer.zero_grad()
        output = model(*inputs)
        loss = _scalar_loss("fit", loss_fn(output, target))
        loss.backward()
        optimizer.step()
        n = _num_samples(target)
        total_loss += loss.item() * n
        count += n
        accumulator.add(target, output)
        if bar is not None:
            bar.set_postfix(loss=f"{total_loss / count:.4g}", refresh=False)
            bar.update(1)
    loss = _mean_over_samples("fit: train_loader", total_loss, count, distributed)
    return {"loss": loss, **accumulator.results()}


def _shard_loader(loader: Any, training: bool) -> Any:
    """The loader for this rank under ``fit(..., distributed=True)``.

    A DataLoader is rebuilt around a DistributedSampler (training: shuffled per epoch when
    the loader shuffled, padded as in PyTorch) or, for validation, every world_size-th sample
    without padding, so validation numbers are exactly those of one process. A loader that
    already has a DistributedSampler, or is not a DataLoader, is used as it is.
    """
    from tinydl.distributed.sampler import DistributedSampler

    if not isinstance(loader, DataLoader) or isinstance(loader.sampler, DistributedSampler):
        return loader
    if not _has_default_sampler(loader):
        raise ValueError("fit(distributed=True): the loader has its own sampler, which fit "
                         "cannot split over the ranks; give it a DistributedSampler instead")
    if training:
        sampler: Any = DistributedSampler(loader.dataset, shuffle=loader.shuffle)
    else:
        sampler = range(comm.rank(), len(loader.dataset), comm.world_size())
    workers = {} if loader.num_workers == 0 else dict(
        num_workers=loader.num_workers, worker_init_fn=loader.worker_init_fn,
        prefetch_factor=loader.prefetch_factor, persistent_workers=loader.persistent_workers,
        multiprocessing_context=loader.multiprocessing_context, timeout=loader.timeout)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, drop_last=loader.drop_last,
                      collate_fn=loader.collate_fn, transform=loader.transform,
                      device=loader.device, sampler=sampler, generator=loader.generator,
                      **workers)


def _has_default_sampler(loader: DataLoader) -> bool:
    """True when the loader picks its samples as DataLoader(shuffle=...) does by itself: a plain
    Sequential/RandomSampler over its dataset, batched by its own BatchSampler."""
    from tinydl.data.sampler import BatchSampler, RandomSampler, SequentialSampler

    sampler, batches = loader.sampler, loader.batch_sampler
    plain = type(sampler) is SequentialSampler or (
        type(sampler) is RandomSampler and not sampler.replacement
        and sampler._num_samples is None)
    return (plain and sampler.data_source is loader.dataset and type(batches) is BatchSampler
            and batches.sampler is sampler)


def fit(model: Any, train_loader: Any, loss_fn: Callable, optimizer: Any, epochs: int,
        val_loader: Any = None, metrics: Any = (), callbacks: Iterable[Callback] = (),
        scheduler: Any = None, progress: bool = True, initial_epoch: int = 0,
        distributed: bool = False, verbose: Any = "auto") -> History:
    """Train ``model`` for epochs ``initial_epoch .. epochs-1``; return the History.

    Args:
        model: a Module; called as ``model(*inputs)`` on each batch's inputs.
        train_loader: yields batches (inputs..., targets), e.g. a DataLoader.
        loss_fn: (output, targets) -> scalar loss Tensor, e.g. nn.CrossEntropyLoss().
        optimizer: has zero_grad() and step(); its param_groups[0]['lr'] is logged as 'lr'.
        epochs: index of the last epoch + 1 (Keras's meaning: with initial_epoch=2 and
            epochs=4, two more epochs run).
        val_loader: evaluated after each epoch (eval mode, no_grad) -> 'val_loss', 'val_<m>'.
        metrics: names ('accuracy', 'precision', 'recall', 'f1', 'top5_accuracy') or
            functions (y_true, y_pred) -> float, computed over each whole epoch.
        callbacks: Callback objects (EarlyStopping, ModelCheckpoint, your own).
        scheduler: stepped once per epoch; ReduceLROnPlateau gets val_loss (else loss).
        progress: False silences fit (the same as ``verbose=0``).
        verbose: Keras's levels: 0 silent, 1 a progress bar per epoch (tqdm; a widget in
            Jupyter), 2 one printed line per epoch. "auto" (default): the bar on a terminal
            or in Jupyter, one line per epoch anywhere else (a log file, a CI job).
        initial_epoch: the first epoch to run (after ``load_checkpoint``, its 'epoch').
        distributed: data-parallel training under ``mpirun`` (``tinydl.distributed``): the
            model is wrapped in DistributedDataParallel, each DataLoader reads this rank's
            share (a DistributedSampler, ``set_epoch`` each epoch), losses and metrics are
            computed over all ranks so every rank logs the same numbers, and only rank 0
            shows progress and writes checkpoints. Without mpirun it is one process.
    Returns a History with one float per epoch for each logged name.
    """
    _check_fit_args(epochs, initial_epoch, loss_fn, optimizer)
    metric_fns = _resolve_metrics(metrics)
    trained = model
    if distributed:
        from tinydl.distributed.parallel import DistributedDataParallel

        comm.init()
        if isinstance(model, DistributedDataParallel):
            model = model.module  # callbacks and checkpoints see the plain model
        else:
            trained = DistributedDataParallel(model)
        train_loader = _shard_loader(train_loader, training=True)
        val_loader = None if val_loader is None else _shard_loader(val_loader, training=False)
        progress = progress and comm.rank() == 0
    verbosity = _verbosity(verbose, progress)
    callbacks = list(callbacks)
    for callback in callbacks:
        callback.attach(model, optimizer, scheduler)
        callback.on_train_begin()
    history = History()
    logs: dict[str, float] = {}
    was_training = model.training
    total = len(train_loader) if hasattr(train_loader, "__len__") else None
    try:
        for epoch in range(initial_epoch, epochs):
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
            if hasattr(getattr(train_loader, "sampler", None), "set_epoch"):
                train_loader.sampler.set_epoch(epoch)  # a new shuffle, the same on every rank
            bar = _progress_bar(total, f"epoch {epoch + 1}/{epochs}", verbosity)
            started = time.perf_counter()
            try:
                logs = _train_one_epoch(trained, train_loader, loss_fn, optimizer, metric_fns,
                                        bar, distributed)
                if val_loader is not None:
                    if distributed:  # rank 0's BatchNorm statistics, once (shares are uneven)
                        for buffer in model.buffers():
                            comm.broadcast(buffer, src=0)
                    val_logs = evaluate(model, val_loader, loss_fn, metric_fns, distributed)
                    logs.update({f"val_{key}": value for key, value in val_logs.items()})
                lr = _current_lr(optimizer)  # the rate this epoch used, before the scheduler step
                if lr is not None:
                    logs["lr"] = lr
                if bar is not None:
                    bar.set_postfix(_format_logs(logs), refresh=False)
            finally:
                if bar is not None:
                    bar.close()  # draws the final line with the epoch's results
            if verbosity == LINE_PER_EPOCH:
                print(_epoch_line(epoch, epochs, logs, time.perf_counter() - started), flush=True)
            if scheduler is not None:
                _step_scheduler(scheduler, logs)
            history.append(epoch, logs)
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            if any(callback.stop_training for callback in callbacks):
                break
    finally:
        model.train(was_training)
    for callback in callbacks:
        callback.on_train_end(logs)
    return history


def evaluate(model: Any, loader: Any, loss_fn: Callable | None = None,
             metrics: Any = (), distributed: bool = False) -> dict[str, float]:
    """Average loss and metrics of ``model`` over ``loader`` (eval mode, no gradients).

    The loss is averaged per sample (batches weighted by their size); metrics are computed
    on all outputs at once. Returns {'loss': ..., '<metric>': ...} as plain floats.
    distributed: each rank's loader holds a share; the results are over all shares.
    """
    metric_fns = _resolve_metrics(metrics)
    accumulator = _MetricAccumulator(metric_fns, distributed)
    total_loss, count = 0.0, 0
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for batch in loader:
                inputs, target = _split_batch("evaluate", batch)
                output = model(*inputs)
                n = _num_samples(target)
                if loss_fn is not None:
                    total_loss += _scalar_loss("evaluate", loss_fn(output, target)).item() * n
                count += n
                accumulator.add(target, output)
    finally:
        model.train(was_training)
    mean_loss = _mean_over_samples("evaluate: the loader", total_loss, count, distributed)
    results = {} if loss_fn is None else {"loss": mean_loss}
    results.update(accumulator.results())
    return results


def _model_device(model: Any) -> Any:
    first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    if first is None or first.device.type == "cpu":
        return None
    return first.device


def predict(model: Any, data: Any, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for every sample, concatenated into one NumPy array (N, ...).

    data: an array/Tensor of inputs (cut into batches of ``batch_size``, moved to the model's
    device), or a loader. A loader's 1-element batches are inputs; longer batches are
    (inputs..., targets) and the targets are ignored. Runs in eval mode under no_grad.
    """
    if isinstance(data, (np.ndarray, Tensor, list)):
        data = DataLoader(TensorDataset(data), batch_size=batch_size, device=_model_device(model))
    outputs = []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for batch in data:
                if isinstance(batch, (tuple, list)):
                    inputs = tuple(batch) if len(batch) == 1 else tuple(batch[:-1])
                else:
                    inputs = (batch,)
                outputs.append(_to_numpy(model(*inputs)))
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: no inputs (the array or loader is empty)")
    return np.concatenate(outputs)
