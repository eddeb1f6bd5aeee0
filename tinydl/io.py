"""Saving and loading: tinydl checkpoints (.npz) and safetensors files.

Three parts, each usable on its own:

* ``atomic_write(path)``: write a file so that readers only ever see the old
  complete file or the new complete file, never half of one.
* ``save(obj, path)`` / ``load(path)``: nested dicts/lists of arrays and plain
  Python values in an ``.npz`` file that ``np.load(path, allow_pickle=False)``
  can open. No pickle: loading never runs code.
* ``save_safetensors`` / ``load_safetensors`` / ``read_safetensors_header``:
  the safetensors format (used by Hugging Face models), with NumPy only.
"""

import contextlib
import json
import os
import struct
import tempfile
import zipfile
import zlib

import numpy as np

# --------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_write(path):
    """Open a temporary binary file next to ``path``; on success it replaces ``path``.

    The data goes to a temp file in the same folder (so the final rename stays on
    one file system), is flushed and fsync'ed, and only then renamed over ``path``
    with ``os.replace``, which is atomic. If the block raises, or the process dies,
    ``path`` keeps its previous content and the temp file is removed (or, after a
    hard kill, left behind as a hidden ``.NAME.tmp.XXXXXXXX`` file that no reader opens).

    Usage::

        with atomic_write("model.npz") as f:
            f.write(data)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    handle, temp_path = tempfile.mkstemp(prefix=f".{name}.tmp.", dir=folder)
    try:
        with os.fdopen(handle, "wb") as temp_file:
            # mkstemp makes the file private (0600); give it the usual permissions.
            os.chmod(temp_path, _permissions_for(path))
            yield temp_file
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp_path)
        raise
    _fsync_folder(folder)


def _permissions_for(path):
    """Keep the permissions of the file being replaced; new files get rw-r--r--."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        return 0o644


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX only; a no-op where unsupported)."""
    try:
        folder_handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(folder_handle)
    except OSError:
        pass
    finally:
        os.close(folder_handle)


# --------------------------------------------------------------------------
# tinydl checkpoints: save / load
# --------------------------------------------------------------------------

TREE_KEY = "__tinydl_tree__"  # npz entry holding the JSON description of the structure
FORMAT_NAME = "tinydl-checkpoint"
FORMAT_VERSION = 1

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class CheckpointError(ValueError):
    """A file given to ``tinydl.io.load`` is not a readable tinydl checkpoint."""


def save(obj, path):
    """Save a nested structure of arrays and plain values to ``path`` (.npz, atomic).

    ``obj`` may nest dicts (str keys, order kept), lists and tuples, holding NumPy
    arrays, objects with a ``.numpy()`` method (tinydl Tensors: their array is
    stored), NumPy scalars, and Python ``int``/``float``/``bool``/``str``/``None``.
    Arrays are stored under their path, e.g. ``model/fc1.weight``; the structure
    is stored as JSON under ``__tinydl_tree__``. Ints of any size round-trip
    exactly (those beyond int64 as decimal strings), so
    ``np.random.Generator.bit_generator.state`` can be saved and restored.
    """
    arrays = {}
    tree = _encode(obj, "", arrays)
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "tree": tree}
    header_bytes = json.dumps(header, allow_nan=False).encode("utf-8")
    arrays[TREE_KEY] = np.frombuffer(header_bytes, dtype=np.uint8)
    with atomic_write(path) as f:
        # A file object (not a name) stops np.savez from appending ".npz".
        np.savez(f, **arrays)


def _encode(value, key_path, arrays):
    """Turn ``value`` into a JSON-able node, moving arrays into ``arrays``."""
    if value is None or isinstance(value, str):
        return {"type": "json", "value": value}
    # NumPy types first: np.float64 is also a Python float, and must stay np.float64.
    if isinstance(value, np.ndarray):
        return _store_array(value, key_path, arrays, "array")
    if isinstance(value, np.generic):
        return _store_array(np.asarray(value), key_path, arrays, "numpy_scalar")
    if isinstance(value, bool):
        return _store_array(np.array(value), key_path, arrays, "bool")
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return _store_array(np.array(value, dtype=np.int64), key_path, arrays, "int")
        return {"type": "bigint", "value": str(value)}
    if isinstance(value, float):
        return _store_array(np.array(value, dtype=np.float64), key_path, arrays, "float")
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"save: dict keys must be str, found {type(key).__name__} key {key!r} "
                    f"at '{key_path or '<root>'}'; convert the keys to strings first"
                )
            items.append([key, _encode(item, _join(key_path, key), arrays)])
        return {"type": "dict", "items": items}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, _join(key_path, str(i)), arrays) for i, item in enumerate(value)]
        return {"type": "tuple" if isinstance(value, tuple) else "list", "items": items}
    if callable(getattr(value, "numpy", None)):
        return _store_array(np.asarray(value.numpy()), key_path, arrays, "array")
    raise TypeError(
        f"save: cannot store a value of type {type(value).__name__} at "
        f"'{key_path or '<root>'}'; allowed are dict, list, tuple, numpy arrays, "
        "objects with .numpy(), int, float, bool, str and None"
    )


def _join(key_path, key):
    return f"{key_path}/{key}" if key_path else key


def _store_array(array, key_path, arrays, kind):
    if array.dtype.hasobject:
        raise TypeError(
            f"save: array at '{key_path or '<root>'}' has dtype object, which cannot be "
            "stored without pickle; convert it to a numeric or string dtype first"
        )
    key = _unique_key(key_path or "value", arrays)
    arrays[key] = array
    return {"type": kind, "key": key}


def _unique_key(key, arrays):
    """Keys like 'a/b' can come from {'a/b': x} and from {'a': {'b': y}}; keep both."""
    if key not in arrays and key != TREE_KEY:
        return key
    number = 1
    while f"{key}~{number}" in arrays:
        number += 1
    return f"{key}~{number}"


def load(path):
    """Load a structure saved by ``save``: the same nesting, arrays as np.ndarray.

    Python scalars come back as the Python scalars they were (``int``, ``float``,
    ``bool``), tuples as tuples, dict keys in their saved order. Raises
    ``FileNotFoundError`` for a missing file and ``CheckpointError`` for a file
    that is corrupt or not a tinydl checkpoint.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file '{path}'")
    try:
        npz = np.load(path, allow_pickle=False)
        if not hasattr(npz, "files"):
            raise CheckpointError(
                f"load: '{path}' is a single .npy array, not a tinydl checkpoint; "
                "open it with np.load"
            )
        with npz:
            if TREE_KEY not in npz.files:
                raise CheckpointError(
                    f"load: '{path}' is an .npz file but not a tinydl checkpoint (it has no "
                    f"'{TREE_KEY}' entry; its entries are {npz.files[:5]}); "
                    "open plain .npz files with np.load"
                )
            header = _parse_tree_header(npz[TREE_KEY], path)
            return _decode(header["tree"], npz, path)
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError) as error:
        raise CheckpointError(
            f"load: '{path}' is corrupt or truncated and cannot be read as .npz "
            f"({type(error).__name__}: {error}); save the checkpoint again"
        ) from error


def _parse_tree_header(raw, path):
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"load: '{path}' has a damaged '{TREE_KEY}' entry ({error})"
        ) from error
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"load: '{path}' has a '{TREE_KEY}' entry of an unknown format")
    if header.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"load: '{path}' is checkpoint format version {header.get('version')}; "
            f"this tinydl reads version {FORMAT_VERSION}; upgrade tinydl"
        )
    return header


def _decode(node, npz, path):
    kind = node["type"]
    if kind == "json":
        return node["value"]
    if kind == "bigint":
        return int(node["value"])
    if kind == "dict":
        return {key: _decode(item, npz, path) for key, item in node["items"]}
    if kind == "list":
        return [_decode(item, npz, path) for item in node["items"]]
    if kind == "tuple":
        return tuple(_decode(item, npz, path) for item in node["items"])
    if kind in ("array", "int", "float", "bool", "numpy_scalar"):
        key = node["key"]
        if key not in npz.files:
            raise CheckpointError(f"load: '{path}' lists array '{key}' but the file lacks it")
        array = npz[key]
        if kind == "array":
            return array
        if kind == "numpy_scalar":
            return array[()]
        return {"int": int, "float": float, "bool": bool}[kind](array.item())
    raise CheckpointError(f"load: '{path}' has an entry of unknown type {kind!r}")


# --------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------
# Layout: 8-byte little-endian u64 N, N bytes of JSON header
# {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
# then the byte buffer; offsets count from the start of the buffer.

SAFETENSORS_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # raw bits; converted to float32 on load
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NUMPY_TO_SAFETENSORS = {
    np.dtype(np.float64): "F64",
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.int16): "I16",
    np.dtype(np.int8): "I8",
    np.dtype(np.uint64): "U64",
    np.dtype(np.uint32): "U32",
    np.dtype(np.uint16): "U16",
    np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
}
METADATA_KEY = "__metadata__"


class SafetensorsError(ValueError):
    """A safetensors file is malformed."""


def read_safetensors_header(path):
    """Read and validate the JSON header of a safetensors file.

    Returns the header dict: ``{name: {"dtype", "shape", "data_offsets"}}`` in file
    order, plus ``"__metadata__": {str: str}`` when the file has one. Every check
    ``load_safetensors`` relies on (sizes, dtypes, offsets, overlaps) is done here.
    """
    header, _ = _read_header(os.fspath(path))
    return header


def _read_header(path):
    """Return (validated header, byte position where the data buffer starts)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"safetensors: no such file '{path}'")
    file_size = os.path.getsize(path)
    if file_size < 8:
        raise SafetensorsError(
            f"safetensors: '{path}' is {file_size} bytes, too short for the 8-byte header length"
        )
    with open(path, "rb") as f:
        (header_length,) = struct.unpack("<Q", f.read(8))
        if header_length > file_size - 8:
            raise SafetensorsError(
                f"safetensors: '{path}' says its header is {header_length} bytes but only "
                f"{file_size - 8} bytes follow the length field (truncated or not safetensors)"
            )
        header_bytes = f.read(header_length)
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SafetensorsError(f"safetensors: '{path}' header is not valid JSON ({error})") from error
    if not isinstance(header, dict):
        raise SafetensorsError(
            f"safetensors: '{path}' header must be a JSON object, found {type(header).__name__}"
        )
    buffer_size = file_size - 8 - header_length
    _validate_header(header, buffer_size, path)
    return header, 8 + header_length


def _validate_header(header, buffer_size, path):
    metadata = header.get(METADATA_KEY, {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SafetensorsError(f"safetensors: '{path}' __metadata__ must map str to str")
    spans = []
    for name, entry in header.items():
        if name == METADATA_KEY:
            continue
        where = f"safetensors: '{path}' tensor '{name}'"
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
            raise SafetensorsError(f"{where} must have 'dtype', 'shape' and 'data_offsets'")
        dtype_name, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype_name not in SAFETENSORS_DTYPES:
            raise SafetensorsError(
                f"{where} has unknown dtype {dtype_name!r}; known: {sorted(SAFETENSORS_DTYPES)}"
            )
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise SafetensorsError(f"{where} has invalid shape {shape!r}; expected a list of ints >= 0")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_count(o) for o in offsets)
            or offsets[0] > offsets[1]
        ):
            raise SafetensorsError(
                f"{where} has invalid data_offsets {offsets!r}; expected [begin, end] with 0 <= begin <= end"
            )
        begin, end = offsets
        expected_bytes = int(np.prod(shape, dtype=object)) * SAFETENSORS_DTYPES[dtype_name].itemsize
        if end - begin != expected_bytes:
            raise SafetensorsError(
                f"{where}: shape {shape} x {dtype_name} needs {expected_bytes} bytes but "
                f"data_offsets {offsets} span {end - begin}"
            )
        if end > buffer_size:
            raise SafetensorsError(
                f"{where}: data_offsets {offsets} run past the end of the data buffer "
                f"({buffer_size} bytes; file truncated?)"
            )
        spans.append((begin, end, name))
    # Sorted by start, a tensor overlaps an earlier one exactly when it starts
    # before the furthest end seen so far. Empty tensors occupy no bytes.
    furthest_end, furthest_name = 0, None
    for begin, end, name in sorted(spans):
        if begin == end:
            continue
        if begin < furthest_end:
            raise SafetensorsError(
                f"safetensors: '{path}' tensor '{name}' (bytes {begin}..{end}) overlaps "
                f"tensor '{furthest_name}' (which ends at byte {furthest_end})"
            )
        furthest_end, furthest_name = end, name


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def load_safetensors(path):
    """Load every tensor of a safetensors file as ``{name: np.ndarray}`` (file order).

    Arrays are copied out of the file (no open handle remains) in native byte
    order; BF16 tensors come back as float32.
    """
    path = os.fspath(path)
    header, data_start = _read_header(path)
    tensors = {}
    buffer_size = os.path.getsize(path) - data_start
    mapped = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start) if buffer_size else None
    try:
        for name, entry in header.items():
            if name == METADATA_KEY:
                continue
            begin, end = entry["data_offsets"]
            raw = np.array(mapped[begin:end]) if end > begin else np.empty(0, np.uint8)
            tensors[name] = _decode_tensor(raw, entry["dtype"], entry["shape"], name)
    finally:
        del mapped  # closes the memory map
    return tensors


def _decode_tensor(raw, dtype_name, shape, name):
    """raw: uint8 bytes of one tensor -> array of ``shape`` in a native dtype."""
    values = raw.view(SAFETENSORS_DTYPES[dtype_name])
    if dtype_name == "BF16":
        # bfloat16 is the top half of a float32: shift the 16 bits into place.
        values = (values.astype(np.uint32) << 16).view(np.float32)
    elif dtype_name == "BOOL" and np.any(raw > 1):
        raise SafetensorsError(f"safetensors: BOOL tensor '{name}' holds bytes other than 0 and 1")
    return values.astype(values.dtype.newbyteorder("="), copy=False).reshape(shape)


def save_safetensors(tensors, path, metadata=None):
    """Write ``{name: array}`` to ``path`` in safetensors format (atomic).

    Values may be NumPy arrays or objects with ``.numpy()``. ``metadata`` is an
    optional ``{str: str}`` stored as ``__metadata__``. Dtypes: float64/32/16,
    int64/32/16/8, uint64/32/16/8 and bool.
    """
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise TypeError("save_safetensors: metadata must be a dict of str -> str")
    header = {METADATA_KEY: dict(metadata)} if metadata else {}
    chunks = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or name == METADATA_KEY:
            raise ValueError(f"save_safetensors: invalid tensor name {name!r}")
        array = np.asarray(value.numpy() if callable(getattr(value, "numpy", None)) else value)
        dtype_name = _NUMPY_TO_SAFETENSORS.get(array.dtype.newbyteorder("="))
        if dtype_name is None:
            raise TypeError(
                f"save_safetensors: tensor '{name}' has dtype {array.dtype}, which safetensors "
                f"cannot store; use one of {sorted(str(d) for d in _NUMPY_TO_SAFETENSORS)}"
            )
        data = np.ascontiguousarray(array, dtype=SAFETENSORS_DTYPES[dtype_name]).tobytes()
        header[name] = {
            "dtype": dtype_name,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # pad so the buffer starts 8-aligned
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for data in chunks:
            f.write(data)
