"""Write iris.csv and digits.npz next to this script from scikit-learn's bundled copies.

Kept for provenance: the two files were produced once with
    python tinydl/data/files/extract_from_sklearn.py
and are shipped with tinydl, so tinydl itself never needs scikit-learn to load them.

iris.csv    150 rows: four measurements in cm (as printed in the source, one decimal)
            and the species name.
digits.npz  images: uint8 (1797, 8, 8) pixel counts 0..16; labels: uint8 (1797,) digits 0..9.
            Written with np.savez_compressed; no pickled objects inside.
"""

import csv
import io
import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, load_iris

HERE = Path(__file__).resolve().parent


def write_atomically(path, data):
    """Write bytes to path via a temp file in the same folder, fsync, then os.replace."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)


def iris_csv():
    iris = load_iris()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(list(iris.feature_names) + ["species"])
    for features, target in zip(iris.data, iris.target):
        # repr of a float64 is the shortest string that reads back to the same value
        writer.writerow([repr(float(v)) for v in features] + [iris.target_names[target]])
    return text.getvalue().encode("ascii")


def digits_npz():
    digits = load_digits()
    images = digits.images
    if not (np.all(images == np.round(images)) and images.min() >= 0 and images.max() <= 16):
        raise ValueError("digits: expected whole pixel counts in 0..16")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images.astype(np.uint8),
                        labels=digits.target.astype(np.uint8))
    return buffer.getvalue()


if __name__ == "__main__":
    write_atomically(HERE / "iris.csv", iris_csv())
    write_atomically(HERE / "digits.npz", digits_npz())
    for name in ("iris.csv", "digits.npz"):
        print(f"wrote {HERE / name} ({(HERE / name).stat().st_size} bytes)")
