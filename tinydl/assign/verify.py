"""``tinydl assign verify``: check a course is sound before it goes to students.

The checks, each reported as ok or FAIL with what to fix:

1. markers     every solution block is well formed and names a task of the course;
2. blocks      every task has at least one block, in one of the task's ``files`` when it lists any;
3. solution    every task test (public and hidden) passes on the solution tree;
4. points      every task has a public test, every task test has a points marker and names a
               course task, and each task's test points add up to its points in the course;
5. stripped    for each assignment N: in the tree stripped for N, every public test of N's tasks
               fails (a test that still passes does not test the solution);
6. leaks       for each assignment N: no line of a stripped solution shows up anywhere in the
               tree stripped for N. Only lines of at least MIN_LEAK_CHARS characters (spaces
               collapsed) count: short lines like ``return out`` appear everywhere legitimately.
7. equivalents for each task of N: in the tree stripped for N, no other function of the package
               already is the answer. Each function of the package that takes the same number of
               positional arguments is offered in place of the task's function(s) and the task's
               public tests run again; one that makes any test pass is a leftover (a faster
               version or a reference of the same computation that was not stripped with the task).
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tinydl.assign.course import Course, format_points
from tinydl.assign.errors import AssignError
from tinydl.assign.markers import SolutionBlock
from tinydl.assign.runner import ALL_TASKS, PytestRun, run_pytest
from tinydl.assign.strip import find_all_blocks, strip_tree, task_functions
from tinydl.assign.tree import HIDDEN_TESTS, TESTS_DIR, iter_tree_files

MIN_LEAK_CHARS = 20
DEFAULT_TIMEOUT = 600.0
_FAILING = ("failed", "error")


@dataclass
class Check:
    """One check: its name, whether it passed, and one line per problem (or a summary when ok)."""

    name: str
    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.ok = False
        self.lines.append(line)


@dataclass
class VerifyReport:
    """All checks of one verify run, in order."""

    source: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def format(self) -> str:
        """The report as text: one ok/FAIL line per check, its problems indented under it."""
        out = [f"tinydl assign verify: {self.source}"]
        for check in self.checks:
            out.append(f"  {'ok  ' if check.ok else 'FAIL'}  {check.name}")
            out.extend(f"          {line}" for line in check.lines)
        failed = sum(not check.ok for check in self.checks)
        out.append("verify: all checks passed" if self.ok
                   else f"verify: FAILED ({failed} of {len(self.checks)} checks)")
        return "\n".join(out) + "\n"


def verify_course(source: Path, course: Course, timeout: float = DEFAULT_TIMEOUT) -> VerifyReport:
    """Run every check above on the solution checkout ``source``; each pytest run gets ``timeout`` s."""
    source = Path(source).resolve()
    if not (source / TESTS_DIR).is_dir():
        raise AssignError(f"verify: {source} has no {TESTS_DIR}/ folder; "
                          "pass --source ROOT (the checkout with the solutions)")
    report = VerifyReport(source)
    markers = Check("markers: solution blocks are well formed")
    report.checks.append(markers)
    try:
        blocks = find_all_blocks(source, course)
    except AssignError as error:
        markers.fail(str(error))
        return report  # the other checks need the blocks
    count = sum(len(b) for b in blocks.values())
    markers.lines.append(f"{count} block(s) in {len(blocks)} file(s)")
    report.checks.append(_check_blocks(course, blocks))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # the pytest runs are independent
        solution = pool.submit(run_pytest, source, [source / TESTS_DIR], [ALL_TASKS], timeout)
        stripped = [pool.submit(_check_stripped, source, course, a.number, timeout)
                    for a in course.assignments if a.tasks]
        report.checks.append(_check_solution(solution.result(), expect_tests=bool(course.task_ids)))
        report.checks.append(_check_points(course, solution.result(), source / HIDDEN_TESTS))
        for checks in stripped:
            report.checks.extend(checks.result())
    return report


def _check_blocks(course: Course, blocks: dict[PurePosixPath, list[SolutionBlock]]) -> Check:
    check = Check("blocks: every task has a solution block where the course says")
    tasks_seen = set()
    for relative, file_blocks in blocks.items():
        for block in file_blocks:
            tasks_seen.add(block.task)
            files = course.task(block.task).files
            if files and str(relative) not in files:
                check.fail(f"{relative}:{block.begin}: block of task {block.task} is outside "
                           f"the task's files {list(files)}")
    for task in course.tasks():
        if task.id not in tasks_seen:
            check.fail(f"task {task.id} ({task.title}) has no solution block in the source")
    return check


def _check_solution(run: PytestRun, expect_tests: bool) -> Check:
    check = Check("solution: every task test passes on the solution tree")
    if run.problem():
        check.fail(f"{run.problem()}\n{run.output}")
    for error in run.collect_errors:
        check.fail(f"could not collect {error}")
    if expect_tests and not run.collected:
        check.fail(f"no test marked with a task was collected; pytest said:\n{run.output}")
    for test in run.collected or []:
        outcome = run.outcomes.get(test.nodeid)
        if outcome is None or outcome.outcome != "passed":
            state = f"{outcome.outcome}: {outcome.message}" if outcome else "no result"
            check.fail(f"{test.nodeid} (task {test.task}) {state}")
    if check.ok:
        check.lines.append(f"{len(run.collected or [])} task test(s) passed")
    return check


def _check_points(course: Course, run: PytestRun, hidden: Path) -> Check:
    check = Check("points: each task's test points add up to its course points")
    points: dict[str, float] = defaultdict(float)
    public_tasks = set()
    known = set(course.task_ids)
    for test in run.collected or []:
        if test.task not in known:
            check.fail(f"{test.nodeid}: task marker {test.task!r} is not a task of the course")
            continue
        if test.points is None:
            check.fail(f"{test.nodeid}: task {test.task} test has no @pytest.mark.points(k)")
        points[test.task] += test.points or 0
        if not test.path.is_relative_to(hidden):
            public_tasks.add(test.task)
    for task in course.tasks():
        if task.id not in public_tasks:
            check.fail(f"task {task.id} ({task.title}) has no public test (tests outside {HIDDEN_TESTS}/)")
        if points[task.id] != task.points:
            check.fail(f"task {task.id}: its tests are worth {format_points(points[task.id])} point(s), "
                       f"the course says {format_points(task.points)}")
    return check


def _check_stripped(source: Path, course: Course, number: int, timeout: float) -> list[Check]:
    fails = Check(f"stripped {number}: every public test of assignment {number} fails without its solutions")
    leaks = Check(f"leaks {number}: no solution line of assignment {number} is left in its student tree")
    equivalents = Check(f"equivalents {number}: no other function of its student tree passes a task's tests")
    with tempfile.TemporaryDirectory(prefix="tinydl-verify-") as scratch:
        tree = Path(scratch) / f"assignment-{number}"
        try:
            result = strip_tree(source, tree, course, number)
        except AssignError as error:
            fails.fail(str(error))
            return [fails]
        task_ids = [task.id for task in course.tasks(number)]
        run = run_pytest(tree, [tree / TESTS_DIR], task_ids, timeout)
        _check_all_fail(fails, run, task_ids)
        for line in find_leaks(tree, result.stripped):
            leaks.fail(line)
        functions = task_functions(source, course)
        for task_id in task_ids:
            for line in find_equivalents(tree, task_id, functions.get(task_id, []), timeout):
                equivalents.fail(line)
    return [fails, leaks, equivalents]


def find_equivalents(tree: Path, task_id: str, functions: list[str], timeout: float) -> list[str]:
    """One line per function of ``tree`` that passes a public test of ``task_id`` in its place."""
    if not functions:
        return []
    run = run_pytest(tree, [tree / TESTS_DIR], [task_id], timeout,
                     extra_args=["--offer-equivalents", ",".join(functions)])
    if run.equivalents is None:
        return [f"task {task_id}: the equivalent search did not finish: {run.problem() or run.output[-500:]}"]
    return [f"task {task_id}: {found['candidate']} in place of {found['function']} passes {found['test']}; "
            f"strip it with the task (wrap it in the task's solution block) or remove it"
            for found in run.equivalents]


def _check_all_fail(check: Check, run: PytestRun, task_ids: list[str]) -> None:
    if run.problem():
        check.fail(f"{run.problem()}\n{run.output}")
    tasks_tested = {test.task for test in run.collected or []}
    for task_id in task_ids:
        if task_id not in tasks_tested:
            check.fail(f"task {task_id}: no public test found in the stripped tree")
    for test in run.collected or []:
        outcome = run.outcomes.get(test.nodeid)
        if outcome is not None and outcome.outcome not in _FAILING:
            check.fail(f"{test.nodeid} (task {test.task}) {outcome.outcome} without the solution: "
                       f"make it exercise the code the task asks for")


def find_leaks(tree: Path, stripped: tuple[SolutionBlock, ...]) -> list[str]:
    """One line per solution line (of the ``stripped`` blocks) found in a text file of ``tree``."""
    needles: dict[str, SolutionBlock] = {}
    for block in stripped:
        for line in block.body:
            normalized = " ".join(line.split())
            if len(normalized) >= MIN_LEAK_CHARS:
                needles.setdefault(normalized, block)
    found = []
    for relative in iter_tree_files(tree):
        try:
            lines = [" ".join(line.split()) for line in (tree / relative).read_text(encoding="utf-8").splitlines()]
        except (UnicodeDecodeError, OSError):
            continue  # binary files cannot leak a line of code
        text = "\n".join(lines)
        for needle, block in needles.items():
            if needle in text:
                number = next(i for i, line in enumerate(lines, start=1) if needle in line)
                found.append(f"{relative}:{number}: holds {needle!r} from the task {block.task} solution "
                             f"({block.path}:{block.begin})")
    return found
