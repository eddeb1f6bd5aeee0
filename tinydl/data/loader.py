"""DataLoader: a dataset cut into (optionally shuffled) batches of Tensors, PyTorch's API.

One pass over a loader is one epoch. Each batch is made in four steps:

1. pick the sample indices: the batch sampler (see sampler.py) groups the sampler's indices,
   in order or, with ``shuffle=True``, a fresh permutation drawn from the loader's
   ``generator`` or tinydl's global one (so ``tinydl.manual_seed`` makes the order repeat);
2. collate: stack the samples into NumPy arrays. A ``TensorDataset`` (or a Subset of one) is
   sliced with the whole index array at once, with no Python loop over samples;
3. ``transform`` (optional, tinydl's) is applied to the batch inputs (the first element) as a
   NumPy array;
4. the arrays become Tensors (float64 -> float32, integers -> int64) and move to ``device``.

With ``num_workers > 0`` steps 2 and 3 run in worker processes (see worker.py for the seeding
rules); step 1 stays in the main process, so the batches are the same as with 0 workers.
An ``IterableDataset`` is batched in the order its iterator yields (no sampler, no shuffle).
"""
from __future__ import annotations

import itertools
import multiprocessing
import queue
import time
from typing import Any, Callable, Iterator

import numpy as np

from tinydl.data.dataset import IterableDataset, Subset, TensorDataset
from tinydl.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from tinydl.data.worker import Exhausted, seed_worker, worker_loop
from tinydl.random import resolve_generator
from tinydl.tensor import Tensor


def _as_batch_array(array: np.ndarray) -> np.ndarray:
    """The dtype a batch array gets as a Tensor: float64 -> float32, any integer -> int64."""
    if array.dtype == np.float64:
        return array.astype(np.float32)
    if array.dtype.kind in "iu" and array.dtype != np.int64:
        return array.astype(np.int64)
    return array


def default_collate(samples: list) -> Any:
    """Stack a list of samples into one batch of NumPy arrays, keeping the samples' structure.

    Samples that are tuples/lists give a LIST with one stacked array per field (as PyTorch's
    default_collate; a namedtuple stays that namedtuple); dicts give a dict per key; arrays,
    Tensors and numbers are stacked along a new first axis: B samples of shape (F,) -> (B, F);
    B numbers -> (B,). Strings stay a list.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        sizes = {len(s) for s in samples}
        if len(sizes) != 1:
            raise ValueError(f"DataLoader collate: samples have different numbers of fields "
                             f"{sorted(sizes)}; every sample must have the same structure")
        fields = [default_collate([s[i] for s in samples]) for i in range(len(first))]
        return type(first)(*fields) if hasattr(first, "_fields") else fields
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, str):
        return list(samples)
    if isinstance(first, Tensor):
        samples = [s.numpy() for s in samples]
    shapes = {np.shape(s) for s in samples}
    if len(shapes) != 1:
        raise ValueError(f"DataLoader collate: samples have different shapes {sorted(shapes)}; "
                         "they cannot be stacked into one batch (pad them to one shape, or "
                         "pass a collate_fn)")
    return np.stack([np.asarray(s) for s in samples])


def _to_tensors(batch: Any, device: Any) -> Any:
    """NumPy arrays (and NumPy scalars, as 0-d) anywhere in the batch become Tensors (on
    ``device`` when given)."""
    if isinstance(batch, (tuple, list)):
        items = [_to_tensors(item, device) for item in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else type(batch)(items)
    if isinstance(batch, dict):
        return {key: _to_tensors(item, device) for key, item in batch.items()}
    if isinstance(batch, np.ndarray) or (isinstance(batch, np.generic) and
                                         not isinstance(batch, (np.str_, np.bytes_))):
        array = _as_batch_array(np.asarray(batch))
        batch = Tensor(array, dtype=array.dtype)
    if isinstance(batch, Tensor) and device is not None:
        return batch.to(device)
    return batch


def _rows_of(dataset: Any) -> tuple[tuple, np.ndarray | None] | None:
    """For a TensorDataset, or Subsets of one: (its arrays, the row of each sample or None).

    Anything else gives None: the loader then asks the dataset for samples one by one.
    """
    if isinstance(dataset, TensorDataset):
        return dataset.arrays, None
    if isinstance(dataset, Subset):
        inner = _rows_of(dataset.dataset)
        if inner is None:
            return None
        arrays, rows = inner
        return arrays, (dataset.indices if rows is None else rows[dataset.indices])
    return None


def default_convert(sample: Any) -> Any:
    """The collate_fn without batching (batch_size=None): the sample as it is (its NumPy
    arrays become Tensors afterwards, as every batch's do)."""
    return sample


class _Fetcher:
    """Makes one batch from a request: a batch's index array (map-style, batched), one index
    (batch_size=None), or an epoch number (IterableDataset: the next batch of that epoch's
    iterator; a new epoch starts a new iterator). Runs in the main process or in a worker."""

    def __init__(self, loader: "DataLoader"):
        self.dataset = loader.dataset
        self.batched = loader.batch_size is not None or loader.batch_sampler is not None
        self.batch_size = loader.batch_size
        self.drop_last = loader.drop_last
        self.collate = loader.collate_fn
        self.transform = loader.transform
        self.iterable = isinstance(loader.dataset, IterableDataset)
        default = loader.collate_fn in (default_collate, default_convert)
        self.rows = _rows_of(loader.dataset) if default and self.batched else None
        self.epoch: int | None = None
        self.iterator: Iterator[Any] | None = None

    def __call__(self, request: Any) -> Any:
        if self.iterable:
            batch = self._next_from_stream(request)
        elif not self.batched:
            batch = self.collate(self.dataset[int(request)])
        elif self.rows is not None:
            arrays, rows = self.rows
            picked = request if rows is None else rows[request]
            batch = [a[picked] for a in arrays]  # (B, ...) each, one slice per array
        else:
            batch = self.collate([self.dataset[int(i)] for i in request])
        if self.transform is not None:
            batch = _apply_transform(self.transform, batch)
        return batch

    def _next_from_stream(self, epoch: int) -> Any:
        if epoch != self.epoch:
            self.epoch, self.iterator = epoch, iter(self.dataset)
        if not self.batched:
            return self.collate(next(self.iterator))
        samples = list(itertools.islice(self.iterator, self.batch_size))
        if not samples or (self.drop_last and len(samples) < self.batch_size):
            raise StopIteration
        return self.collate(samples)


def _apply_transform(transform: Callable, batch: Any) -> Any:
    """Run ``transform`` on the inputs: the first element of a tuple batch, else the batch."""
    is_tuple = isinstance(batch, (tuple, list))
    inputs = batch[0] if is_tuple else batch
    if not isinstance(inputs, np.ndarray):
        raise TypeError(f"DataLoader: transform works on the batch inputs as a NumPy array, "
                        f"but they are a {type(inputs).__name__}; return NumPy arrays from "
                        "collate_fn, or apply the transform inside it")
    out = transform(inputs)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"DataLoader: transform must return a NumPy array, it returned "
                        f"{type(out).__name__} for inputs of shape {inputs.shape}")
    return [out, *batch[1:]] if is_tuple else out


class _WorkerPool:
    """The worker processes of one loader: a task queue each, one shared result queue."""

    def __init__(self, loader: "DataLoader", base_seed: int):
        method = loader.multiprocessing_context
        if method is None:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        context = multiprocessing.get_context(method) if isinstance(method, (str, type(None))) \
            else method
        self.results = context.Queue()
        self.tasks = [context.Queue() for _ in range(loader.num_workers)]
        fetcher = _Fetcher(loader)
        self.processes = [
            context.Process(target=worker_loop, daemon=True,
                            args=(fetcher, loader.dataset, i, loader.num_workers, base_seed + i,
                                  loader.worker_init_fn, self.tasks[i], self.results))
            for i in range(loader.num_workers)]
        for process in self.processes:
            process.start()

    def alive(self) -> bool:
        return all(p.is_alive() for p in self.processes)

    def shutdown(self) -> None:
        for tasks, process in zip(self.tasks, self.processes):
            if process.is_alive():
                tasks.put(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
        for q in (*self.tasks, self.results):
            q.close()
            q.join_thread()


class DataLoader:
    """Iterate over a dataset in batches: ``for X, y in DataLoader(ds, batch_size=32): ...``.

    PyTorch's arguments, in PyTorch's order:
        dataset: a map-style dataset (``__len__`` and ``__getitem__``) or an IterableDataset.
        batch_size: samples per batch (the last may be smaller); None: no batching, each
            sample comes out on its own (converted, not stacked).
        shuffle: a new random order every epoch (RandomSampler over the dataset).
        sampler: the order of single indices (any Sampler or iterable of indices with len(),
            e.g. ``tinydl.distributed.DistributedSampler``: this rank's share); excludes shuffle.
        batch_sampler: yields whole batches of indices; excludes batch_size, shuffle, sampler
            and drop_last.
        num_workers: 0 loads in this process; k > 0 starts k worker processes (worker.py).
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        pin_memory: accepted and ignored (NumPy batches live in ordinary host memory; moving
            them to "cuda" is done by ``device=``).
        drop_last: drop the last batch when it is smaller than batch_size.
        timeout: seconds to wait for a worker's batch (0: wait as long as it takes).
        worker_init_fn: called as worker_init_fn(worker_id) in each worker after seeding.
        multiprocessing_context: a start method name ("fork", "spawn") or a context.
        generator: draws the shuffle order and the workers' base seed (a tinydl.Generator);
            None uses tinydl's global generator.
        prefetch_factor: batches each worker prepares ahead (default 2; only with workers).
        persistent_workers: keep the workers between epochs (only with workers).
    tinydl's own (keyword-only):
        transform: applied to each batch's inputs (its first element, a NumPy array of shape
            (B, ...)) before they become a Tensor; must return an array.
        device: move every batch there (e.g. "cuda").

    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True,
                 transform: Callable | None = None, device: Any = None):
        iterable = isinstance(dataset, IterableDataset)
        if not iterable and not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__ (or be an "
                            f"IterableDataset), got {type(dataset).__name__}; wrap arrays in "
                            "TensorDataset(X, y)")
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, (int, np.integer)) or
                                       batch_size < 1):
            raise ValueError(f"DataLoader: batch_size must be an int >= 1 or None, got "
                             f"{batch_size!r}")
        for name, fn in (("collate_fn", collate_fn), ("transform", transform),
                         ("worker_init_fn", worker_init_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"DataLoader: {name} must be callable, got {type(fn).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout must be >= 0, got {timeout!r}")
        if num_workers == 0 and (prefetch_factor is not None or persistent_workers):
            raise ValueError("DataLoader: prefetch_factor and persistent_workers only apply "
                             "with num_workers > 0")
        if prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError(f"DataLoader: prefetch_factor must be >= 1, got {prefetch_factor!r}")
        resolve_generator("DataLoader", generator)  # checks the type
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value:
                    raise ValueError(f"DataLoader: an IterableDataset yields its own order; "
                                     f"{name} cannot be given (got {value!r})")
        elif batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler makes the batches itself; it "
                                 "excludes batch_size, shuffle, sampler and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: drop_last needs a batch_size (got batch_size=None)")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True both choose the order; pass "
                             "one (a DistributedSampler shuffles itself)")
        if sampler is not None and not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices with len(), got "
                            f"{type(sampler).__name__}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.num_workers, self.pin_memory, self.timeout = num_workers, pin_memory, timeout
        self.worker_init_fn, self.generator = worker_init_fn, generator
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None else 2
        self.persistent_workers = persistent_workers
        self.transform, self.device = transform, device
        if not iterable and sampler is None:
            sampler = (RandomSampler(dataset, generator=generator) if self.shuffle
                       else SequentialSampler(dataset))
        self.sampler = sampler
        if batch_sampler is None and self.batch_size is not None and not iterable:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self.batch_size is not None or \
                batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self._pool: _WorkerPool | None = None
        self._epoch = 0

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def _requests(self, epoch: int) -> Iterator[Any]:
        """What each batch is made from: index arrays, single indices, or the epoch (streams)."""
        if isinstance(self.dataset, IterableDataset):
            return itertools.repeat(epoch)
        if self.batch_sampler is None:
            return iter(self.sampler)
        if isinstance(self.batch_sampler, BatchSampler):
            return self.batch_sampler.index_arrays()
        return (np.asarray(batch, dtype=np.int64) for batch in self.batch_sampler)

    def _base_seed(self) -> int:
        """Drawn each epoch (as PyTorch does, also without workers, so that 0 and k workers
        consume the same random numbers and shuffle alike)."""
        return int(resolve_generator("DataLoader", self.generator).integers(0, 2 ** 62))

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            return self._single_process(self._base_seed())
        return self._multi_process()

    def _single_process(self, base_seed: int) -> Iterator[Any]:
        self._epoch += 1
        fetch = _Fetcher(self)
        for request in self._requests(self._epoch):
            try:
                batch = fetch(request)
            except StopIteration:
                return
            yield _to_tensors(batch, self.device)

    def _multi_process(self) -> Iterator[Any]:
        if self._pool is not None and not self._pool.alive():
            self._pool = None
        pool = self._pool or _WorkerPool(self, self._base_seed())
        if self.persistent_workers:
            self._pool = pool
        self._epoch += 1
        epoch = self._epoch
        requests = self._requests(epoch)
        active = list(range(self.num_workers))
        turn = itertools.cycle(range(self.num_workers))
        sent = received = 0
        owner: dict[int, int] = {}
        ready: dict[int, Any] = {}

        def send_one() -> bool:
            if not active:
                return False
            try:
                request = next(requests)
            except StopIteration:
                return False
            worker = next(turn)
            while worker not in active:
                worker = next(turn)
            nonlocal sent
            pool.tasks[worker].put((epoch, sent, request))
            owner[sent] = worker
            sent += 1
            return True

        try:
            for _ in range(self.prefetch_factor * self.num_workers):
                if not send_one():
                    break
            while received < sent:
                while received not in ready:
                    got_epoch, task, batch, error = self._next_result(pool)
                    if error is not None:
                        where = "" if task is None else f" on batch {task}"
                        raise RuntimeError(f"DataLoader worker{where} failed:\n{error}")
                    if got_epoch == epoch:
                        ready[task] = batch
                batch = ready.pop(received)
                worker = owner.pop(received)
                received += 1
                if isinstance(batch, Exhausted):
                    if worker in active:
                        active.remove(worker)
                    send_one()
                    continue
                send_one()
                yield _to_tensors(batch, self.device)
        finally:
            if not self.persistent_workers:
                pool.shutdown()

    def _next_result(self, pool: _WorkerPool) -> tuple:
        """The next (epoch, task, batch, error) from any worker; a clear error when a worker
        died or the timeout passed."""
        started = time.monotonic()
        while True:
            try:
                return pool.results.get(timeout=1.0)
            except queue.Empty:
                if not pool.alive():
                    dead = [i for i, p in enumerate(pool.processes) if not p.is_alive()]
                    raise RuntimeError(f"DataLoader: worker(s) {dead} exited unexpectedly "
                                       "(killed, out of memory, or a crash in native code); "
                                       "try num_workers=0 to see the error") from None
                if self.timeout and time.monotonic() - started > self.timeout:
                    raise RuntimeError(f"DataLoader: no batch from the workers within "
                                       f"timeout={self.timeout} s") from None

    def __del__(self) -> None:
        pool = self.__dict__.get("_pool")
        if pool is not None:
            try:
                pool.shutdown()
            except Exception:  # noqa: BLE001 (interpreter shutdown)
                pass

    def __repr__(self) -> str:
        if isinstance(self.dataset, IterableDataset):
            return f"DataLoader(IterableDataset, batch_size={self.batch_size})"
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, {len(self)} batches, "
                f"num_workers={self.num_workers})")
