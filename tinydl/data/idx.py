"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is: two zero bytes, one byte naming the element type, one byte
giving the number of dimensions ``ndim``; then ``ndim`` big-endian uint32 sizes;
then the elements, big-endian, in C order. Files are often gzip-compressed
(``*.gz``); ``read_idx`` recognises gzip by its magic bytes, not by the name.
"""

import gzip
import os
import struct
import zlib

import numpy as np

from tinydl.io import atomic_write

# IDX type byte -> element dtype (big-endian, as stored in the file)
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxError(ValueError):
    """An IDX file is truncated, corrupt or not an IDX file at all."""


def read_idx(path):
    """Read an IDX file (raw or gzip) into an array of the shape it declares.

    Returns a native-byte-order array: uint8, int8, int16, int32, float32 or
    float64, e.g. (60000, 28, 28) uint8 for MNIST images, (60000,) for labels.
    Raises ``IdxError`` naming the file and the problem when the file is
    truncated, too long, or has a bad header.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        content = f.read()
    if content[:2] == _GZIP_MAGIC:
        try:
            content = gzip.decompress(content)
        except (EOFError, OSError, zlib.error) as error:
            raise IdxError(
                f"idx: file '{path}' is a damaged gzip file ({error}); download it again"
            ) from error
    return _parse_idx(content, path)


def _parse_idx(content, path):
    if len(content) < 4:
        raise IdxError(f"idx: file '{path}' has {len(content)} bytes, too short for the 4-byte magic number")
    zero_1, zero_2, type_code, ndim = content[:4]
    if zero_1 != 0 or zero_2 != 0:
        raise IdxError(
            f"idx: file '{path}' does not start with an IDX magic number "
            f"(first bytes {content[:4].hex(' ')}, expected 00 00 <type> <ndim>)"
        )
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IdxError(f"idx: file '{path}' has unknown element type 0x{type_code:02X} (known: {known})")
    header_length = 4 + 4 * ndim
    if len(content) < header_length:
        raise IdxError(
            f"idx: file '{path}' is truncated: its header declares {ndim} dimensions "
            f"({header_length} header bytes) but the file has {len(content)} bytes"
        )
    shape = struct.unpack(f">{ndim}I", content[4:header_length])
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(content) - header_length
    if found < expected:
        raise IdxError(
            f"idx: file '{path}' is truncated: shape {shape} of {dtype.name} needs "
            f"{expected} bytes of data, found {found}"
        )
    if found > expected:
        raise IdxError(
            f"idx: file '{path}' is too long: shape {shape} of {dtype.name} needs "
            f"{expected} bytes of data, found {found} ({found - expected} extra)"
        )
    values = np.frombuffer(content, dtype=dtype, offset=header_length)
    return values.astype(dtype.newbyteorder("=")).reshape(shape)


def write_idx(array, path, gzip=False):
    """Write ``array`` (any shape, dtype uint8/int8/int16/int32/float32/float64) as IDX.

    With ``gzip=True`` the file is gzip-compressed. The write is atomic.
    """
    array = np.asarray(array)
    native_to_code = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    type_code = native_to_code.get(array.dtype.newbyteorder("="))
    if type_code is None:
        raise TypeError(
            f"write_idx: dtype {array.dtype} has no IDX type code; "
            "convert to uint8, int8, int16, int32, float32 or float64"
        )
    if array.ndim > 255:
        raise ValueError(f"write_idx: IDX allows at most 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    content = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[type_code]).tobytes()
    if gzip:
        content = _gzip_compress(content)
    with atomic_write(path) as f:
        f.write(content)


def _gzip_compress(content):
    # A separate function because write_idx's `gzip` argument hides the module.
    # mtime=0 makes the output depend on the content only.
    return gzip.compress(content, mtime=0)
