"""Small datasets for lessons and tests, all as NumPy arrays.

Bundled real data (files in tinydl/data/files, see the README there for sources/licenses):
    iris()    150 flowers, 4 measurements, 3 species
    digits()  1797 handwritten digits, 8x8 pixels with values 0..16

Generated data, deterministic for a given seed (np.random.default_rng(seed)):
    make_moons, make_spirals   2-D classification
    make_regression            linear regression with a known answer

and train_test_split, a seeded (optionally stratified) split of arrays.

Features are float32 and class labels int64 throughout, ready for tinydl.tensor(...).
The real datasets come back as a LabeledArrays, which unpacks like a pair:

    X, y = iris()                  # X float32 (150, 4), y int64 (150,)
    data = iris(); data.class_names   # ('setosa', 'versicolor', 'virginica')
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinydl.backend import as_numpy as _as_numpy

FILES = Path(__file__).resolve().parent / "files"


@dataclass(frozen=True, eq=False)
class LabeledArrays:
    """Features and labels of a small dataset, plus names.

    X: float32 (N, F) features. y: int64 (N,) class indices.
    feature_names: F names. class_names: C names, class_names[y[i]] is sample i's class.
    images: float32 (N, H, W) when the features are image pixels (digits), else None.
    Iterating yields X then y, so ``X, y = iris()`` works.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple
    class_names: tuple
    images: np.ndarray | None = None

    def __iter__(self):
        return iter((self.X, self.y))


# ---------------------------------------------------------------- bundled datasets

def iris():
    """Fisher's iris flowers: 150 samples, 50 per species.

    Returns LabeledArrays with X float32 (150, 4) (sepal length, sepal width, petal length,
    petal width, in cm), y int64 (150,) in {0, 1, 2}, and the species as class_names.
    """
    path = FILES / "iris.csv"
    with open(path, newline="", encoding="ascii") as file:
        rows = list(csv.reader(file))
    header, rows = rows[0], rows[1:]
    if len(header) != 5 or len(rows) != 150:
        raise ValueError(f"iris: file '{path}' should hold a 5-column header and 150 rows, "
                         f"found {len(header)} columns and {len(rows)} rows; reinstall tinydl")
    for number, row in enumerate(rows, start=2):
        if len(row) != 5:
            raise ValueError(f"iris: file '{path}' line {number} has {len(row)} fields, "
                             f"expected 5; reinstall tinydl")
    class_names = tuple(sorted({row[4] for row in rows}))
    X = np.array([[float(v) for v in row[:4]] for row in rows], dtype=np.float32)  # (150, 4)
    y = np.array([class_names.index(row[4]) for row in rows], dtype=np.int64)       # (150,)
    return LabeledArrays(X, y, tuple(header[:4]), class_names)


def digits():
    """8x8 images of handwritten digits 0..9 (1797 samples, about 180 per digit).

    Returns LabeledArrays with X float32 (1797, 64) pixel values 0..16 (row-major,
    feature 'pixel_r_c' is row r, column c), y int64 (1797,) the digit, and
    images float32 (1797, 8, 8), the same pixels as images.
    """
    path = FILES / "digits.npz"
    with np.load(path, allow_pickle=False) as archive:
        if set(archive.files) != {"images", "labels"}:
            raise ValueError(f"digits: file '{path}' should hold arrays 'images' and 'labels', "
                             f"found {archive.files}; reinstall tinydl")
        images = archive["images"]
        labels = archive["labels"]
    if images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise ValueError(f"digits: file '{path}' holds images {images.shape} and labels "
                         f"{labels.shape}, expected (1797, 8, 8) and (1797,); reinstall tinydl")
    images = images.astype(np.float32)
    X = images.reshape(len(images), 64).copy()  # (N, 8, 8) -> (N, 64), row by row
    feature_names = tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8))
    class_names = tuple(str(d) for d in range(10))
    return LabeledArrays(X, labels.astype(np.int64), feature_names, class_names, images)


# ---------------------------------------------------------------- generated datasets

def _check_generator_args(op, n_samples, noise, minimum_samples=1):
    if not isinstance(n_samples, (int, np.integer)) or n_samples < minimum_samples:
        raise ValueError(f"{op}: n_samples must be an integer >= {minimum_samples}, "
                         f"got {n_samples!r}")
    if not noise >= 0:
        raise ValueError(f"{op}: noise must be >= 0 (a standard deviation), got {noise!r}")


def make_moons(n_samples=200, noise=0.1, seed=0):
    """Two interleaving half circles, a classic non-linearly-separable 2-D problem.

    Class 0 is the upper arc (cos t, sin t), class 1 the lower arc (1 - cos t, 0.5 - sin t),
    t in [0, pi]; Gaussian noise with standard deviation ``noise`` is added to each coordinate.
    Class 0 gets n_samples // 2 points, class 1 the rest; rows are shuffled.
    Returns X float32 (n_samples, 2), y int64 (n_samples,).
    """
    _check_generator_args("make_moons", n_samples, noise, minimum_samples=2)
    rng = np.random.default_rng(seed)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    t_upper = np.linspace(0, np.pi, n_upper)
    t_lower = np.linspace(0, np.pi, n_lower)
    upper = np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1)              # (n_upper, 2)
    lower = np.stack([1 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1)    # (n_lower, 2)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n_samples, 2))
    y = np.concatenate([np.zeros(n_upper, np.int64), np.ones(n_lower, np.int64)])
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order]


def make_spirals(n_samples=300, classes=3, noise=0.2, seed=0):
    """Interleaved spiral arms, one per class, in the unit disc.

    Arm k: radius r from 0 to 1, angle 2*pi*k/classes + 4*r (+ Gaussian noise of standard
    deviation ``noise`` radians); the point is (r sin angle, r cos angle).
    Samples are spread as evenly as possible over the classes; rows are shuffled.
    Returns X float32 (n_samples, 2), y int64 (n_samples,).
    """
    _check_generator_args("make_spirals", n_samples, noise)
    if not isinstance(classes, (int, np.integer)) or not 2 <= classes <= n_samples:
        raise ValueError(f"make_spirals: classes must be an integer in [2, n_samples="
                         f"{n_samples}], got {classes!r}")
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for k in range(classes):
        n_k = n_samples // classes + (1 if k < n_samples % classes else 0)
        radius = np.linspace(0.0, 1.0, n_k)
        angle = 2 * np.pi * k / classes + 4 * radius + noise * rng.standard_normal(n_k)
        points.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
        labels.append(np.full(n_k, k, dtype=np.int64))
    X = np.concatenate(points)  # (n_samples, 2)
    y = np.concatenate(labels)  # (n_samples,)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order]


def make_regression(n_samples=100, n_features=1, noise=0.1, seed=0, bias=0.0):
    """Linear data with a known answer: y = X @ true_coef + bias + noise * N(0, 1).

    X ~ N(0, 1) of shape (n_samples, n_features); true_coef ~ Uniform(-2, 2) per feature.
    Returns (X float32 (n_samples, n_features), y float32 (n_samples,),
             true_coef float32 (n_features,)).
    """
    _check_generator_args("make_regression", n_samples, noise)
    if not isinstance(n_features, (int, np.integer)) or n_features < 1:
        raise ValueError(f"make_regression: n_features must be an integer >= 1, "
                         f"got {n_features!r}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    true_coef = rng.uniform(-2.0, 2.0, size=n_features)
    y = X @ true_coef + bias + noise * rng.standard_normal(n_samples)
    return X.astype(np.float32), y.astype(np.float32), true_coef.astype(np.float32)


# ---------------------------------------------------------------- splitting


def _test_count(test_size, n):
    """Number of test samples: a fraction of n (rounded up) or an absolute count."""
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0 < test_size < 1:
        n_test = math.ceil(test_size * n)
    else:
        raise ValueError(f"train_test_split: test_size must be a fraction in (0, 1) or a "
                         f"sample count, got {test_size!r}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"train_test_split: test_size={test_size!r} of {n} samples leaves "
                         f"{n_test} for test and {n - n_test} for training; both need at least "
                         f"one sample")
    return n_test


def _stratified_test_indices(groups, n_test, rng):
    """Pick n_test indices so that each class gets its proportional share, within 1 sample.

    groups: (N,) labels. Each class c with n_c samples gets floor(n_c * n_test / N) test
    samples; the few left over go to the classes with the largest remainders (ties broken
    at random).
    """
    classes, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    ideal = counts * n_test / len(groups)                    # (K,) exact proportional shares
    share = np.floor(ideal).astype(np.int64)
    left_over = n_test - share.sum()
    by_remainder = np.lexsort((rng.random(len(classes)), -(ideal - share)))
    share[by_remainder[:left_over]] += 1
    picked = [rng.permutation(np.flatnonzero(inverse == c))[:share[c]]
              for c in range(len(classes))]
    return np.concatenate(picked)


def train_test_split(*arrays, test_size=0.2, seed=0, stratify=None, shuffle=True):
    """Split arrays (same first dimension N) into random train and test parts.

    test_size: a fraction in (0, 1) (rounded up to whole samples) or a sample count.
    seed: the same seed gives the same split.
    stratify: (N,) labels; each class is then split in the same proportion (within one
              sample), so rare classes appear in both parts. Needs shuffle=True.
    shuffle: if False, the first samples become the training set and the last the test set.
    Returns NumPy arrays [a_train, a_test, b_train, b_test, ...] in the order given.

        X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y)
    """
    op = "train_test_split"
    if not arrays:
        raise ValueError(f"{op}: give at least one array to split")
    arrays = [_as_numpy(a) for a in arrays]
    if any(a.ndim == 0 for a in arrays):
        raise ValueError(f"{op}: cannot split a scalar; pass arrays with a sample axis first")
    n = len(arrays[0])
    lengths = [len(a) for a in arrays]
    if any(length != n for length in lengths):
        raise ValueError(f"{op}: arrays have different lengths {lengths}; they must share the "
                         f"first dimension N")
    n_test = _test_count(test_size, n)
    rng = np.random.default_rng(seed)

    if stratify is not None:
        if not shuffle:
            raise ValueError(f"{op}: stratify needs shuffle=True (a stratified split picks "
                             f"samples at random)")
        groups = _as_numpy(stratify)
        if groups.shape != (n,):
            raise ValueError(f"{op}: stratify must have shape ({n},) to match the arrays, "
                             f"got {groups.shape}")
        is_test = np.zeros(n, dtype=bool)
        is_test[_stratified_test_indices(groups, n_test, rng)] = True
        train_index = rng.permutation(np.flatnonzero(~is_test))
        test_index = rng.permutation(np.flatnonzero(is_test))
    elif shuffle:
        order = rng.permutation(n)
        train_index, test_index = order[n_test:], order[:n_test]
    else:
        train_index, test_index = np.arange(n - n_test), np.arange(n - n_test, n)

    parts = []
    for a in arrays:
        parts.extend([a[train_index], a[test_index]])
    return parts
