"""Tests for the image data sets: Fashion-MNIST/MNIST search, CIFAR-10 readers, shapes."""

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from tinydl.data import (
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    SHAPES_CLASSES,
    DatasetNotFoundError,
    cifar10,
    fashion_mnist,
    make_shapes,
    mnist,
    write_idx,
)
from tinydl.data import locate
from tinydl.data.safe_pickle import UnsafePickleError, load_array_pickle

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def no_default_data(tmp_path, monkeypatch):
    """Hide $TINYDL_DATA, the user's cache and the system folders from the search."""
    monkeypatch.delenv("TINYDL_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(locate, "SYSTEM_DATA_DIRS", ())
    return tmp_path


def write_mnist_like(folder, n_train=5, n_test=3, seed=0, compress=True):
    """Write the four IDX files of a tiny MNIST-like set; return the arrays."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(images, folder / f"{prefix}-images-idx3-ubyte{suffix}", gzip=compress)
        write_idx(labels, folder / f"{prefix}-labels-idx1-ubyte{suffix}", gzip=compress)
        arrays[prefix] = (images, labels)
    return arrays


# --------------------------------------------------------------------------
# Fashion-MNIST / MNIST
# --------------------------------------------------------------------------


def test_fashion_mnist_from_root_folder(no_default_data):
    root = no_default_data / "data"
    expected = write_mnist_like(root)
    images, labels = fashion_mnist(root=root, train=True)
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28)
    assert labels.dtype == np.int64 and labels.shape == (5,)
    np.testing.assert_array_equal(images, expected["train"][0])
    np.testing.assert_array_equal(labels, expected["train"][1])
    test_images, test_labels = fashion_mnist(root=root, train=False)
    np.testing.assert_array_equal(test_images, expected["t10k"][0])
    np.testing.assert_array_equal(test_labels, expected["t10k"][1])


def test_fashion_mnist_in_subfolder_and_uncompressed(no_default_data):
    root = no_default_data / "data"
    expected = write_mnist_like(root / "fashion-mnist", compress=False)
    images, _ = fashion_mnist(root=root)
    np.testing.assert_array_equal(images, expected["train"][0])


def test_fashion_mnist_search_order(no_default_data, monkeypatch):
    given = write_mnist_like(no_default_data / "given", n_train=2, seed=1)
    env = write_mnist_like(no_default_data / "env" / "fashion-mnist", n_train=3, seed=2)
    cache = write_mnist_like(no_default_data / "home" / ".cache" / "tinydl" / "fashion-mnist", n_train=4, seed=3)
    system = write_mnist_like(no_default_data / "system" / "fashion-mnist", n_train=6, seed=4)
    monkeypatch.setattr(locate, "SYSTEM_DATA_DIRS", (str(no_default_data / "system"),))
    monkeypatch.setenv("TINYDL_DATA", str(no_default_data / "env"))

    np.testing.assert_array_equal(fashion_mnist(root=no_default_data / "given")[0], given["train"][0])
    np.testing.assert_array_equal(fashion_mnist()[0], env["train"][0])
    monkeypatch.delenv("TINYDL_DATA")
    np.testing.assert_array_equal(fashion_mnist()[0], cache["train"][0])
    for name in os.listdir(no_default_data / "home" / ".cache" / "tinydl" / "fashion-mnist"):
        os.remove(no_default_data / "home" / ".cache" / "tinydl" / "fashion-mnist" / name)
    np.testing.assert_array_equal(fashion_mnist()[0], system["train"][0])


def test_fashion_mnist_not_found_says_where_and_how(no_default_data):
    root = no_default_data / "empty"
    with pytest.raises(DatasetNotFoundError) as error:
        fashion_mnist(root=root)
    message = str(error.value)
    assert "train-images-idx3-ubyte(.gz)" in message
    assert str(root) in message and str(root / "fashion-mnist") in message
    assert str(no_default_data / "home" / ".cache" / "tinydl") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "fashion_mnist(download=True)" in message
    assert "TINYDL_DATA" in message


def test_fashion_mnist_mismatched_files(no_default_data):
    root = no_default_data / "data"
    write_mnist_like(root)
    write_idx(np.zeros(4, np.uint8), root / "train-labels-idx1-ubyte.gz", gzip=True)
    with pytest.raises(ValueError, match=r"labels of shape \(4,\) for 5 images"):
        fashion_mnist(root=root)
    write_idx(np.full(5, 10, np.uint8), root / "train-labels-idx1-ubyte.gz", gzip=True)
    with pytest.raises(ValueError, match=r"has label 10, expected 0..9"):
        fashion_mnist(root=root)
    write_idx(np.zeros((5, 28, 27), np.uint8), root / "train-images-idx3-ubyte.gz", gzip=True)
    with pytest.raises(ValueError, match=r"holds uint8 \(5, 28, 27\), expected uint8 images of shape \(N, 28, 28\)"):
        fashion_mnist(root=root)


def test_mnist_uses_its_own_subfolder(no_default_data):
    root = no_default_data / "data"
    write_mnist_like(root / "fashion-mnist", seed=1)
    digits = write_mnist_like(root / "mnist", seed=2)
    images, labels = mnist(root=root, train=False)
    np.testing.assert_array_equal(images, digits["t10k"][0])
    np.testing.assert_array_equal(labels, digits["t10k"][1])


def test_mnist_not_found(no_default_data):
    with pytest.raises(DatasetNotFoundError, match=r"mnist: could not find t10k-images-idx3-ubyte\(.gz\)"):
        mnist(root=no_default_data / "nothing", train=False)


def test_class_names():
    assert len(FASHION_MNIST_CLASSES) == 10
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top" and FASHION_MNIST_CLASSES[9] == "Ankle boot"
    assert CIFAR10_CLASSES[0] == "airplane" and CIFAR10_CLASSES[9] == "truck"
    assert len(SHAPES_CLASSES) == 10


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_test_split(monkeypatch, tmp_path):
    monkeypatch.delenv("TINYDL_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # make sure the Debian copy is the one found
    images, labels = fashion_mnist(train=False)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10
    # Independent check of the labels: skip the 8-byte IDX header by hand.
    with gzip.open(DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz") as f:
        raw_labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    np.testing.assert_array_equal(labels, raw_labels)


# --------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------


def cifar_batch(n, seed):
    """n random images as CIFAR rows (uint8, n x 3072) and labels."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist()


def write_binary_batch(path, rows, labels):
    records = np.concatenate([np.array(labels, np.uint8)[:, None], rows], axis=1)  # (n, 3073)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(records.tobytes())


def write_python_batch(path, rows, labels, index):
    batch = {
        b"batch_label": f"training batch {index} of 5".encode(),
        b"labels": labels,
        b"data": rows,
        b"filenames": [f"img_{index}_{i}.png".encode() for i in range(len(labels))],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def test_cifar10_binary_pixel_layout(tmp_path):
    rows, labels = cifar_batch(2, seed=0)
    # record layout: 1024 red, then 1024 green, then 1024 blue bytes, rows of 32
    rows[0] = 0
    rows[0, 1024 + 2 * 32 + 5] = 200  # green channel, row 2, column 5
    rows[0, 2048 + 31 * 32 + 31] = 77  # blue channel, bottom-right pixel
    folder = tmp_path / "cifar-10-batches-bin"
    write_binary_batch(folder / "test_batch.bin", rows, labels)
    images, loaded_labels = cifar10(tmp_path, train=False)
    assert images.dtype == np.uint8 and images.shape == (2, 3, 32, 32)
    assert loaded_labels.dtype == np.int64 and loaded_labels.tolist() == labels
    assert images[0, 1, 2, 5] == 200 and images[0, 2, 31, 31] == 77
    assert int(images[0].sum()) == 277


def test_cifar10_binary_train_concatenates_five_batches(tmp_path):
    batches = [cifar_batch(3, seed=i) for i in range(5)]
    for i, (rows, labels) in enumerate(batches, start=1):
        write_binary_batch(tmp_path / f"data_batch_{i}.bin", rows, labels)
    images, labels = cifar10(tmp_path)
    assert images.shape == (15, 3, 32, 32)
    np.testing.assert_array_equal(images.reshape(15, 3072), np.concatenate([b[0] for b in batches]))
    assert labels.tolist() == sum((b[1] for b in batches), [])


def test_cifar10_python_batches(tmp_path):
    batches = [cifar_batch(2, seed=10 + i) for i in range(5)]
    folder = tmp_path / "cifar-10-batches-py"
    for i, (rows, labels) in enumerate(batches, start=1):
        write_python_batch(folder / f"data_batch_{i}", rows, labels, i)
    images, labels = cifar10(tmp_path)
    assert images.shape == (10, 3, 32, 32) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(10, 3072), np.concatenate([b[0] for b in batches]))
    assert labels.tolist() == sum((b[1] for b in batches), [])


@pytest.mark.parametrize("keep", [0.5, 0.01], ids=["half", "first-1%"])
def test_truncated_cifar_pickle_names_the_file(tmp_path, keep):
    """Was: EOFError / UnpicklingError ('pickle data was truncated') without a file name."""
    rows, labels = cifar_batch(2, seed=3)
    path = tmp_path / "test_batch"
    write_python_batch(path, rows, labels, 1)
    content = path.read_bytes()
    path.write_bytes(content[: int(len(content) * keep)])
    with pytest.raises(ValueError, match=r"cifar10: '.*test_batch' is truncated or damaged and cannot be "
                                         r"unpickled \((EOFError|UnpicklingError): .*\); extract the batch"):
        cifar10(tmp_path, train=False)


def test_cifar10_python_batch_pickled_by_numpy_1(tmp_path):
    """NumPy 1.x names its helper numpy.core.multiarray; such pickles must load too."""
    rows, labels = cifar_batch(2, seed=3)
    write_python_batch(tmp_path / "test_batch", rows, labels, 1)
    content = (tmp_path / "test_batch").read_bytes()
    old_style = content.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in old_style
    (tmp_path / "test_batch").write_bytes(old_style)
    images, _ = cifar10(tmp_path, train=False)
    np.testing.assert_array_equal(images.reshape(2, 3072), rows)


def _py2_str(value):
    """Pickle opcode BINSTRING: how Python 2 stored its str (bytes) values."""
    return b"T" + struct.pack("<I", len(value)) + value


def test_cifar10_python2_pickle(tmp_path):
    """The real batches were pickled by Python 2: keys and pixel data are py2 strings.

    Hand-assembled protocol-2 stream for {'data': uint8 array (1, 3072), 'labels': [7]}.
    """
    pixels = bytes(i % 251 for i in range(3072))
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n"
        + b"K\x00\x85" + _py2_str(b"b") + b"\x87R"  # _reconstruct(ndarray, (0,), 'b')
        + b"(K\x01" + b"K\x01M\x00\x0c\x86"  # state: version 1, shape (1, 3072)
        + b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R"  # dtype('u1', 0, 1)
        + b"(K\x03" + _py2_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + b"\x89" + _py2_str(pixels) + b"tb"  # not Fortran order, raw bytes; BUILD
    )
    content = b"\x80\x02}(" + _py2_str(b"data") + array + _py2_str(b"labels") + b"](K\x07eu."
    (tmp_path / "test_batch").write_bytes(content)
    images, labels = cifar10(tmp_path, train=False)
    assert labels.tolist() == [7]
    assert images.shape == (1, 3, 32, 32)
    assert images[0, 0, 0, 1] == 1 and images[0, 2, 31, 31] == 3071 % 251


def test_cifar10_prefers_binary_over_python(tmp_path):
    binary_rows, labels = cifar_batch(1, seed=1)
    python_rows, _ = cifar_batch(1, seed=2)
    write_binary_batch(tmp_path / "test_batch.bin", binary_rows, labels)
    write_python_batch(tmp_path / "test_batch", python_rows, labels, 1)
    images, _ = cifar10(tmp_path, train=False)
    np.testing.assert_array_equal(images.reshape(1, 3072), binary_rows)


def test_cifar10_bad_binary_size(tmp_path):
    (tmp_path / "test_batch.bin").write_bytes(bytes(3073 + 5))
    with pytest.raises(ValueError, match=r"has 3078 bytes, not a positive multiple of the 3073-byte record"):
        cifar10(tmp_path, train=False)


def test_cifar10_bad_labels(tmp_path):
    rows, _ = cifar_batch(2, seed=0)
    write_binary_batch(tmp_path / "test_batch.bin", rows, [3, 12])
    with pytest.raises(ValueError, match=r"labels outside 0..9 \(min 3, max 12\)"):
        cifar10(tmp_path, train=False)


def test_cifar10_missing_batches(tmp_path):
    rows, labels = cifar_batch(1, seed=0)
    write_binary_batch(tmp_path / "data_batch_1.bin", rows, labels)  # only 1 of 5
    with pytest.raises(FileNotFoundError, match=r"could not find data_batch_1, .*data_batch_5.*Looked in"):
        cifar10(tmp_path)


class RunsShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload, refused", [(RunsShellCommand, r"(posix|os)\.system"), (RunsEval, r"(__builtin__|builtins)\.eval")])
def test_malicious_cifar_pickle_is_refused_without_running(tmp_path, payload, refused):
    marker = tmp_path / "pwned"
    rows, labels = cifar_batch(1, seed=0)
    batch = {b"data": rows, b"labels": labels, b"evil": payload(marker)}
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(UnsafePickleError, match=rf"refusing to load '{refused}'"):
        cifar10(tmp_path, train=False)
    assert not marker.exists()


def test_safe_pickle_refuses_other_codecs(tmp_path):
    # _codecs.encode is allowed only for latin1 (how Python 3 pickles bytes with protocol 2)
    content = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R."
    path = tmp_path / "p.pkl"
    path.write_bytes(content)
    with open(path, "rb") as f, pytest.raises(UnsafePickleError, match=r"encoding 'rot13'"):
        load_array_pickle(f)


# --------------------------------------------------------------------------
# Generated shapes
# --------------------------------------------------------------------------


def test_make_shapes_shapes_range_and_balance():
    images, labels = make_shapes(1003, size=24, seed=5)
    assert images.shape == (1003, 3, 24, 24) and images.dtype == np.float32
    assert labels.shape == (1003,) and labels.dtype == np.int64
    assert images.min() >= 0.0 and images.max() <= 1.0
    counts = np.bincount(labels, minlength=10)
    assert counts.tolist() == [101, 101, 101] + [100] * 7


def test_make_shapes_fewer_classes():
    _, labels = make_shapes(40, classes=4, seed=0)
    assert np.bincount(labels).tolist() == [10, 10, 10, 10]


def test_make_shapes_is_deterministic_per_seed():
    first, first_labels = make_shapes(50, seed=3)
    again, again_labels = make_shapes(50, seed=3)
    other, _ = make_shapes(50, seed=4)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first_labels, again_labels)
    assert not np.array_equal(first, other)


def test_make_shapes_colour_does_not_give_the_class_away():
    images, labels = make_shapes(4000, seed=1)
    mean_colour = images.mean(axis=(2, 3))  # (n, 3)
    per_class = np.stack([mean_colour[labels == c].mean(axis=0) for c in range(10)])
    assert np.abs(per_class - mean_colour.mean(axis=0)).max() < 0.05


def test_make_shapes_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"classes must be 1..10, got 11"):
        make_shapes(10, classes=11)
    with pytest.raises(ValueError, match=r"size must be at least 8 pixels, got 4"):
        make_shapes(10, size=4)


def _foreground_features(images):
    """Per pixel: distance from the image's median colour (roughly 'is this the shape?')."""
    median = np.median(images.reshape(len(images), 3, -1), axis=2)[:, :, None, None]
    return np.linalg.norm(images - median, axis=1).reshape(len(images), -1)


def test_make_shapes_is_learnable_but_not_trivial():
    neighbors = pytest.importorskip("sklearn.neighbors")
    train_images, train_labels = make_shapes(2000, seed=0)
    test_images, test_labels = make_shapes(500, seed=1)
    model = neighbors.NearestCentroid().fit(_foreground_features(train_images), train_labels)
    accuracy = model.score(_foreground_features(test_images), test_labels)
    assert 0.2 < accuracy < 0.95  # chance is 0.1
