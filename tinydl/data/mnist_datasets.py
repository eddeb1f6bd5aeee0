"""Fashion-MNIST and MNIST: 28x28 grayscale images in 10 classes, stored as IDX files.

Both data sets use the same four files per copy::

    train-images-idx3-ubyte(.gz)  train-labels-idx1-ubyte(.gz)   60,000 examples
    t10k-images-idx3-ubyte(.gz)   t10k-labels-idx1-ubyte(.gz)    10,000 examples

and are searched for as described in ``tinydl.data.locate``.
"""

from tinydl.data.download import download_file
from tinydl.data.idx import read_idx
from tinydl.data.locate import download_root, locate_files
from tinydl.errors import MissingResourceError

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# SHA-256 of the four .gz files as served at FASHION_MNIST_URL (sizes 26,421,880 /
# 29,515 / 4,422,102 / 5,148 bytes; their MD5s are the ones in the upstream README).
# Debian's dataset-fashion-mnist ships the same compressed data re-wrapped (gzip
# header without the file name, new mtime), so its .gz files hash differently;
# local files are checked by their IDX structure, not by these hashes.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class DatasetNotFoundError(MissingResourceError):
    """A data set's files are in none of the searched folders."""


def fashion_mnist(root=None, train=True, download=False, base_url=FASHION_MNIST_URL, checksums=None):
    """Load Fashion-MNIST: ``(images, labels)``.

    images: uint8 (N, 28, 28), 0 = background; labels: int64 (N,) in 0..9, named
    by ``FASHION_MNIST_CLASSES``. N = 60,000 (``train=True``) or 10,000.

    With ``download=True`` and no local copy, the four files are fetched from
    ``base_url``, checked against ``checksums`` (default ``FASHION_MNIST_SHA256``)
    and stored under ``root``, ``$TINYDL_DATA`` or ``~/.cache/tinydl``, in a
    ``fashion-mnist/`` subfolder.
    """
    names = TRAIN_FILES if train else TEST_FILES
    found, looked_in = locate_files("fashion-mnist", names, root)
    if found is None and download:
        _download_fashion_mnist(root, base_url, checksums)
        found, looked_in = locate_files("fashion-mnist", names, root)
    if found is None:
        raise DatasetNotFoundError(
            _not_found_message("fashion_mnist", names, looked_in)
            + "\nTo get the data, do one of:\n"
            "  * sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu; files land in "
            "/usr/share/datasets/fashion-mnist)\n"
            "  * tinydl.data.fashion_mnist(download=True)     (downloads ~30 MB to ~/.cache/tinydl)\n"
            f"  * download the four files from {FASHION_MNIST_URL} into a folder and set "
            "TINYDL_DATA to it (or pass root=)"
        )
    return _read_images_and_labels(found[names[0]], found[names[1]], "fashion_mnist")


def mnist(root=None, train=True):
    """Load MNIST handwritten digits: ``(images, labels)``, like ``fashion_mnist``.

    images: uint8 (N, 28, 28); labels: int64 (N,) in 0..9. There is no download
    and no system package: put the four IDX files in ``root``, ``$TINYDL_DATA`` or
    ``~/.cache/tinydl`` (directly or in an ``mnist/`` subfolder).
    """
    names = TRAIN_FILES if train else TEST_FILES
    found, looked_in = locate_files("mnist", names, root)
    if found is None:
        raise DatasetNotFoundError(
            _not_found_message("mnist", names, looked_in)
            + "\nTo get the data, place the four MNIST IDX files (train-images-idx3-ubyte.gz, "
            "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
            "in ~/.cache/tinydl/mnist, or in a folder you pass as root= or set as TINYDL_DATA."
        )
    return _read_images_and_labels(found[names[0]], found[names[1]], "mnist")


def _not_found_message(dataset, names, looked_in):
    folders = "\n".join(f"  {folder}" for folder in looked_in)
    wanted = " and ".join(f"{name}(.gz)" for name in names)
    return f"{dataset}: could not find {wanted}. Looked in:\n{folders}"


def _read_images_and_labels(images_path, labels_path, dataset):
    """Read one split and check that images and labels fit together."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != "uint8" or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{dataset}: '{images_path}' holds {images.dtype} {images.shape}, "
            "expected uint8 images of shape (N, 28, 28)"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{dataset}: '{labels_path}' holds labels of shape {labels.shape} for "
            f"{len(images)} images in '{images_path}'; the files do not belong together"
        )
    if len(labels) and labels.max() > 9:
        raise ValueError(f"{dataset}: '{labels_path}' has label {labels.max()}, expected 0..9")
    return images, labels.astype("int64")


def _download_fashion_mnist(root, base_url, checksums):
    checksums = FASHION_MNIST_SHA256 if checksums is None else checksums
    folder = download_root(root) / "fashion-mnist"
    for name in TRAIN_FILES + TEST_FILES:
        filename = f"{name}.gz"
        destination = folder / filename
        if not destination.is_file():
            download_file(base_url.rstrip("/") + "/" + filename, destination, checksums[filename])
