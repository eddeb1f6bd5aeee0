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

Trust (``grade`` and ``grade-class``; ``score`` is a student's own check of their own tree):
the student tree is hostile. Its code runs only in a sandboxed worker (sandbox.py, worker.py);
the tests, their oracles and the points are the teacher's and run in a separate trusted process
importing the teacher's tinydl (``teacher_root``, default: this checkout) with the teacher's
tests (default: the checkout's tests/ and tests/hidden/). In that process only the functions
holding the graded task's solution blocks (or its FASTER regions) are routed to the worker (proxy.py), so every other
task is the teacher's solution: one missing, wrong or hanging task never costs another its
points. The tests draw their random inputs from ``course_rng``, seeded by a secret drawn per
grading run that the worker never sees. Hidden tests run after the public ones; their output is
"passed" or "failed" and nothing more. The assignment graded comes from the teacher (the
command line or the course file), never from a file in the tree.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tinydl.assign.course import VISIBILITIES, Course, Task, format_points
from tinydl.assign.errors import AssignError
from tinydl.assign.runner import ALL_TASKS, PytestRun, run_pytest
from tinydl.assign.sandbox import Limits
from tinydl.assign.strip import task_functions
from tinydl.assign.tree import HIDDEN_TESTS, TESTS_DIR

DEFAULT_TEST_POINTS = 1.0
DEFAULT_TIMEOUT = 120.0
SEED_VARIABLE = "TINYDL_GRADING_SEED"  # the secret the trusted process seeds test inputs with
HIDDEN_OUTPUTS = {"passed": "passed", "other": "failed (hidden test: no details are shown)"}
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
    sandbox: str = "none"  # "bubblewrap", or "none" when graded with --no-sandbox (or by score)

    @property
    def score(self) -> float:
        return sum(task.score for task in self.tasks)

    @property
    def max_score(self) -> float:
        return sum(task.max_score for task in self.tasks)


@dataclass(frozen=True)
class GradingPlan:
    """What grading needs from the teacher's side, worked out once per run (or class).

    ``teacher_root``: the checkout whose tinydl the trusted process imports; ``paths``: the test
    folders (public first, then hidden); ``files``: each task's test files, public before hidden;
    ``functions``: each task's "module:qualname" functions that go to the worker."""

    teacher_root: Path
    paths: tuple[Path, ...]
    ignore: tuple[Path, ...]
    hidden: Path | None
    files: dict[str, list[Path]]
    functions: dict[str, list[str]]


def plan_grading(teacher_root: Path, course: Course, public_tests: Path | None = None,
                 hidden_tests: Path | None = None, timeout: float = DEFAULT_TIMEOUT) -> GradingPlan:
    """Collect the teacher's tests once and find each task's functions in the teacher's source."""
    teacher_root = Path(teacher_root).resolve()
    public = Path(public_tests).resolve() if public_tests is not None else teacher_root / TESTS_DIR
    if not public.is_dir():
        raise AssignError(f"grade: no tests folder at {public}; pass --tests DIR (your copy of the public tests)")
    default_hidden = teacher_root / HIDDEN_TESTS
    hidden = default_hidden if default_hidden.is_dir() else None
    if hidden_tests is not None:
        hidden = Path(hidden_tests).resolve()
    if hidden is not None and not hidden.is_dir():
        raise AssignError(f"grade: --hidden {hidden} is not a folder")
    paths = [public] + ([hidden] if hidden is not None and not hidden.is_relative_to(public) else [])
    ignore = [] if hidden == public / "hidden" else [public / "hidden"]
    # Only files that mention a task marker are collected: the rest of a big suite is not graded.
    marked = [f for folder in paths for f in sorted(folder.rglob("test*.py"))
              if not any(f.is_relative_to(i) for i in ignore)
              and "mark.task" in f.read_text(encoding="utf-8", errors="replace")]
    files = _test_files_by_task(teacher_root, marked or paths, max(timeout, DEFAULT_TIMEOUT), ignore)
    if hidden is not None:
        for task_files in files.values():
            task_files.sort(key=lambda path: path.is_relative_to(hidden))  # public files first
    return GradingPlan(teacher_root, tuple(paths), tuple(ignore), hidden, files,
                       task_functions(teacher_root, course))


def grade_tree(tree: Path, course: Course, task_ids: Sequence[str], public_tests: Path | None = None,
               hidden_tests: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
               jobs: int | None = None, teacher_root: Path | None = None, sandbox: str = "bubblewrap",
               plan: GradingPlan | None = None) -> GradeReport:
    """Grade the student tree ``tree`` on the teacher's tests of ``task_ids`` (see the module docstring).

    ``teacher_root`` (default: this checkout) supplies the tinydl the tests run with and, unless
    ``public_tests``/``hidden_tests`` are given, the tests. ``sandbox`` is "bubblewrap" or "none"
    (check it first with sandbox.require_sandbox). Each task's process is stopped after
    ``timeout`` s; up to ``jobs`` tasks run at once (default: one per CPU core). ``plan`` reuses
    the collection of an earlier call (grade_class).
    """
    tree = Path(tree).resolve()
    if not (tree / "tinydl").is_dir():
        raise AssignError(f"grade: {tree} has no tinydl/ package folder; pass the root of the tree to grade")
    if plan is None:
        plan = plan_grading(teacher_root or default_teacher_root(), course, public_tests, hidden_tests, timeout)
    tasks = [course.task(task_id) for task_id in task_ids]
    secret = str(secrets.randbits(63))
    # a call that hangs is stopped well before the task's process, so its note names the function
    limits = Limits(call_seconds=min(timeout / 2, Limits.call_seconds), cpu_seconds=int(timeout) + 5)

    def grade_task(task: Task) -> TaskGrade:
        task_paths = plan.files.get(task.id) or list(plan.paths)  # unknown: let the task's own run show why
        with tempfile.TemporaryDirectory(prefix="tinydl-task-") as private:
            config = Path(private) / "grading.json"
            config.write_text(json.dumps({
                "tree": str(tree), "functions": plan.functions.get(task.id, []), "sandboxed": sandbox != "none",
                "callbacks": [name for other, names in plan.functions.items() if other != task.id for name in names],
                "limits": limits.__dict__, "stderr": str(Path(private) / "worker-stderr.txt"),
            }), encoding="utf-8")
            # (imported here: the plugin imports pytest, and the tinydl command starts without it)
            from tinydl.assign.pytest_plugin import GRADING_CONFIG

            env = {GRADING_CONFIG: str(config), SEED_VARIABLE: secret, "TINYDL_KERNELS": "numpy"}
            run = run_pytest(plan.teacher_root, task_paths, [task.id], timeout, ignore=list(plan.ignore),
                             test_roots=list(plan.paths), extra_env=env)
        return _task_grade(task, run, plan.hidden)

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        return GradeReport(tree, tuple(pool.map(grade_task, tasks)), sandbox)


def score_tree(tree: Path, course: Course, task_ids: Sequence[str], timeout: float = DEFAULT_TIMEOUT,
               jobs: int | None = None) -> GradeReport:
    """A student's own check: the tree's public tests against the tree's own package, no sandbox.

    Nothing here is trusted (the student owns both sides); ``grade`` is what counts.
    """
    tree = Path(tree).resolve()
    public = tree / TESTS_DIR
    if not public.is_dir():
        raise AssignError(f"score: no tests folder at {public}; run it from the root of your tree")
    files = _test_files_by_task(tree, [public], timeout, [public / "hidden"])

    def score_task(task: Task) -> TaskGrade:
        run = run_pytest(tree, files.get(task.id) or [public], [task.id], timeout, ignore=[public / "hidden"],
                         test_roots=[public])
        return _task_grade(task, run, None)

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        return GradeReport(tree, tuple(pool.map(score_task, [course.task(t) for t in task_ids])))


def default_teacher_root() -> Path:
    """The checkout this tinydl is imported from (the teacher's, when the teacher runs ``grade``)."""
    return Path(__file__).resolve().parents[2]


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

    One entry per test, public ones first (hidden tests get ``hidden_visibility`` and the output
    "passed" or "failed", never a message); a task without tests gets one entry worth its course
    points. ``extra_data.sandbox`` says how the code ran.
    """
    if hidden_visibility not in VISIBILITIES:
        raise AssignError(f"grade: hidden visibility must be one of {', '.join(VISIBILITIES)}, "
                          f"got {hidden_visibility!r}")
    entries = []
    for grade in report.tasks:
        label = f"Task {grade.task.id} ({grade.task.title})"
        if not grade.tests:
            entries.append({"name": label, "score": 0.0, "max_score": float(grade.max_score),
                            "output": grade.note, "visibility": "visible"})
        for test in grade.tests:
            if test.hidden:  # never a message: it could quote the hidden test or its inputs
                output = HIDDEN_OUTPUTS["passed" if test.outcome == "passed" else "other"]
            else:
                output = "passed" if test.outcome == "passed" else (
                    f"{test.message}\n\n{test.details}" if test.details else test.message)
            entries.append({
                "name": f"{label}: {test.name}" + (" [hidden]" if test.hidden else ""),
                "score": test.score, "max_score": test.max_score, "output": output,
                "visibility": hidden_visibility if test.hidden else "visible",
            })
    results = {"score": float(report.score), "max_score": float(report.max_score), "tests": entries,
               "extra_data": {"sandbox": report.sandbox}}
    if report.sandbox == "none":
        results["output"] = "graded WITHOUT a sandbox (--no-sandbox): the submission's code ran unconfined"
    return results


def grade_class(submissions: Path, course: Course, task_ids: Sequence[str], public_tests: Path | None = None,
                hidden_tests: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
                jobs: int | None = None, teacher_root: Path | None = None,
                sandbox: str = "bubblewrap") -> list[tuple[str, GradeReport]]:
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
    plan = plan_grading(teacher_root or default_teacher_root(), course, public_tests, hidden_tests, timeout)

    def grade_student(folder: Path) -> tuple[str, GradeReport]:
        try:  # students in parallel, each one's tasks in turn: ``jobs`` processes at a time
            report = grade_tree(folder, course, task_ids, timeout=timeout, jobs=1, sandbox=sandbox, plan=plan)
        except AssignError as error:
            report = GradeReport(folder, tuple(TaskGrade(course.task(t), (), str(error)) for t in task_ids), sandbox)
        return folder.name, report

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        results = list(pool.map(grade_student, students))
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
