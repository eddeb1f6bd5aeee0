"""DataLoader: a dataset cut into (optionally shuffled) batches of Tensors.

One pass over a loader is one epoch. Each batch is made in four steps:

1. pick the sample indices (in order, or a fresh permutation from tinydl's generator when
   ``shuffle=True``, so ``tinydl.manual_seed`` makes the order repeatable);
2. collate: stack the samples into NumPy arrays. A ``TensorDataset`` (or a Subset of one) is
   sliced with the whole index array at once, with no Python loop over samples;
3. ``transform`` (optional) is applied to the batch inputs (the first element) as a NumPy array;
4. the arrays become Tensors (float64 -> float32, integers -> int64) and move to ``device``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import numpy as np

from tinydl.data.dataset import Subset, TensorDataset
from tinydl.random import generator
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

    Samples that are tuples/lists give a tuple with one stacked array per field; dicts give a
    dict per key; arrays, Tensors and numbers are stacked along a new first axis:
    B samples of shape (F,) -> (B, F); B numbers -> (B,). Strings stay a list.
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        sizes = {len(s) for s in samples}
        if len(sizes) != 1:
            raise ValueError(f"DataLoader collate: samples have different numbers of fields "
                             f"{sorted(sizes)}; every sample must have the same structure")
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
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
    """NumPy arrays anywhere in the batch become Tensors (on ``device`` when given)."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_tensors(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _to_tensors(item, device) for key, item in batch.items()}
    if isinstance(batch, np.ndarray):
        array = _as_batch_array(batch)
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


class DataLoader:
    """Iterate over a dataset in batches: ``for X, y in DataLoader(ds, batch_size=32): ...``.

    Args:
        dataset: anything with ``__len__`` and ``__getitem__`` (a ``Dataset``).
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: a new random order every epoch, drawn from tinydl's generator.
        drop_last: drop the last batch when it is smaller than batch_size.
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        transform: applied to each batch's inputs (its first element, a NumPy array of shape
            (B, ...)) before they become a Tensor; must return an array (augmentation,
            normalisation).
        device: move every batch there (e.g. "cuda").
        sampler: an iterable of sample indices with ``len()`` that decides the order instead
            of ``shuffle`` (e.g. ``tinydl.distributed.DistributedSampler``: this rank's share).

    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn: Callable | None = None,
                 transform: Callable | None = None, device: Any = None, sampler: Any = None):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got "
                            f"{type(dataset).__name__}; wrap arrays in TensorDataset(X, y)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be an int >= 1, got {batch_size!r}")
        for name, fn in (("collate_fn", collate_fn), ("transform", transform)):
            if fn is not None and not callable(fn):
                raise TypeError(f"DataLoader: {name} must be callable, got {type(fn).__name__}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler and shuffle=True both choose the order; pass "
                             "one (a DistributedSampler shuffles itself)")
        if sampler is not None and not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be an iterable of indices with len(), got "
                            f"{type(sampler).__name__}")
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.transform = transform
        self.device = device

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        if self.sampler is not None:
            order = np.fromiter(self.sampler, dtype=np.int64, count=len(self.sampler))
        else:
            n = len(self.dataset)
            order = generator().permutation(n) if self.shuffle else np.arange(n)
        fast = _rows_of(self.dataset) if self.collate_fn is None else None
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            if fast is not None:
                arrays, rows = fast
                picked = indices if rows is None else rows[indices]
                batch = tuple(a[picked] for a in arrays)  # (B, ...) each, one slice per array
            else:
                collate = self.collate_fn or default_collate
                batch = collate([self.dataset[int(i)] for i in indices])
            if self.transform is not None:
                batch = self._apply_transform(batch)
            yield _to_tensors(batch, self.device)

    def _apply_transform(self, batch: Any) -> Any:
        """Run ``transform`` on the inputs: the first element of a tuple batch, else the batch."""
        is_tuple = isinstance(batch, (tuple, list))
        inputs = batch[0] if is_tuple else batch
        if not isinstance(inputs, np.ndarray):
            raise TypeError(f"DataLoader: transform works on the batch inputs as a NumPy array, "
                            f"but they are a {type(inputs).__name__}; return NumPy arrays from "
                            "collate_fn, or apply the transform inside it")
        out = self.transform(inputs)
        if not isinstance(out, np.ndarray):
            raise TypeError(f"DataLoader: transform must return a NumPy array, it returned "
                            f"{type(out).__name__} for inputs of shape {inputs.shape}")
        return (out, *batch[1:]) if is_tuple else out

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.dataset)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, {len(self)} batches)")
