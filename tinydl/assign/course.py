"""The course file: which assignments exist, what their tasks are and what each is worth.

A course file is TOML (read with the standard library's ``tomllib``)::

    [[assignment]]
    number = 1
    title = "Autograd from scratch"
    lessons = ["01", "02"]          # the lesson scripts this assignment follows

    [[assignment.task]]
    id = "1.1"                      # assignment number, a dot, the task number
    title = "Backward of exp"
    points = 3                      # must equal the sum of the task's tests' points
    hint = "d/dx exp(x) = exp(x)"   # shown in the stripped code unless the block has its own
    files = ["tinydl/ops/elementwise.py"]   # where the task's solution blocks live

Every key above is required except ``hint`` (default: the task title) and ``files``
(default: any file). Unknown keys are an error, so a typo like ``point = 3`` is caught.
An optional table sets how grading reports hidden tests on Gradescope::

    [grading]
    hidden_visibility = "after_published"   # or "hidden", "after_due_date", "visible"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tinydl.assign.errors import AssignError

PACKAGE_NAME = "tinydl"
TASK_ID_PATTERN = re.compile(r"^(?P<assignment>[0-9]+)\.(?P<task>[0-9]+)$")

_ASSIGNMENT_KEYS = {"number", "title", "lessons", "task"}
_TASK_KEYS = {"id", "title", "points", "hint", "files"}
VISIBILITIES = ("after_published", "hidden", "after_due_date", "visible")


class CourseError(AssignError):
    """The course file is missing, not valid TOML, or does not follow the format above."""


@dataclass(frozen=True)
class Task:
    """One graded task: ``id`` like "2.1", its title, points, hint and solution files."""

    id: str
    title: str
    points: float
    hint: str
    files: tuple[str, ...]

    @property
    def assignment(self) -> int:
        """The assignment number the id starts with ("2.1" -> 2)."""
        return int(self.id.split(".")[0])


@dataclass(frozen=True)
class Assignment:
    """One assignment: its number, title, the lessons it follows and its tasks in order."""

    number: int
    title: str
    lessons: tuple[str, ...]
    tasks: tuple[Task, ...]

    @property
    def max_points(self) -> float:
        """Sum of the task points."""
        return sum(task.points for task in self.tasks)


@dataclass(frozen=True)
class Course:
    """All assignments of a course, in the order of the file. ``path`` is where it was read."""

    assignments: tuple[Assignment, ...]
    path: Path | None = None
    hidden_visibility: str = "after_published"

    @property
    def task_ids(self) -> list[str]:
        """Every task id, in course order."""
        return [task.id for task in self.tasks()]

    def tasks(self, assignment: int | None = None) -> list[Task]:
        """The tasks of one assignment, or of all assignments when ``assignment`` is None."""
        if assignment is not None:
            return list(self.assignment(assignment).tasks)
        return [task for a in self.assignments for task in a.tasks]

    def task(self, task_id: str) -> Task:
        """The task with this id; an unknown id is an error listing the known ones."""
        for task in self.tasks():
            if task.id == task_id:
                return task
        known = ", ".join(self.task_ids) or "none"
        raise CourseError(f"{self._name()}: unknown task {task_id!r} (tasks in the course: {known})")

    def assignment(self, number: int) -> Assignment:
        """The assignment with this number; an unknown number is an error listing the known ones."""
        for assignment in self.assignments:
            if assignment.number == number:
                return assignment
        known = ", ".join(str(a.number) for a in self.assignments) or "none"
        raise CourseError(f"{self._name()}: no assignment {number} (assignments in the course: {known})")

    def _name(self) -> str:
        return str(self.path) if self.path is not None else "course"


def format_points(value: float) -> str:
    """Points as people write them: 3, 2.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def default_course_path(root: Path) -> Path:
    """Where a checkout (or a student tree) keeps its course file: ROOT/tinydl/assign/course.toml."""
    return Path(root) / PACKAGE_NAME / "assign" / "course.toml"


def load_course(path: Path) -> Course:
    """Read and validate a course file. Raises CourseError naming the file and the bad entry."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseError(
            f"course file {path} not found: pass --course PATH, or run from a checkout that has "
            f"{PACKAGE_NAME}/assign/course.toml"
        ) from None
    return parse_course(text, path)


def parse_course(text: str, path: Path | None = None) -> Course:
    """Validate course TOML text (see the module docstring for the format) into a Course."""
    name = str(path) if path is not None else "course.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CourseError(f"{name}: not valid TOML: {error}") from None
    unknown = set(data) - {"assignment", "grading"}
    if unknown:
        raise CourseError(f"{name}: unknown top-level key(s) {sorted(unknown)}; expected [[assignment]] tables "
                          "and an optional [grading] table")
    grading = data.get("grading", {})
    _check_keys(grading, {"hidden_visibility"}, set(), f"{name}: [grading]")
    visibility = grading.get("hidden_visibility", "after_published")
    if visibility not in VISIBILITIES:
        raise CourseError(f"{name}: [grading] hidden_visibility must be one of {', '.join(VISIBILITIES)}, "
                          f"got {visibility!r}")
    raw_assignments = data.get("assignment", [])
    if not isinstance(raw_assignments, list):
        raise CourseError(f"{name}: 'assignment' must be an array of tables written [[assignment]]")
    assignments = tuple(_parse_assignment(raw, index, name) for index, raw in enumerate(raw_assignments))
    _check_unique(assignments, name)
    return Course(assignments, Path(path) if path is not None else None, visibility)


def _parse_assignment(raw: dict, index: int, name: str) -> Assignment:
    where = f"{name}: assignment #{index + 1}"
    _check_keys(raw, _ASSIGNMENT_KEYS, {"number", "title", "lessons"}, where)
    number = raw["number"]
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise CourseError(f"{where}: 'number' must be a positive integer, got {number!r}")
    where = f"{name}: assignment {number}"
    title = _require_text(raw["title"], "title", where)
    lessons = raw["lessons"]
    if isinstance(lessons, (str, int)):
        lessons = [lessons]
    if not isinstance(lessons, list) or not all(isinstance(x, (str, int)) for x in lessons):
        raise CourseError(f"{where}: 'lessons' must be a list like [\"01\", \"07a\"], got {lessons!r}")
    lesson_ids = tuple(f"{x:02d}" if isinstance(x, int) else x for x in lessons)
    raw_tasks = raw.get("task", [])
    if not isinstance(raw_tasks, list):
        raise CourseError(f"{where}: tasks must be written as [[assignment.task]] tables")
    tasks = tuple(_parse_task(t, number, i, where) for i, t in enumerate(raw_tasks))
    return Assignment(number, title, lesson_ids, tasks)


def _parse_task(raw: dict, assignment: int, index: int, where: str) -> Task:
    where = f"{where}, task #{index + 1}"
    _check_keys(raw, _TASK_KEYS, {"id", "title", "points"}, where)
    task_id = raw["id"]
    match = TASK_ID_PATTERN.match(task_id) if isinstance(task_id, str) else None
    if match is None or int(match["assignment"]) != assignment:
        raise CourseError(
            f"{where}: task id must be a string like \"{assignment}.1\" (this assignment's number, "
            f"a dot, the task number), got {task_id!r}"
        )
    where = f"{where} ({task_id})"
    title = _require_text(raw["title"], "title", where)
    points = raw["points"]
    if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
        raise CourseError(f"{where}: 'points' must be a positive number, got {points!r}")
    hint = raw.get("hint", title)
    if not isinstance(hint, str) or "\n" in hint:
        raise CourseError(f"{where}: 'hint' must be a one-line string, got {hint!r}")
    files = raw.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise CourseError(f"{where}: 'files' must be a list of paths relative to the checkout, got {files!r}")
    return Task(task_id, title, points, hint.strip() or title, tuple(files))


def _check_keys(raw: object, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(raw, dict):
        raise CourseError(f"{where}: expected a table, got {raw!r}")
    unknown = set(raw) - allowed
    if unknown:
        raise CourseError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    missing = required - set(raw)
    if missing:
        raise CourseError(f"{where}: missing key(s) {sorted(missing)}")


def _require_text(value: object, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CourseError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value.strip()


def _check_unique(assignments: tuple[Assignment, ...], name: str) -> None:
    numbers = [a.number for a in assignments]
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        raise CourseError(f"{name}: assignment number(s) {repeated} appear more than once")
    ids = [t.id for a in assignments for t in a.tasks]
    repeated_ids = sorted({i for i in ids if ids.count(i) > 1})
    if repeated_ids:
        raise CourseError(f"{name}: task id(s) {repeated_ids} appear more than once")
