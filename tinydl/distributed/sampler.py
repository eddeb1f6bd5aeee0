"""DistributedSampler: which samples each rank reads in an epoch (PyTorch's rules).

Every rank draws the same permutation of the dataset (seeded with ``seed + epoch``, so
``set_epoch`` changes it and all ranks agree without talking), pads it by repeating its first
indices until it splits evenly (or, with ``drop_last``, cuts the tail), and takes every
``num_replicas``-th index starting at its rank:

    permutation  7 2 9 0 4 1 8 3 6 5     (10 samples, 3 ranks, no drop_last: pad to 12)
    padded       7 2 9 0 4 1 8 3 6 5 7 2
    rank 0       7     0     8     5        indices 0, 3, 6, 9
    rank 1         2     4     3     7
    rank 2           9     1     6     2

So each sample lands on exactly one rank per epoch, except the few repeated to pad.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy

from tinydl.data.sampler import Sampler
from tinydl.distributed import comm


class DistributedSampler(Sampler):
    """Yield the dataset indices for one rank: ``DataLoader(ds, batch_size, sampler=...)``.

    Args:
        dataset: anything with ``len()``.
        num_replicas, rank: the world size and this rank (default: from
            ``tinydl.distributed``; 1 and 0 without mpirun).
        shuffle: a fresh permutation every epoch (call ``set_epoch(epoch)`` before each epoch,
            as in PyTorch; ``fit(..., distributed=True)`` does it).
        seed: the permutation's seed (every rank must pass the same).
        drop_last: drop the tail so that ranks get equal shares without repeating samples;
            otherwise pad by repeating the first indices.

    ``len(sampler)`` is the number of indices this rank gets per epoch.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        num_replicas = comm.world_size() if num_replicas is None else int(num_replicas)
        rank = comm.rank() if rank is None else int(rank)
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank {rank} is not in [0, {num_replicas}) "
                             f"(num_replicas={num_replicas})")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of ``epoch`` next (the same on every rank)."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = numpy.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = numpy.arange(n)
        if self.drop_last:
            indices = indices[:self.total_size]
        elif self.total_size > n:  # repeat from the start until the ranks split evenly
            indices = numpy.resize(indices, self.total_size)
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler(rank {self.rank} of {self.num_replicas}, "
                f"{self.num_samples} samples, shuffle={self.shuffle}, seed={self.seed}, "
                f"drop_last={self.drop_last})")
