"""Datasets: what a DataLoader draws samples from.

* ``Dataset``: the interface. A dataset knows its length and returns sample ``i`` from
  ``dataset[i]``. Write your own by subclassing it and defining ``__len__`` and
  ``__getitem__``.
* ``TensorDataset(X, y, ...)``: arrays that share their first dimension; sample ``i`` is the
  tuple ``(X[i], y[i], ...)``. The DataLoader recognises it and slices whole batches at once.
* ``Subset(dataset, indices)`` and ``random_split(dataset, lengths)``: views of a dataset, for
  train/validation splits.
* ``ConcatDataset([a, b, ...])``: several datasets one after another.
* ``IterableDataset``: a stream of samples (``__iter__`` instead of ``__getitem__``), for data
  that cannot be indexed (lines of a huge file, a generator). With DataLoader workers, each
  worker iterates its own copy: split the work with ``tinydl.data.get_worker_info()``.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from tinydl.random import resolve_generator


class Dataset:
    """A collection of samples: ``len(dataset)`` samples, sample ``i`` is ``dataset[i]``.

    Subclasses define ``__len__`` and ``__getitem__(i)`` for 0 <= i < len. A sample is usually
    a tuple ``(inputs, target)`` of NumPy arrays or numbers.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) "
                                  "returning one sample")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__() returning the "
                                  "number of samples")


    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__`` (and may define ``__len__``).

    A DataLoader batches what the iterator yields, in order (no shuffle, no sampler). With
    ``num_workers=k`` each of the k worker processes iterates its OWN copy of the dataset, so
    without sharding every sample comes k times; shard in ``__iter__`` with
    ``info = tinydl.data.get_worker_info()`` (None in the main process, else ``info.id`` and
    ``info.num_workers``).
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__() yielding "
                                  "samples")

    def __getitem__(self, index: int) -> Any:
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it (or "
                        "give it to a DataLoader) instead of indexing it")

    def __add__(self, other: Dataset) -> ChainDataset:
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several IterableDatasets streamed one after another."""

    def __init__(self, datasets: Iterable[IterableDataset]):
        self.datasets = list(datasets)

    def __iter__(self) -> Iterator[Any]:
        for dataset in self.datasets:
            yield from dataset

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class ConcatDataset(Dataset):
    """Datasets one after another: sample i comes from the dataset whose range holds i.
    ``cumulative_sizes`` holds the running totals of their lengths."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: give at least one dataset")
        for number, dataset in enumerate(self.datasets):
            if isinstance(dataset, IterableDataset):
                raise TypeError(f"ConcatDataset: dataset {number} is an IterableDataset, which "
                                "cannot be indexed; use ChainDataset for streams")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        index = _check_index("ConcatDataset", index, len(self))
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]

    def __repr__(self) -> str:
        return f"ConcatDataset({len(self)} samples from {len(self.datasets)} datasets)"


def _as_array(value: Any, position: int) -> np.ndarray:
    """A Tensor or array-like as a NumPy array (Tensors are copied to the host)."""
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.detach().numpy() if hasattr(value, "detach") else value.numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"TensorDataset: array {position} has dtype object (ragged lists?); "
                        "give rectangular arrays of numbers")
    if array.ndim == 0:
        raise ValueError(f"TensorDataset: array {position} is a scalar; every array needs a "
                         "first dimension with one row per sample")
    return array


def _check_index(op: str, index: Any, length: int) -> int:
    """``index`` as a non-negative int below ``length`` (negative counts from the end)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{op}: index must be an int, got {type(index).__name__} {index!r}")
    if not -length <= index < length:
        raise IndexError(f"{op}: index {index} is out of range for {length} samples")
    return int(index) % length


class TensorDataset(Dataset):
    """Samples made of rows of arrays: ``TensorDataset(X, y)[i] == (X[i], y[i])``.

    arrays: NumPy arrays, Tensors or nested lists, all with the same first dimension N.
    They are stored as NumPy arrays in ``self.arrays`` (not copied when already arrays).
    """

    def __init__(self, *arrays: Any):
        if not arrays:
            raise ValueError("TensorDataset: give at least one array, e.g. TensorDataset(X, y)")
        self.arrays = tuple(_as_array(a, i) for i, a in enumerate(arrays))
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            shapes = ", ".join(str(a.shape) for a in self.arrays)
            raise ValueError(f"TensorDataset: arrays have different lengths {lengths} (shapes "
                             f"{shapes}); every array needs the same first dimension "
                             "(one row per sample)")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple:
        row = _check_index("TensorDataset", index, len(self))
        return tuple(a[row] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({len(self)} samples: {shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order: ``Subset(d, idx)[i] == d[idx[i]]``."""

    def __init__(self, dataset: Any, indices: Sequence[int]):
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise TypeError(f"Subset: indices must be a 1-D sequence of ints, got shape "
                            f"{indices.shape} dtype {indices.dtype}")
        n = len(dataset)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            bad = indices[(indices < 0) | (indices >= n)][0]
            raise IndexError(f"Subset: index {bad} is out of range for a dataset of {n} samples")
        self.dataset = dataset
        self.indices = indices.astype(np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[_check_index("Subset", index, len(self))])]

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {len(self.dataset)} samples)"


def _split_lengths(lengths: Sequence[Any], n: int) -> list[int]:
    """Sample counts from ``lengths``: ints summing to n, or fractions summing to 1."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty; give e.g. [0.8, 0.2] or [120, 30]")
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in lengths):
        if any(x < 0 for x in lengths) or sum(lengths) != n:
            raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, but the "
                             f"dataset has {n} samples; the counts must be >= 0 and sum to {n} "
                             "(or give fractions that sum to 1)")
        return [int(x) for x in lengths]
    if not all(isinstance(x, (float, np.floating)) for x in lengths):
        raise TypeError(f"random_split: lengths {lengths} mix ints and floats; give all "
                        "sample counts (ints) or all fractions (floats)")
    if any(not 0.0 <= x <= 1.0 for x in lengths) or not math.isclose(sum(lengths), 1.0,
                                                                       abs_tol=1e-6):
        raise ValueError(f"random_split: fractions {lengths} must lie in [0, 1] and sum to 1 "
                         f"(they sum to {sum(lengths)})")
    counts = [math.floor(n * x) for x in lengths]
    for i in range(n - sum(counts)):  # hand the few samples lost to rounding out in turn
        counts[i % len(counts)] += 1
    return counts


def random_split(dataset: Any, lengths: Sequence[Any], generator: Any = None,
                 seed: int | None = None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping Subsets of the given lengths.

    lengths: sample counts that sum to len(dataset), e.g. [120, 30], or fractions that sum
             to 1, e.g. [0.8, 0.2] (rounded down, the remainder handed out one by one from
             the first part on).
    generator: a ``tinydl.Generator`` to draw from (``tinydl.Generator().manual_seed(42)``, as
          in PyTorch); seed: a shortcut for the same. With neither, tinydl's global generator
          is used (so ``tinydl.manual_seed`` makes the split repeatable).
    """
    n = len(dataset)
    counts = _split_lengths(lengths, n)
    if generator is None and seed is not None:
        generator = np.random.default_rng(seed)
    rng = resolve_generator("random_split", generator)
    order = rng.permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:])]
