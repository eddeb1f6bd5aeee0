"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is: two zero bytes, one byte naming the element type, one byte
giving the number of dimensions ``ndim``; then ``ndim`` big-endian uint32 sizes;
then the elements, big-endian, in C order. Files are often gzip-compressed
(``*.gz``); ``read_idx`` recognises gzip by its magic bytes, not by the name.
"""

import gzip
import math
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
    truncated, too long, or has a bad header. The header is checked before the
    data is read: a gzip file is decompressed in bounded chunks and only as far
    as its header says, so a small file that would inflate to gigabytes costs
    no more than the array it declares.
    """
    path = os.fspath(path)
    file_size = os.path.getsize(path)
    with open(path, "rb") as raw_file:
        compressed = raw_file.read(2) == _GZIP_MAGIC
        raw_file.seek(0)
        if not compressed:
            return _read_idx_stream(raw_file, path, file_size, compressed=False)
        try:
            with gzip.GzipFile(fileobj=raw_file) as stream:
                try:
                    return _read_idx_stream(stream, path, _MAX_DEFLATE_RATIO * file_size, compressed=True)
                except IdxError:
                    # garbage from a damaged stream looks like a bad header: check the
                    # stream a little further, since a damaged gzip file explains more
                    _count_rest(stream, _MAX_EXTRA_COUNTED)
                    raise
        except (EOFError, OSError, zlib.error) as error:
            raise IdxError(
                f"idx: file '{path}' is a damaged gzip file ({error}); download it again"
            ) from error


# Deflate cannot shrink data more than about 1032:1, so a gzip file of n bytes
# never holds more than 1032 * n bytes; a header declaring more is a lie.
_MAX_DEFLATE_RATIO = 1032
_CHUNK_BYTES = 1 << 20
_MAX_EXTRA_COUNTED = 1 << 20  # trailing bytes counted for the error message


def _read_idx_stream(stream, path, largest_possible, compressed):
    """Header first, then exactly the data it declares (refusing more or less)."""
    magic = _read_up_to(stream, 4)
    if len(magic) < 4:
        raise IdxError(f"idx: file '{path}' has {len(magic)} bytes, too short for the 4-byte magic number")
    zero_1, zero_2, type_code, ndim = magic
    if zero_1 != 0 or zero_2 != 0:
        raise IdxError(
            f"idx: file '{path}' does not start with an IDX magic number "
            f"(first bytes {magic.hex(' ')}, expected 00 00 <type> <ndim>)"
        )
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IdxError(f"idx: file '{path}' has unknown element type 0x{type_code:02X} (known: {known})")
    header_length = 4 + 4 * ndim
    sizes = _read_up_to(stream, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise IdxError(
            f"idx: file '{path}' is truncated: its header declares {ndim} dimensions "
            f"({header_length} header bytes) but the file has {4 + len(sizes)} bytes"
        )
    shape = struct.unpack(f">{ndim}I", sizes)
    dtype = IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if header_length + expected > largest_possible and not compressed:
        raise IdxError(
            f"idx: file '{path}' is truncated: shape {shape} of {dtype.name} needs "
            f"{expected} bytes of data, found {largest_possible - header_length}"
        )
    if header_length + expected > largest_possible:
        raise IdxError(
            f"idx: file '{path}' is truncated or not IDX: its header declares shape {shape} of "
            f"{dtype.name} ({expected:,} bytes of data) but a gzip file of its size inflates to "
            f"at most {largest_possible:,} bytes; refused before decompressing the data. "
            "Download it again"
        )
    values = np.empty(math.prod(shape), dtype=dtype)
    found = _read_into(stream, values.view(np.uint8) if expected else None)
    if found < expected:
        raise IdxError(
            f"idx: file '{path}' is truncated: shape {shape} of {dtype.name} needs "
            f"{expected} bytes of data, found {found}"
        )
    extra = _count_rest(stream, _MAX_EXTRA_COUNTED)
    if extra > _MAX_EXTRA_COUNTED:
        raise IdxError(
            f"idx: file '{path}' is too long: shape {shape} of {dtype.name} needs "
            f"{expected} bytes of data, found over {_MAX_EXTRA_COUNTED:,} more; stopped "
            "reading there (a file joined to another, or a gzip bomb)"
        )
    if extra:
        raise IdxError(
            f"idx: file '{path}' is too long: shape {shape} of {dtype.name} needs "
            f"{expected} bytes of data, found {expected + extra} ({extra} extra)"
        )
    return values.astype(dtype.newbyteorder("="), copy=False).reshape(shape)


def _read_up_to(stream, count):
    """Up to ``count`` bytes (fewer only at the end of the stream)."""
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _count_rest(stream, limit):
    """Bytes left in ``stream``, read in chunks and dropped; stops once past ``limit``."""
    count = 0
    while count <= limit:
        chunk = stream.read(_CHUNK_BYTES)
        if not chunk:
            break
        count += len(chunk)
    return count


def _read_into(stream, raw):
    """Fill the uint8 array ``raw`` in chunks of 1 MiB; return how many bytes came."""
    filled = 0
    total = 0 if raw is None else raw.size
    while filled < total:
        chunk = stream.read(min(_CHUNK_BYTES, total - filled))
        if not chunk:
            break
        raw[filled : filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    return filled


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
