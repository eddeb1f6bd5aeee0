"""Tests for tinydl.data.idx: reading and writing IDX files."""

import gzip
import struct

import numpy as np
import pytest

from tinydl.data.idx import IdxError, read_idx, write_idx


def _write(path, content, compress=False):
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def test_reads_hand_built_uint8_vector(tmp_path):
    # magic 00 00 08 01: uint8, 1 dimension; size 3 (big-endian u32); then 3 bytes
    path = _write(tmp_path / "v.idx", b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x01\x02\xff")
    array = read_idx(path)
    assert array.dtype == np.uint8
    assert array.tolist() == [1, 2, 255]


def test_reads_big_endian_int16_matrix(tmp_path):
    content = b"\x00\x00\x0b\x02" + struct.pack(">II", 1, 2) + b"\x01\x00\xff\xfe"
    array = read_idx(_write(tmp_path / "m.idx", content))
    assert array.dtype == np.int16
    assert array.tolist() == [[256, -2]]


def test_reads_big_endian_floats(tmp_path):
    content = b"\x00\x00\x0d\x01" + struct.pack(">I", 2) + bytes.fromhex("3f800000c0000000")
    array = read_idx(_write(tmp_path / "f.idx", content))
    assert array.dtype == np.float32
    assert array.tolist() == [1.0, -2.0]
    content = b"\x00\x00\x0e\x01" + struct.pack(">I", 1) + bytes.fromhex("3fd0000000000000")
    assert read_idx(_write(tmp_path / "d.idx", content)).tolist() == [0.25]


def test_gzip_is_detected_by_magic_not_by_name(tmp_path):
    content = b"\x00\x00\x08\x02" + struct.pack(">II", 2, 2) + bytes([1, 2, 3, 4])
    gzipped_without_gz_name = _write(tmp_path / "a.idx", content, compress=True)
    plain_with_gz_name = _write(tmp_path / "b.idx.gz", content)
    assert read_idx(gzipped_without_gz_name).tolist() == [[1, 2], [3, 4]]
    assert read_idx(plain_with_gz_name).tolist() == [[1, 2], [3, 4]]


def test_write_idx_produces_the_documented_bytes(tmp_path):
    write_idx(np.array([[1, 2, 3]], dtype=np.int32), tmp_path / "x.idx")
    expected = b"\x00\x00\x0c\x02" + struct.pack(">II", 1, 3) + struct.pack(">3i", 1, 2, 3)
    assert (tmp_path / "x.idx").read_bytes() == expected


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compress", [False, True])
def test_write_then_read_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((4, 3, 2)) * 100).astype(dtype)
    path = tmp_path / "r.idx"
    write_idx(array, path, gzip=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    result = read_idx(path)
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result, array)


def test_write_idx_rejects_int64(tmp_path):
    with pytest.raises(TypeError, match=r"dtype int64 has no IDX type code"):
        write_idx(np.zeros(3, dtype=np.int64), tmp_path / "x.idx")


HEADER_2x3_U8 = b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x00\x00", r"has 2 bytes, too short for the 4-byte magic"),
        (b"PK\x03\x04rest", r"does not start with an IDX magic number \(first bytes 50 4b 03 04"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", r"has unknown element type 0x07"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 60000), r"is truncated: its header declares 3 dimensions"),
        (HEADER_2x3_U8 + bytes(4), r"is truncated: shape \(2, 3\) of uint8 needs 6 bytes of data, found 4"),
        (HEADER_2x3_U8 + bytes(9), r"is too long: shape \(2, 3\) of uint8 needs 6 bytes of data, found 9 \(3 extra\)"),
    ],
    ids=["too-short", "bad-magic", "bad-type", "short-header", "truncated-data", "too-long"],
)
def test_bad_files_give_one_clear_error(tmp_path, content, message, compress):
    path = _write(tmp_path / "bad.idx", content, compress=compress)
    with pytest.raises(IdxError, match=r"idx: file '.*bad.idx' " + message):
        read_idx(path)


def test_truncated_gzip_is_reported(tmp_path):
    content = gzip.compress(HEADER_2x3_U8 + bytes(range(6)) * 1000)
    path = _write(tmp_path / "cut.gz", content[: len(content) // 2])
    with pytest.raises(IdxError, match=r"damaged gzip file"):
        read_idx(path)


def test_corrupt_gzip_is_reported(tmp_path):
    content = bytearray(gzip.compress(HEADER_2x3_U8 + bytes(6)))
    content[12:20] = b"\xff" * 8  # scramble the deflate stream
    path = _write(tmp_path / "corrupt.gz", bytes(content))
    with pytest.raises(IdxError, match=r"damaged gzip file"):
        read_idx(path)
