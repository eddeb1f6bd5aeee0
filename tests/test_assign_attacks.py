"""What a dishonest submission tries, and what each attempt scores: zero on its targets.

Each test plants one cheat (from the audit in the grader's design notes) in a copy of the real
course's student tree and grades it the teacher's way (this checkout's tinydl, tests and hidden
tests; the submission's code in the bubblewrap sandbox). Every tree also solves one task honestly
(1.4 unless the attack needs it), which must keep its points. Trees are stripped once per module;
each test grades only the tasks the cheat targets plus the honest one. The sandbox is required:
without bubblewrap these tests skip (``grade`` itself refuses to run then).
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
from assign_course_tree import restore_task
from conftest import REPO

from tinydl import cli
from tinydl.assign.course import default_course_path, load_course
from tinydl.assign.grade import format_table, grade_tree, plan_grading
from tinydl.assign.sandbox import sandbox_problem
from tinydl.assign.strip import strip_tree

pytestmark = pytest.mark.skipif(sandbox_problem() is not None, reason=f"needs bubblewrap: {sandbox_problem()}")

COURSE = load_course(default_course_path(REPO))
HONEST = "1.4"
TIMEOUT = 60.0
HIDDEN_AUTOGRAD = REPO / "tests" / "hidden" / "test_course_autograd_hidden.py"


def restore(tree: Path, task_id: str) -> None:
    """Solve ``task_id`` honestly in a stripped tree: its solution blocks go back in."""
    restore_task(REPO, COURSE, tree, task_id)


def answer(tree: Path, task_id: str, code: str) -> None:
    """Replace the task's first ``raise NotImplementedError`` with ``code`` (indented to fit)."""
    relative = COURSE.task(task_id).files[0]
    path = tree / relative
    lines = path.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if f'raise NotImplementedError("task {task_id}:' in line)
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines[index:index + 1] = [indent + line + "\n" for line in code.strip("\n").splitlines()]
    path.write_text("".join(lines))


@pytest.fixture(scope="module")
def stripped_1(tmp_path_factory) -> Path:
    """The student tree for assignment 1, with the honest task solved."""
    out = tmp_path_factory.mktemp("attacks") / "assignment-1"
    strip_tree(REPO, out, COURSE, assignment=1)
    restore(out, HONEST)
    return out


@pytest.fixture(scope="module")
def plan():
    """The teacher's side, worked out once for every attack (collection is the slow part)."""
    return plan_grading(REPO, COURSE)


@pytest.fixture
def tree(stripped_1, tmp_path) -> Path:
    return Path(shutil.copytree(stripped_1, tmp_path / "submission"))


def scores(tree: Path, plan, task_ids: list[str], timeout: float = TIMEOUT) -> dict[str, float]:
    report = grade_tree(tree, COURSE, task_ids, timeout=timeout, jobs=2, plan=plan)
    print(format_table(report))
    return {grade.task.id: grade.score for grade in report.tasks}


def assert_cheat_fails(result: dict[str, float], targets: list[str]) -> None:
    assert {t: result[t] for t in targets} == {t: 0 for t in targets}
    assert result[HONEST] == COURSE.task(HONEST).points


def test_patched_gradcheck_oracle_scores_nothing(tree, plan):
    # before: 9/20 on assignment 1 (the course tests imported the tree's gradcheck as their oracle)
    with open(tree / "tinydl" / "testing" / "gradcheck.py", "a") as file:
        file.write("\n\ndef gradcheck(*args, **kwargs):\n    return True\n\n\n"
                   "def gradgradcheck(*args, **kwargs):\n    return True\n")
    assert_cheat_fails(scores(tree, plan, ["1.1", "1.2", "1.3", HONEST]), ["1.1", "1.2", "1.3"])


def test_edited_public_tests_and_an_added_conftest_score_nothing(tree, plan):
    # before: 16/20 graded the README's way (the tree's own tests)
    (tree / "tests" / "test_course_autograd.py").write_text(
        "import pytest\n\n"
        + "".join(f"@pytest.mark.task('{t}')\n@pytest.mark.points(5)\ndef test_{t.replace('.', '_')}():\n    pass\n\n"
                  for t in ["1.1", "1.2", "1.3"]))
    (tree / "tests" / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n    report = outcome.get_result()\n"
        "    report.outcome, report.longrepr = 'passed', None\n")
    assert_cheat_fails(scores(tree, plan, ["1.1", "1.2", "1.3", HONEST]), ["1.1", "1.2", "1.3"])


def test_monkeypatching_pytest_from_the_package_scores_nothing(tree, plan):
    # before: 20/20 (the tree's tinydl/__init__.py ran inside the test process)
    with open(tree / "tinydl" / "__init__.py", "a") as file:
        file.write(
            "\ntry:\n    import _pytest.reports as _reports\n"
            "    _init = _reports.TestReport.__init__\n"
            "    def _passed(self, *args, **kwargs):\n"
            "        _init(self, *args, **kwargs)\n        self.outcome, self.longrepr = 'passed', None\n"
            "    _reports.TestReport.__init__ = _passed\nexcept ImportError:\n    pass\n")
    assert_cheat_fails(scores(tree, plan, ["1.1", "1.2", HONEST]), ["1.1", "1.2"])


def test_pytest_and_sitecustomize_at_the_tree_root_score_nothing(tree, plan):
    # before: 20/20 each (the tree was the test process's working directory and on its path)
    fake = "import sys\nprint('5 passed')\nsys.exit(0)\n"
    (tree / "pytest.py").write_text(fake)
    (tree / "sitecustomize.py").write_text("import builtins\nbuiltins.__dict__['gradcheck'] = lambda *a, **k: True\n")
    assert_cheat_fails(scores(tree, plan, ["1.1", "1.2", HONEST]), ["1.1", "1.2"])


def test_appending_passed_lines_to_the_results_file_scores_nothing(tree, plan):
    # before: 20/20 (the results file's path was on the test process's command line)
    nodeids = [f"tests/test_course_autograd.py::{name}" for name in
               ("test_mul_backward_by_hand", "test_mul_gradcheck_with_broadcasting")]
    nodeids.append("tests/hidden/test_course_autograd_hidden.py::test_mul_second_derivative")
    answer(tree, "1.1", f"""
import glob, json, os
paths = set(glob.glob("/tmp/tinydl-grade-*/results.jsonl"))
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        args = open(f"/proc/{{pid}}/cmdline").read().split("\\0")
    except OSError:
        continue
    if "--task-results" in args:
        paths.add(args[args.index("--task-results") + 1])
for path in paths:
    with open(path, "a") as results:
        for nodeid in {nodeids!r}:
            results.write(json.dumps({{"event": "result", "nodeid": nodeid, "outcome": "passed",
                                       "message": "", "details": ""}}) + "\\n")
raise NotImplementedError("no answer, only a forged results file")
""")
    assert_cheat_fails(scores(tree, plan, ["1.1", HONEST]), ["1.1"])


def test_a_double_forked_setsid_process_cannot_rewrite_the_results(tree, tmp_path, capsys):
    # before: 0/20 became 20/20: the process survived the process-group kill and rewrote
    # results.json 4 s after grading. Bounded here: it sleeps 3 s, writes once and exits.
    results = tmp_path / "results.json"
    marker = f"tinydl-attack-{uuid.uuid4().hex}"
    forged = json.dumps({"score": 20.0, "max_score": 20.0, "tests": []})
    answer(tree, "1.1", f"""
import os, sys
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        code = "import sys, time; time.sleep(3); open(sys.argv[1], 'w').write(sys.argv[2])"
        os.execv(sys.executable, [sys.executable, "-c", code, {str(results)!r}, {forged!r}, {marker!r}])
    os._exit(0)
raise NotImplementedError("the real attack is the process left behind")
""")
    status = cli.main(["assign", "grade", str(tree), "--task", "1.1", "--task", HONEST, "--json", str(results)])
    assert status == 0
    graded = results.read_text()
    time.sleep(5)  # longer than the forked process waits
    assert results.read_text() == graded
    data = json.loads(graded)
    assert (data["score"], data["max_score"]) == (COURSE.task(HONEST).points, 10.0)
    survivors = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                survivors.append(pid)
        except OSError:
            continue
    assert survivors == []


def test_hidden_test_text_never_reaches_visible_output(tree, tmp_path, capsys):
    # before: a test raising with the hidden files' text put them into visible Gradescope output
    answer(tree, "1.1", f"""
texts = []
for path in [{str(HIDDEN_AUTOGRAD)!r}]:
    try:
        texts.append(open(path).read())
    except OSError as error:
        texts.append(repr(error))
print(*texts)
raise RuntimeError("\\n".join(texts))
""")
    results = tmp_path / "results.json"
    assert cli.main(["assign", "grade", str(tree), "--task", "1.1", "--json", str(results)]) == 0
    shown = results.read_text() + capsys.readouterr().out
    hidden_source = HIDDEN_AUTOGRAD.read_text()
    assert "assert gradgradcheck(lambda t: t * t * t, [x])" in hidden_source
    assert "gradgradcheck(lambda t: t * t * t" not in shown
    entries = json.loads(results.read_text())["tests"]
    assert [e["output"] for e in entries if "[hidden]" in e["name"]] == ["failed (hidden test: no details are shown)"]
    assert all(e["score"] == 0 for e in entries)


def test_the_assignment_number_comes_from_the_teacher(tree, capsys):
    # before: a tree whose assignment.toml named assignment 2 was graded on assignment 2 (20/20)
    (tree / "assignment.toml").write_text("assignment = 2\n")
    assert cli.main(["assign", "grade", str(tree)]) == 2
    assert "pass --assignment N (or --task N.M)" in capsys.readouterr().err
    assert cli.main(["assign", "grade", str(tree), "--assignment", "1"]) == 0
    table = capsys.readouterr().out
    assert "Total                                           5/20" in table, table


def test_a_task_that_needs_other_tasks_is_graded_with_their_solutions(stripped_1, tmp_path, plan):
    # before: hidden 1.3 (second derivative through exp and log) needed 1.1 and 1.2 solved
    tree = Path(shutil.copytree(stripped_1, tmp_path / "only-1.3"))
    restore(tree, "1.3")
    result = scores(tree, plan, ["1.1", "1.2", "1.3", HONEST])
    assert result == {"1.1": 0, "1.2": 0, "1.3": 5, HONEST: 5}


def test_a_hanging_task_costs_only_its_own_points(stripped_1, tmp_path, plan):
    # before: a hanging 1.1 cost 1.3 its points (10/20 instead of 15/20)
    tree = Path(shutil.copytree(stripped_1, tmp_path / "hanging"))
    restore(tree, "1.3")
    answer(tree, "1.1", "while True:\n    pass")
    result = scores(tree, plan, ["1.1", "1.3", HONEST], timeout=12)
    assert result == {"1.1": 0, "1.3": 5, HONEST: 5}


LEFTOVERS = {  # task: an answer calling a faster version of the same computation (gone after strip)
    "3.3": ("from tinydl.kernels.optim import sgd_momentum_update_numba\n"
            "return sgd_momentum_update_numba(param, grad, buf, lr, momentum, dampening, nesterov, "
            "weight_decay, first_step)"),
    "4.3": ("from tinydl.kernels.conv import max_pool2d_scatter_numba\n"
            "return max_pool2d_scatter_numba(grad, indices, x_shape)"),
    "5.1": ("from tinydl.kernels.attention import attention_forward_tiled_numpy\n"
            "return attention_forward_tiled_numpy(q, k, v, mask, causal, scale)"),
    "5.2": ("from tinydl.kernels.attention import attention_backward_tiled_numpy\n"
            "return attention_backward_tiled_numpy(q, k, v, mask, causal, scale, out, lse, dout)"),
}


def test_faster_versions_are_stripped_with_their_task(tmp_path, plan):
    # before: assignment 4 scored 15/15 through kernels/conv.py's references, assignment 5 10/10
    # through attention_forward_tiled_numpy and its backward; sgd_momentum_update_numba passed 3.3
    for number, honest in [(3, "3.4"), (4, "4.1"), (5, None)]:
        tree = tmp_path / f"assignment-{number}"
        strip_tree(REPO, tree, COURSE, assignment=number)
        targets = [t for t in LEFTOVERS if t.startswith(f"{number}.")]
        for task_id in targets:
            answer(tree, task_id, LEFTOVERS[task_id])
        if honest:
            restore(tree, honest)
        report = grade_tree(tree, COURSE, targets + ([honest] if honest else []), timeout=TIMEOUT, jobs=2, plan=plan)
        result = {grade.task.id: grade.score for grade in report.tasks}
        assert {t: result[t] for t in targets} == {t: 0 for t in targets}, format_table(report)
        assert all("ImportError" in test.message for g in report.tasks if g.task.id in targets for test in g.tests)
        if honest:
            assert result[honest] == COURSE.task(honest).points, format_table(report)
