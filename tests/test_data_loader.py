"""Dataset, TensorDataset, Subset, random_split and DataLoader."""
import numpy as np
import pytest

import tinydl
from tinydl.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split
from tinydl.testing import standin

standin.register()


# ---------------------------------------------------------------- datasets

def test_tensor_dataset_items_are_tuples_of_rows():
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 2, 0, 1, 2])
    ds = TensorDataset(X, y)
    assert len(ds) == 6
    item = ds[4]
    assert isinstance(item, tuple) and len(item) == 2
    np.testing.assert_array_equal(item[0], [8.0, 9.0])
    assert item[1] == 1
    np.testing.assert_array_equal(ds[-1][0], [10.0, 11.0])


def test_tensor_dataset_accepts_tensors_and_lists():
    ds = TensorDataset(tinydl.tensor([[1.0, 2.0], [3.0, 4.0]]), [5, 6])
    assert isinstance(ds.arrays[0], np.ndarray) and isinstance(ds.arrays[1], np.ndarray)
    np.testing.assert_array_equal(ds[1][0], [3.0, 4.0])
    assert ds[1][1] == 6


def test_tensor_dataset_errors_are_clear():
    with pytest.raises(ValueError, match=r"TensorDataset: arrays have different lengths \[3, 2\]"):
        TensorDataset(np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="TensorDataset: array 1 is a scalar"):
        TensorDataset(np.zeros(3), np.float32(1.0))
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()
    with pytest.raises(IndexError, match="TensorDataset: index 3 is out of range for 3 samples"):
        TensorDataset(np.zeros(3))[3]
    with pytest.raises(TypeError, match="index must be an int"):
        TensorDataset(np.zeros(3))[0.5]


def test_dataset_base_class_says_what_to_define():
    with pytest.raises(NotImplementedError, match="must define __len__"):
        len(Dataset())
    with pytest.raises(NotImplementedError, match=r"must define __getitem__"):
        Dataset()[0]


def test_subset_maps_indices_and_checks_range():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3
    assert [int(sub[i][0]) for i in range(3)] == [70, 20, 50]
    with pytest.raises(IndexError, match="Subset: index 10 is out of range for a dataset of 10"):
        Subset(ds, [1, 10])


def test_random_split_with_counts_is_disjoint_and_seeded():
    ds = TensorDataset(np.arange(20))
    a, b = random_split(ds, [15, 5], seed=3)
    assert (len(a), len(b)) == (15, 5)
    order = np.random.default_rng(3).permutation(20)  # the documented seeded draw
    np.testing.assert_array_equal(a.indices, order[:15])
    np.testing.assert_array_equal(b.indices, order[15:])
    assert set(a.indices) | set(b.indices) == set(range(20))


def test_random_split_fractions_hand_out_the_remainder_from_the_first():
    # 10 * [0.33, 0.33, 0.34] -> floor [3, 3, 3]; 1 sample left goes to the first part
    parts = random_split(TensorDataset(np.arange(10)), [0.33, 0.33, 0.34], seed=0)
    assert [len(p) for p in parts] == [4, 3, 3]


def test_random_split_without_seed_draws_from_tinydl_generator():
    ds = TensorDataset(np.arange(12))
    tinydl.manual_seed(11)
    first = random_split(ds, [0.5, 0.5])[0].indices
    tinydl.manual_seed(11)
    again = random_split(ds, [0.5, 0.5])[0].indices
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, np.random.default_rng(11).permutation(12)[:6])


def test_random_split_errors():
    ds = TensorDataset(np.arange(10))
    with pytest.raises(ValueError, match=r"lengths \[6, 5\] sum to 11, but the dataset has 10"):
        random_split(ds, [6, 5])
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\] and sum to 1"):
        random_split(ds, [0.5, 0.6])
    with pytest.raises(TypeError, match="mix ints and floats"):
        random_split(ds, [5, 0.5])


# ---------------------------------------------------------------- DataLoader basics

def test_len_is_the_number_of_batches():
    ds = TensorDataset(np.zeros(10))
    assert len(DataLoader(ds, batch_size=3)) == 4
    assert len(DataLoader(ds, batch_size=3, drop_last=True)) == 3
    assert len(DataLoader(ds, batch_size=5)) == 2
    assert len(DataLoader(TensorDataset(np.zeros(2)), batch_size=3, drop_last=True)) == 0


def test_unshuffled_batches_cover_the_data_in_order():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    batches = list(DataLoader(TensorDataset(X, y), batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y)
    np.testing.assert_array_equal(batches[2][0].numpy(), [[16, 17], [18, 19]])
    dropped = list(DataLoader(TensorDataset(X, y), batch_size=4, drop_last=True))
    assert len(dropped) == 2


def test_dtypes_float64_to_float32_ints_to_int64():
    ds = TensorDataset(np.zeros((4, 2), np.float64), np.zeros(4, np.int32),
                       np.zeros(4, np.uint8), np.zeros(4, bool), np.zeros(4, np.float16))
    x, a, b, c, h = next(iter(DataLoader(ds, batch_size=4)))
    assert isinstance(x, tinydl.Tensor)
    assert (x.dtype, a.dtype, b.dtype, c.dtype, h.dtype) == (
        np.float32, np.int64, np.int64, np.bool_, np.float16)


def test_shuffle_follows_tinydl_generator_and_repeats_with_the_seed():
    ds = TensorDataset(np.arange(10))
    loader = DataLoader(ds, batch_size=3, shuffle=True)
    tinydl.manual_seed(5)
    epoch1 = np.concatenate([b[0].numpy() for b in loader])
    epoch2 = np.concatenate([b[0].numpy() for b in loader])
    rng = np.random.default_rng(5)  # manual_seed(5) is this generator
    # each epoch first draws the workers' base seed (as PyTorch does, also with 0 workers),
    # then the permutation
    rng.integers(0, 2 ** 62)
    np.testing.assert_array_equal(epoch1, rng.permutation(10))
    rng.integers(0, 2 ** 62)
    np.testing.assert_array_equal(epoch2, rng.permutation(10))
    assert not np.array_equal(epoch1, epoch2)
    tinydl.manual_seed(5)
    np.testing.assert_array_equal(np.concatenate([b[0].numpy() for b in loader]), epoch1)


class CountingTensorDataset(TensorDataset):
    calls = 0

    def __getitem__(self, index):
        CountingTensorDataset.calls += 1
        return super().__getitem__(index)


def test_tensor_dataset_fast_path_never_asks_for_single_items():
    ds = CountingTensorDataset(np.arange(100.0).reshape(50, 2), np.arange(50))
    tinydl.manual_seed(0)
    rows = np.concatenate([y.numpy() for _, y in DataLoader(ds, batch_size=8, shuffle=True)])
    assert CountingTensorDataset.calls == 0
    assert sorted(rows.tolist()) == list(range(50))


def test_fast_path_through_nested_subsets():
    ds = TensorDataset(np.arange(10) * 2, np.arange(10))
    inner = Subset(ds, [9, 8, 7, 6, 5])
    outer = Subset(inner, [4, 0, 2])  # -> rows 5, 9, 7
    (x, y), = list(DataLoader(outer, batch_size=3))
    np.testing.assert_array_equal(y.numpy(), [5, 9, 7])
    np.testing.assert_array_equal(x.numpy(), [10, 18, 14])


# ---------------------------------------------------------------- generic datasets, collate

class SquaresDataset(Dataset):
    """sample i: (a float array [i, i*i], the Python int i, the Python float i/2, a name)"""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float64), i, i / 2, f"s{i}"


def test_default_collate_stacks_each_field():
    x, label, half, names = next(iter(DataLoader(SquaresDataset(), batch_size=3)))
    np.testing.assert_array_equal(x.numpy(), [[0, 0], [1, 1], [2, 4]])
    assert x.dtype == np.float32
    assert label.dtype == np.int64 and label.tolist() == [0, 1, 2]
    assert half.dtype == np.float32 and half.tolist() == [0.0, 0.5, 1.0]
    assert names == ["s0", "s1", "s2"]


def test_default_collate_dicts_and_errors():
    batch = default_collate([{"a": 1, "b": np.zeros(2)}, {"a": 2, "b": np.ones(2)}])
    assert batch["a"].tolist() == [1, 2] and batch["b"].shape == (2, 2)
    with pytest.raises(ValueError, match=r"different shapes \[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])


def test_custom_collate_fn_gets_the_list_of_samples():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return np.array([s[1] for s in samples]) * 10

    batches = list(DataLoader(SquaresDataset(), batch_size=2, collate_fn=collate))
    assert seen == [2, 2, 1]
    assert batches[1].tolist() == [20, 30] and isinstance(batches[1], tinydl.Tensor)


def test_transform_gets_the_inputs_as_a_numpy_batch():
    shapes = []

    def transform(x):
        shapes.append((type(x), x.shape))
        return x * -1.0

    X = np.ones((5, 3), np.float32)
    y = np.arange(5)
    batches = list(DataLoader(TensorDataset(X, y), batch_size=2, transform=transform))
    assert shapes == [(np.ndarray, (2, 3)), (np.ndarray, (2, 3)), (np.ndarray, (1, 3))]
    assert batches[0][0].numpy().tolist() == [[-1.0] * 3] * 2
    assert batches[0][1].tolist() == [0, 1]  # targets untouched
    np.testing.assert_array_equal(X, 1.0)    # the stored data is untouched


def test_transform_must_return_an_array():
    loader = DataLoader(TensorDataset(np.ones((2, 2))), transform=lambda x: x.tolist())
    with pytest.raises(TypeError, match="transform must return a NumPy array, it returned list"):
        next(iter(loader))


def test_device_moves_every_tensor_of_the_batch():
    ds = TensorDataset(np.ones((4, 2)), np.arange(4))
    x, y = next(iter(DataLoader(ds, batch_size=4, device="standin")))
    assert x.device == "standin" and y.device == "standin"
    assert isinstance(x.data, standin.StandInArray)
    np.testing.assert_array_equal(y.cpu().numpy(), [0, 1, 2, 3])


def test_loader_argument_errors():
    ds = TensorDataset(np.zeros(3))
    with pytest.raises(ValueError, match="batch_size must be an int >= 1 or None, got 0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="dataset must define __len__ and __getitem__"):
        DataLoader(iter([1, 2]))
    with pytest.raises(TypeError, match="transform must be callable"):
        DataLoader(ds, transform="flip")
