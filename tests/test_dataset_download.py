"""Tests for downloading data sets, against a local HTTP server on 127.0.0.1."""

import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

from tinydl.data import fashion_mnist, locate, mnist_datasets, read_idx, write_idx
from tinydl.data.download import ChecksumError, DownloadError, download_file

FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """Serve a folder of tiny Fashion-MNIST-like files; yield (base_url, checksums, arrays)."""
    folder = tmp_path / "server"
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train": (rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), rng.integers(0, 10, 6, dtype=np.uint8)),
        "t10k": (rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), rng.integers(0, 10, 4, dtype=np.uint8)),
    }
    for prefix, (images, labels) in arrays.items():
        write_idx(images, folder / f"{prefix}-images-idx3-ubyte.gz", gzip=True)
        write_idx(labels, folder / f"{prefix}-labels-idx1-ubyte.gz", gzip=True)
    checksums = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}

    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", checksums, arrays
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def no_default_data(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYDL_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(locate, "SYSTEM_DATA_DIRS", ())


def test_download_fetches_verifies_and_caches(tmp_path, served, no_default_data):
    base_url, checksums, arrays = served
    root = tmp_path / "data"
    images, labels = fashion_mnist(root=root, train=False, download=True, base_url=base_url, checksums=checksums)
    np.testing.assert_array_equal(images, arrays["t10k"][0])
    np.testing.assert_array_equal(labels, arrays["t10k"][1])
    assert sorted(p.name for p in (root / "fashion-mnist").iterdir()) == sorted(FILES)
    # Now cached: no server needed for the other split.
    images, _ = fashion_mnist(root=root, train=True, download=True, base_url="http://127.0.0.1:9/", checksums={})
    np.testing.assert_array_equal(images, arrays["train"][0])


def test_download_goes_to_the_user_cache_by_default(tmp_path, served, no_default_data, monkeypatch):
    base_url, checksums, arrays = served
    monkeypatch.setattr(mnist_datasets, "FASHION_MNIST_SHA256", checksums)
    images, _ = fashion_mnist(download=True, base_url=base_url)
    np.testing.assert_array_equal(images, arrays["train"][0])
    cache = tmp_path / "home" / ".cache" / "tinydl" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES)


def test_checksum_mismatch_raises_and_caches_nothing(tmp_path, served, no_default_data):
    base_url, checksums, _ = served
    wrong = dict(checksums, **{"train-images-idx3-ubyte.gz": "0" * 64})
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match=r"train-images-idx3-ubyte.gz has SHA-256 [0-9a-f]{64}, expected 0{64}"):
        fashion_mnist(root=root, download=True, base_url=base_url, checksums=wrong)
    folder = root / "fashion-mnist"
    assert "train-images-idx3-ubyte.gz" not in [p.name for p in folder.iterdir()]
    assert not [p.name for p in folder.iterdir() if ".tmp" in p.name]


def test_download_file_without_a_checksum(tmp_path, served):
    """sha256=None fetches without checking (was: AttributeError on None.lower())."""
    base_url, checksums, arrays = served
    name = "t10k-labels-idx1-ubyte.gz"
    destination = download_file(base_url + name, tmp_path / "out" / name, sha256=None, progress=False)
    assert hashlib.sha256(destination.read_bytes()).hexdigest() == checksums[name]
    assert read_idx(destination).tolist() == arrays["t10k"][1].tolist()
    assert [p.name for p in destination.parent.iterdir()] == [name]


def test_download_file_missing_url(tmp_path, served):
    base_url, _, _ = served
    destination = tmp_path / "out" / "x.gz"
    with pytest.raises(DownloadError, match=r"could not fetch .*/no-such-file.gz .*404"):
        download_file(base_url + "no-such-file.gz", destination, "0" * 64)
    assert not destination.exists()


def test_download_file_shows_progress_when_asked(tmp_path, served, capsys):
    pytest.importorskip("tqdm")
    base_url, checksums, _ = served
    name = "t10k-labels-idx1-ubyte.gz"
    download_file(base_url + name, tmp_path / name, checksums[name], progress=True)
    assert name in capsys.readouterr().err
    download_file(base_url + name, tmp_path / "again.gz", checksums[name], progress=False)
    assert capsys.readouterr().err == ""


def test_checksum_table_covers_the_four_files():
    assert sorted(mnist_datasets.FASHION_MNIST_SHA256) == sorted(FILES)
    assert all(len(value) == 64 for value in mnist_datasets.FASHION_MNIST_SHA256.values())
