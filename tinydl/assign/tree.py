"""Which files of a checkout go into a student tree, and how the tools write files.

A student tree gets the package, the lessons, the public tests and the top-level project files.
It never gets the hidden tests (``tests/hidden``), version control, caches (compiled
``__pycache__`` files would hold the solutions), build outputs or training runs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

HIDDEN_TESTS = PurePosixPath("tests/hidden")
TESTS_DIR = "tests"

# Folder names left out wherever they appear.
EXCLUDED_DIRS = frozenset({
    ".git", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache",
    ".ipynb_checkpoints", ".venv", "venv", "build", "dist", "runs",
})
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".swp")


def iter_tree_files(root: Path) -> Iterator[PurePosixPath]:
    """Yield the path (relative to ``root``, sorted) of every file a student tree gets from ``root``."""
    root = Path(root)
    for folder, dirnames, filenames in os.walk(root):
        relative_folder = PurePosixPath(Path(folder).relative_to(root).as_posix())
        dirnames[:] = sorted(
            name for name in dirnames
            if name not in EXCLUDED_DIRS and not name.endswith(EXCLUDED_SUFFIXES)
            and relative_folder / name != HIDDEN_TESTS
        )
        for name in sorted(filenames):
            if not name.endswith(EXCLUDED_SUFFIXES):
                yield relative_folder / name if str(relative_folder) != "." else PurePosixPath(name)


def may_hold_solutions(relative_path: PurePosixPath) -> bool:
    """Whether a file of the tree is searched for solution blocks: Python files outside tests/.

    Tests never hold solutions (and the tools' own tests quote markers inside strings).
    """
    return relative_path.suffix == ".py" and relative_path.parts[0] != TESTS_DIR


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the whole new one, never half.

    The text goes to a temporary file in the same folder, is flushed to disk, then renamed over
    ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes the file private; give it ordinary permissions
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
