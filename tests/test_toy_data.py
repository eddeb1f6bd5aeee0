"""Tests for tinydl.data.toy: bundled datasets, generators and train_test_split."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydl.data.toy import (
    LabeledArrays,
    digits,
    iris,
    make_moons,
    make_regression,
    make_spirals,
    train_test_split,
)


class FakeTensor:
    """Stands in for a tinydl Tensor: only offers .numpy()."""

    def __init__(self, array):
        self._array = np.asarray(array)

    def numpy(self):
        return self._array


# ---------------------------------------------------------------- bundled datasets

def test_iris_shapes_dtypes_and_class_counts():
    data = iris()
    X, y = data                                    # unpacks as a pair
    assert isinstance(data, LabeledArrays)
    assert X.shape == (150, 4) and X.dtype == np.float32
    assert y.shape == (150,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])
    assert data.class_names == ("setosa", "versicolor", "virginica")
    assert data.feature_names == ("sepal length (cm)", "sepal width (cm)",
                                  "petal length (cm)", "petal width (cm)")
    assert data.images is None
    # first row of Fisher's table: 5.1, 3.5, 1.4, 0.2, setosa
    np.testing.assert_array_equal(X[0], np.array([5.1, 3.5, 1.4, 0.2], np.float32))
    assert y[0] == 0


def test_iris_equals_sklearn_copy():
    datasets = pytest.importorskip("sklearn.datasets")
    reference = datasets.load_iris()
    data = iris()
    np.testing.assert_array_equal(data.X, reference.data.astype(np.float32))
    np.testing.assert_array_equal(data.y, reference.target)
    assert data.class_names == tuple(reference.target_names)
    assert data.feature_names == tuple(reference.feature_names)


def test_digits_shapes_dtypes_and_values():
    data = digits()
    X, y = data
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert data.images.shape == (1797, 8, 8) and data.images.dtype == np.float32
    assert X.min() == 0 and X.max() == 16 and np.all(X == np.round(X))
    np.testing.assert_array_equal(X[5], data.images[5].ravel())   # row-major pixels
    assert data.feature_names[9] == "pixel_1_1"                   # index 9 = row 1, column 1
    assert data.class_names == tuple("0123456789")
    assert set(np.unique(y)) == set(range(10))


def test_digits_equals_sklearn_copy():
    datasets = pytest.importorskip("sklearn.datasets")
    reference = datasets.load_digits()
    data = digits()
    np.testing.assert_array_equal(data.X, reference.data.astype(np.float32))
    np.testing.assert_array_equal(data.images, reference.images.astype(np.float32))
    np.testing.assert_array_equal(data.y, reference.target)


# ---------------------------------------------------------------- generators

def test_make_moons_points_lie_on_the_two_arcs_without_noise():
    X, y = make_moons(101, noise=0.0, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50, 51])      # 101 // 2 upper, rest lower
    upper, lower = X[y == 0].astype(np.float64), X[y == 1].astype(np.float64)
    # upper arc: (cos t, sin t) -> distance 1 from (0, 0), y >= 0
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    assert upper[:, 1].min() >= -1e-6
    # lower arc: (1 - cos t, 0.5 - sin t) -> distance 1 from (1, 0.5), y <= 0.5
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert lower[:, 1].max() <= 0.5 + 1e-6


def test_make_spirals_counts_and_arm_angles_without_noise():
    X, y = make_spirals(301, classes=3, noise=0.0, seed=1)
    assert X.shape == (301, 2) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [101, 100, 100])  # remainder to class 0
    X = X.astype(np.float64)
    radius = np.hypot(X[:, 0], X[:, 1])
    assert radius.max() <= 1 + 1e-6
    # point = (r sin a, r cos a) with a = 2 pi k / 3 + 4 r, so atan2(x, y) = a (mod 2 pi)
    keep = radius > 1e-3
    angle = np.arctan2(X[keep, 0], X[keep, 1])
    expected = 2 * np.pi * y[keep] / 3 + 4 * radius[keep]
    difference = np.angle(np.exp(1j * (angle - expected)))       # wrapped into (-pi, pi]
    np.testing.assert_allclose(difference, 0.0, atol=1e-4)


def test_make_regression_follows_its_true_coefficients():
    X, y, coef = make_regression(50, n_features=3, noise=0.0, seed=2, bias=1.5)
    assert (X.shape, y.shape, coef.shape) == ((50, 3), (50,), (3,))
    assert X.dtype == y.dtype == coef.dtype == np.float32
    assert np.all(np.abs(coef) <= 2)
    np.testing.assert_allclose(y, X.astype(np.float64) @ coef + 1.5, rtol=1e-5, atol=1e-5)
    # with a little noise, least squares (an independent solver) recovers coef and bias
    X, y, coef = make_regression(2000, n_features=3, noise=0.1, seed=2, bias=-0.5)
    design = np.hstack([X, np.ones((2000, 1), np.float32)])      # (N, F + 1) with a bias column
    solution = np.linalg.lstsq(design.astype(np.float64), y.astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(solution, np.append(coef, -0.5), atol=0.02)


@pytest.mark.parametrize("make", [
    lambda seed: make_moons(60, noise=0.2, seed=seed),
    lambda seed: make_spirals(60, classes=3, noise=0.2, seed=seed),
    lambda seed: make_regression(60, n_features=2, noise=0.2, seed=seed),
], ids=["moons", "spirals", "regression"])
def test_generators_are_deterministic_per_seed(make):
    first, again, other = make(7), make(7), make(8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_generator_errors():
    with pytest.raises(ValueError, match=r"make_moons: n_samples must be an integer >= 2, got 1"):
        make_moons(1)
    with pytest.raises(ValueError, match=r"make_spirals: noise must be >= 0"):
        make_spirals(30, noise=-0.1)
    with pytest.raises(ValueError, match=r"make_spirals: classes must be an integer in \[2, "):
        make_spirals(30, classes=1)
    with pytest.raises(ValueError, match=r"make_regression: n_features must be an integer >= 1"):
        make_regression(10, n_features=0)


# ---------------------------------------------------------------- train_test_split

def test_split_sizes_cover_everything_and_rows_stay_aligned():
    X = np.arange(20).reshape(10, 2)               # row i is [2i, 2i + 1]
    y = np.arange(10)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=4)
    assert len(X_test) == 3 and len(X_train) == 7  # ceil(0.25 * 10) = 3
    np.testing.assert_array_equal(X_train[:, 0], 2 * y_train)
    np.testing.assert_array_equal(X_test[:, 0], 2 * y_test)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))


def test_split_integer_test_size_and_no_shuffle():
    a_train, a_test = train_test_split(np.arange(10), test_size=4, shuffle=False)
    np.testing.assert_array_equal(a_train, np.arange(6))
    np.testing.assert_array_equal(a_test, [6, 7, 8, 9])


def test_split_accepts_tensors_and_lists():
    train, test = train_test_split(FakeTensor(np.arange(5)), test_size=0.4, seed=0)
    assert isinstance(train, np.ndarray) and len(train) == 3 and len(test) == 2
    train, test = train_test_split([10, 11, 12, 13], test_size=1, seed=0)
    assert sorted(train.tolist() + test.tolist()) == [10, 11, 12, 13]


def test_split_deterministic_per_seed_and_different_across_seeds():
    data = np.arange(100)
    first = train_test_split(data, seed=5)
    again = train_test_split(data, seed=5)
    other = train_test_split(data, seed=6)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])
    strat = np.arange(100) % 3
    a = train_test_split(data, seed=5, stratify=strat)[1]
    b = train_test_split(data, seed=5, stratify=strat)[1]
    np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=5),
       st.floats(0.05, 0.95), st.integers(0, 1000))
def test_stratified_split_keeps_class_proportions_within_one(class_sizes, test_size, seed):
    labels = np.repeat(np.arange(len(class_sizes)), class_sizes)   # (N,) sorted by class
    n = len(labels)
    n_test = int(np.ceil(test_size * n))
    if not 1 <= n_test <= n - 1:
        with pytest.raises(ValueError, match=r"train_test_split: test_size="):
            train_test_split(labels, test_size=test_size, seed=seed, stratify=labels)
        return
    index = np.arange(n)
    index_train, index_test, y_train, y_test = train_test_split(
        index, labels, test_size=test_size, seed=seed, stratify=labels)
    assert len(index_test) == n_test
    np.testing.assert_array_equal(labels[index_test], y_test)
    assert sorted(np.concatenate([index_train, index_test]).tolist()) == list(range(n))
    test_counts = np.bincount(y_test, minlength=len(class_sizes))
    expected = np.array(class_sizes) * n_test / n
    assert np.all(np.abs(test_counts - expected) < 1), (test_counts, expected)


def test_split_errors():
    with pytest.raises(ValueError, match=r"train_test_split: arrays have different lengths "
                                         r"\[4, 3\]"):
        train_test_split(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match=r"train_test_split: test_size must be a fraction"):
        train_test_split(np.zeros(4), test_size=1.5)
    with pytest.raises(ValueError, match=r"train_test_split: test_size=4 of 4 samples leaves 4 "
                                         r"for test and 0 for training"):
        train_test_split(np.zeros(4), test_size=4)
    with pytest.raises(ValueError, match=r"train_test_split: stratify needs shuffle=True"):
        train_test_split(np.zeros(4), stratify=[0, 0, 1, 1], shuffle=False)
    with pytest.raises(ValueError, match=r"train_test_split: stratify must have shape \(4,\)"):
        train_test_split(np.zeros(4), stratify=[0, 1])
    with pytest.raises(ValueError, match=r"train_test_split: give at least one array"):
        train_test_split()
