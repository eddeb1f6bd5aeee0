"""Find a data set's files on disk.

Folders searched, in order:

1. the ``root`` the caller passed (if any),
2. ``$TINYDL_DATA`` (if set),
3. ``~/.cache/tinydl`` (where downloads go),
4. system folders such as ``/usr/share/datasets`` (Debian's dataset packages).

Each of them may hold the files directly or in a subfolder named after the data
set (e.g. ``fashion-mnist/``). A file may be stored gzip-compressed (``name.gz``)
or plain (``name``).
"""

import os
from pathlib import Path

SYSTEM_DATA_DIRS = ("/usr/share/datasets",)


def cache_dir():
    """The folder downloads go to: ``~/.cache/tinydl``."""
    return Path(os.path.expanduser("~")) / ".cache" / "tinydl"


def search_roots(root=None):
    """The root folders to search, in order (see the module docstring)."""
    roots = []
    if root is not None:
        roots.append(Path(root))
    if os.environ.get("TINYDL_DATA"):
        roots.append(Path(os.environ["TINYDL_DATA"]))
    roots.append(cache_dir())
    roots.extend(Path(folder) for folder in SYSTEM_DATA_DIRS)
    return roots


def download_root(root=None):
    """Where a download should go: ``root``, else ``$TINYDL_DATA``, else the cache."""
    if root is not None:
        return Path(root)
    if os.environ.get("TINYDL_DATA"):
        return Path(os.environ["TINYDL_DATA"])
    return cache_dir()


def locate_files(subfolder, names, root=None):
    """Find the first folder that holds every file in ``names``.

    Returns ``(found, looked_in)``: ``found`` maps each name to the path of its
    ``.gz`` or plain copy, or is ``None`` when no folder has them all;
    ``looked_in`` lists every folder checked, for error messages.
    """
    looked_in = []
    for base in search_roots(root):
        for folder in (base, base / subfolder):
            if folder in looked_in:
                continue
            looked_in.append(folder)
            found = {name: _existing_copy(folder, name) for name in names}
            if all(found.values()):
                return found, looked_in
    return None, looked_in


def _existing_copy(folder, name):
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None
