"""Find the solution blocks in a source file and check that they are well formed.

A solution block is a run of lines between two marker lines, indented like the code they wrap:
the opening marker is ``### BEGIN SOLUTION task N.M`` and the closing one ``### END SOLUTION``.
The line right after the opening marker may be a hint comment, ``# HINT: one line for the
student``. For example (the ``|`` marks the left margin)::

    |def relu(x):
    |    ### BEGIN SOLUTION task 2.1
    |    # HINT: keep the positive entries, zero the rest
    |    return np.maximum(x, 0)
    |    ### END SOLUTION

Mistakes are reported as one error naming the file and line: a block opened inside another,
a block never closed, a closing marker with no opening one, a malformed marker, a task id that is
not in the course, an empty block, or a body line indented less than its opening marker (the
``raise`` that replaces the block would land at the wrong level).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from tinydl.assign.errors import AssignError

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
HINT_PREFIX = "# HINT:"

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION task (?P<task>[0-9]+\.[0-9]+)[ \t]*$")
_END = re.compile(r"^(?P<indent>[ \t]*)### END SOLUTION[ \t]*$")
_HINT = re.compile(r"^[ \t]*# HINT:(?P<hint>.*)$")
# Anything that looks like an attempt at a marker; it must then match _BEGIN or _END exactly.
_MARKER_LIKE = re.compile(r"^[ \t]*#+[ \t]*(BEGIN|END)[ \t]+SOLUTION\b", re.IGNORECASE)


class MarkerError(AssignError):
    """A solution marker is malformed or misplaced; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class SolutionBlock:
    """One solution block of a file.

    ``begin`` and ``end`` are the 1-based line numbers of the two markers; ``body`` holds the
    solution lines between them (without the markers and the hint line, newlines removed);
    ``indent`` is the opening marker's indentation; ``hint`` is the block's own hint or None.
    """

    path: Path
    task: str
    begin: int
    end: int
    indent: str
    hint: str | None
    body: tuple[str, ...]

    @property
    def assignment(self) -> int:
        """The assignment number of the block's task ("2.1" -> 2)."""
        return int(self.task.split(".")[0])


def find_solution_blocks(path: Path, known_tasks: Collection[str] | None = None,
                         display_path: Path | None = None) -> list[SolutionBlock]:
    """Parse the solution blocks of one file (see ``parse_solution_blocks``).

    ``display_path`` is the name used in errors and stored in the blocks (default ``path``).
    """
    text = Path(path).read_text(encoding="utf-8")
    return parse_solution_blocks(text, display_path if display_path is not None else Path(path), known_tasks)


def parse_solution_blocks(text: str, path: Path, known_tasks: Collection[str] | None = None) -> list[SolutionBlock]:
    """Parse and validate the solution blocks of a file's text, in file order.

    ``path`` only names the file in errors. When ``known_tasks`` is given, a block whose task id
    is not among them is an error. Raises MarkerError on the first problem found.
    """
    lines = text.splitlines()
    blocks: list[SolutionBlock] = []
    opened: tuple[int, str, str] | None = None  # (line number, task id, indent) of the open block
    for number, line in enumerate(lines, start=1):
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin is None and end is None:
            if _MARKER_LIKE.match(line):
                raise MarkerError(
                    f"{path}:{number}: malformed solution marker {line.strip()!r}; write "
                    f"'{BEGIN_MARKER} task N.M' (e.g. task 2.1) or '{END_MARKER}' on a line of its own"
                )
            continue
        if begin is not None:
            if opened is not None:
                raise MarkerError(
                    f"{path}:{number}: '{BEGIN_MARKER} task {begin['task']}' inside the block for task "
                    f"{opened[1]} opened at line {opened[0]}; blocks cannot nest: close that one with "
                    f"'{END_MARKER}' first"
                )
            _check_task(begin["task"], known_tasks, path, number)
            opened = (number, begin["task"], begin["indent"])
            continue
        if opened is None:
            raise MarkerError(f"{path}:{number}: '{END_MARKER}' without a matching '{BEGIN_MARKER} task N.M' above it")
        blocks.append(_make_block(lines, path, opened, number))
        opened = None
    if opened is not None:
        raise MarkerError(
            f"{path}:{opened[0]}: '{BEGIN_MARKER} task {opened[1]}' is never closed; add "
            f"'{END_MARKER}' after the solution"
        )
    return blocks


def _check_task(task: str, known_tasks: Collection[str] | None, path: Path, number: int) -> None:
    if known_tasks is not None and task not in known_tasks:
        known = ", ".join(sorted(known_tasks)) or "none"
        raise MarkerError(
            f"{path}:{number}: unknown task {task} in a solution marker; the course lists: {known} "
            f"(add the task to course.toml or fix the id)"
        )


def _make_block(lines: list[str], path: Path, opened: tuple[int, str, str], end: int) -> SolutionBlock:
    begin, task, indent = opened
    inner = lines[begin:end - 1]  # the lines strictly between the markers
    hint = None
    if inner and (hint_match := _HINT.match(inner[0])):
        hint = hint_match["hint"].strip()
        if not hint:
            raise MarkerError(f"{path}:{begin + 1}: empty '{HINT_PREFIX}' line; "
                              "write the hint after the colon or drop the line")
        inner = inner[1:]
    first_body_line = end - len(inner)
    if not any(line.strip() for line in inner):
        raise MarkerError(f"{path}:{begin}: the solution block for task {task} is empty; "
                          "put the solution between the markers")
    for offset, line in enumerate(inner):
        if line.strip() and not line.startswith(indent):
            raise MarkerError(
                f"{path}:{first_body_line + offset}: line of the task {task} solution is indented less than "
                f"its '{BEGIN_MARKER}' marker at line {begin}; indent the markers like the code they wrap"
            )
    return SolutionBlock(path, task, begin, end, indent, hint, tuple(inner))
