"""Samplers: which sample indices a DataLoader takes, and in what order (PyTorch's names).

A ``Sampler`` is anything iterable over sample indices with a ``__len__``; a ``BatchSampler``
groups another sampler's indices into lists, one list per batch. The DataLoader builds them
for you from ``shuffle`` and ``batch_size``:

    shuffle=False  ->  BatchSampler(SequentialSampler(ds), batch_size, drop_last)
    shuffle=True   ->  BatchSampler(RandomSampler(ds, generator=...), batch_size, drop_last)

and takes your own through ``sampler=`` (one index at a time) or ``batch_sampler=`` (whole
batches). Random samplers draw from their ``generator`` (a ``tinydl.Generator`` or a NumPy
Generator) or, without one, from tinydl's global generator, so ``tinydl.manual_seed`` makes
the order repeat. A new order is drawn each time iteration starts (each epoch).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from tinydl.random import resolve_generator


def _rng(generator: Any) -> np.random.Generator:
    return resolve_generator("sampler", generator)


class Sampler:
    """Base class: iterate over sample indices. Subclasses define ``__iter__`` and ``__len__``.

    ``index_array()`` returns one epoch's indices at once as a NumPy int64 array (the default
    collects ``__iter__``); the DataLoader uses it to slice whole batches without a Python loop.
    """

    def __init__(self, data_source: Any = None):
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__() yielding "
                                  "sample indices")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")

    def index_array(self) -> np.ndarray:
        return np.fromiter(iter(self), dtype=np.int64)


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, in order."""

    def __init__(self, data_source: Any):
        self.data_source = data_source

    def index_array(self) -> np.ndarray:
        return np.arange(len(self.data_source))

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the samples (a fresh permutation each epoch), or, with
    ``replacement=True``, ``num_samples`` indices drawn independently (num_samples defaults to
    the dataset size; without replacement a larger num_samples repeats whole permutations)."""

    def __init__(self, data_source: Any, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        if num_samples is not None and (isinstance(num_samples, bool) or
                                        not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples must be a positive int, got "
                             f"{num_samples!r}")
        self.data_source, self.replacement = data_source, replacement
        self._num_samples, self.generator = num_samples, generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def index_array(self) -> np.ndarray:
        n, rng = len(self.data_source), _rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples)
        rounds = math.ceil(self.num_samples / n) if n else 0
        order = np.concatenate([rng.permutation(n) for _ in range(rounds)]) if rounds else \
            np.zeros(0, dtype=np.int64)
        return order[:self.num_samples]

    def __iter__(self) -> Iterator[int]:
        return iter(self.index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a fresh one each epoch): a random split
    without making Subsets (``SubsetRandomSampler(train_idx)`` as the loader's sampler)."""

    def __init__(self, indices: Sequence[int], generator: Any = None):
        self.indices = list(indices)
        self.generator = generator

    def index_array(self) -> np.ndarray:
        order = _rng(self.generator).permutation(len(self.indices))
        return np.asarray(self.indices, dtype=np.int64)[order] if self.indices else \
            np.zeros(0, dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.index_array().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights`` (one weight
    per sample, need not sum to 1): oversample rare classes with weights 1 / class_count."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Any = None):
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"WeightedRandomSampler: num_samples must be a positive int, got "
                             f"{num_samples!r}")
        weights = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights,
                             dtype=np.float64)
        if weights.ndim != 1 or (weights < 0).any() or not np.isfinite(weights).all() \
                or weights.sum() <= 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a 1-D sequence of finite, "
                             f"non-negative numbers with a positive sum, got shape "
                             f"{weights.shape}")
        if not replacement and num_samples > (weights > 0).sum():
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without "
                             f"replacement from {(weights > 0).sum()} with non-zero weight")
        self.weights, self.num_samples = weights, num_samples
        self.replacement, self.generator = replacement, generator

    def index_array(self) -> np.ndarray:
        return _rng(self.generator).choice(len(self.weights), size=self.num_samples,
                                           replace=self.replacement,
                                           p=self.weights / self.weights.sum())

    def __iter__(self) -> Iterator[int]:
        return iter(self.index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter,
    or dropped with ``drop_last``): list(BatchSampler(SequentialSampler(range(5)), 2, False))
    == [[0, 1], [2, 3], [4]]."""

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"BatchSampler: batch_size must be an int >= 1, got {batch_size!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def index_arrays(self) -> Iterator[np.ndarray]:
        """One epoch's batches as NumPy index arrays."""
        if isinstance(self.sampler, Sampler):
            order = self.sampler.index_array()
        else:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start:start + self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.index_arrays():
            yield batch.tolist()

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
