"""DataLoader worker processes: what runs inside each, and ``get_worker_info()``.

With ``DataLoader(..., num_workers=k)`` the loader starts k processes (multiprocessing). The
main process decides WHICH samples go in each batch (the sampler) and sends the index lists
out, round robin; each worker fetches its samples, collates them (and runs the batch
``transform``), and sends the NumPy batch back; the main process turns batches into Tensors in
the original order. Seeding follows PyTorch: every epoch the loader draws a ``base_seed`` from
its ``generator`` (or tinydl's global generator), and worker i seeds tinydl's generator,
Python's ``random`` and NumPy's legacy ``numpy.random`` with ``base_seed + i`` before calling
``worker_init_fn(i)``. So the same seed gives the same batches with 0 or k workers (random
augmentations inside workers differ, since each worker has its own stream, as in PyTorch).

For an ``IterableDataset`` every worker iterates its own copy; ``get_worker_info()`` tells
the dataset which worker it runs in, to shard the stream.
"""
from __future__ import annotations

import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinydl.random import manual_seed


@dataclass(frozen=True)
class WorkerInfo:
    """Inside a worker: its ``id`` (0 .. num_workers - 1), ``num_workers``, ``seed`` and its
    copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The WorkerInfo of the current DataLoader worker process; None in the main process."""
    return _worker_info


class Exhausted:
    """Sent by a worker whose IterableDataset has no more batches."""


def seed_worker(seed: int) -> None:
    """Seed everything random a worker may use: tinydl, Python's random, NumPy's legacy global."""
    manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)


def worker_loop(fetch: Callable[[Any], Any], dataset: Any, worker_id: int, num_workers: int,
                seed: int, worker_init_fn: Callable[[int], None] | None, tasks: Any,
                results: Any) -> None:
    """Run in a worker process: answer (epoch, task, request) messages until None arrives.

    ``fetch(request)`` makes one batch (a list of indices for a map-style dataset; for an
    iterable one the request is "next" and fetch draws from this worker's iterator, raising
    StopIteration when it runs dry, or "reset" to start a new pass). Answers are
    (epoch, task, batch, error text or None).
    """
    global _worker_info
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    seed_worker(seed)
    try:
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception:  # reported to the main process
        results.put((None, None, None, f"worker_init_fn raised:\n{traceback.format_exc()}"))
        return
    while True:
        message = tasks.get()
        if message is None:
            return
        epoch, task, request = message
        try:
            results.put((epoch, task, fetch(request), None))
        except StopIteration:
            results.put((epoch, task, Exhausted(), None))
        except Exception:  # reported to the main process, with the traceback
            results.put((epoch, task, None, traceback.format_exc()))
