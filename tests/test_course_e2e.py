"""The real course end to end: verify on this tree, then strip -> grade on copies.

The solution tree scores 100%, the stripped tree 0 on the stripped tasks, a tree with exactly
one task restored scores exactly that task's points, and a planted infinite loop is timed out
(costing only its own task). Submissions are graded the teacher's way: this checkout's tinydl,
tests and hidden tests, the submission's code in the sandboxed worker. The attacks a dishonest
submission could try are in test_assign_attacks.py.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from assign_course_tree import restore_task
from conftest import REPO

from tinydl.assign.course import default_course_path, load_course
from tinydl.assign.grade import format_table, grade_tree, gradescope_results
from tinydl.assign.sandbox import sandbox_problem
from tinydl.assign.strip import strip_tree, task_functions
from tinydl.assign.verify import verify_course

COURSE = load_course(default_course_path(REPO))
ASSIGNMENT = 1
TASKS = [t.id for t in COURSE.tasks(ASSIGNMENT)]
SANDBOX = "none" if sandbox_problem() else "bubblewrap"


@pytest.fixture(scope="module")
def student_tree(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student") / "assignment1"
    strip_tree(REPO, out, COURSE, assignment=ASSIGNMENT)
    return out


def _scores(report):
    return {grade.task.id: grade.score for grade in report.tasks}


def test_verify_passes_on_this_tree():
    report = verify_course(REPO, COURSE)
    assert report.ok, report.format()


def test_solution_tree_scores_full_marks():
    report = grade_tree(REPO, COURSE, TASKS, timeout=120, sandbox=SANDBOX)
    print(format_table(report))
    assert report.score == report.max_score == sum(t.points for t in COURSE.tasks(ASSIGNMENT))
    results = gradescope_results(report)
    assert results["score"] == results["max_score"]
    assert {t["visibility"] for t in results["tests"]} == {"visible", "after_published"}


def test_stripped_tree_scores_zero_on_its_tasks(student_tree):
    assert not (student_tree / "tests" / "hidden").exists()
    report = grade_tree(student_tree, COURSE, TASKS, timeout=120, sandbox=SANDBOX)
    assert all(score == 0 for score in _scores(report).values()), format_table(report)
    assert all(" raised NotImplementedError: task 1." in t.message for g in report.tasks for t in g.tests)


def test_functions_with_a_fast_path_are_graded_in_the_student_worker():
    # the teacher's cross_entropy has a FASTER region (one fused node) that never calls _pick,
    # the task 3.2 solution: graded on the teacher's side, it let a stripped tree score 4/5
    functions = task_functions(REPO, COURSE)
    assert functions["3.2"] == ["tinydl.functional.loss:_pick", "tinydl.functional.loss:cross_entropy"]
    assert functions["1.4"] == ["tinydl.ops.reduce:_expand_grad"]  # its fast path sits inside it


def test_stripped_cross_entropy_task_scores_zero(tmp_path):
    out = tmp_path / "assignment3"
    strip_tree(REPO, out, COURSE, assignment=3)
    report = grade_tree(out, COURSE, ["3.2"], timeout=120, sandbox=SANDBOX)
    assert _scores(report) == {"3.2": 0}, format_table(report)


def _restore(tree: Path, task_id: str) -> None:
    """Put back only ``task_id``'s solution blocks in a stripped tree (as a student would)."""
    restore_task(REPO, COURSE, tree, task_id)


@pytest.mark.parametrize("task_id", ["1.1", "1.4"])
def test_one_restored_task_scores_exactly_its_points(student_tree, tmp_path, task_id):
    tree = tmp_path / "one_restored"
    shutil.copytree(student_tree, tree)
    _restore(tree, task_id)
    report = grade_tree(tree, COURSE, TASKS, timeout=120, sandbox=SANDBOX)
    expected = {t: 0 for t in TASKS}
    expected[task_id] = COURSE.task(task_id).points
    assert _scores(report) == expected, format_table(report)


def test_planted_infinite_loop_is_timed_out(tmp_path):
    tree = tmp_path / "looping"
    shutil.copytree(REPO, tree, ignore=shutil.ignore_patterns(".git", "runs", "__pycache__"))
    path = tree / "tinydl" / "ops" / "elementwise.py"
    text = path.read_text()
    marker = "        return grad / ctx." + "inputs[0]\n"  # Log.backward, task 1.3 (split: no leak)
    assert marker in text
    path.write_text(text.replace(marker, "        while True:\n            pass\n"))
    # the timeout must leave the healthy task time to finish even on a loaded machine
    report = grade_tree(tree, COURSE, ["1.2", "1.3"], timeout=60, sandbox=SANDBOX)
    scores = _scores(report)
    assert scores["1.2"] == COURSE.task("1.2").points
    (looping,) = [g for g in report.tasks if g.task.id == "1.3"]
    outcomes = {t.name: (t.outcome, t.message) for t in looping.tests}
    # each call is timed out on its own: exp's backward (no loop) still earns its test's points
    assert outcomes["test_exp_backward_is_exp"] == ("passed", "")
    assert "timed out" in outcomes["test_log_backward_is_reciprocal"][1]
    assert scores["1.3"] == 2
