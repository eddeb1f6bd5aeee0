"""Tests of the assignment tools (tinydl/assign/) on a synthetic course checkout.

The checkout (tests/assign_course_tree.py) has a package with 2 assignments x 2 tasks. Grading
runs real pytest processes (about half a second each), so trees are built once per module and
each grading test runs as few of them as it can.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from assign_course_tree import BEGIN, END, TASK_POINTS, make_course_tree, replace_in, write_tree

from tinydl.assign.course import CourseError, default_course_path, load_course, parse_course
from tinydl.assign.errors import AssignError
from tinydl.assign.grade import (
    GradedTest,
    GradeReport,
    TaskGrade,
    format_csv,
    format_table,
    grade_tree,
    gradescope_results,
)
from tinydl.assign.markers import MarkerError, parse_solution_blocks
from tinydl.assign.pytest_plugin import first_failure_line
from tinydl.assign.runner import run_pytest
from tinydl.assign.sandbox import sandbox_problem
from tinydl.assign.strip import strip_tree, tree_assignment
from tinydl.assign.verify import find_leaks, verify_course

TIMEOUT = 60.0  # generous: only the planted endless loop should ever reach a limit
SANDBOX = "none" if sandbox_problem() else "bubblewrap"  # the attack suite requires the real one


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The solution checkout. Read-only: tests that change it work on a copy."""
    return make_course_tree(tmp_path_factory.mktemp("course") / "source")


@pytest.fixture(scope="module")
def course(source):
    return load_course(default_course_path(source))


@pytest.fixture(scope="module")
def tree_1(source, course, tmp_path_factory) -> Path:
    """The student tree for assignment 1."""
    out = tmp_path_factory.mktemp("strip") / "assignment-1"
    strip_tree(source, out, course, 1)
    return out


@pytest.fixture(scope="module")
def tree_all(source, course, tmp_path_factory) -> Path:
    """A student tree with every solution stripped."""
    out = tmp_path_factory.mktemp("strip") / "all"
    strip_tree(source, out, course, None)
    return out


def copy_tree(tree: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tree, tmp_path / "copy"))


def scores(report: GradeReport) -> dict[str, float]:
    return {grade.task.id: grade.score for grade in report.tasks}


# ------------------------------------------------------------------------------------------------
# course file


def test_course_file_is_read_with_defaults(course):
    assert [a.number for a in course.assignments] == [1, 2]
    assert course.task_ids == ["1.1", "1.2", "2.1", "2.2"]
    assert {t.id: t.points for t in course.tasks()} == TASK_POINTS
    assert course.task("1.2").hint == "multiply each entry by k"
    assert course.task("1.1").hint == "Addition"  # no hint in the file: the title
    assert course.task("1.1").files == ("tinydl/ops.py",)
    assert course.assignment(2).lessons == ("01", "02")
    assert course.assignment(1).max_points == 6


def test_bundled_course_has_at_least_four_assignments_and_twelve_tasks():
    course = load_course(Path(__file__).resolve().parents[1] / "tinydl" / "assign" / "course.toml")
    numbers = [a.number for a in course.assignments]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 4
    assert len(course.task_ids) >= 12
    assert all(a.lessons for a in course.assignments)


@pytest.mark.parametrize("text, message", [
    ('[[assignment]]\nnumber = 1\ntitle = "A"\nlessons = []\n'
     '[[assignment.task]]\nid = "2.1"\ntitle = "T"\npoints = 1\n',
     r"assignment 1, task #1: task id must be a string like \"1.1\".*got '2.1'"),
    ('[[assignment]]\nnumber = 1\ntitle = "A"\nlessons = []\n'
     '[[assignment.task]]\nid = "1.1"\ntitle = "T"\npoint = 1\n',
     r"task #1: unknown key\(s\) \['point'\]"),
    ('[[assignment]]\nnumber = 1\ntitle = "A"\nlessons = []\n'
     '[[assignment.task]]\nid = "1.1"\ntitle = "T"\npoints = 0\n',
     r"\(1.1\): 'points' must be a positive number, got 0"),
    ('[[assignment]]\nnumber = 1\nlessons = []\n', r"assignment #1: missing key\(s\) \['title'\]"),
    ('[[assignment]]\nnumber = 1\ntitle = "A"\nlessons = []\n[[assignment]]\nnumber = 1\ntitle = "B"\nlessons = []\n',
     r"assignment number\(s\) \[1\] appear more than once"),
    ("[[assignment]\n", r"course.toml: not valid TOML"),
])
def test_course_errors_name_the_entry(text, message):
    with pytest.raises(CourseError, match=message):
        parse_course(text)


def test_unknown_task_and_assignment_list_the_known_ones(course):
    with pytest.raises(CourseError, match=r"unknown task '3.1' \(tasks in the course: 1.1, 1.2, 2.1, 2.2\)"):
        course.task("3.1")
    with pytest.raises(CourseError, match=r"no assignment 7 \(assignments in the course: 1, 2\)"):
        course.assignment(7)


def test_missing_course_file_says_what_to_pass(tmp_path):
    with pytest.raises(CourseError, match=r"course file .*course.toml not found: pass --course PATH"):
        load_course(tmp_path / "course.toml")


# ------------------------------------------------------------------------------------------------
# markers


def test_solution_blocks_are_parsed_with_hint_indent_and_body():
    text = (
        "def f(x):\n"
        f"    {BEGIN} 1.1\n"
        "    # HINT: double it\n"
        "    y = 2 * x\n"
        "    return y\n"
        f"    {END}\n"
        "\n"
        "def g(x):\n"
        f"  {BEGIN} 2.1\n"
        "  return x\n"
        f"  {END}\n"
    )
    first, second = parse_solution_blocks(text, Path("f.py"), {"1.1", "2.1"})
    assert (first.task, first.begin, first.end, first.indent, first.hint) == ("1.1", 2, 6, "    ", "double it")
    assert first.body == ("    y = 2 * x", "    return y")
    assert (second.task, second.begin, second.end, second.indent, second.hint) == ("2.1", 9, 11, "  ", None)
    assert second.body == ("  return x",) and second.assignment == 2


@pytest.mark.parametrize("lines, message", [
    ([f"{BEGIN} 1.1", f"{BEGIN} 1.2", "x = 1", END, END],
     r"f.py:2: '### BEGIN SOLUTION task 1.2' inside the block for task 1.1 opened at line 1; blocks cannot nest"),
    (["def f():", f"    {BEGIN} 1.1", "    return 1"], r"f.py:2: '### BEGIN SOLUTION task 1.1' is never closed"),
    (["x = 1", END], r"f.py:2: '### END SOLUTION' without a matching '### BEGIN SOLUTION task N.M'"),
    ([f"{BEGIN} 9.9", "x = 1", END], r"f.py:1: unknown task 9.9 in a solution marker; the course lists: 1.1, 1.2"),
    (["### BEGIN SOLUTION", "x = 1", END], r"f.py:1: malformed solution marker '### BEGIN SOLUTION'; write"),
    (["x = 1", "##  end solution"], r"f.py:2: malformed solution marker '##  end solution'"),
    (["def f():", f"    {BEGIN} 1.1", "", f"    {END}"], r"f.py:2: the solution block for task 1.1 is empty"),
    (["def f():", f"    {BEGIN} 1.1", "    x = 1", "  y = 2", f"    {END}"],
     r"f.py:4: line of the task 1.1 solution is indented less than its '### BEGIN SOLUTION' marker at line 2"),
    ([f"{BEGIN} 1.1", "# HINT:   ", "x = 1", END], r"f.py:2: empty '# HINT:' line"),
])
def test_marker_mistakes_are_one_error_with_file_and_line(lines, message):
    with pytest.raises(MarkerError, match=message):
        parse_solution_blocks("\n".join(lines) + "\n", Path("f.py"), {"1.1", "1.2"})


# ------------------------------------------------------------------------------------------------
# strip


def test_strip_replaces_this_assignment_and_keeps_the_others(tree_1):
    assert (tree_1 / "tinydl" / "ops.py").read_text() == (
        '"""Two small operations."""\n'
        "\n\n"
        "def add(a, b):\n"
        '    """a + b for numbers."""\n'
        '    raise NotImplementedError("task 1.1: use the + operator")\n'
        "\n\n"
        "def scale(xs, k):\n"
        '    """Each entry of xs times k."""\n'
        "    out = []\n"
        "    for x in xs:\n"
        '        raise NotImplementedError("task 1.2: multiply each entry by k")\n'
        "    return out\n"
    )
    layers = (tree_1 / "tinydl" / "layers.py").read_text()
    assert "SOLUTION" not in layers
    assert "    return [x if x > 0 else 0 for x in xs]\n" in layers
    assert (
        "    def total(self, xs):\n"
        "        running_sum_of_entries = 0\n"
        "        for x in xs:\n"
        "            running_sum_of_entries = add(running_sum_of_entries, x)\n"
        "        return running_sum_of_entries\n"
    ) in layers


def test_strip_copies_the_public_tree_only(tree_1):
    files = sorted(str(p.relative_to(tree_1)) for p in tree_1.rglob("*") if p.is_file())
    assert files == [
        "ASSIGNMENT.md", "README.md", "assignment.toml", "lessons/01_adding.py", "setup.cfg",
        "tests/conftest.py", "tests/expected.py", "tests/test_layers.py", "tests/test_ops.py",
        "tinydl/__init__.py", "tinydl/assign/course.toml", "tinydl/layers.py", "tinydl/ops.py",
    ]
    assert tree_assignment(tree_1) == 1


def test_assignment_readme_lists_tasks_points_and_how_to_score(tree_1):
    readme = (tree_1 / "ASSIGNMENT.md").read_text()
    assert readme.startswith("# Assignment 1: Operations\n\nFollows lesson(s): 01\n")
    assert "| 1.1 | Addition | 3 | `tinydl/ops.py` |" in readme
    assert "| 1.2 | Scaling | 3 |" in readme
    assert "Total: 6 points" in readme
    assert "python -m tinydl assign score" in readme
    assert "Layers" not in readme  # only this assignment


def test_strip_all_uses_course_hints_and_titles(tree_all):
    layers = (tree_all / "tinydl" / "layers.py").read_text()
    assert '    raise NotImplementedError("task 2.1: ReLU")\n' in layers  # no hint anywhere: the title
    assert '        raise NotImplementedError("task 2.2: Summing")\n' in layers
    assert "running_sum_of_entries" not in layers
    assert tree_assignment(tree_all) is None


def test_strip_later_also_strips_later_assignments(source, course, tmp_path):
    strip_tree(source, tmp_path / "out", course, 1, strip_later=True)
    layers = (tmp_path / "out" / "tinydl" / "layers.py").read_text()
    assert '    raise NotImplementedError("task 2.1: ReLU")\n' in layers


def test_strip_keeps_earlier_assignments(source, course, tmp_path):
    result = strip_tree(source, tmp_path / "out", course, 2)
    ops = (tmp_path / "out" / "tinydl" / "ops.py").read_text()
    assert "    return a + b\n" in ops and "        out.append(x * k)\n" in ops and "raise" not in ops
    assert sorted(b.task for b in result.stripped) == ["2.1", "2.2"]
    assert sorted(b.task for b in result.kept) == ["1.1", "1.2"]


def test_strip_refuses_unsafe_output_folders(source, course, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(AssignError, match=r"--out .*full already exists and is not an empty folder"):
        strip_tree(source, tmp_path / "full", course, 1)
    with pytest.raises(AssignError, match=r"--out .* lies inside the source tree"):
        strip_tree(source, source / "student", course, 1)
    with pytest.raises(CourseError, match=r"no assignment 3 \(assignments in the course: 1, 2\)"):
        strip_tree(source, tmp_path / "new", course, 3)
    assert not (tmp_path / "new").exists()


def test_strip_rejects_a_block_outside_any_function_and_writes_nothing(source, course, tmp_path):
    broken = copy_tree(source, tmp_path)
    with open(broken / "tinydl" / "ops.py", "a") as file:
        file.write(f"\n{BEGIN} 1.2\nSCALE = 2\n{END}\n")
    with pytest.raises(AssignError,
                       match=r"tinydl/ops.py:21: the solution block for task 1.2 is not inside a function"):
        strip_tree(broken, tmp_path / "out", course, 1)
    assert list(tmp_path.iterdir()) == [broken]  # no output, no staging folder left behind


def test_strip_reports_marker_errors_with_the_file(source, course, tmp_path):
    broken = copy_tree(source, tmp_path)
    replace_in(broken / "tinydl" / "layers.py", f"{BEGIN} 2.1", f"{BEGIN} 2.7")
    with pytest.raises(MarkerError, match=r"tinydl/layers.py:8: unknown task 2.7"):
        strip_tree(broken, tmp_path / "out", course, 1)


# ------------------------------------------------------------------------------------------------
# verify


def test_verify_passes_on_a_sound_course(source, course):
    report = verify_course(source, course, TIMEOUT)
    assert report.ok, report.format()
    assert [check.name.split(":")[0] for check in report.checks] == [
        "markers", "blocks", "solution", "points", "stripped 1", "leaks 1", "equivalents 1",
        "stripped 2", "leaks 2", "equivalents 2"]
    assert report.format().endswith("verify: all checks passed\n")


def test_verify_catches_weak_tests_leaks_and_wrong_points(source, course, tmp_path):
    broken = copy_tree(source, tmp_path)
    # 2.2's test no longer calls the code it grades, so it passes without the solution.
    replace_in(broken / "tests" / "test_layers.py", "assert Summer().total(numbers) == 6", "assert sum(numbers) == 6")
    # A solution line of 2.2 quoted in a lesson.
    replace_in(broken / "lessons" / "01_adding.py", "import argparse",
               "import argparse  # running_sum_of_entries = add(running_sum_of_entries, x)")
    # The course promises more points for 2.1 than its tests give.
    replace_in(default_course_path(broken), 'title = "ReLU"\npoints = 2', 'title = "ReLU"\npoints = 5')
    report = verify_course(broken, load_course(default_course_path(broken)), TIMEOUT)
    failed = {check.name.split(":")[0]: check.lines for check in report.checks if not check.ok}
    assert sorted(failed) == ["leaks 2", "points", "stripped 2"]
    assert failed["stripped 2"] == [
        "tests/test_layers.py::test_total (task 2.2) passed without the solution: "
        "make it exercise the code the task asks for"]
    assert failed["points"] == ["task 2.1: its tests are worth 2 point(s), the course says 5"]
    assert failed["leaks 2"] == [
        "lessons/01_adding.py:7: holds 'running_sum_of_entries = add(running_sum_of_entries, x)' "
        "from the task 2.2 solution (tinydl/layers.py:17)"]
    assert "verify: FAILED (3 of 10 checks)" in report.format()


LEFTOVER = '\n\ndef plus(a, b):\n    """a + b: the answer of task 1.1, left in the package."""\n    return a + b\n'


def test_verify_finds_a_planted_leftover_equivalent(source, tmp_path):
    planted = copy_tree(source, tmp_path)
    with open(planted / "tinydl" / "ops.py", "a") as file:
        file.write(LEFTOVER)
    course = load_course(default_course_path(planted))
    report = verify_course(planted, course, TIMEOUT)
    failed = {check.name.split(":")[0]: check.lines for check in report.checks if not check.ok}
    assert failed == {"equivalents 1": [
        "task 1.1: tinydl.ops:plus in place of tinydl.ops:add passes tests/test_ops.py::test_add_integers; "
        "strip it with the task (wrap it in the task's solution block) or remove it"]}
    # the same function in a FASTER region of task 1.1 leaves the student tree with the task
    text = (planted / "tinydl" / "ops.py").read_text().replace(LEFTOVER, "")
    (planted / "tinydl" / "ops.py").write_text(text + "\n### BEGIN FASTER task 1.1" + LEFTOVER + "### END FASTER\n")
    strip_tree(planted, tmp_path / "student", course, 1)
    assert "def plus" not in (tmp_path / "student" / "tinydl" / "ops.py").read_text()
    assert verify_course(planted, course, TIMEOUT).ok


def test_verify_stops_at_a_marker_error(source, course, tmp_path):
    broken = copy_tree(source, tmp_path)
    replace_in(broken / "tinydl" / "ops.py", f"        {END}\n", "")
    report = verify_course(broken, course, TIMEOUT)
    assert not report.ok and len(report.checks) == 1
    assert report.checks[0].lines == [
        "tinydl/ops.py:16: '### BEGIN SOLUTION task 1.2' is never closed; add '### END SOLUTION' after the solution"]


def test_find_leaks_ignores_short_lines(tmp_path):
    block_text = f"def f(x):\n    {BEGIN} 1.1\n    return x\n    total_of_all_values = sum(x)\n    {END}\n"
    (block,) = parse_solution_blocks(block_text, Path("src.py"))
    write_tree(tmp_path, {"a.py": "return x\n", "b.txt": "see:   total_of_all_values =   sum(x) here\n"})
    assert find_leaks(tmp_path, (block,)) == [
        "b.txt:1: holds 'total_of_all_values = sum(x)' from the task 1.1 solution (src.py:2)"]


# ------------------------------------------------------------------------------------------------
# grade


def grade(tree: Path, source: Path, course, task_ids, timeout: float = TIMEOUT) -> GradeReport:
    """Grade ``tree`` as a submission, with ``source`` as the teacher's checkout (tests, hidden tests)."""
    return grade_tree(tree, course, task_ids, timeout=timeout, teacher_root=source, sandbox=SANDBOX)


def test_grade_gives_the_solution_full_marks_and_gradescope_json(source, course):
    report = grade(source, source, course, course.task_ids)
    assert scores(report) == TASK_POINTS
    results = gradescope_results(report)
    assert (results["score"], results["max_score"]) == (10.0, 10.0)
    assert set(results) == {"score", "max_score", "tests", "extra_data"}
    assert results["extra_data"] == {"sandbox": SANDBOX}
    names = [test["name"] for test in results["tests"]]
    assert names == [
        "Task 1.1 (Addition): test_add_integers", "Task 1.1 (Addition): test_add_negative",
        "Task 1.1 (Addition): test_add_floats [hidden]", "Task 1.2 (Scaling): test_scale",
        "Task 2.1 (ReLU): test_relu", "Task 2.2 (Summing): test_total",
    ]
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
        assert test["score"] == test["max_score"] and test["output"] == "passed"
        assert test["visibility"] == ("after_published" if "[hidden]" in test["name"] else "visible")
    json.dumps(results)  # serialisable as is


def test_grade_stripped_tree_scores_zero_on_stripped_tasks_only(tree_1, course, source):
    report = grade(tree_1, source, course, course.task_ids)
    # 2.2 builds on ops.add (task 1.1, stripped): graded independently, it runs the teacher's add.
    assert scores(report) == {"1.1": 0, "1.2": 0, "2.1": 2, "2.2": 2}
    (add,) = [t for t in report.tasks if t.task.id == "1.1"]
    message = "your tinydl.ops.add raised NotImplementedError: task 1.1: use the + operator"
    assert [t.message for t in add.tests] == [message] * 3
    hidden = [t for t in gradescope_results(report, "hidden")["tests"] if "[hidden]" in t["name"]]
    assert hidden == [{"name": "Task 1.1 (Addition): test_add_floats [hidden]", "score": 0.0, "max_score": 1.0,
                       "output": "failed (hidden test: no details are shown)", "visibility": "hidden"}]


def test_grade_one_restored_task_scores_exactly_its_points(tree_all, course, source, tmp_path):
    tree = copy_tree(tree_all, tmp_path)
    replace_in(tree / "tinydl" / "ops.py", 'raise NotImplementedError("task 1.2: multiply each entry by k")',
               "out.append(x * k)")
    report = grade(tree, source, course, course.task_ids)
    assert scores(report) == {"1.1": 0, "1.2": 3, "2.1": 0, "2.2": 0}
    assert (report.score, report.max_score) == (3, sum(TASK_POINTS.values()))


def test_hangs_and_crashes_cost_only_their_own_task(source, course, tmp_path):
    tree = copy_tree(source, tmp_path)
    replace_in(tree / "tinydl" / "ops.py", "out.append(x * k)", "while True:\n            pass")
    replace_in(tree / "tinydl" / "layers.py", "return [x if x > 0 else 0 for x in xs]", "import os; os._exit(1)")
    replace_in(tree / "tinydl" / "layers.py", "running_sum_of_entries = 0",
               "import ctypes; ctypes.string_at(0)  # segfault")
    report = grade(tree, source, course, course.task_ids, timeout=10)
    assert scores(report) == {"1.1": 3, "1.2": 0, "2.1": 0, "2.2": 0}
    notes = {grade.task.id: grade.tests[0].message for grade in report.tasks}
    assert notes["1.2"].startswith("tinydl.ops:scale: timed out: the call took longer than 5 s")
    assert notes["2.1"].startswith("tinydl.layers:relu: the submitted code ended the worker (exit status 1)")
    # a segfault: -11 from a plain process, 128 + 11 as bubblewrap reports its child's signal
    assert re.match(r"tinydl\.layers:Summer\.total: the submitted code ended the worker \(exit status (-11|139)\)",
                    notes["2.2"])


def test_grading_records_collection_errors_and_uses_deterministic_hypothesis(tmp_path):
    course = parse_course(
        '[[assignment]]\nnumber = 1\ntitle = "A"\nlessons = []\n'
        '[[assignment.task]]\nid = "1.1"\ntitle = "Profile"\npoints = 1\n'
        '[[assignment.task]]\nid = "1.2"\ntitle = "Broken"\npoints = 4\n'
    )
    write_tree(tmp_path, {
        "tinydl/__init__.py": "",
        "tests/test_profile.py": (
            "import pytest\nfrom hypothesis import settings\n\n"
            "@pytest.mark.task('1.1')\ndef test_profile():\n"
            "    assert settings.default.derandomize and settings.default.deadline is None\n"
            "    assert settings.default.database is None\n"
        ),
        "tests/test_broken.py": (
            "import pytest\nimport module_that_does_not_exist\n\n"
            "@pytest.mark.task('1.2')\n@pytest.mark.points(4)\ndef test_never_collected():\n    pass\n"
        ),
    })
    report = grade(tmp_path, tmp_path, course, ["1.1", "1.2"])
    profile, broken = report.tasks
    assert (profile.score, profile.max_score) == (1, 1)  # no points marker: worth 1
    assert (broken.score, broken.max_score, broken.tests) == (0, 4, ())
    assert "No module named 'module_that_does_not_exist'" in broken.note
    assert gradescope_results(report)["tests"][-1]["name"] == "Task 1.2 (Broken)"


def test_a_malformed_task_marker_is_reported(tmp_path):
    write_tree(tmp_path, {"tests/test_x.py": "import pytest\n\n@pytest.mark.task(1.1)\ndef test_x():\n    pass\n"})
    run = run_pytest(tmp_path, [tmp_path / "tests"], ["all"], TIMEOUT)
    assert run.collected is None
    assert "@pytest.mark.task takes one task id string, like task(\"2.1\"); got args=(1.1,)" in run.output


def test_first_failure_line_is_the_exception():
    text = "tests/t.py:3: in test_x\n    assert f(1) == 2\nE   assert 3 == 2\nE    +  where 3 = f(1)\n"
    assert first_failure_line(text) == "assert 3 == 2"
    assert first_failure_line("setup problem\nlast words\n") == "last words"


def test_table_lists_points_and_first_failure():
    course = parse_course(
        '[[assignment]]\nnumber = 1\ntitle = "A"\nlessons = []\n'
        '[[assignment.task]]\nid = "1.1"\ntitle = "Add"\npoints = 3\n'
        '[[assignment.task]]\nid = "1.2"\ntitle = "Scale"\npoints = 2.5\n'
    )
    add = TaskGrade(course.task("1.1"), (
        GradedTest("1.1", "test_a", False, 1.0, 1.0, "passed", "", ""),
        GradedTest("1.1", "test_b", True, 0.0, 2.0, "failed", "assert 3 == 2", ""),
    ))
    scale = TaskGrade(course.task("1.2"), (), "timed out after 3 s")
    report = GradeReport(Path("."), (add, scale))
    assert format_table(report) == (
        "Task   Title  Points  Passed  First failure\n"
        "1.1    Add    1/3     1/2     test_b: assert 3 == 2\n"
        "1.2    Scale  0/2.5   0/0     timed out after 3 s\n"
        "Total         1/5.5\n"
    )
    assert format_csv(report) == (
        "task,title,score,max_score,passed,tests,first_failure\n"
        "1.1,Add,1,3,1,2,test_b: assert 3 == 2\n"
        "1.2,Scale,0,2.5,0,0,timed out after 3 s\n"
    )


# ------------------------------------------------------------------------------------------------
# the wire format and the sandbox switch


def test_wire_round_trips_values_without_pickle():
    import numpy as np

    from tinydl.assign import wire

    value = {"a": (np.arange(6.0).reshape(2, 3), [1, None, True, "x"]), "s": slice(1, None, 2),
             "e": Ellipsis, "d": np.float32, "n": float("nan"), "i": np.int64(7)}
    frame = wire.pack(value)
    back = wire.read_frame(_reader(frame))
    np.testing.assert_array_equal(back["a"][0], value["a"][0])
    assert back["a"][1] == [1, None, True, "x"] and back["s"] == slice(1, None, 2) and back["e"] is Ellipsis
    assert back["d"] is np.float32 and back["n"] != back["n"] and back["i"] == 7
    with pytest.raises(wire.WireError, match="only numbers and booleans travel"):
        wire.pack(np.array([object()]))


def test_wire_refuses_frames_whose_sizes_do_not_add_up():
    import struct

    from tinydl.assign import wire

    huge = json.dumps({"value": None, "arrays": [{"dtype": "<f8", "shape": [1 << 20, 1 << 20]}]}).encode()
    with pytest.raises(wire.WireError, match="more than"):
        wire.read_frame(_reader(struct.pack("<Q", len(huge)) + huge))
    with pytest.raises(wire.WireError, match="over the"):
        wire.read_frame(_reader(struct.pack("<Q", wire.MAX_FRAME_BYTES + 1)))
    objects = json.dumps({"value": None, "arrays": [{"dtype": "|O", "shape": [1]}]}).encode()
    with pytest.raises(wire.WireError, match="numeric dtype"):
        wire.read_frame(_reader(struct.pack("<Q", len(objects)) + objects))


def _reader(data: bytes):
    position = [0]

    def read(count: int) -> bytes:
        chunk = data[position[0]:position[0] + count]
        if len(chunk) < count:
            raise EOFError
        position[0] += count
        return chunk

    return read


def test_grade_refuses_without_a_sandbox_unless_told(source, monkeypatch, tmp_path, capsys):
    from tinydl import cli
    from tinydl.assign import sandbox

    monkeypatch.setattr(sandbox, "_PROBLEM", ["bubblewrap (bwrap) is not installed: apt-get install bubblewrap"])
    args = ["assign", "grade", str(source), "--teacher", str(source), "--task", "1.1"]
    assert cli.main(args) == 2
    assert "refusing to run students' code without a sandbox: bubblewrap (bwrap) is not installed" in \
        capsys.readouterr().err
    results = tmp_path / "results.json"
    assert cli.main([*args, "--no-sandbox", "--json", str(results)]) == 0
    data = json.loads(results.read_text())
    assert data["extra_data"] == {"sandbox": "none"} and "WITHOUT a sandbox" in data["output"]
    assert data["score"] == data["max_score"] == TASK_POINTS["1.1"]
