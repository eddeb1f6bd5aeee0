"""Tests of the ``tinydl`` command (tinydl/cli.py): help, errors, lessons, doctor, bench, assign."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from assign_course_tree import TASK_POINTS, make_course_tree, write_tree

from tinydl import cli
from tinydl.assign.sandbox import sandbox_problem

LESSON_TEMPLATE = '''\
"""{key} — {title}

Teaches: {teaches}
Seed system: {seed}
"""
import sys
from pathlib import Path

out = Path(sys.argv[sys.argv.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
(out / "argv.txt").write_text(" ".join(sys.argv[1:]))
'''


@pytest.fixture
def lessons(tmp_path, monkeypatch) -> Path:
    """A lessons folder (found through $TINYDL_LESSONS) with 07, 07a, 12 and a file that is no lesson."""
    folder = tmp_path / "lessons"
    write_tree(folder, {
        "07_mlp.py": LESSON_TEMPLATE.format(key="07", title="A first MLP", teaches="layers, SGD", seed="LeNet-300"),
        "07a_mlp_momentum.py": LESSON_TEMPLATE.format(key="07a", title="Momentum", teaches="momentum",
                                                      seed="LeNet-300"),
        "12_attention.py": "# no docstring at all\nprint('attention')\n",
        "helpers.py": '"""Not a lesson."""\n',
    })
    monkeypatch.setenv(cli.LESSONS_ENV, str(folder))
    return folder


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# ------------------------------------------------------------------------------------------------
# help and errors


@pytest.mark.parametrize("argv", [
    [], ["lessons"], ["lesson"], ["doctor"], ["bench"], ["assign"], ["assign", "strip"], ["assign", "verify"],
    ["assign", "grade"], ["assign", "score"], ["assign", "grade-class"],
])
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: tinydl {' '.join(argv)}".rstrip())


def test_no_command_prints_help_and_fails(capsys):
    status, out, _ = run_cli(capsys)
    assert status == 2 and "lessons" in out and "assign" in out
    status, out, _ = run_cli(capsys, "assign")
    assert status == 2 and "grade-class" in out


def test_lessons_come_from_the_installed_package_outside_a_checkout(tmp_path, monkeypatch):
    """A wheel has no checkout around it: the lessons it carries in tinydl/lessons are used."""
    installed = tmp_path / "site-packages" / "tinydl" / "lessons"
    installed.mkdir(parents=True)
    monkeypatch.delenv("TINYDL_LESSONS", raising=False)
    monkeypatch.setattr(cli, "CHECKOUT_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(cli, "INSTALLED_LESSONS", installed)
    assert cli.lessons_folder() == installed
    installed.rmdir()
    with pytest.raises(cli.CommandError, match="reinstall tinydl"):
        cli.lessons_folder()


def test_unknown_command_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    assert ("invalid choice: 'frobnicate' (choose from 'lessons', 'lesson', 'notebook', 'doctor', 'bench', 'assign')"
            in capsys.readouterr().err)


@pytest.mark.parametrize("argv, message", [
    (["assign", "score", "--task", "one"], "expected a task id like 2.1"),
    (["assign", "strip", "--out", "x", "--assignment", "first"], 'expected an assignment number like 2, or "all"'),
    (["assign", "grade", ".", "--timeout", "-3"], "expected a positive number of seconds; got '-3'"),
])
def test_bad_option_values_are_explained(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert message in capsys.readouterr().err


def test_python_dash_m_tinydl_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "tinydl", "--help"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0 and done.stdout.startswith("usage: tinydl")


# ------------------------------------------------------------------------------------------------
# lessons


def test_lessons_table_reads_the_docstrings(lessons, capsys):
    status, out, _ = run_cli(capsys, "lessons")
    assert status == 0
    assert out == (
        "No.  Title        Teaches      Seed system\n"
        "07   A first MLP  layers, SGD  LeNet-300\n"
        "07a  Momentum     momentum     LeNet-300\n"
        "12   attention\n"
    )


@pytest.mark.parametrize("query, key", [("7", "07"), ("07", "07"), ("07a", "07a"), ("7A", "07a"),
                                        ("attention", "12"), ("Momentum", "07a")])
def test_lesson_names_resolve(lessons, query, key):
    assert cli.resolve_lesson(query, cli.find_lessons(lessons)).key == key


def test_ambiguous_and_unknown_lessons_list_the_choices(lessons):
    with pytest.raises(cli.CommandError, match=r"'mlp' matches 2 lessons; be more specific:\n  07  07_mlp.py\n  07a"):
        cli.resolve_lesson("mlp", cli.find_lessons(lessons))
    with pytest.raises(cli.CommandError, match=r"no lesson matches '99'; the lessons are:\n  07  07_mlp.py\n"):
        cli.resolve_lesson("99", cli.find_lessons(lessons))


def test_unknown_lesson_is_one_line_error(lessons, capsys):
    status, _, err = run_cli(capsys, "lesson", "transformers")
    assert status == 2
    assert err.startswith("tinydl lesson: no lesson matches 'transformers'; the lessons are:\n")
    assert "12  12_attention.py" in err


def test_lesson_runs_with_quick_and_out(lessons, tmp_path, capsys):
    status, out, _ = run_cli(capsys, "lesson", "07a", "--quick", "--out", str(tmp_path / "figures"))
    assert status == 0
    assert out == "tinydl lesson: running 07a_mlp_momentum.py (Momentum)\n"
    assert (tmp_path / "figures" / "argv.txt").read_text() == f"--quick --out {tmp_path / 'figures'}"


def test_missing_lessons_folder_says_how_to_point_at_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(cli.LESSONS_ENV, str(tmp_path / "nowhere"))
    status, _, err = run_cli(capsys, "lessons")
    assert status == 2
    assert f"no lessons folder at $TINYDL_LESSONS={tmp_path / 'nowhere'}" in err


# ------------------------------------------------------------------------------------------------
# doctor and bench


def test_doctor_reports_versions_datasets_and_kernels(monkeypatch, capsys):
    numpy = pytest.importorskip("numpy")

    def missing_dataset():
        raise FileNotFoundError("run `python -m tinydl.data.mnist --download`")

    monkeypatch.setattr(cli, "DATASET_CHECKS", [("mnist", lambda: "/data/mnist"), ("cifar10", missing_dataset)])
    monkeypatch.setattr(cli, "DATASET_CHECK_MODULES", ["tinydl_module_that_does_not_exist"])
    registry = types.ModuleType("tinydl.kernels.registry")
    registry.report = lambda: "matmul: numpy (numba not faster here)"
    monkeypatch.setitem(sys.modules, "tinydl.kernels.registry", registry)
    status, out, _ = run_cli(capsys, "doctor")
    assert status == 0
    assert f"NumPy    {numpy.__version__}\n" in out
    assert "  mnist: /data/mnist\n" in out
    assert "  cifar10: missing: run `python -m tinydl.data.mnist --download`\n" in out
    assert "Kernels\n  matmul: numpy (numba not faster here)\n" in out


def test_doctor_says_when_blas_workers_run_lower(monkeypatch, capsys):
    from tinydl import threads

    monkeypatch.setattr(threads, "_lowered_blas_workers", [(4321, 0)])
    status, out, _ = run_cli(capsys, "doctor")
    assert status == 0
    assert f"BLAS     1 OpenBLAS worker thread(s) at nice +{threads.BLAS_WORKER_NICE} while" in out


def test_doctor_survives_missing_and_broken_parts(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails: fall back to numpy's config
    broken = types.ModuleType("tinydl.kernels.registry")
    broken.report = lambda: 1 / 0
    monkeypatch.setitem(sys.modules, "tinydl.kernels.registry", broken)
    monkeypatch.setattr(cli, "DATASET_CHECKS", [])
    monkeypatch.setattr(cli, "DATASET_CHECK_MODULES", [])
    status, out, _ = run_cli(capsys, "doctor")
    assert status == 0
    assert "(thread count needs threadpoolctl: pip install threadpoolctl)" in out
    assert "Datasets\n  no dataset checks registered\n" in out
    assert "Kernels\n  could not check: ZeroDivisionError: division by zero\n" in out


def test_doctor_gives_install_hints_for_missing_packages(monkeypatch, capsys):
    monkeypatch.setattr(cli, "OPTIONAL_PACKAGES", [("tinydl_absent_pkg", "testing", "pip install absent")])
    status, out, _ = run_cli(capsys, "doctor")
    assert status == 0 and "tinydl_absent_pkg  missing (testing): pip install absent\n" in out


def test_bench_needs_the_benchmarks_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "CHECKOUT_ROOT", tmp_path)
    status, _, err = run_cli(capsys, "bench", "--quick")
    assert status == 2 and f"tinydl bench: no benchmarks at {tmp_path / 'benchmarks'}" in err


def test_bench_runs_python_dash_m_benchmarks(tmp_path, monkeypatch):
    write_tree(tmp_path, {"benchmarks/__init__.py": "",
                          "benchmarks/__main__.py": "import sys, pathlib\n"
                                                    "pathlib.Path('args.txt').write_text(' '.join(sys.argv[1:]))\n"})
    monkeypatch.setattr(cli, "CHECKOUT_ROOT", tmp_path)
    assert cli.main(["bench", "--quick", "--json"]) == 0
    assert (tmp_path / "args.txt").read_text() == "--quick --json"


# ------------------------------------------------------------------------------------------------
# assign


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return make_course_tree(tmp_path_factory.mktemp("course") / "source")


NO_SANDBOX = ["--no-sandbox"] if sandbox_problem() else []  # the attack suite requires the real sandbox


def test_assign_strip_then_score_the_student_tree(source, tmp_path, capsys):
    out = tmp_path / "student"
    status, text, _ = run_cli(capsys, "assign", "strip", "--out", str(out), "--assignment", "1",
                              "--source", str(source))
    assert status == 0
    assert text.splitlines()[1:3] == ["  replaced by NotImplementedError: 2 block(s) of task(s) 1.1, 1.2",
                                      "  solutions kept: 2 block(s) of task(s) 2.1, 2.2"]
    status, text, _ = run_cli(capsys, "assign", "score", str(out))  # assignment.toml: assignment 1
    assert status == 0
    lines = text.splitlines()
    assert [line.split()[:3] for line in lines[1:]] == [["1.1", "Addition", "0/2"], ["1.2", "Scaling", "0/3"],
                                                       ["Total", "0/5"]]
    assert lines[1].endswith("test_add_integers: NotImplementedError: task 1.1: use the + operator")


def test_assign_strip_errors_are_one_line(source, tmp_path, capsys):
    status, _, err = run_cli(capsys, "assign", "strip", "--out", str(tmp_path / "x"), "--assignment", "4",
                             "--source", str(source))
    assert status == 2
    assert err == (f"tinydl assign strip: {source}/tinydl/assign/course.toml: no assignment 4 "
                   "(assignments in the course: 1, 2)\n")


def test_assign_grade_writes_gradescope_json(source, tmp_path, capsys):
    results = tmp_path / "results.json"
    status, text, _ = run_cli(capsys, "assign", "grade", str(source), "--task", "1.1", "--teacher", str(source),
                              "--json", str(results), *NO_SANDBOX)
    assert status == 0 and text.splitlines()[-1] == f"wrote {results}"
    data = json.loads(results.read_text())
    assert (data["score"], data["max_score"]) == (TASK_POINTS["1.1"], TASK_POINTS["1.1"])
    assert [t["visibility"] for t in data["tests"]] == ["visible", "visible", "after_published"]


def test_assign_verify_fails_with_status_1(source, tmp_path, capsys):
    broken = Path(shutil.copytree(source, tmp_path / "broken"))
    (broken / "tinydl" / "ops.py").write_text("def add(a, b):\n    ### END" " SOLUTION\n")
    status, text, _ = run_cli(capsys, "assign", "verify", "--source", str(broken))
    assert status == 1
    assert "FAIL  markers" in text and "tinydl/ops.py:2: '### END SOLUTION' without a matching" in text


def test_assign_grade_class_writes_one_csv(source, tmp_path, capsys):
    submissions = tmp_path / "submissions"
    shutil.copytree(source, submissions / "alice", ignore=shutil.ignore_patterns("hidden"))
    (submissions / "bob").mkdir()  # handed in nothing
    scores = tmp_path / "scores.csv"
    status, text, _ = run_cli(capsys, "assign", "grade-class", str(submissions), "--csv", str(scores),
                              "--teacher", str(source), *(arg for t in TASK_POINTS for arg in ("--task", t)),
                              *NO_SANDBOX)
    assert status == 0
    assert text.splitlines()[:2] == ["alice  10/10", "bob    0/10"]
    rows = list(csv.reader(scores.open()))
    assert rows == [["student", "1.1", "1.2", "2.1", "2.2", "total"],
                    ["alice", *(str(TASK_POINTS[t]) for t in ["1.1", "1.2", "2.1", "2.2"]), "10"],
                    ["bob", "0", "0", "0", "0", "0"]]


def test_assign_grade_takes_the_assignment_from_the_teacher_only(source, tmp_path, capsys):
    status, _, err = run_cli(capsys, "assign", "grade", str(source), "--teacher", str(source), *NO_SANDBOX)
    assert status == 2 and "pass --assignment N (or --task N.M)" in err


def test_doctor_lists_each_kernel_and_its_implementation(monkeypatch, capsys):
    registry = types.ModuleType("tinydl.kernels.registry")
    registry.report = lambda: {"attention_forward": "numpy", "im2col": "numba"}
    monkeypatch.setitem(sys.modules, "tinydl.kernels.registry", registry)
    monkeypatch.setattr(cli, "DATASET_CHECKS", [])
    monkeypatch.setattr(cli, "DATASET_CHECK_MODULES", [])
    status, out, _ = run_cli(capsys, "doctor")
    assert status == 0
    assert "Kernels\n  attention_forward: numpy\n  im2col: numba\n" in out


def test_doctor_reports_mpi_or_how_to_install_it(monkeypatch, capsys):
    found = shutil.which("mpirun") or shutil.which("mpiexec")
    have_mpi4py = importlib.util.find_spec("mpi4py") is not None
    status, out, _ = run_cli(capsys, "doctor")
    section = out.split("\nMPI\n", 1)[1].split("\n\n", 1)[0]
    assert status == 0
    if found and have_mpi4py:
        assert f"mpirun   {found} (" in section
        assert re.search(r"library  (Open MPI v\d|MPICH|Intel)", section), section
        assert "CUDA-aware: " in section
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec",
                        lambda name, *a: None if name == "mpi4py" else real_find_spec(name, *a))
    status, out, _ = run_cli(capsys, "doctor")
    assert "MPI\n  mpirun   not found: apt-get install openmpi-bin libopenmpi-dev (or mpich)\n" \
           "  mpi4py   missing: pip install \"tinydl[mpi]\"\n" in out
