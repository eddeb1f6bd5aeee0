"""CIFAR-10: 32x32 colour images in 10 classes, from either official download.

* binary version (``cifar-10-batches-bin/``): ``data_batch_1.bin`` .. ``data_batch_5.bin``
  and ``test_batch.bin``, each a run of 3073-byte records: 1 label byte, then
  1024 red, 1024 green and 1024 blue bytes (rows of 32, top to bottom).
* Python version (``cifar-10-batches-py/``): ``data_batch_1`` .. ``data_batch_5``
  and ``test_batch``, each a pickled dict with ``b'data'`` (uint8, N x 3072, same
  pixel order) and ``b'labels'`` (list of ints). They are read with
  ``tinydl.data.safe_pickle``, which refuses anything but arrays and plain data.
"""

from pathlib import Path

import numpy as np

from tinydl.data.safe_pickle import UnsafePickleError, load_array_pickle

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"

_PIXELS = 3 * 32 * 32
_RECORD_BYTES = 1 + _PIXELS
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCHES = ("test_batch",)


def cifar10(root, train=True):
    """Load CIFAR-10 from ``root``: ``(images, labels)``.

    images: uint8 (N, 3, 32, 32) (channels first, RGB); labels: int64 (N,) in 0..9,
    named by ``CIFAR10_CLASSES``. N = 50,000 (``train=True``) or 10,000.
    ``root`` may be the extracted ``cifar-10-batches-bin`` / ``cifar-10-batches-py``
    folder or the folder that contains it; the binary version is preferred.
    """
    root = Path(root)
    batches = _TRAIN_BATCHES if train else _TEST_BATCHES
    looked_in = []
    for folder in (root, root / "cifar-10-batches-bin", root / "cifar-10-batches-py"):
        looked_in.append(folder)
        binary_files = [folder / f"{batch}.bin" for batch in batches]
        python_files = [folder / batch for batch in batches]
        if all(path.is_file() for path in binary_files):
            parts = [_read_binary_batch(path) for path in binary_files]
            break
        if all(path.is_file() for path in python_files):
            parts = [_read_python_batch(path) for path in python_files]
            break
    else:
        folders = "\n".join(f"  {folder}" for folder in looked_in)
        raise FileNotFoundError(
            f"cifar10: could not find {', '.join(batches)} (.bin or Python pickles). Looked in:\n"
            f"{folders}\nDownload 'CIFAR-10 binary version' (or 'python version') from "
            f"{CIFAR10_URL}, extract the .tar.gz, and pass the extracted folder's parent as root."
        )
    images = np.concatenate([part[0] for part in parts])
    labels = np.concatenate([part[1] for part in parts])
    return images, labels


def _read_binary_batch(path):
    content = np.fromfile(path, dtype=np.uint8)
    if content.size == 0 or content.size % _RECORD_BYTES:
        raise ValueError(
            f"cifar10: '{path}' has {content.size} bytes, not a positive multiple of the "
            f"{_RECORD_BYTES}-byte record (1 label + 3072 pixels); the file is truncated or not CIFAR-10"
        )
    records = content.reshape(-1, _RECORD_BYTES)  # (N, 1 + 3*32*32)
    labels = records[:, 0].astype(np.int64)
    images = records[:, 1:].reshape(-1, 3, 32, 32)  # channel planes, each 32 rows of 32
    _check_labels(labels, path)
    return images.copy(), labels


def _read_python_batch(path):
    with open(path, "rb") as f:
        try:
            batch = load_array_pickle(f)
        except UnsafePickleError as error:
            raise UnsafePickleError(f"cifar10: '{path}': {error}") from None
        except Exception as error:  # a damaged pickle fails in many ways: name the file
            raise ValueError(
                f"cifar10: '{path}' is truncated or damaged and cannot be unpickled "
                f"({type(error).__name__}: {error}); extract the batch from the downloaded "
                f"archive again ({CIFAR10_URL})"
            ) from error
    if not isinstance(batch, dict):
        raise ValueError(f"cifar10: '{path}' holds a {type(batch).__name__}, expected a dict batch")
    data = _get(batch, "data", path)
    labels = np.asarray(_get(batch, "labels", path), dtype=np.int64)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _PIXELS:
        raise ValueError(
            f"cifar10: '{path}' data is {getattr(data, 'dtype', type(data).__name__)} "
            f"{getattr(data, 'shape', '')}, expected uint8 of shape (N, {_PIXELS})"
        )
    if labels.shape != (len(data),):
        raise ValueError(f"cifar10: '{path}' has {len(data)} images but labels of shape {labels.shape}")
    _check_labels(labels, path)
    return data.reshape(-1, 3, 32, 32).copy(), labels  # (N, 3072) -> (N, 3, 32, 32)


def _get(batch, key, path):
    """CIFAR's own pickles have bytes keys (b'data'); accept str keys too."""
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise ValueError(f"cifar10: '{path}' has no {key!r} entry (keys: {list(batch)[:6]})")


def _check_labels(labels, path):
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"cifar10: '{path}' has labels outside 0..9 (min {labels.min()}, max {labels.max()})")
