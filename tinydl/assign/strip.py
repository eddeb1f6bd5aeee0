"""``tinydl assign strip``: write the student copy of a checkout for one assignment.

Every file a student tree gets (see tree.py) is copied. In Python files outside tests/, each
solution block becomes, for the chosen assignment N::

    <block's indentation>raise NotImplementedError("task N.M: <hint>")

while the blocks of the other assignments keep their solution (only the marker and hint lines
go). Earlier assignments must keep theirs, because assignment N builds on them. Later ones keep
theirs too, so the whole package (and every lesson) still runs while a student works on N; the
price is that a student tree for N shows the solutions of later assignments. Pass
``strip_later=True`` (``--strip-later``) to strip those as well. With no assignment chosen
(``--assignment all``), every block is stripped.

A task's computation exists once in a student tree: faster versions of it (Numba kernels, tiled
variants, a second path that keeps intermediate results) sit between ``### BEGIN FASTER task
N.M`` and ``### END FASTER`` lines, anywhere in a file (their registrations and imports too).
When the task is stripped the whole region goes, so the kernel registry falls back to the
readable version the student writes; otherwise only the two marker lines go.

The hint is the block's ``# HINT:`` line, else the task's hint in the course file, else its title.
The tree also gets ASSIGNMENT.md (the tasks, points and how to check them) and assignment.toml
(which assignment the tree is for; ``tinydl assign score`` reads it). The copy is written to a
temporary folder beside ``out`` and renamed into place at the end, so a failed strip leaves
nothing half-written.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import tempfile
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tinydl.assign.course import Course, format_points
from tinydl.assign.errors import AssignError
from tinydl.assign.markers import SolutionBlock, find_solution_blocks
from tinydl.assign.tree import iter_tree_files, may_hold_solutions, write_text_atomic

FASTER_BEGIN = re.compile(r"^[ \t]*### BEGIN FASTER task (?P<task>[0-9]+\.[0-9]+)[ \t]*$")
FASTER_END = re.compile(r"^[ \t]*### END FASTER[ \t]*$")
README_NAME = "ASSIGNMENT.md"
ASSIGNMENT_FILE = "assignment.toml"


@dataclass(frozen=True)
class StripResult:
    """What a strip wrote: the tree, its assignment (None: all), files copied, blocks by fate."""

    out: Path
    assignment: int | None
    files: int
    stripped: tuple[SolutionBlock, ...]
    kept: tuple[SolutionBlock, ...]


# CPython 3.11's ast module is not thread-safe ("SystemError: AST constructor recursion depth
# mismatch" when two threads parse at once); verify and grade strip trees from thread pools.
_AST_LOCK = threading.Lock()


def parse_python(text: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` under a lock (see above)."""
    with _AST_LOCK:
        return ast.parse(text, filename=filename)


def find_all_blocks(source: Path, course: Course) -> dict[PurePosixPath, list[SolutionBlock]]:
    """Parse every solution block of a checkout: {path relative to source: blocks in file order}.

    Validates every marker against the course's task ids; raises MarkerError on the first problem.
    """
    blocks: dict[PurePosixPath, list[SolutionBlock]] = {}
    known = set(course.task_ids)
    for relative in iter_tree_files(source):
        if may_hold_solutions(relative):
            try:
                found = find_solution_blocks(Path(source) / relative, known, display_path=Path(relative))
            except UnicodeDecodeError:
                raise AssignError(f"strip: {relative} is not UTF-8 text; save it as UTF-8") from None
            if found:
                blocks[relative] = found
    return blocks


def task_functions(source: Path, course: Course) -> dict[str, list[str]]:
    """{task id: ["module:qualname", ...]}: the functions holding each task's solution blocks,
    then those holding one of its FASTER regions.

    These are what the grader runs in the student's worker (proxy.py); the module name comes
    from the file's path (``tinydl/ops/conv.py`` -> ``tinydl.ops.conv``). A function with a
    FASTER region (a fast path that skips the readable solution, such as the fused
    cross-entropy) goes too: the teacher's copy would answer the task's tests without ever
    calling the student's code, while the student's copy has no such region.
    """
    found: dict[str, list[str]] = {}
    blocks = find_all_blocks(source, course)
    for relative in sorted(set(blocks) | set(_files_with_faster(source))):
        text = (Path(source) / relative).read_text(encoding="utf-8")
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        spans = _function_spans(parse_python(text))
        for block in blocks.get(relative, []):
            name = _innermost(spans, block.begin)
            if name is None:
                raise AssignError(f"{relative}:{block.begin}: the task {block.task} block is not inside a function")
            if f"{module}:{name}" not in found.setdefault(block.task, []):
                found[block.task].append(f"{module}:{name}")
        for number, line in enumerate(text.splitlines(), start=1):
            begin = FASTER_BEGIN.match(line)
            name = _innermost(spans, number) if begin else None
            if name is not None and f"{module}:{name}" not in found.setdefault(begin["task"], []):
                found[begin["task"]].append(f"{module}:{name}")
    return found


def _innermost(spans: list[tuple[int, int, str]], line: int) -> str | None:
    """The qualified name of the innermost function whose body holds ``line`` (None: none)."""
    inside = [(start, name) for start, end, name in spans if start < line <= end]
    return max(inside)[1] if inside else None


def _files_with_faster(source: Path) -> list[PurePosixPath]:
    """The tree's Python files that hold a ``### BEGIN FASTER`` line."""
    return [relative for relative in iter_tree_files(source)
            if relative.suffix == ".py" and may_hold_solutions(relative)
            and "### BEGIN FASTER" in (Path(source) / relative).read_text(encoding="utf-8")]


def _function_spans(tree: ast.AST, prefix: str = "") -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function and method, nested ones too."""
    spans = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                spans.append((node.lineno, node.end_lineno, name))
            spans.extend(_function_spans(node, f"{name}." if isinstance(node, ast.ClassDef) else f"{name}.<locals>."))
    return spans


def is_stripped(block_assignment: int, assignment: int | None, strip_later: bool = False) -> bool:
    """Whether a block of ``block_assignment`` is replaced when stripping for ``assignment``."""
    if assignment is None or block_assignment == assignment:
        return True
    return strip_later and block_assignment > assignment


def strip_tree(source: Path, out: Path, course: Course, assignment: int | None = None,
               strip_later: bool = False) -> StripResult:
    """Write the student tree for ``assignment`` (None: every block stripped) from ``source`` to ``out``.

    ``out`` must not exist yet (or be an empty folder) and must lie outside ``source``.
    Raises AssignError (or MarkerError) before writing anything when the source is not sound.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    _check_folders(source, out)
    if assignment is not None:
        course.assignment(assignment)  # an unknown number is an error listing the known ones
    blocks = find_all_blocks(source, course)
    stripped: list[SolutionBlock] = []
    kept: list[SolutionBlock] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        files = 0
        for relative in iter_tree_files(source):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            file_blocks = blocks.get(relative, [])
            text = (source / relative).read_text(encoding="utf-8") if may_hold_solutions(relative) else ""
            if file_blocks or "### BEGIN FASTER" in text:
                strip_flags = [is_stripped(b.assignment, assignment, strip_later) for b in file_blocks]
                new_text = render_stripped(text, file_blocks, strip_flags, course)
                _check_stripped_python(new_text, relative, file_blocks, strip_flags)
                new_text = remove_faster(new_text, relative, course, assignment, strip_later)
                _check_stripped_python(new_text, relative, [], [])  # still Python without its regions
                target.write_text(new_text, encoding="utf-8", newline="")
                shutil.copymode(source / relative, target)
                for block, flag in zip(file_blocks, strip_flags):
                    (stripped if flag else kept).append(block)
            else:
                shutil.copy2(source / relative, target)
            files += 1
        write_text_atomic(staging / README_NAME, assignment_readme(course, assignment))
        write_text_atomic(staging / ASSIGNMENT_FILE, _assignment_file_text(assignment))
        os.chmod(staging, 0o755)
        if out.exists():
            out.rmdir()  # checked empty above
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return StripResult(out, assignment, files, tuple(stripped), tuple(kept))


def render_stripped(text: str, blocks: list[SolutionBlock], strip_flags: list[bool], course: Course) -> str:
    """The file text with each block replaced by a ``raise`` (flag True) or by its bare solution."""
    lines = text.splitlines(keepends=True)
    output: list[str] = []
    position = 0  # index of the next line of ``lines`` to copy
    for block, strip in zip(blocks, strip_flags):
        begin, end = block.begin - 1, block.end - 1  # 0-based indices of the marker lines
        output.extend(lines[position:begin])
        if strip:
            newline = lines[begin][len(lines[begin].rstrip("\r\n")):] or "\n"
            message = f"task {block.task}: {_hint(block, course)}"
            quoted = json.dumps(message, ensure_ascii=False)
            output.append(f"{block.indent}raise NotImplementedError({quoted}){newline}")
        else:
            body_start = end - len(block.body)  # skips the hint line, if any
            output.extend(lines[body_start:end])
        position = end + 1
    output.extend(lines[position:])
    return "".join(output)


def remove_faster(text: str, relative: PurePosixPath, course: Course, assignment: int | None,
                  strip_later: bool = False) -> str:
    """Drop each ``### BEGIN FASTER task N.M`` region whose task is stripped; elsewhere only its markers."""
    known = set(course.task_ids)
    output, opened = [], None  # opened: (line number, strip?) of the region being read
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        begin, end = FASTER_BEGIN.match(line), FASTER_END.match(line)
        if begin is not None:
            if opened is not None or begin["task"] not in known:
                raise AssignError(f"strip: {relative}:{number}: a FASTER region must name a course task "
                                  f"and cannot nest (got task {begin['task']})")
            opened = (number, is_stripped(int(begin["task"].split(".")[0]), assignment, strip_later))
        elif end is not None:
            if opened is None:
                raise AssignError(f"strip: {relative}:{number}: '### END FASTER' without '### BEGIN FASTER task N.M'")
            opened = None
        elif opened is None or not opened[1]:
            output.append(line)
    if opened is not None:
        raise AssignError(f"strip: {relative}:{opened[0]}: '### BEGIN FASTER' is never closed")
    return "".join(output)


def _hint(block: SolutionBlock, course: Course) -> str:
    return block.hint or course.task(block.task).hint


def _check_stripped_python(text: str, relative: PurePosixPath, blocks: list[SolutionBlock],
                           strip_flags: list[bool]) -> None:
    """Fail when the stripped file is not valid Python or a ``raise`` would run at import time."""
    try:
        tree = parse_python(text, filename=str(relative))
    except SyntaxError as error:
        raise AssignError(
            f"strip: {relative}: the stripped file is not valid Python ({error.msg}, line {error.lineno}); "
            f"each solution block must wrap whole statements"
        ) from None
    function_spans = [
        (node.lineno, node.end_lineno) for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    raise_lines = _raise_line_numbers(blocks, strip_flags)
    for line, block in raise_lines:
        if not any(start < line <= end for start, end in function_spans):
            raise AssignError(
                f"strip: {relative}:{block.begin}: the solution block for task {block.task} is not inside a "
                f"function body, so its 'raise NotImplementedError' would run on import and break the whole "
                f"package; put the markers inside the function"
            )


def _raise_line_numbers(blocks: list[SolutionBlock], strip_flags: list[bool]) -> list[tuple[int, SolutionBlock]]:
    """(1-based line of the ``raise`` in the stripped text, block) for each stripped block."""
    removed = 0  # how many lines the blocks before this one took out of the file
    result = []
    for block, strip in zip(blocks, strip_flags):
        result_line = block.begin - removed
        if strip:
            result.append((result_line, block))
            removed += block.end - block.begin  # the block's lines collapse into one
        else:
            removed += block.end - block.begin + 1 - len(block.body)
    return result


def _check_folders(source: Path, out: Path) -> None:
    if not source.is_dir():
        raise AssignError(f"strip: source {source} is not a folder; "
                          "pass --source ROOT (the checkout with the solutions)")
    if out == source or out.is_relative_to(source):
        raise AssignError(f"strip: --out {out} lies inside the source tree {source}; choose a folder outside it")
    if source.is_relative_to(out):
        raise AssignError(f"strip: --out {out} contains the source tree {source}; choose another folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AssignError(f"strip: --out {out} already exists and is not an empty folder; remove it or choose another")


def assignment_readme(course: Course, assignment: int | None) -> str:
    """The ASSIGNMENT.md text: title, lessons, a table of tasks and points, how to check the work."""
    assignments = course.assignments if assignment is None else (course.assignment(assignment),)
    parts = []
    for item in assignments:
        lessons = ", ".join(item.lessons) or "-"
        parts.append(f"# Assignment {item.number}: {item.title}\n\nFollows lesson(s): {lessons}\n")
        if not item.tasks:
            parts.append("No tasks yet.\n")
            continue
        rows = ["| Task | What to write | Points | Where |", "|---|---|---|---|"]
        for task in item.tasks:
            where = ", ".join(f"`{f}`" for f in task.files) or "see the `raise NotImplementedError`"
            rows.append(f"| {task.id} | {task.title} | {format_points(task.points)} | {where} |")
        parts.append("\n".join(rows) + f"\n\nTotal: {format_points(item.max_points)} points\n")
    example = next((task.id for item in assignments for task in item.tasks), "1.1")
    parts.append(
        "## How to work on it\n\n"
        "Each task is a `raise NotImplementedError(\"task N.M: hint\")` in the package: replace it with\n"
        "your code. See your points, from the folder holding this file:\n\n"
        f"    python -m tinydl assign score             # every task: a table of points\n"
        f"    python -m tinydl assign score --task {example}  # one task\n\n"
        "and one task's tests with pytest's full output:\n\n"
        f"    python -m pytest tests -p tinydl.assign.pytest_plugin --task {example}\n\n"
        "The grader runs these public tests and hidden tests of the same tasks.\n"
    )
    return "\n".join(parts)


def _assignment_file_text(assignment: int | None) -> str:
    value = '"all"' if assignment is None else str(assignment)
    return f"# Written by `tinydl assign strip`: the assignment this tree is for.\nassignment = {value}\n"


def tree_assignment(tree: Path) -> int | None:
    """The assignment a student tree was stripped for (its assignment.toml); None when absent or "all"."""
    path = Path(tree) / ASSIGNMENT_FILE
    if not path.is_file():
        return None
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get("assignment")
    except tomllib.TOMLDecodeError as error:
        raise AssignError(f"{path}: not valid TOML ({error}); it should hold one line like 'assignment = 2'") from None
    if value == "all":
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise AssignError(f"{path}: 'assignment' must be a number or \"all\", got {value!r}")
    return value
