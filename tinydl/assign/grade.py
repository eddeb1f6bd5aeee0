"""Grade a tree: run each task's tests in its own process and add up the points.

``tinydl assign grade DIR`` (teacher: public and hidden tests, Gradescope JSON),
``tinydl assign score [DIR]`` (student: public tests only) and
``tinydl assign grade-class SUBMISSIONS --csv FILE`` (one row per student folder) all use
``grade_tree``. A test earns its ``@pytest.mark.points(k)`` when it passes (k = 1 without the
marker); a task is worth the sum over its tests. Tests run per task in a separate process with a
time limit (runner.py): a task that hangs or crashes the interpreter scores what its tests earned
before that, and never costs the other tasks anything.

A first process only collects, to learn which test files hold which task's tests; each task's
process then loads only those files, and the tasks run in parallel (one per CPU core unless told
otherwise). A task whose tests cannot even be collected scores 0 out of its points in the course
file, with the reason.

Trust: a submission's tests and course file are the student's to edit, so grade submissions with
your own copies (``--tests``, ``--hidden``, ``--course``). The student's code runs inside the test
process and could, in principle, tamper with it; this is a grader for a course, not a sandbox.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tinydl.assign.course import Course, Task, format_points
from tinydl.assign.errors import AssignError
from tinydl.assign.runner import ALL_TASKS, PytestRun, run_pytest
from tinydl.assign.tree import TESTS_DIR

DEFAULT_TEST_POINTS = 1.0
DEFAULT_TIMEOUT = 120.0
VISIBILITIES = ("after_published", "hidden", "after_due_date", "visible")
_MESSAGE_WIDTH = 70  # characters of the first failure line shown in the table


@dataclass(frozen=True)
class GradedTest:
    """One test's result: its task, name, whether it is hidden, points earned of ``max_score``."""

    task: str
    name: str
    hidden: bool
    score: float
    max_score: float
    outcome: str
    message: str
    details: str


@dataclass(frozen=True)
class TaskGrade:
    """One task's result: its tests, and a note when its process failed or found no tests."""

    task: Task
    tests: tuple[GradedTest, ...]
    note: str = ""

    @property
    def score(self) -> float:
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        """Sum of the tests' points; the course's points for the task when no test was found."""
        return sum(test.max_score for test in self.tests) if self.tests else self.task.points

    @property
    def passed(self) -> int:
        """How many of the task's tests passed."""
        return sum(test.outcome == "passed" for test in self.tests)

    @property
    def first_failure(self) -> str:
        """The first failed test's message, else the task's note, else ""."""
        for test in self.tests:
            if test.outcome != "passed":
                return f"{test.name}: {test.message}"
        return self.note


@dataclass(frozen=True)
class GradeReport:
    """The grade of one tree: one TaskGrade per task, in course order."""

    tree: Path
    tasks: tuple[TaskGrade, ...]

    @property
    def score(self) -> float:
        return sum(task.score for task in self.tasks)

    @property
    def max_score(self) -> float:
        return sum(task.max_score for task in self.tasks)


def grade_tree(tree: Path, course: Course, task_ids: Sequence[str], public_tests: Path | None = None,
               hidden_tests: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
               jobs: int | None = None) -> GradeReport:
    """Grade the package in ``tree`` on the tests of ``task_ids``.

    ``public_tests`` defaults to ``tree/tests`` (its ``hidden`` subfolder is skipped unless it is
    ``hidden_tests``); ``hidden_tests`` adds tests whose results are marked hidden. Each run of
    pytest is stopped after ``timeout`` seconds; up to ``jobs`` tasks run at once (default: one
    per CPU core).
    """
    tree = Path(tree).resolve()
    if not tree.is_dir():
        raise AssignError(f"grade: {tree} is not a folder; pass the root of the tree to grade")
    public = Path(public_tests).resolve() if public_tests is not None else tree / TESTS_DIR
    if not public.is_dir():
        raise AssignError(f"grade: no tests folder at {public}; pass --tests DIR (your copy of the public tests)")
    hidden = Path(hidden_tests).resolve() if hidden_tests is not None else None
    if hidden is not None and not hidden.is_dir():
        raise AssignError(f"grade: --hidden {hidden} is not a folder")
    tasks = [course.task(task_id) for task_id in task_ids]
    paths = [public] + ([hidden] if hidden is not None and not hidden.is_relative_to(public) else [])
    ignore = [] if hidden == public / "hidden" else [public / "hidden"]
    files_by_task = _test_files_by_task(tree, paths, timeout, ignore)

    def grade_task(task: Task) -> TaskGrade:
        task_paths = files_by_task.get(task.id) or paths  # unknown: let the task's own run show why
        run = run_pytest(tree, task_paths, [task.id], timeout, ignore=ignore, test_roots=paths)
        return _task_grade(task, run, hidden)

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        return GradeReport(tree, tuple(pool.map(grade_task, tasks)))


def _test_files_by_task(tree: Path, paths: list[Path], timeout: float, ignore: list[Path]) -> dict[str, list[Path]]:
    run = run_pytest(tree, paths, [ALL_TASKS], timeout, collect_only=True, ignore=ignore)
    files: dict[str, list[Path]] = {}
    for test in run.collected or []:
        task_files = files.setdefault(test.task, [])
        if test.path not in task_files:
            task_files.append(test.path)
    return files


def _task_grade(task: Task, run: PytestRun, hidden: Path | None) -> TaskGrade:
    problem = run.problem()
    tests = [t for t in run.collected or [] if t.task == task.id]
    if not tests:
        reasons = ([problem] if problem else []) + run.collect_errors
        if not reasons:
            reasons.append(_last_error_line(run.output) or f'no test marked @pytest.mark.task("{task.id}") was found')
        return TaskGrade(task, (), "; ".join(reasons))
    grades = []
    for test in tests:
        points = DEFAULT_TEST_POINTS if test.points is None else float(test.points)
        outcome = run.outcomes.get(test.nodeid)
        if outcome is not None:
            state, message, details = outcome.outcome, outcome.message, outcome.details
        elif test.nodeid in run.started:
            state = "timed out" if run.timed_out else "crashed"
            message, details = problem or "no result recorded", run.output
        else:
            state, message, details = "not run", f"not run: {problem or 'no result recorded'}", ""
        is_hidden = hidden is not None and test.path.is_relative_to(hidden)
        earned = points if state == "passed" else 0.0
        grades.append(GradedTest(task.id, test.name, is_hidden, earned, points, state, message, details))
    grades.sort(key=lambda graded: graded.hidden)  # public tests first, each group in collection order
    return TaskGrade(task, tuple(grades), problem or "")


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith(("ERROR", "E "))]
    return lines[-1] if lines else ""


def format_table(report: GradeReport) -> str:
    """A text table: task, title, points, tests passed, first failure; then the total."""
    rows = [("Task", "Title", "Points", "Passed", "First failure")]
    for grade in report.tasks:
        failure = grade.first_failure
        if len(failure) > _MESSAGE_WIDTH:
            failure = failure[:_MESSAGE_WIDTH - 3] + "..."
        rows.append((grade.task.id, grade.task.title, f"{format_points(grade.score)}/{format_points(grade.max_score)}",
                     f"{grade.passed}/{len(grade.tests)}", failure))
    rows.append(("Total", "", f"{format_points(report.score)}/{format_points(report.max_score)}", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[4]]).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def format_csv(report: GradeReport) -> str:
    """The table as CSV: task, title, score, max_score, passed, tests, first_failure."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "title", "score", "max_score", "passed", "tests", "first_failure"])
    for grade in report.tasks:
        writer.writerow([grade.task.id, grade.task.title, format_points(grade.score), format_points(grade.max_score),
                         grade.passed, len(grade.tests), grade.first_failure])
    return buffer.getvalue()


def gradescope_results(report: GradeReport, hidden_visibility: str = "after_published") -> dict:
    """The results.json Gradescope reads: {"score", "max_score", "tests": [{"name", "score", ...}]}.

    One entry per test (hidden tests get ``hidden_visibility`` and only their first failure line,
    never their traceback); a task without tests gets one entry worth its course points.
    """
    if hidden_visibility not in VISIBILITIES:
        raise AssignError(f"grade: hidden visibility must be one of {', '.join(VISIBILITIES)}, got {hidden_visibility!r}")
    entries = []
    for grade in report.tasks:
        label = f"Task {grade.task.id} ({grade.task.title})"
        if not grade.tests:
            entries.append({"name": label, "score": 0.0, "max_score": float(grade.max_score),
                            "output": grade.note, "visibility": "visible"})
        for test in grade.tests:
            output = test.message if test.hidden or not test.details else f"{test.message}\n\n{test.details}"
            entries.append({
                "name": f"{label}: {test.name}" + (" [hidden]" if test.hidden else ""),
                "score": test.score, "max_score": test.max_score,
                "output": "passed" if test.outcome == "passed" else output,
                "visibility": hidden_visibility if test.hidden else "visible",
            })
    return {"score": float(report.score), "max_score": float(report.max_score), "tests": entries}


def grade_class(submissions: Path, course: Course, task_ids: Sequence[str], public_tests: Path | None = None,
                hidden_tests: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
                jobs: int | None = None) -> list[tuple[str, GradeReport]]:
    """Grade every subfolder of ``submissions`` (one per student, named after them), sorted by name.

    A submission that cannot be graded at all (say, no tests folder) scores 0 with the reason;
    it never stops the others.
    """
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise AssignError(f"grade-class: {submissions} is not a folder of submissions (one subfolder per student)")
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise AssignError(f"grade-class: {submissions} has no subfolders; put each student's tree in its own folder")
    results = []
    for folder in students:
        try:
            report = grade_tree(folder, course, task_ids, public_tests, hidden_tests, timeout, jobs)
        except AssignError as error:
            report = GradeReport(folder, tuple(TaskGrade(course.task(t), (), str(error)) for t in task_ids))
        results.append((folder.name, report))
    return results


def class_csv(results: list[tuple[str, GradeReport]], task_ids: Sequence[str]) -> str:
    """CSV text: a header ``student,<task ids>,total`` and one row of points per student."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *task_ids, "total"])
    for student, report in results:
        by_id = {grade.task.id: grade.score for grade in report.tasks}
        writer.writerow([student, *(format_points(by_id[t]) for t in task_ids), format_points(report.score)])
    return buffer.getvalue()
