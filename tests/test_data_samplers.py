"""Samplers, ConcatDataset, IterableDataset, the DataLoader's PyTorch arguments and its worker
processes (seeding, determinism, sharding, errors), and the per-sample vision transforms."""
from __future__ import annotations

import os

import numpy as np
import pytest

import tinydl
from tinydl.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
)
from tinydl.vision import transforms as T


class Squares(Dataset):
    """A map-style dataset that is not a TensorDataset: sample i is (i * i, i)."""

    def __len__(self):
        return 23

    def __getitem__(self, i):
        return np.float32(i * i), i


class Counting(IterableDataset):
    """0 .. n - 1, split between workers by worker id."""

    def __init__(self, n=10):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))

    def __len__(self):
        return self.n


# ---------------------------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------------------------


def test_sequential_and_batch_samplers_hand_worked():
    assert list(SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    assert list(BatchSampler(SequentialSampler(range(5)), 2, False)) == [[0, 1], [2, 3], [4]]
    assert list(BatchSampler(SequentialSampler(range(5)), 2, True)) == [[0, 1], [2, 3]]
    assert len(BatchSampler(range(5), 2, False)) == 3 and len(BatchSampler(range(5), 2, True)) == 2
    assert list(BatchSampler([4, 2, 0], 2, False)) == [[4, 2], [0]]  # any iterable of indices
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        BatchSampler(range(3), 0, False)


def test_random_sampler_permutation_replacement_and_num_samples():
    tinydl.manual_seed(0)
    order = list(RandomSampler(range(10)))
    assert sorted(order) == list(range(10))
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=50))
    assert len(drawn) == 50 and set(drawn) == {0, 1, 2}
    longer = list(RandomSampler(range(4), num_samples=10))  # whole permutations, cut
    assert sorted(longer[:4]) == [0, 1, 2, 3] and sorted(longer[4:8]) == [0, 1, 2, 3]
    assert len(RandomSampler(range(4), num_samples=10)) == 10
    first = list(RandomSampler(range(10), generator=tinydl.Generator().manual_seed(3)))
    again = list(RandomSampler(range(10), generator=tinydl.Generator().manual_seed(3)))
    assert first == again
    with pytest.raises(ValueError, match="num_samples must be a positive int, got 0"):
        RandomSampler(range(3), num_samples=0)


def test_subset_and_weighted_samplers():
    tinydl.manual_seed(1)
    assert sorted(SubsetRandomSampler([7, 3, 9])) == [3, 7, 9]
    draws = list(WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=4000))
    counts = np.bincount(draws, minlength=3)
    assert counts[0] == 0 and 0.70 < counts[2] / 4000 < 0.80  # 3 / 4 of the draws
    unique = list(WeightedRandomSampler([1, 1, 1, 1], num_samples=4, replacement=False))
    assert sorted(unique) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement from 2"):
        WeightedRandomSampler([1.0, 0.0, 2.0], 3, replacement=False)
    with pytest.raises(ValueError, match="non-negative numbers"):
        WeightedRandomSampler([1.0, -1.0], 2)


def test_a_user_sampler_only_needs_iter_and_len():
    class Evens(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(0, self.n, 2))

        def __len__(self):
            return (self.n + 1) // 2

    batches = [y.tolist() for _, y in DataLoader(Squares(), batch_size=4, sampler=Evens(11))]
    assert batches == [[0, 2, 4, 6], [8, 10]]


@pytest.mark.torch
def test_deterministic_samplers_match_torch(torch):
    from torch.utils import data as tdata

    for make in (lambda d: d.BatchSampler(d.SequentialSampler(range(11)), 3, False),
                 lambda d: d.BatchSampler(d.SequentialSampler(range(11)), 3, True),
                 lambda d: d.BatchSampler([5, 1, 4, 2], 3, False)):
        assert list(make(tinydl.data)) == list(make(tdata))
        assert len(make(tinydl.data)) == len(make(tdata))


# ---------------------------------------------------------------------------------------------
# Datasets and collate
# ---------------------------------------------------------------------------------------------


def test_concat_dataset_indexes_across_parts():
    a = TensorDataset(np.arange(3))
    b = TensorDataset(np.arange(10, 15))
    both = ConcatDataset([a, b])
    assert len(both) == 8 and both.cumulative_sizes == [3, 8]
    assert [int(both[i][0]) for i in range(8)] == [0, 1, 2, 10, 11, 12, 13, 14]
    assert int(both[-1][0]) == 14 and len(a + b) == 8
    with pytest.raises(IndexError, match="index 8 is out of range for 8 samples"):
        both[8]
    with pytest.raises(TypeError, match="use ChainDataset for streams"):
        ConcatDataset([a, Counting()])
    assert list(ChainDataset([Counting(2), Counting(3)])) == [0, 1, 0, 1, 2]


@pytest.mark.torch
def test_default_collate_structure_matches_torch(torch):
    from torch.utils.data import default_collate as torch_collate

    samples = [({"x": np.full(2, i, np.float32), "n": i}, (i * 0.5, np.int64(i)))
               for i in range(3)]
    ours, theirs = default_collate(samples), torch_collate(samples)
    assert type(ours) is type(theirs) is list and sorted(ours[0]) == sorted(theirs[0])
    np.testing.assert_array_equal(ours[0]["x"], theirs[0]["x"].numpy())
    np.testing.assert_array_equal(ours[0]["n"], theirs[0]["n"].numpy())
    np.testing.assert_allclose(ours[1][0], theirs[1][0].numpy())


def test_batch_size_none_and_custom_batch_sampler():
    single = list(DataLoader(Squares(), batch_size=None))
    assert len(single) == 23 and single[3][1] == 3 and single[3][0] == 9.0
    loader = DataLoader(Squares(), batch_sampler=[[3, 1], [0]])
    assert [y.tolist() for _, y in loader] == [[3, 1], [0]] and len(loader) == 2


def test_loader_argument_errors_follow_torch():
    ds = Squares()
    with pytest.raises(ValueError, match="excludes batch_size, shuffle, sampler and drop_last"):
        DataLoader(ds, batch_size=4, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="sampler and shuffle=True both choose the order"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="shuffle cannot be given"):
        DataLoader(Counting(), shuffle=True)
    with pytest.raises(ValueError, match="only apply with num_workers > 0"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="num_workers must be an int >= 0, got -1"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(TypeError, match="generator must be a tinydl.Generator"):
        DataLoader(ds, generator=5)


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", [
    dict(batch_size=4, batch_sampler=[[0]]), dict(shuffle=True, sampler=[0, 1]),
    dict(prefetch_factor=2), dict(batch_size=None, drop_last=True)])
def test_loader_argument_errors_are_torchs(torch, kwargs):
    with pytest.raises(ValueError):
        torch.utils.data.DataLoader(list(range(5)), **kwargs)
    with pytest.raises(ValueError):
        DataLoader(Squares(), **kwargs)


# ---------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------


def _epochs(loader, count=2):
    return [[(x.numpy().tolist(), y.numpy().tolist()) for x, y in loader] for _ in range(count)]


@pytest.mark.parametrize("dataset", [Squares(), TensorDataset(np.arange(23.0), np.arange(23))],
                         ids=["map-style", "tensor-dataset"])
def test_same_seed_same_batches_with_0_and_2_workers(dataset):
    runs = []
    for workers in (0, 2):
        tinydl.manual_seed(11)
        runs.append(_epochs(DataLoader(dataset, batch_size=4, shuffle=True,
                                       num_workers=workers)))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[0][1]  # a new order each epoch
    flat = sorted(y for batch in runs[0][0] for y in batch[1])
    assert flat == list(range(23))
    # the loader's own generator gives a repeatable order without touching the global seed
    orders = [_epochs(DataLoader(dataset, batch_size=5, shuffle=True, num_workers=w,
                                 generator=tinydl.Generator().manual_seed(4)), 1)
              for w in (0, 2, 0)]
    assert orders[0] == orders[1] == orders[2]


class SeedReport(Dataset):
    """Reports, for each sample, the worker and a draw from tinydl's generator there."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([-1 if info is None else info.id,
                         -1 if info is None else info.seed]), tinydl.random.generator().random()


def test_workers_are_seeded_from_the_base_seed_and_call_worker_init_fn(tmp_path):
    def init(worker_id):
        (tmp_path / f"init{worker_id}").write_text(str(get_worker_info().id))

    generator = tinydl.Generator().manual_seed(9)
    base_seed = int(tinydl.Generator().manual_seed(9).integers(0, 2 ** 62))
    loader = DataLoader(SeedReport(), batch_size=2, num_workers=2, worker_init_fn=init,
                        generator=generator)
    batches = list(loader)
    ids = [int(b[0].numpy()[0, 0]) for b in batches]
    seeds = [int(b[0].numpy()[0, 1]) for b in batches]
    assert ids == [0, 1, 0, 1]  # batches go to the workers in turn and come back in order
    assert seeds == [base_seed, base_seed + 1] * 2
    # worker 0's first draw is the first draw of a generator seeded with base_seed
    assert batches[0][1].numpy()[0] == pytest.approx(np.random.default_rng(base_seed).random())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["init0", "init1"]
    assert get_worker_info() is None  # in the main process


def test_iterable_dataset_sharded_by_workers_matches_torchs_order():
    # each worker yields its share; batches alternate between the workers (PyTorch's order)
    assert [b.tolist() for b in DataLoader(Counting(), batch_size=2, num_workers=2)] == \
        [[0, 2], [1, 3], [4, 6], [5, 7], [8], [9]]
    assert [b.tolist() for b in DataLoader(Counting(), batch_size=3, num_workers=2,
                                           drop_last=True)] == [[0, 2, 4], [1, 3, 5]]
    assert [b.tolist() for b in DataLoader(Counting(), batch_size=4)] == \
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(DataLoader(Counting(), batch_size=4)) == 3


class Broken(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 3:
            raise KeyError("sample 3 is missing")
        return np.float32(i)


class Pid(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return os.getpid()


def test_worker_errors_and_persistent_workers():
    with pytest.raises(RuntimeError, match=r"(?s)worker on batch 1 failed.*sample 3 is missing"):
        list(DataLoader(Broken(), batch_size=2, num_workers=2))
    loader = DataLoader(Pid(), batch_size=2, num_workers=2, persistent_workers=True)
    first = {int(p) for b in loader for p in b.tolist()}
    second = {int(p) for b in loader for p in b.tolist()}
    assert first == second and os.getpid() not in first and len(first) == 2
    fresh = DataLoader(Pid(), batch_size=2, num_workers=2)
    assert {int(p) for b in fresh for p in b.tolist()} != {int(p) for b in fresh
                                                            for p in b.tolist()}


def test_stopping_early_leaves_no_stale_batches():
    loader = DataLoader(TensorDataset(np.arange(20)), batch_size=2, num_workers=2,
                        persistent_workers=True, prefetch_factor=3)
    next(iter(loader))  # one batch, then the epoch is abandoned
    assert [b[0].tolist() for b in loader][:2] == [[0, 1], [2, 3]]


# ---------------------------------------------------------------------------------------------
# Per-sample vision transforms
# ---------------------------------------------------------------------------------------------


def test_to_tensor_and_normalize_hand_worked():
    pixels = np.array([[[0, 255, 51]]], dtype=np.uint8)  # (H=1, W=1, C=3)
    image = T.ToTensor()(pixels)
    assert isinstance(image, tinydl.Tensor) and image.shape == (3, 1, 1)
    assert image.dtype == np.float32
    np.testing.assert_allclose(image.numpy().ravel(), [0.0, 1.0, 0.2], rtol=1e-6)
    out = T.Normalize((0.5, 0.5, 0.0), (0.5, 0.25, 0.2))(image)
    np.testing.assert_allclose(out.numpy().ravel(), [-1.0, 2.0, 1.0], rtol=1e-6)
    assert T.ToTensor()(np.zeros((4, 5), np.uint8)).shape == (1, 4, 5)  # grayscale
    floats = T.ToTensor()(np.ones((2, 2, 1), np.float64))  # not uint8: transposed, not scaled
    assert floats.dtype == np.float64 and floats.numpy().max() == 1.0
    with pytest.raises(TypeError, match="apply ToTensor\\(\\) first"):
        T.RandomCrop(2)(np.zeros((4, 4)))


@pytest.mark.torch
def test_to_tensor_matches_what_torchvision_computes(torch):
    # torchvision's ToTensor is from_numpy(pic.transpose(2, 0, 1)).float().div(255)
    pixels = np.random.default_rng(0).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    theirs = torch.from_numpy(pixels.transpose(2, 0, 1).copy()).float().div(255)
    np.testing.assert_allclose(T.ToTensor()(pixels).numpy(), theirs.numpy(), rtol=1e-7)


def test_crops_and_flips():
    image = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    tinydl.manual_seed(0)
    crops = [T.RandomCrop(4, padding=1)(image) for _ in range(40)]
    assert all(c.shape == (2, 4, 4) for c in crops)
    assert any(np.array_equal(c, image) for c in crops)  # the unshifted window occurs
    assert any(c[0, 0, 0] == 0 and c[0, 0, 1] == 0 for c in crops)  # a padded corner occurs
    edge = T.RandomCrop(6, padding=1, padding_mode="edge")(image)
    np.testing.assert_array_equal(edge[:, 0, 0], image[:, 0, 0])
    np.testing.assert_array_equal(T.CenterCrop(2)(image), image[:, 1:3, 1:3])
    assert T.RandomCrop(6, pad_if_needed=True)(image).shape == (2, 6, 6)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(image), image[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(image), image[:, ::-1, :])
    assert T.RandomHorizontalFlip(p=0.0)(image) is image
    flipped = T.RandomHorizontalFlip(p=1.0)(tinydl.tensor(image))
    assert isinstance(flipped, tinydl.Tensor)
    np.testing.assert_array_equal(flipped.numpy(), image[:, :, ::-1])
    with pytest.raises(ValueError, match="crop size \\(5, 5\\) is larger than the \\(padded\\)"):
        T.RandomCrop(5)(image)


def test_a_dataset_with_per_sample_transforms_in_workers():
    """The torchvision pattern: a Dataset applies the transform in __getitem__."""

    class Pictures(Dataset):
        def __init__(self):
            self.pixels = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), np.uint8)
            self.transform = T.Compose([T.ToTensor(), T.RandomCrop(6, padding=2),
                                        T.RandomHorizontalFlip(),
                                        T.Lambda(lambda x: x * 2.0)])

        def __len__(self):
            return len(self.pixels)

        def __getitem__(self, i):
            return self.transform(self.pixels[i]), i

    x, y = next(iter(DataLoader(Pictures(), batch_size=4, num_workers=2)))
    assert x.shape == (4, 3, 6, 6) and x.dtype == np.float32 and y.tolist() == [0, 1, 2, 3]
    assert 0.0 <= x.numpy().min() and x.numpy().max() <= 2.0
