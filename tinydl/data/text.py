"""Text datasets that need no download: Python's own docs, any text file, Debian's fortunes.

- ``pydoc_corpus()``: the help-topic pages that ship with Python (about 465k characters of
  English prose and code), a ready corpus for character-level language models.
- ``text_file(path)``: read a UTF-8 file into one string.
- ``train_val_split_text(text)``: cut a string into a training part and a validation tail.
- ``fortunes(...)``: short texts labelled by category (computers, politics, science, ...),
  a small text-classification dataset from the Debian ``fortunes`` package.
"""

from __future__ import annotations

import os

import numpy as np

from tinydl.errors import MissingResourceError

FORTUNES_ROOT = "/usr/share/games/fortunes"


def pydoc_corpus() -> str:
    """Python's help topics (``pydoc_data.topics.topics``) as one string.

    The pages are joined in sorted order of their topic names, separated by a blank line,
    so the corpus is the same on every run for a given Python version.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise ImportError(
            "pydoc_corpus: this Python has no pydoc_data module (some minimal builds drop it); "
            "install the full Python standard library or use text_file(path) with your own text"
        ) from None
    return "\n\n".join(topics[name] for name in sorted(topics))


def text_file(path: str | os.PathLike, encoding: str = "utf-8") -> str:
    """Read a whole text file into one string."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"text_file: {path!r} does not exist (looked from {os.getcwd()!r}); "
            "check the path or pass an absolute one"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"text_file: {path!r} is a folder; pass the path of a text file")
    try:
        with open(path, encoding=encoding) as handle:
            return handle.read()
    except UnicodeDecodeError as error:
        raise UnicodeDecodeError(
            error.encoding,
            error.object,
            error.start,
            error.end,
            f"text_file: {path!r} is not valid {encoding} (byte {error.start}); "
            "pass the file's real encoding, e.g. encoding='latin-1'",
        ) from None


def train_val_split_text(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Cut ``text`` into (train, val): val is the last ``round(len(text) * val_fraction)``
    characters, train is everything before. Contiguous, so no sentence leaks across."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"train_val_split_text: val_fraction must be between 0 and 1 (exclusive), "
            f"got {val_fraction}"
        )
    n_val = round(len(text) * val_fraction)
    n_train = len(text) - n_val
    if n_val == 0 or n_train == 0:
        raise ValueError(
            f"train_val_split_text: a text of {len(text)} characters with "
            f"val_fraction={val_fraction} leaves an empty split ({n_train} train, {n_val} val); "
            "use a longer text or a different val_fraction"
        )
    return text[:n_train], text[n_train:]


# --------------------------------------------------------------------------------------
# Debian fortunes
# --------------------------------------------------------------------------------------


def _fortune_categories(root: str) -> list[str]:
    """Names of the fortune files in ``root``: plain files, not symlinks, not .dat/.u8."""
    names = []
    for entry in os.scandir(root):
        if entry.is_symlink() or not entry.is_file():
            continue  # the .u8 links and the off-color folder ("off/")
        if entry.name.endswith((".dat", ".u8")) or entry.name.startswith("."):
            continue  # strfile indexes and hidden files
        names.append(entry.name)
    return sorted(names)


def _read_fortune_file(path: str) -> list[str]:
    """Entries of one fortune file: split on lines holding only '%', whitespace collapsed."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = handle.read()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"fortunes: {path!r} is not valid UTF-8 (byte {error.start}); "
            "fortune files are expected to be UTF-8"
        ) from None
    entries = []
    current: list[str] = []
    for line in content.splitlines():
        if line.strip() == "%":
            entries.append(" ".join(" ".join(current).split()))
            current = []
        else:
            current.append(line)
    entries.append(" ".join(" ".join(current).split()))
    return [entry for entry in entries if entry]


def fortunes(
    categories: list[str] | None = None,
    root: str | os.PathLike = FORTUNES_ROOT,
    min_length: int = 1,
    max_length: int | None = None,
) -> tuple[list[str], np.ndarray, list[str]]:
    """Fortune-cookie texts labelled by the file (category) they come from.

    Args:
        categories: file names to load, e.g. ``['computers', 'politics', 'science',
            'songs-poems']``. Label i is ``categories[i]``. None loads every category, sorted.
        root: the folder of fortune files (Debian/Ubuntu: ``apt-get install fortunes``).
        min_length, max_length: keep entries whose length in characters (after whitespace
            is collapsed to single spaces) is in [min_length, max_length]; None = no limit.

    Returns:
        texts: N strings, in file order, category after category.
        labels: int64 array of shape (N,), indices into ``class_names``.
        class_names: the category names.
    """
    root = os.fspath(root)
    available = _fortune_categories(root) if os.path.isdir(root) else []
    if not available:
        raise MissingResourceError(
            f"fortunes: no fortune files in {root!r}; install them with "
            "`sudo apt-get install fortunes` (Debian/Ubuntu), or pass root= the folder "
            "that holds them"
        )
    if categories is None:
        class_names = available
    else:
        if isinstance(categories, str):
            categories = [categories]
        class_names = list(categories)
        if len(set(class_names)) != len(class_names):
            raise ValueError(f"fortunes: categories {class_names} has repeated names")
        unknown = [name for name in class_names if name not in available]
        if unknown:
            raise ValueError(
                f"fortunes: unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown} in "
                f"{root!r}; available: {available}"
            )
    if max_length is not None and max_length < min_length:
        raise ValueError(
            f"fortunes: max_length={max_length} is smaller than min_length={min_length}"
        )

    texts: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        for entry in _read_fortune_file(os.path.join(root, name)):
            if len(entry) < min_length or (max_length is not None and len(entry) > max_length):
                continue
            texts.append(entry)
            labels.append(label)
    return texts, np.asarray(labels, dtype=np.int64), class_names
