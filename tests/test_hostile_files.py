"""Hostile files: crafted checkpoints, IDX, safetensors and state dicts.

Each case gives the module's own clear error (never a stray NotImplementedError,
TypeError, RecursionError or MemoryError), and files that would inflate to
gigabytes are refused from their declared sizes: memory is measured in a fresh
interpreter with ``resource.getrusage(...).ru_maxrss``, which also has an address
space limit so that a regression fails instead of filling the machine.
"""

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinydl
from tinydl import nn, optim
from tinydl.data.idx import IdxError, read_idx
from tinydl.errors import DTypeError
from tinydl.io import (
    CheckpointError,
    SafetensorsError,
    atomic_write,
    load,
    load_safetensors,
    save,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
GiB = 1 << 30
MiB = 1 << 20
MEMORY_BOUND_MB = 200
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="measures memory through /proc")


# --------------------------------------------------------------------------
# Building hostile files by hand
# --------------------------------------------------------------------------


def npy_header(shape, descr="<f8"):
    """The bytes np.save writes before the data of an array of ``shape``."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def npy_bytes(array):
    """A whole .npy file for ``array``."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def tree_entry(tree):
    """The ``__tinydl_tree__`` .npy entry describing ``tree``."""
    header = {"format": "tinydl-checkpoint", "version": 1, "tree": tree}
    return npy_bytes(np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))


def zip_bytes(entries):
    """A zip file written field by field.

    entries: dicts with ``name`` and ``data`` (the bytes as stored), and optionally
    ``method`` (0 stored, 8 deflate, anything else), ``flags``, ``crc`` and ``size``
    (the uncompressed size the directory declares).
    """
    body, directory = bytearray(), bytearray()
    for entry in entries:
        name, data = entry["name"].encode(), entry["data"]
        method, flags = entry.get("method", 0), entry.get("flags", 0)
        crc = entry.get("crc", zlib.crc32(data))
        size = entry.get("size", len(data))
        offset = len(body)
        # local header: signature, version, flags, method, time, date, crc, sizes, name/extra lengths
        body += struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, flags, method, 0, 0x21, crc, len(data), size, len(name), 0
        )
        body += name + data
        directory += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            20,
            20,
            flags,
            method,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        directory += name
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(directory), len(body), 0
    )
    return bytes(body + directory + end)


def checkpoint_bytes(tree, arrays=(), extra_entries=()):
    """A checkpoint zip: the tree entry, ``arrays`` as (name, array), then raw entries."""
    entries = [{"name": "__tinydl_tree__.npy", "data": tree_entry(tree)}]
    entries += [{"name": f"{name}.npy", "data": npy_bytes(array)} for name, array in arrays]
    return zip_bytes(entries + list(extra_entries))


def deflated_zeros(prefix, zero_bytes):
    """A raw deflate stream of ``prefix`` + ``zero_bytes`` zeros, built in milliseconds.

    After a full flush the compressor forgets its history, so every 1 MiB block of
    zeros compresses to the same bytes: compress one and repeat it.
    Returns (stream, crc32 of the inflated bytes).
    """
    assert zero_bytes % MiB == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = start + block * (zero_bytes // MiB) + compressor.flush()
    return stream, crc32_of_zeros_after(zlib.crc32(prefix), zero_bytes)


def crc32_of_zeros_after(crc, count):
    """``zlib.crc32(bytes(count), crc)`` in 32 * log2(count) steps instead of reading 4 GiB.

    With no input bits the CRC register changes linearly: one zero bit shifts it right
    and XORs the polynomial when the low bit was set. Square that map until it covers
    ``8 * count`` bits (the idea of zlib's crc32_combine).
    """

    def apply(columns, register):
        result = 0
        for bit, column in enumerate(columns):
            if register >> bit & 1:
                result ^= column
        return result

    step = [(1 << bit) >> 1 ^ (0xEDB88320 if bit == 0 else 0) for bit in range(32)]  # one zero bit
    register, bits = crc ^ 0xFFFFFFFF, 8 * count
    while bits:
        if bits & 1:
            register = apply(step, register)
        step = [apply(step, column) for column in step]
        bits >>= 1
    return register ^ 0xFFFFFFFF


def run_measured(code, tmp_path):
    """Run ``code`` in a fresh interpreter with tinydl imported and 1 GiB of address space
    to spare; return (exception type name, message, peak RSS growth in MB, seconds)."""
    script = textwrap.dedent(
        """
        import json, resource, sys, time
        import numpy as np
        import tinydl.io, tinydl.data.idx
        from tinydl.io import load, load_safetensors
        from tinydl.data.idx import read_idx
        virtual_kb = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0])
        resource.setrlimit(resource.RLIMIT_AS, (virtual_kb * 1024 + (1 << 30),) * 2)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        outcome = ["", ""]
        try:
            exec(sys.argv[1])
        except Exception as error:
            outcome = [type(error).__name__, str(error)]
        seconds = time.perf_counter() - start
        growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(json.dumps(outcome + [growth_mb, seconds]))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, code],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    error_type, message, growth_mb, seconds = json.loads(completed.stdout.strip().splitlines()[-1])
    return error_type, message, growth_mb, seconds


# --------------------------------------------------------------------------
# tinydl.io.load: every failure is a CheckpointError
# --------------------------------------------------------------------------


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_unsupported_zip_compression_is_a_checkpoint_error(tmp_path):
    """Was: NotImplementedError('That compression method is not supported') from zipfile."""
    weights = npy_bytes(np.zeros(3))
    content = checkpoint_bytes(
        {"type": "array", "key": "w"}, extra_entries=[{"name": "w.npy", "data": weights, "method": 99}]
    )
    with pytest.raises(
        CheckpointError, match=r"entry 'w.npy' uses zip compression method 99; .*tinydl.io.save"
    ):
        load(write(tmp_path, "method99.npz", content))


def test_encrypted_entry_is_a_checkpoint_error(tmp_path):
    """Was: RuntimeError('File ... is encrypted, password required for extraction')."""
    content = checkpoint_bytes(
        {"type": "array", "key": "w"},
        extra_entries=[{"name": "w.npy", "data": npy_bytes(np.zeros(3)), "flags": 1}],
    )
    with pytest.raises(CheckpointError, match=r"entry 'w.npy' is encrypted"):
        load(write(tmp_path, "encrypted.npz", content))


@pytest.mark.parametrize(
    "tree, message",
    [
        ([1, 2], r"damaged structure: an entry has unknown type None"),  # was TypeError
        ({"type": "dict", "items": [7]}, r"'dict' node's items are not \[key, value\] pairs"),  # TypeError
        ({"type": "dict", "items": [[1, {"type": "json", "value": None}]]}, r"not \[key, value\] pairs"),
        ({"type": "list", "items": 5}, r"'list' node has no list of items"),  # was TypeError
        ({"type": "array", "key": ["w"]}, r"lists array \['w'\] but the file lacks it"),  # TypeError
        ({"type": "json", "value": {"a": 1}}, r"a 'json' node holds a dict"),
        ({"type": "bigint", "value": "12x"}, r"'bigint' node is not a decimal integer"),
        ({"type": "int", "key": "w"}, r"scalar 'w' has shape \(3,\)"),  # was ValueError
    ],
    ids=[
        "tree-is-list",
        "items-not-pairs",
        "int-key",
        "items-not-list",
        "key-not-str",
        "json-dict",
        "bigint-junk",
        "int-not-scalar",
    ],
)
def test_malformed_tree_is_a_checkpoint_error(tmp_path, tree, message):
    content = checkpoint_bytes(tree, arrays=[("w", np.zeros(3))])
    with pytest.raises(CheckpointError, match=r"load: '.*bad.npz' .*" + message):
        load(write(tmp_path, "bad.npz", content))


def test_deeply_nested_tree_is_a_checkpoint_error(tmp_path):
    """Was: RecursionError from json.loads (deep JSON) or from decoding (a deep tree)."""
    deep_json = b"[" * 100_000 + b"]" * 100_000
    entries = [{"name": "__tinydl_tree__.npy", "data": npy_bytes(np.frombuffer(deep_json, np.uint8))}]
    with pytest.raises(CheckpointError, match=r"'__tinydl_tree__' entry nested too deeply to parse"):
        load(write(tmp_path, "deep_json.npz", zip_bytes(entries)))

    tree = {"type": "json", "value": None}
    for _ in range(150):  # parses fine, but nests past what a checkpoint ever does
        tree = {"type": "list", "items": [tree]}
    with pytest.raises(CheckpointError, match=r"damaged structure: it nests deeper than 100 levels"):
        load(write(tmp_path, "deep_tree.npz", checkpoint_bytes(tree)))


def test_save_refuses_what_load_would_refuse(tmp_path):
    nested = []
    for _ in range(150):
        nested = [nested]
    with pytest.raises(ValueError, match=r"save: the structure nests deeper than 100 levels"):
        save(nested, tmp_path / "deep.npz")
    assert list(tmp_path.iterdir()) == []


def test_array_listed_twice_is_refused(tmp_path):
    """A tree naming one entry many times would read it many times over."""
    tree = {"type": "list", "items": [{"type": "array", "key": "w"}] * 1000}
    content = checkpoint_bytes(tree, arrays=[("w", np.zeros(1000))])
    with pytest.raises(CheckpointError, match=r"lists array 'w' twice"):
        load(write(tmp_path, "twice.npz", content))


def test_object_array_entry_is_refused_without_unpickling(tmp_path):
    header = npy_header((1,), descr="|O")
    content = checkpoint_bytes(
        {"type": "array", "key": "w"}, extra_entries=[{"name": "w.npy", "data": header + b"\x80\x04N."}]
    )
    with pytest.raises(CheckpointError, match=r"entry 'w.npy' holds Python objects .*never unpickles"):
        load(write(tmp_path, "objects.npz", content))


@linux_only
def test_npy_header_declaring_terabytes_is_refused_before_allocating(tmp_path):
    """Was: MemoryError ('Unable to allocate 8.00 TiB') from np.load."""
    content = checkpoint_bytes(
        {"type": "array", "key": "w"},
        extra_entries=[{"name": "w.npy", "data": npy_header((2**40,)) + bytes(64)}],
    )
    path = write(tmp_path, "terabytes.npz", content)
    error_type, message, growth_mb, _ = run_measured(f"load({str(path)!r})", tmp_path)
    assert error_type == "CheckpointError"
    assert "entry 'w.npy': its .npy header declares shape (1099511627776,) of float64" in message
    assert "(8,796,093,022,208 bytes) but the zip entry holds 64 bytes of data" in message
    assert growth_mb < MEMORY_BOUND_MB


@pytest.fixture(scope="module")
def npz_bomb(tmp_path_factory):
    """A ~4 MB checkpoint whose one array inflates to 4 GiB (minus 1 MiB) of zeros."""
    data_bytes = 4 * GiB - MiB  # stays under the 4 GiB limit of a zip entry without zip64
    header = npy_header((data_bytes // 8,))
    stream, crc = deflated_zeros(header, data_bytes)
    bomb = {"name": "w.npy", "data": stream, "method": 8, "crc": crc, "size": len(header) + data_bytes}
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    path.write_bytes(checkpoint_bytes({"type": "array", "key": "w"}, extra_entries=[bomb]))
    return path


def test_crc32_of_zeros_matches_zlib():
    for count in (0, 1, 7, 1000, 3 * MiB + 5):
        assert crc32_of_zeros_after(zlib.crc32(b"prefix"), count) == zlib.crc32(
            bytes(count), zlib.crc32(b"prefix")
        )


def test_npz_bomb_is_a_valid_zip(npz_bomb):
    """The bomb is honest: zipfile sees a 4 GiB entry with a correct CRC."""
    assert npz_bomb.stat().st_size < 5 * MiB
    with zipfile.ZipFile(npz_bomb) as archive:
        info = archive.getinfo("w.npy")
        assert info.file_size == 4 * GiB - MiB + len(npy_header((1,)))
        with archive.open(info) as f:
            assert f.read(6) == b"\x93NUMPY"


@linux_only
def test_npz_bomb_is_refused_from_declared_sizes(npz_bomb, tmp_path):
    """Was: the 4 GiB array was inflated and allocated in full before anything else."""
    with zipfile.ZipFile(npz_bomb) as archive:
        declared = sum(info.file_size for info in archive.infolist())
    assert declared > 4 * GiB - MiB
    error_type, message, growth_mb, seconds = run_measured(f"load({str(npz_bomb)!r})", tmp_path)
    assert error_type == "CheckpointError"
    assert f"is {npz_bomb.stat().st_size:,} bytes but its entries declare {declared:,} bytes" in message
    assert "looks like a zip bomb" in message and f"pass max_bytes={declared}" in message
    assert growth_mb < MEMORY_BOUND_MB
    assert seconds < 1.0  # nothing was inflated (this is the refusal, not a benchmark)


def test_max_bytes_lets_a_trusted_compressed_file_load(tmp_path):
    """A deflated checkpoint (np.savez_compressed) of zeros inflates far past 4x its size."""
    path = tmp_path / "zeros.npz"
    save({"w": np.zeros(30 * MiB // 8)}, tmp_path / "plain.npz")
    with (
        zipfile.ZipFile(tmp_path / "plain.npz") as plain,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as packed,
    ):
        for info in plain.infolist():
            packed.writestr(info.filename, plain.read(info))
    with pytest.raises(CheckpointError, match=r"zip bomb"):
        load(path, max_bytes=20 * MiB)
    assert load(path, max_bytes=40 * MiB)["w"].shape == (30 * MiB // 8,)
    assert load(path)["w"].shape == (30 * MiB // 8,)  # under the default 64 MiB of slack


# --------------------------------------------------------------------------
# IDX: the header is checked before the data is inflated
# --------------------------------------------------------------------------


def gzip_bytes(deflate_stream, crc, size):
    """A gzip file around a raw deflate stream (10-byte header, 8-byte trailer)."""
    return (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + deflate_stream + struct.pack("<LL", crc, size % 2**32)
    )


@linux_only
def test_idx_gzip_bomb_stops_after_the_declared_data(tmp_path):
    """Was: all 4 GiB inflated into memory (about 20 s) before 'too long' was noticed."""
    header = b"\x00\x00\x08\x03" + struct.pack(">3I", 10, 28, 28)  # 7840 bytes of uint8
    stream, crc = deflated_zeros(header + bytes(10 * 28 * 28), 4 * GiB)
    path = write(tmp_path, "bomb-idx3-ubyte.gz", gzip_bytes(stream, crc, len(header) + 7840 + 4 * GiB))
    assert path.stat().st_size < 5 * MiB
    error_type, message, growth_mb, seconds = run_measured(f"read_idx({str(path)!r})", tmp_path)
    assert error_type == "IdxError"
    assert "bomb-idx3-ubyte.gz' is too long: shape (10, 28, 28) of uint8 needs 7840 bytes of data" in message
    assert "found over 1,048,576 more; stopped reading there" in message
    assert growth_mb < MEMORY_BOUND_MB
    assert seconds < 2.0  # reading 4 GiB would take far longer (this is the refusal, not a benchmark)


@linux_only
def test_idx_gzip_declaring_an_absurd_size_is_refused_from_the_header(tmp_path):
    header = b"\x00\x00\x0e\x03" + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)
    path = write(tmp_path, "absurd.gz", gzip.compress(header + bytes(1000)))
    error_type, message, growth_mb, _ = run_measured(f"read_idx({str(path)!r})", tmp_path)
    assert error_type == "IdxError"
    assert "header declares shape (4294967295, 4294967295, 4294967295) of float64" in message
    assert "but a gzip file of its size inflates to at most" in message
    assert "refused before decompressing the data. Download it again" in message
    assert growth_mb < MEMORY_BOUND_MB


def test_idx_raw_file_declaring_an_absurd_size_is_truncated(tmp_path):
    header = b"\x00\x00\x08\x02" + struct.pack(">2I", 2**32 - 1, 2**32 - 1)
    with pytest.raises(
        IdxError,
        match=r"is truncated: shape \(4294967295, 4294967295\) of uint8 needs "
        r"18446744065119617025 bytes of data, found 3",
    ):
        read_idx(write(tmp_path, "absurd.idx", header + b"abc"))


# --------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------


def safetensors_bytes(header_text, buffer=b""):
    header = header_text.encode()
    return struct.pack("<Q", len(header)) + header + buffer


ENTRY = '{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}'


@pytest.mark.parametrize(
    "content, message",
    [
        (safetensors_bytes(f'{{"w": {ENTRY}, "w": {ENTRY}}}', bytes(8)), r"header names 'w' twice"),
        (
            safetensors_bytes(
                '{"w": {"dtype": "F32", "dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}', bytes(8)
            ),
            r"header names 'dtype' twice",
        ),
        (
            safetensors_bytes(
                json.dumps({"w": {"dtype": "U8", "shape": [1] * 65, "data_offsets": [0, 1]}}), b"\x00"
            ),
            r"tensor 'w' has 65 dimensions; arrays have at most 64",
        ),
        (
            safetensors_bytes(
                json.dumps({"w": {"dtype": "F32", "shape": [10**30, 0], "data_offsets": [0, 0]}})
            ),
            r"tensor 'w' has shape \[~1e30, 0\], too large for any array",
        ),
        (
            safetensors_bytes(
                json.dumps({"w": {"dtype": "F32", "shape": [10**30], "data_offsets": [0, 8]}}), bytes(8)
            ),
            r"tensor 'w' has shape \[~1e30\], too large for any array",
        ),
        (
            safetensors_bytes(
                json.dumps({"w": {"dtype": "U8", "shape": [8], "data_offsets": [10**30, 10**30 + 8]}}),
                bytes(8),
            ),
            rf"tensor 'w': data_offsets \[{10**30}, {10**30 + 8}\] run past the end of the data buffer \(8 bytes",
        ),
        (
            safetensors_bytes(
                json.dumps(
                    {
                        "a": {"dtype": "U8", "shape": [6], "data_offsets": [0, 6]},
                        "b": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]},
                    }
                ),
                bytes(8),
            ),
            r"tensor 'b' \(bytes 4..8\) overlaps tensor 'a'",
        ),
        (
            safetensors_bytes('{"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}', bytes(4)),
            r"tensor 'w' has unknown dtype \['F32'\]",
        ),
        (struct.pack("<Q", 2**64 - 1) + b"{}", r"says its header is 18446744073709551615 bytes but only 2"),
        (safetensors_bytes("[" * 100_000 + "]" * 100_000), r"header nests too deeply to parse"),
    ],
    ids=[
        "duplicate-tensor",
        "duplicate-field",
        "65-dims",
        "1e30-dim-times-0",
        "1e30-dim",
        "offset-1e30",
        "overlap",
        "dtype-a-list",
        "header-length-2**64",
        "deep-json",
    ],
)
def test_hostile_safetensors_are_refused(tmp_path, content, message):
    """Was: duplicates silently kept the last entry, 65 dims and 10**30 x 0 reached NumPy
    (ValueError), a list as dtype raised TypeError, deep JSON raised RecursionError."""
    path = write(tmp_path, "hostile.safetensors", content)
    with pytest.raises(SafetensorsError, match=r"safetensors: '.*hostile.safetensors' .*" + message):
        load_safetensors(path)


def test_safetensors_header_over_100_mb_is_refused_before_reading_it(tmp_path):
    path = tmp_path / "huge-header.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 200_000_000))
        f.truncate(8 + 200_000_000)  # a sparse file: no disk used
    with pytest.raises(
        SafetensorsError, match=r"header is 200,000,000 bytes, over the 100,000,000 the format allows"
    ):
        load_safetensors(path)


# --------------------------------------------------------------------------
# load_state_dict: validate everything, then assign
# --------------------------------------------------------------------------


def test_module_load_state_dict_is_atomic():
    """Was: a failing value part-way left earlier parameters overwritten (or AttributeError)."""
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    before = {key: value.numpy().copy() for key, value in model.state_dict().items()}
    good = {key: np.full(value.shape, 7.0) for key, value in before.items()}
    bad = dict(good, **{"2.bias": np.array(["oops"])})
    with pytest.raises(
        DTypeError,
        match=r"load_state_dict\(Sequential\): unusable values: 2.bias: "
        r"dtype <U4 cannot become float32; nothing was loaded",
    ):
        model.load_state_dict(bad)
    listed = dict(good, **{"2.weight": [[1.0, 2.0, 3.0]]})
    with pytest.raises(DTypeError, match=r"2.weight: a list, not a Tensor or array"):
        model.load_state_dict(listed)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key])
    model.load_state_dict(good)
    assert all((value.numpy() == 7.0).all() for value in model.state_dict().values())


def _trained(optimizer_class, **settings):
    weight = nn.Parameter(np.array([1.0, -2.0]))
    optimizer = optimizer_class([weight], **settings)
    weight.grad = tinydl.tensor(np.array([0.5, 0.25]))
    optimizer.step()
    return weight, optimizer


def test_adam_state_into_sgd_is_refused_naming_both():
    """Was: loaded silently; SGD.step() then failed with KeyError: 'momentum'."""
    _, adam = _trained(optim.Adam, lr=0.01)
    _, sgd = _trained(optim.SGD, lr=0.1, momentum=0.9)
    before = sgd.state_dict()
    with pytest.raises(
        ValueError,
        match=r"SGD.load_state_dict: parameter group 0 of the saved state has "
        r"settings \['amsgrad', 'betas', 'decoupled_weight_decay', 'eps'\], "
        r"which SGD does not have: it is the state of Adam, not of SGD",
    ):
        sgd.load_state_dict(adam.state_dict())
    after = sgd.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(
        after["state"]["0"]["momentum_buffer"], before["state"]["0"]["momentum_buffer"]
    )

    with pytest.raises(ValueError, match=r"it is the state of SGD, not of Adam"):
        adam.load_state_dict(before)


def test_optimizer_load_state_dict_is_atomic():
    """A bad hyper-parameter in the second group is found before the first group changes."""
    first, second = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    sgd = optim.SGD([{"params": [first]}, {"params": [second]}], lr=0.1)
    saved = sgd.state_dict()
    saved["param_groups"][0]["lr"] = 0.5
    saved["param_groups"][1]["lr"] = -1.0
    with pytest.raises(
        ValueError,
        match=r"SGD.load_state_dict: saved parameter group 1: SGD: lr must be "
        r"a number >= 0.0, got -1.0",
    ):
        sgd.load_state_dict(saved)
    assert [group["lr"] for group in sgd.param_groups] == [0.1, 0.1]


def test_torch_style_extra_settings_still_load():
    """Settings no tinydl optimizer has (PyTorch's foreach, a scheduler's initial_lr) are fine,
    and settings the file predates keep this optimizer's values."""
    _, adam = _trained(optim.Adam, lr=0.01)
    saved = adam.state_dict()
    group = saved["param_groups"][0]
    group.update(foreach=None, fused=None, initial_lr=0.01)
    del group["decoupled_weight_decay"]
    adam.load_state_dict(saved)
    assert adam.param_groups[0]["initial_lr"] == 0.01
    assert adam.param_groups[0]["decoupled_weight_decay"] is False


# --------------------------------------------------------------------------
# Atomic writes: orphans of killed writers
# --------------------------------------------------------------------------


def test_temp_files_of_running_writers_are_kept(tmp_path):
    """Only temp files whose writer process is gone are removed by the next save."""
    alive = tmp_path / f".ckpt.npz.tmp.{os.getpid()}.abcdefgh"
    alive.write_bytes(b"a save in progress")
    with atomic_write(tmp_path / "ckpt.npz") as f:
        f.write(b"x")
    assert alive.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.npz", alive.name])


def test_temp_file_of_a_finished_process_is_removed(tmp_path):
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    orphan = tmp_path / f".ckpt.npz.tmp.{int(child.stdout)}.abcdefgh"
    orphan.write_bytes(b"left by a killed save")
    other_file = tmp_path / f".other.npz.tmp.{int(child.stdout)}.abcdefgh"
    other_file.write_bytes(b"another path's temp file: not ours to judge")
    with atomic_write(tmp_path / "ckpt.npz") as f:
        f.write(b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt.npz", other_file.name])
