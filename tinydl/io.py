"""Saving and loading: tinydl checkpoints (.npz) and safetensors files.

Three parts, each usable on its own:

* ``atomic_write(path)``: write a file so that readers only ever see the old
  complete file or the new complete file, never half of one.
* ``save(obj, path)`` / ``load(path)``: nested dicts/lists of arrays and plain
  Python values in an ``.npz`` file that ``np.load(path, allow_pickle=False)``
  can open. No pickle: loading never runs code, and a crafted file gets a
  ``CheckpointError`` (a zip bomb is refused from its declared sizes).
* ``save_safetensors`` / ``load_safetensors`` / ``read_safetensors_header``:
  the safetensors format (used by Hugging Face models), with NumPy only.
"""

import contextlib
import json
import os
import struct
import tempfile
import zipfile

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
    hard kill, left behind as a hidden ``.NAME.tmp.PID.XXXXXXXX`` file that no reader
    opens, until the next ``atomic_write`` to ``path`` removes it).

    Usage::

        with atomic_write("model.npz") as f:
            f.write(data)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    _remove_orphan_temp_files(folder, name)
    handle, temp_path = tempfile.mkstemp(prefix=f".{name}.tmp.{os.getpid()}.", dir=folder)
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


def _remove_orphan_temp_files(folder, name):
    """Delete the temp files of earlier writes to ``name`` whose writer was killed.

    A temp file's name holds its writer's process id, and it is removed only when
    no process with that id exists any more, so a save running in parallel (in
    this process or another one on this machine) keeps its file. POSIX only.
    """
    if os.name != "posix":
        return
    prefix = f".{name}.tmp."
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        writer = entry[len(prefix) :].split(".", 1)[0]  # the process id in the name
        if writer.isdigit() and not _process_exists(int(writer)):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, entry))


def _process_exists(pid):
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process, or an id we cannot ask about: keep its file
    return True


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


def _encode(value, key_path, arrays, depth=0):
    """Turn ``value`` into a JSON-able node, moving arrays into ``arrays``."""
    if depth > _MAX_NESTING:
        raise ValueError(
            f"save: the structure nests deeper than {_MAX_NESTING} levels at '{key_path}'; "
            "load refuses such files, so flatten it first"
        )
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
            items.append([key, _encode(item, _join(key_path, key), arrays, depth + 1)])
        return {"type": "dict", "items": items}
    if isinstance(value, (list, tuple)):
        items = [
            _encode(item, _join(key_path, str(i)), arrays, depth + 1)
            for i, item in enumerate(value)
        ]
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


def load(path, max_bytes=None):
    """Load a structure saved by ``save``: the same nesting, arrays as np.ndarray.

    Python scalars come back as the Python scalars they were (``int``, ``float``,
    ``bool``), tuples as tuples, dict keys in their saved order. Raises
    ``FileNotFoundError`` for a missing file and ``CheckpointError`` for any file
    that is corrupt, crafted or not a tinydl checkpoint.

    max_bytes: the most bytes the file's entries may declare once decompressed.
    ``None`` allows four times the file's size plus 64 MiB: ``save`` stores
    entries uncompressed, so a real checkpoint never comes near it, while a small
    file that would inflate to gigabytes (a zip bomb) is refused from its
    declared sizes before anything is inflated.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file '{path}'")
    try:
        return _load_checkpoint(path, max_bytes)
    except CheckpointError:
        raise
    except Exception as error:  # whatever a damaged file triggers, say so clearly
        raise CheckpointError(
            f"load: '{path}' is corrupt or truncated and cannot be read as .npz "
            f"({type(error).__name__}: {error}); save the checkpoint again"
        ) from error


_NPY_MAGIC = b"\x93NUMPY"
_MAX_NESTING = 100  # levels of dicts/lists; real checkpoints use a handful
_EXPANSION_ALLOWED = 4  # default max_bytes: 4 x the file size ...
_SLACK_BYTES = 64 << 20  # ... plus 64 MiB
_READ_CHUNK = 1 << 20


def _load_checkpoint(path, max_bytes):
    with open(path, "rb") as f:
        if f.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise CheckpointError(
                f"load: '{path}' is a single .npy array, not a tinydl checkpoint; "
                "open it with np.load"
            )
        f.seek(0)
        with zipfile.ZipFile(f) as archive:
            entries = _checked_entries(archive, path, os.path.getsize(path), max_bytes)
            if TREE_KEY not in entries:
                raise CheckpointError(
                    f"load: '{path}' is an .npz file but not a tinydl checkpoint (it has no "
                    f"'{TREE_KEY}' entry; its entries are {list(entries)[:5]}); "
                    "open plain .npz files with np.load"
                )
            reader = _EntryReader(archive, entries, path)
            header = _parse_tree_header(reader.take(TREE_KEY), path)
            return _decode(header["tree"], reader, path)


def _checked_entries(archive, path, file_size, max_bytes):
    """{name without .npy: ZipInfo}, refusing what a saved checkpoint never holds.

    Only the zip's directory is read here: nothing is decompressed yet.
    """
    entries = {}
    for info in archive.infolist():
        where = f"load: '{path}' entry '{info.filename}'"
        if info.flag_bits & 0x1:
            raise CheckpointError(f"{where} is encrypted; tinydl checkpoints never are")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(
                f"{where} uses zip compression method {info.compress_type}; tinydl reads "
                "stored or deflated entries (np.savez / np.savez_compressed); "
                "save the checkpoint again with tinydl.io.save"
            )
        name = info.filename.removesuffix(".npy")
        if name in entries:
            raise CheckpointError(f"{where} appears twice in the zip directory (crafted file?)")
        entries[name] = info
    declared = sum(info.file_size for info in entries.values())
    limit = _EXPANSION_ALLOWED * file_size + _SLACK_BYTES if max_bytes is None else max_bytes
    if declared > limit:
        raise CheckpointError(
            f"load: '{path}' is {_in_bytes(file_size)} but its entries declare "
            f"{_in_bytes(declared)} once decompressed, over the {_in_bytes(limit)} allowed "
            "(tinydl.io.save writes entries uncompressed, so this looks like a zip bomb); "
            f"refused before inflating anything. If you trust the file, pass max_bytes={declared}"
        )
    return entries


def _in_bytes(count):
    return f"{count:,} bytes"


class _EntryReader:
    """Reads each entry of the archive at most once, so a crafted tree cannot multiply it."""

    def __init__(self, archive, entries, path):
        self.archive, self.entries, self.path = archive, entries, path
        self.taken = set()

    def take(self, key):
        if not isinstance(key, str) or key not in self.entries:
            raise CheckpointError(f"load: '{self.path}' lists array {key!r} but the file lacks it")
        if key in self.taken:
            raise CheckpointError(
                f"load: '{self.path}' lists array '{key}' twice; tinydl.io.save stores each "
                "array once (crafted file?)"
            )
        self.taken.add(key)
        return _read_npy_entry(self.archive, self.entries[key], self.path)


def _read_npy_entry(archive, info, path):
    """One .npy entry as an array, its declared size checked before any data is read."""
    where = f"load: '{path}' entry '{info.filename}'"
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise CheckpointError(
                f"{where} is .npy format version {version[0]}.{version[1]}; tinydl reads 1.0 and "
                "2.0 (what np.save writes for plain arrays)"
            )
        if dtype.hasobject:
            raise CheckpointError(
                f"{where} holds Python objects (dtype {dtype}), which only pickle can load; "
                "tinydl never unpickles"
            )
        if any(size < 0 for size in shape):
            raise CheckpointError(f"{where} declares a negative shape {shape}")
        count = 1
        for size in shape:
            count *= size  # Python ints: no overflow
        data_bytes = count * dtype.itemsize
        header_bytes = f.tell()
        if header_bytes + data_bytes != info.file_size:
            raise CheckpointError(
                f"{where}: its .npy header declares shape {shape} of {dtype} "
                f"({_in_bytes(data_bytes)}) but the zip entry holds "
                f"{_in_bytes(info.file_size - header_bytes)} of data (corrupt or crafted file)"
            )
        array = np.empty(count, dtype=dtype)
        _read_exactly(f, array.view(np.uint8) if data_bytes else None, where)
    if fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def _read_exactly(f, raw, where):
    """Fill the uint8 array ``raw`` from ``f`` in bounded chunks (no second full-size copy)."""
    filled = 0
    total = 0 if raw is None else raw.size
    while filled < total:
        chunk = f.read(min(_READ_CHUNK, total - filled))
        if not chunk:
            raise CheckpointError(f"{where} ends after {filled} of {total} data bytes (truncated)")
        raw[filled : filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)


def _parse_tree_header(raw, path):
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"load: '{path}' has a '{TREE_KEY}' entry that is not JSON bytes")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except RecursionError as error:
        raise CheckpointError(
            f"load: '{path}' has a '{TREE_KEY}' entry nested too deeply to parse (crafted file?)"
        ) from error
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


_SCALAR_KINDS = {"int": (int, "iub"), "float": (float, "f"), "bool": (bool, "b")}


def _decode(node, reader, path, depth=0):
    """A node of the saved tree back into its value; every field is checked first."""

    def damaged(what):
        return CheckpointError(f"load: '{path}' has a damaged structure: {what} (crafted file?)")

    if depth > _MAX_NESTING:
        raise damaged(f"it nests deeper than {_MAX_NESTING} levels")
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "json":
        if not (node.get("value") is None or isinstance(node.get("value"), str)):
            raise damaged(f"a 'json' node holds a {type(node.get('value')).__name__}")
        return node.get("value")
    if kind == "bigint":
        digits = node.get("value")
        if not isinstance(digits, str) or not digits.lstrip("-").isdigit() or len(digits) > 4300:
            raise damaged("a 'bigint' node is not a decimal integer")
        return int(digits)
    if kind in ("dict", "list", "tuple"):
        items = node.get("items")
        if not isinstance(items, list):
            raise damaged(f"a '{kind}' node has no list of items")
        if kind == "dict":
            if not all(isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) for i in items):
                raise damaged("a 'dict' node's items are not [key, value] pairs")
            return {key: _decode(item, reader, path, depth + 1) for key, item in items}
        values = [_decode(item, reader, path, depth + 1) for item in items]
        return tuple(values) if kind == "tuple" else values
    if kind == "array":
        return reader.take(node.get("key"))
    if kind == "numpy_scalar" or kind in _SCALAR_KINDS:
        array = reader.take(node.get("key"))
        if array.shape != ():
            raise damaged(f"scalar '{node['key']}' has shape {array.shape}")
        if kind == "numpy_scalar":
            return array[()]
        python_type, dtype_kinds = _SCALAR_KINDS[kind]
        if array.dtype.kind not in dtype_kinds:
            raise damaged(f"{kind} '{node['key']}' is stored as {array.dtype}")
        return python_type(array.item())
    raise damaged(f"an entry has unknown type {kind!r}")


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
SAFETENSORS_MAX_HEADER_BYTES = 100_000_000  # the limit of the reference implementation
SAFETENSORS_MAX_DIMS = 64  # NumPy's limit on array dimensions


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
        if header_length > SAFETENSORS_MAX_HEADER_BYTES:
            raise SafetensorsError(
                f"safetensors: '{path}' says its header is {header_length:,} bytes, over the "
                f"{SAFETENSORS_MAX_HEADER_BYTES:,} the format allows (not a safetensors file?)"
            )
        header_bytes = f.read(header_length)
    try:
        header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=_refuse_duplicate_keys)
    except RecursionError as error:
        raise SafetensorsError(
            f"safetensors: '{path}' header nests too deeply to parse (crafted file?)"
        ) from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SafetensorsError(f"safetensors: '{path}' header is not valid JSON ({error})") from error
    except _DuplicateKey as error:
        raise SafetensorsError(
            f"safetensors: '{path}' header names {str(error)!r} twice; which one is meant is "
            "ambiguous, so the file is refused (re-export it)"
        ) from None
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
        if not isinstance(dtype_name, str) or dtype_name not in SAFETENSORS_DTYPES:
            raise SafetensorsError(
                f"{where} has unknown dtype {dtype_name!r}; known: {sorted(SAFETENSORS_DTYPES)}"
            )
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise SafetensorsError(f"{where} has invalid shape {shape!r}; expected a list of ints >= 0")
        if len(shape) > SAFETENSORS_MAX_DIMS:
            raise SafetensorsError(
                f"{where} has {len(shape)} dimensions; arrays have at most {SAFETENSORS_MAX_DIMS}"
            )
        nonzero_elements = int(np.prod([d for d in shape if d], dtype=object))
        if nonzero_elements > _INT64_MAX:
            raise SafetensorsError(
                f"{where} has shape {_short_shape(shape)}, too large for any array "
                f"(more than 2**63 elements)"
            )
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


class _DuplicateKey(Exception):
    """Raised inside json.loads when an object names a key twice."""


def _refuse_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _short_shape(shape):
    """A shape for an error message, with absurd sizes shortened (10**30 has 31 digits)."""
    return "[" + ", ".join(str(d) if d < 10**12 else f"~1e{len(str(d)) - 1}" for d in shape) + "]"


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
