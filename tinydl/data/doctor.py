"""Where each data set tinydl's lessons use is, or the exact command that gets it.

``tinydl doctor`` runs every check in ``DATASET_CHECKS``: a check returns where the data is
or raises with the instruction to get it. Nothing is downloaded or loaded here.
"""
from __future__ import annotations

import os
from pathlib import Path

from tinydl.data.locate import locate_files
from tinydl.data.mnist_datasets import TEST_FILES, TRAIN_FILES
from tinydl.data.text import FORTUNES_ROOT


def _idx_folder(subfolder: str, how_to_get: str) -> str:
    found, looked_in = locate_files(subfolder, TRAIN_FILES + TEST_FILES)
    if found is None:
        places = ", ".join(str(p) for p in looked_in)
        raise FileNotFoundError(f"not found (looked in {places}); {how_to_get}")
    return str(next(iter(found.values())).parent)


def fashion_mnist_location() -> str:
    return _idx_folder("fashion-mnist", "get it with: sudo apt-get install dataset-fashion-mnist, "
                       "or python -c \"import tinydl; tinydl.data.fashion_mnist(download=True)\"")


def mnist_location() -> str:
    return _idx_folder("mnist", "copy the four MNIST IDX files into $TINYDL_DATA/mnist "
                       "(tinydl does not download MNIST)")


def fortunes_location() -> str:
    if not Path(FORTUNES_ROOT, "computers").is_file():
        raise FileNotFoundError(f"no fortune files in {FORTUNES_ROOT}; get them with: "
                                "sudo apt-get install fortunes")
    return FORTUNES_ROOT


def minilm_location() -> str:
    from tinydl.models.bert import minilm_dir  # only when doctor asks

    return minilm_dir()


def cifar10_location() -> str:
    root = Path(os.environ.get("TINYDL_DATA", Path.home() / ".cache" / "tinydl"))
    for folder in (root / "cifar-10-batches-bin", root / "cifar-10-batches-py"):
        if folder.is_dir():
            return str(folder)
    raise FileNotFoundError(f"no CIFAR-10 under {root} (lesson 08 then uses generated shapes); "
                            "download cifar-10-binary.tar.gz from the CIFAR-10 site and unpack it "
                            "into $TINYDL_DATA")


DATASET_CHECKS = [
    ("Fashion-MNIST", fashion_mnist_location),
    ("MNIST", mnist_location),
    ("CIFAR-10", cifar10_location),
    ("fortunes", fortunes_location),
    ("all-MiniLM-L6-v2", minilm_location),
    ("iris, digits, pydoc text", lambda: "shipped with tinydl / Python (always there)"),
]
