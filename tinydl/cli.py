"""The ``tinydl`` command (also ``python -m tinydl``).

    tinydl lessons                          the lesson scripts: number, title, what each teaches
    tinydl lesson 07 [--quick] [--out DIR]  run one lesson ("7", "07", "07a" or part of its name)
    tinydl lesson 07 --copy DIR             copy the lesson script into DIR to edit it
    tinydl notebook 07 [--out DIR] [--quick]  write the lesson as a Jupyter notebook
    tinydl doctor                           versions, BLAS threads, optional packages, MPI, datasets
    tinydl bench [--quick] [--json]         the benchmark scripts (repository checkout only)
    tinydl assign strip|verify|grade|score|grade-class   classroom tools (tinydl/assign/)

Every command has ``--help``. Problems the user can fix print one line, ``tinydl <command>: ...``,
and exit with status 2; a failed check (``verify``) exits with 1.

Lessons are found in $TINYDL_LESSONS when set, else in the ``lessons/`` folder next to the
package (a repository checkout), else in ``tinydl/lessons`` (an installed wheel carries them).
Each lesson's module docstring starts with ``NN — Title`` and has lines ``Teaches: ...`` and
``Seed system: ...``; ``tinydl lessons`` reads them without running anything.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinydl.assign.course import TASK_ID_PATTERN, Course, default_course_path, format_points, load_course
from tinydl.assign.errors import AssignError
from tinydl.assign.grade import (
    DEFAULT_TIMEOUT,
    VISIBILITIES,
    class_csv,
    format_csv,
    format_table,
    grade_class,
    grade_tree,
    gradescope_results,
    score_tree,
)
from tinydl.assign.sandbox import require_sandbox
from tinydl.assign.strip import strip_tree, tree_assignment
from tinydl.assign.tree import write_text_atomic
from tinydl.assign.verify import DEFAULT_TIMEOUT as VERIFY_TIMEOUT
from tinydl.assign.verify import verify_course

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE_DIR.parent  # the repository root when running from a checkout
LESSONS_ENV = "TINYDL_LESSONS"
INSTALLED_LESSONS = PACKAGE_DIR / "lessons"  # where a wheel puts the repository's lessons/
_LESSON_FILE = re.compile(r"^(?P<number>[0-9]{2})(?P<letter>[a-z]?)_(?P<topic>\w+)\.py$")
_LESSON_TITLE = re.compile(r"^(?P<key>[0-9]{2}[a-z]?)\s*[—–-]+\s*(?P<title>.+)$")

# Dataset checks for ``tinydl doctor``: (name, callable returning where the data is, or raising
# an exception whose message says how to get it). Modules add theirs in either of two ways:
# append to DATASET_CHECKS, or define a DATASET_CHECKS list of the same shape in a module named
# in DATASET_CHECK_MODULES (doctor imports it, and survives it being absent or broken).
DATASET_CHECKS: list[tuple[str, Callable[[], object]]] = []
DATASET_CHECK_MODULES = ["tinydl.data.doctor"]

# Optional packages doctor reports: (import name, what tinydl uses it for, how to install it).
OPTIONAL_PACKAGES = [
    ("numba", "fast CPU kernels", 'pip install "tinydl[numba]"'),
    ("cupy", "the GPU backend", 'pip install "tinydl[cuda]" (needs an NVIDIA GPU and CUDA 12)'),
    ("torch", "test oracle only, never needed to run tinydl", 'pip install "tinydl[torch]"'),
    ("matplotlib", "loss curves and figures", 'pip install "tinydl[plot]"'),
    ("tqdm", "progress bars", 'pip install "tinydl[progress]"'),
    ("threadpoolctl", "sets BLAS threads (tinydl.set_num_threads)", "pip install threadpoolctl"),
    ("mpi4py", "data-parallel training under mpirun (tinydl.distributed)", 'pip install "tinydl[mpi]"'),
]

# Asked in a child process: importing mpi4py.MPI starts MPI (MPICH answers only then), which
# the doctor's own process should not do.
_MPI_QUERY = """
from mpi4py import MPI
from tinydl.distributed.comm import _query_cuda_support
print(" ".join(MPI.Get_library_version().strip().splitlines()[0].split(",")[0].split()))
print("MPI standard %d.%d" % MPI.Get_version())
print("CUDA-aware: " + ("yes" if _query_cuda_support() else "no (GPU arrays go through host copies)"))
"""


class CommandError(Exception):
    """A mistake in how a command was called, or a missing folder; printed as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tinydl`` command with ``argv`` (default: sys.argv[1:]); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        (args.help_parser if hasattr(args, "help_parser") else parser).print_help()
        return 2
    try:
        return args.handler(args)
    except (CommandError, AssignError) as error:
        print(f"tinydl {args.command_name}: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="tinydl",
                                     description="tinydl: lessons, diagnostics, benchmarks, assignments.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    _command(commands, "lessons", "list the lessons: number, title, what each teaches, seed system", _lessons)

    lesson = _command(commands, "lesson", "run one lesson script", _lesson)
    lesson.add_argument("name", help='lesson number ("7", "07", "07a") or part of its file name or title')
    lesson.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    lesson.add_argument("--out", metavar="DIR",
                        help="folder for the lesson's figures and results (lesson default: runs/)")
    lesson.add_argument("--copy", metavar="DIR",
                        help="copy the lesson script into DIR to edit it, instead of running it")

    notebook = _command(commands, "notebook", "write a lesson as a Jupyter notebook (.ipynb)", _notebook)
    notebook.add_argument("name", help='lesson number ("7", "07", "07a") or part of its file name or title')
    notebook.add_argument("--out", metavar="DIR", default=".", help="folder for the notebook (default: here)")
    notebook.add_argument("--quick", action="store_true", help="the notebook runs the lesson's quick version")
    notebook.add_argument("--figures", metavar="DIR", default="runs",
                          help="the lesson's --out folder for figures, relative to the notebook (default: runs)")

    _command(commands, "doctor", "report versions, BLAS threads, optional packages, MPI, datasets, kernels", _doctor)

    bench = _command(commands, "bench", "run the benchmarks (python -m benchmarks, repository checkout only)", _bench)
    bench.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    bench.add_argument("--json", action="store_true", help="machine-readable output")

    assign = _command(commands, "assign", "classroom tools: strip, verify, grade, score, grade-class", None)
    assign.set_defaults(help_parser=assign)
    tools = assign.add_subparsers(title="assignment tools", metavar="TOOL")
    _add_assign_commands(tools)
    return parser


def _command(commands, name: str, help_text: str, handler, group: str = "") -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(command_name=f"{group} {name}".strip())
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def _add_assign_commands(tools) -> None:
    strip = _command(tools, "strip", "write a student tree with the solutions of an assignment replaced", _strip,
                     group="assign")
    strip.add_argument("--out", required=True, metavar="DIR",
                       help="new folder for the student tree (must not exist, or be empty)")
    strip.add_argument("--assignment", type=_assignment_arg, default=None, metavar="N",
                       help='assignment to strip; "all" (default) strips every solution')
    _add_source_options(strip)
    strip.add_argument("--strip-later", action="store_true", help="also strip the solutions of later assignments")

    verify = _command(tools, "verify", "check that solutions pass, stripped trees fail and nothing leaks", _verify,
                      group="assign")
    _add_source_options(verify)
    verify.add_argument("--timeout", type=_seconds, default=VERIFY_TIMEOUT, metavar="S",
                        help="time limit of each pytest run")

    grade = _command(tools, "grade", "grade a tree on public (and hidden) tests; Gradescope JSON", _grade,
                     group="assign")
    grade.add_argument("tree", type=Path, metavar="DIR", help="root of the tree to grade")
    grade.add_argument("--json", type=Path, metavar="FILE", help="write Gradescope results JSON here")
    grade.add_argument("--hidden-visibility", choices=VISIBILITIES, default=None,
                       help="Gradescope visibility of hidden tests "
                            "(default: the course file's [grading] hidden_visibility)")
    grade.add_argument("--csv", action="store_true", help="print the table as CSV")
    _add_teacher_options(grade)
    _add_grading_options(grade)

    score = _command(tools, "score", "score your own tree on the public tests", _score, group="assign")
    score.add_argument("tree", type=Path, nargs="?", default=Path("."), metavar="DIR",
                       help="root of your tree (default: here)")
    _add_grading_options(score)

    grade_all = _command(tools, "grade-class", "grade every student folder of SUBMISSIONS into one CSV", _grade_class,
                         group="assign")
    grade_all.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                           help="folder with one subfolder per student")
    grade_all.add_argument("--csv", type=Path, required=True, metavar="FILE",
                           help="write student, per-task points and total here")
    _add_teacher_options(grade_all)
    _add_grading_options(grade_all)


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, metavar="ROOT",
                        help="the checkout with the solutions (default: this one)")
    parser.add_argument("--course", type=Path, metavar="FILE",
                        help="course file (default: ROOT/tinydl/assign/course.toml)")


def _add_teacher_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", type=Path, metavar="ROOT",
                        help="the checkout with the solutions whose tinydl, tests and course file grade "
                             "(default: this one)")
    parser.add_argument("--tests", type=Path, metavar="DIR",
                        help="public tests (default: ROOT/tests; never the submission's)")
    parser.add_argument("--hidden", type=Path, metavar="DIR", help="hidden tests (default: ROOT/tests/hidden)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run students' code without bubblewrap (only where it cannot run; the results say so)")


def _add_grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", type=_assignment_arg, default=None, metavar="N",
                        help="grade this assignment's tasks "
                             "(grade: required unless --task, or the course has one assignment)")
    parser.add_argument("--task", type=_task_arg, action="append", metavar="N.M",
                        help="grade only this task; repeatable")
    parser.add_argument("--course", type=Path, metavar="FILE",
                        help="course file (default: the tree's, else tinydl's own)")
    parser.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="S",
                        help="time limit per task, in seconds")
    parser.add_argument("--jobs", type=_positive_int, metavar="N",
                        help="tasks graded at once (default: one per CPU core)")


def _assignment_arg(text: str) -> int | None:
    if text == "all":
        return None
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f'expected an assignment number like 2, or "all"; got {text!r}')


def _task_arg(text: str) -> str:
    if not TASK_ID_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f'expected a task id like 2.1 (assignment, dot, task); got {text!r}')
    return text


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number; got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds; got {text!r}")
    return value


# ---------------------------------------------------------------------------------------------
# lessons


@dataclass(frozen=True)
class Lesson:
    """A lesson script: its key ("07a"), file, and what its docstring says about it."""

    key: str
    path: Path
    title: str
    teaches: str
    seed_system: str


def lessons_folder() -> Path:
    """Where the lessons are: $TINYDL_LESSONS when set, else ``lessons/`` of a repository checkout,
    else ``tinydl/lessons`` inside an installed package (the wheel carries them there)."""
    configured = os.environ.get(LESSONS_ENV)
    if configured:
        folder = Path(configured)
        if not folder.is_dir():
            raise CommandError(f"no lessons folder at ${LESSONS_ENV}={configured}; unset it to use "
                               f"the lessons that come with tinydl")
        return folder
    for folder in (CHECKOUT_ROOT / "lessons", INSTALLED_LESSONS):
        if folder.is_dir():
            return folder
    raise CommandError(f"no lessons folder at {CHECKOUT_ROOT / 'lessons'} (a checkout) or "
                       f"{INSTALLED_LESSONS} (an installed package); reinstall tinydl, or set "
                       f"{LESSONS_ENV}=/path/to/tinydl/lessons")


def find_lessons(folder: Path) -> list[Lesson]:
    """Every ``NN[letter]_topic.py`` in ``folder``, sorted by key, read without running them."""
    lessons = []
    for path in sorted(Path(folder).iterdir()):
        match = _LESSON_FILE.match(path.name)
        if match and path.is_file():
            lessons.append(read_lesson(path, match["number"] + match["letter"]))
    return lessons


def read_lesson(path: Path, key: str) -> Lesson:
    """Parse a lesson's docstring: first line ``NN — Title``, lines ``Teaches:`` and ``Seed system:``."""
    fallback_title = path.stem.split("_", 1)[1].replace("_", " ")
    try:
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except (SyntaxError, UnicodeDecodeError, ValueError) as error:
        return Lesson(key, path, fallback_title, f"(cannot read the docstring: {error})", "")
    lines = [line.strip() for line in docstring.splitlines()]
    title_match = _LESSON_TITLE.match(lines[0]) if lines else None
    title = title_match["title"].strip() if title_match else fallback_title
    return Lesson(key, path, title, _field(lines, "Teaches:"), _field(lines, "Seed system:"))


def _field(lines: list[str], prefix: str) -> str:
    """The text after ``prefix`` plus its continuation lines (up to a blank line or a new field)."""
    for index, line in enumerate(lines):
        if line.lower().startswith(prefix.lower()):
            parts = [line[len(prefix):].strip()]
            for following in lines[index + 1:]:
                if not following or re.match(r"^[A-Z][A-Za-z ]*:", following):
                    break
                parts.append(following)
            return " ".join(parts)
    return ""


def resolve_lesson(query: str, lessons: list[Lesson]) -> Lesson:
    """The lesson ``query`` names: "7" and "07" mean 07, "07a" means 07a, anything else must be a
    unique piece of a lesson's file name or title. An error lists the lessons otherwise."""
    number = re.fullmatch(r"(?P<number>[0-9]+)(?P<letter>[a-z]?)", query.strip().lower())
    if number:
        key = f"{int(number['number']):02d}{number['letter']}"
        matches = [lesson for lesson in lessons if lesson.key == key]
    else:
        fragment = query.strip().lower()
        matches = [lesson for lesson in lessons
                   if fragment and (fragment in lesson.path.stem.lower() or fragment in lesson.title.lower())]
    if len(matches) == 1:
        return matches[0]
    listing = "\n".join(f"  {lesson.key}  {lesson.path.name}" for lesson in (matches or lessons)) or "  (none)"
    if matches:
        raise CommandError(f"{query!r} matches {len(matches)} lessons; be more specific:\n{listing}")
    raise CommandError(f"no lesson matches {query!r}; the lessons are:\n{listing}")


def format_lessons(lessons: list[Lesson]) -> str:
    """A table of lessons: number, title, teaches, seed system."""
    rows = [("No.", "Title", "Teaches", "Seed system")]
    rows += [(lesson.key, lesson.title, lesson.teaches, lesson.seed_system) for lesson in lessons]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[3]]).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def _lessons(args: argparse.Namespace) -> int:
    folder = lessons_folder()
    lessons = find_lessons(folder)
    if not lessons:
        raise CommandError(f"no lesson scripts (NN_topic.py) in {folder}")
    print(format_lessons(lessons), end="")
    return 0


def _lesson(args: argparse.Namespace) -> int:
    folder = lessons_folder()
    lesson = resolve_lesson(args.name, find_lessons(folder))
    if args.copy:
        copied = copy_lesson(lesson, Path(args.copy))
        print(f"tinydl lesson: copied {lesson.path.name} to {copied}; edit it and run "
              f"`python {copied} --quick`")
        return 0
    command = [sys.executable, str(lesson.path)]
    command += ["--quick"] if args.quick else []
    command += ["--out", args.out] if args.out else []
    env = dict(os.environ)
    if folder.resolve() == (CHECKOUT_ROOT / "lessons").resolve():
        # Run the lesson against this checkout's package, the one this command belongs to.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT_ROOT), env.get("PYTHONPATH")]))
    print(f"tinydl lesson: running {lesson.path.name} ({lesson.title})", flush=True)
    return subprocess.run(command, env=env).returncode


def copy_lesson(lesson: Lesson, folder: Path) -> Path:
    """Copy a lesson script into ``folder`` (created if needed) for the student to edit; an
    existing file of that name is never overwritten."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / lesson.path.name
    if target.exists():
        raise CommandError(f"{target} exists already; remove it or copy to another folder")
    shutil.copyfile(lesson.path, target)
    return target


def lesson_notebook(lesson: Lesson, options: list[str]) -> Any:
    """The lesson as a Jupyter notebook (nbformat), one cell per ``# %%`` cell of the script.

    A first cell sets ``sys.argv`` to ``options``: the lessons read their options with argparse,
    and a kernel's own command line is not theirs."""
    try:
        import jupytext
        from nbformat.v4 import new_code_cell, new_markdown_cell
    except ImportError:
        raise CommandError("writing notebooks needs jupytext: pip install 'tinydl[notebook]'") from None
    notebook = jupytext.reads(lesson.path.read_text(encoding="utf-8"), fmt="py:percent")
    first = notebook.cells[0].source.strip() if notebook.cells else ""
    if first.startswith('"""') and first.endswith('"""') and first.count('"""') == 2:
        notebook.cells[0] = new_markdown_cell(first.strip('"').strip())  # the lesson's docstring
    argv = [lesson.path.name, *options]
    notebook.cells.insert(0, new_code_cell(
        "# The lesson's command-line options (edit the list, e.g. drop \"--quick\" for the full run)\n"
        f"import sys\nsys.argv = {argv!r}"))
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _notebook(args: argparse.Namespace) -> int:
    lesson = resolve_lesson(args.name, find_lessons(lessons_folder()))
    options = (["--quick"] if args.quick else []) + ["--out", args.figures]
    notebook = lesson_notebook(lesson, options)
    import nbformat  # comes with jupytext

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{lesson.path.stem}.ipynb"
    write_text_atomic(target, nbformat.writes(notebook))  # replaced whole or not at all
    print(f"tinydl notebook: wrote {target}; open it with `jupyter lab {target}`")
    return 0


# ---------------------------------------------------------------------------------------------
# doctor


def doctor_report() -> str:
    """The doctor's report as text. Every section guards itself: a broken part is reported, never raised."""
    sections = [_section("System", _system_lines), _section("BLAS", _blas_lines),
                _section("Threads", _thread_lines), _section("Optional packages", _optional_lines),
                _section("MPI", _mpi_lines),
                _section("Datasets", _dataset_lines),
                _section("Kernels", _kernel_lines)]
    return "tinydl doctor\n\n" + "\n".join(sections)


def _section(title: str, lines: Callable[[], list[str]]) -> str:
    try:
        body = lines()
    except Exception as error:  # doctor reports any failure instead of crashing
        body = [f"could not check: {type(error).__name__}: {error}"]
    return title + "\n" + "".join(f"  {line}\n" for line in body)


def _system_lines() -> list[str]:
    lines = [f"Python   {platform.python_version()} ({sys.executable}) on {platform.system()} {platform.machine()}",
             f"tinydl   {_version('tinydl') or 'not installed (running from a checkout)'} at {PACKAGE_DIR}"]
    try:
        import numpy
        lines.append(f"NumPy    {numpy.__version__}")
    except ImportError:
        lines.append("NumPy    missing: tinydl needs it; pip install numpy")
    return lines


def _blas_lines() -> list[str]:
    import numpy
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        pools = threadpool_info()
        return [f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('user_api')}, "
                f"{pool.get('architecture', '?')}): {pool.get('num_threads')} thread(s)" for pool in pools] or \
            ["threadpoolctl found no BLAS/OpenMP library loaded"]
    blas = numpy.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    return [f"{blas.get('name', '?')} {blas.get('version', '?')} "
            "(thread count needs threadpoolctl: pip install threadpoolctl)",
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"]


def _thread_lines() -> list[str]:
    """The thread budget, Numba's threading layer, the kernel cache and the first-call time."""
    from tinydl import threads
    from tinydl.kernels import _jit

    following = "set with tinydl.set_num_threads" if threads.budget_was_set() else \
        "the default: the cores other programs leave free, looked at once a second in backward"
    lines = [f"budget   {threads.get_num_threads()} thread(s) for BLAS and Numba (cores available: "
             f"{threads.available_cores()}; {following}; change with tinydl.set_num_threads(n))",
             f"parallel kernels above {threads.PARALLEL_MIN_WORK:,} elements; a serial copy below"]
    if not _jit.numba_available():
        return lines + ['Numba    not installed: the NumPy reference kernels run (pip install "tinydl[numba]")']
    cache = _jit.cache_dir()
    lines.append(f"cache    {cache}: {_jit.cached_kernel_count()} compiled kernel file(s)")
    probe = _jit.first_call_probe()
    state = "warm (loaded from the cache)" if probe["cache_warm"] else "cold (compiled now, cached for next time)"
    lines.append(f"first    kernel call {probe['seconds']:.2f} s: {probe['kernel']}, cache {state}")
    asked = threads.numba_threading_layer()
    layer = threads.numba_layer_in_use() or f"{asked} (chosen; starts with the first parallel kernel)"
    if asked == "workqueue" and not os.environ.get("NUMBA_THREADING_LAYER"):
        layer += ("; TBB's runtime did not load (on x86-64 Linux or Windows, `pip install tbb` "
                  "gives a pool that wakes faster)")
    lines.append(f"layer    Numba threading layer: {layer}")
    lowered = threads.lowered_blas_workers()
    if lowered:
        lines.append(f"BLAS     {len(lowered)} OpenBLAS worker thread(s) at nice +{threads.BLAS_WORKER_NICE} "
                     "while the budget is the default: they busy-wait after each product and "
                     "give way to the kernels' threads")
    return lines


def _optional_lines() -> list[str]:
    width = max(len(name) for name, _, _ in OPTIONAL_PACKAGES)
    lines = []
    for name, purpose, install in OPTIONAL_PACKAGES:
        if importlib.util.find_spec(name) is None:  # finds, never imports (cupy or torch take seconds)
            lines.append(f"{name.ljust(width)}  missing ({purpose}): {install}")
        else:
            lines.append(f"{name.ljust(width)}  {_version(name) or 'installed'} ({purpose})")
    return lines


def _mpi_lines() -> list[str]:
    """The MPI library mpi4py uses (implementation, version, CUDA-awareness) and the launcher."""
    launcher = shutil.which("mpirun") or shutil.which("mpiexec")
    if launcher is None:
        lines = ["mpirun   not found: apt-get install openmpi-bin libopenmpi-dev (or mpich)"]
    else:
        version = subprocess.run([launcher, "--version"], capture_output=True, text=True,
                                 timeout=30).stdout.strip().splitlines()
        name = version[0] if version else "version unknown"
        if version and not re.search(r"\d+\.\d", name):  # MPICH's Hydra: the number comes later
            numbered = next((" ".join(line.split()) for line in version
                             if re.search(r"\d+\.\d", line)), "")
            name = f"{name.split()[0]} {numbered}".strip()
        lines = [f"mpirun   {launcher} ({name})"]
    if importlib.util.find_spec("mpi4py") is None:
        return [*lines, 'mpi4py   missing: pip install "tinydl[mpi]"']
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(CHECKOUT_ROOT),
                                                                     os.environ.get("PYTHONPATH")])))
    query = subprocess.run([sys.executable, "-c", _MPI_QUERY], capture_output=True, text=True,
                           timeout=60, env=env)
    if query.returncode != 0:
        error = (query.stderr.strip().splitlines() or ["no output"])[-1]
        return [*lines, f"mpi4py   {_version('mpi4py') or 'installed'}, but its MPI library does not load: {error}"]
    library, standard, cuda = query.stdout.strip().splitlines()[:3]
    return [*lines, f"library  {library} ({standard}), via mpi4py {_version('mpi4py') or '?'}",
            f"         {cuda}"]


def _version(module: str) -> str | None:
    """The installed version of the distribution that provides ``module``, without importing it."""
    for dist in importlib.metadata.packages_distributions().get(module, [module]):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def dataset_checks() -> list[tuple[str, Callable[[], object]]]:
    """DATASET_CHECKS plus the DATASET_CHECKS of each importable module in DATASET_CHECK_MODULES."""
    checks = list(DATASET_CHECKS)
    for name in DATASET_CHECK_MODULES:
        try:
            module = importlib.import_module(name)
        except Exception:  # a missing or broken provider only loses its checks
            continue
        checks.extend(getattr(module, "DATASET_CHECKS", []))
    return checks


def _dataset_lines() -> list[str]:
    checks = dataset_checks()
    if not checks:
        return ["no dataset checks registered"]
    lines = []
    for name, find in checks:
        try:
            lines.append(f"{name}: {find()}")
        except Exception as error:  # the exception text is the instruction to show
            lines.append(f"{name}: missing: {error}")
    return lines


def _kernel_lines() -> list[str]:
    try:
        registry = importlib.import_module("tinydl.kernels.registry")
    except Exception as error:  # kernels are optional to the report
        return [f"kernel registry not available ({type(error).__name__}: {error})"]
    report = registry.report()
    if report is None:
        return ["(printed above by tinydl.kernels.registry.report())"]
    if isinstance(report, dict):  # op name -> chosen implementation
        return [f"{op}: {impl}" for op, impl in report.items()]
    return str(report).splitlines()


def _doctor(args: argparse.Namespace) -> int:
    print(doctor_report(), end="")
    return 0


# ---------------------------------------------------------------------------------------------
# bench


def _bench(args: argparse.Namespace) -> int:
    folder = CHECKOUT_ROOT / "benchmarks"
    if not (folder / "__main__.py").is_file():
        raise CommandError(
            f"no benchmarks at {folder}: the benchmark scripts ship with the repository, not the "
            f"installed package; run tinydl bench from a checkout (git clone, then pip install -e .)"
        )
    command = [sys.executable, "-m", "benchmarks",
               *(["--quick"] if args.quick else []), *(["--json"] if args.json else [])]
    return subprocess.run(command, cwd=CHECKOUT_ROOT).returncode


# ---------------------------------------------------------------------------------------------
# assign


def _course_for(course_file: Path | None, root: Path) -> Course:
    """The course file given, else the one in ``root``, else tinydl's own."""
    if course_file is not None:
        return load_course(course_file)
    in_root = default_course_path(root)
    return load_course(in_root if in_root.is_file() else default_course_path(CHECKOUT_ROOT))


def _source(args: argparse.Namespace) -> Path:
    """--source, else this checkout: refuses an installed package, which has no tests to copy."""
    if args.source is not None:
        return args.source
    if not (CHECKOUT_ROOT / "tests").is_dir():
        raise CommandError(f"{CHECKOUT_ROOT} is not a repository checkout (no tests/ folder); pass --source ROOT")
    return CHECKOUT_ROOT


def _strip(args: argparse.Namespace) -> int:
    source = _source(args)
    course = load_course(args.course or default_course_path(source))
    result = strip_tree(source, Path(args.out), course, args.assignment, args.strip_later)
    stripped = sorted({block.task for block in result.stripped})
    kept = sorted({block.task for block in result.kept})
    which = "every assignment" if args.assignment is None else f"assignment {args.assignment}"
    print(f"wrote the student tree for {which} to {result.out}: {result.files} files copied")
    print(f"  replaced by NotImplementedError: {len(result.stripped)} block(s) of task(s) {', '.join(stripped) or '-'}")
    print(f"  solutions kept: {len(result.kept)} block(s) of task(s) {', '.join(kept) or '-'}")
    print(f"  instructions for students: {result.out / 'ASSIGNMENT.md'}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    source = _source(args)
    course = load_course(args.course or default_course_path(source))
    report = verify_course(source, course, args.timeout)
    print(report.format(), end="")
    return 0 if report.ok else 1


def _task_ids(args: argparse.Namespace, course: Course, tree: Path | None) -> list[str]:
    if args.task:
        for task_id in args.task:
            course.task(task_id)  # an unknown id is an error listing the known ones
        return list(dict.fromkeys(args.task))
    number = args.assignment if args.assignment is not None else (tree_assignment(tree) if tree else None)
    ids = [task.id for task in course.tasks(number)]
    if not ids:
        which = f"assignment {number}" if number is not None else "the course"
        raise CommandError(f"{which} has no tasks in {course.path}; nothing to grade")
    return ids


def _teacher_task_ids(args: argparse.Namespace, course: Course) -> list[str]:
    """The tasks to grade, from the teacher only: --task, --assignment, or the course's only assignment."""
    if not args.task and args.assignment is None:
        if len(course.assignments) != 1:
            raise CommandError("grade: pass --assignment N (or --task N.M): the assignment graded comes from you, "
                               "never from a file in the submission")
        args.assignment = course.assignments[0].number
    return _task_ids(args, course, None)


def _grade(args: argparse.Namespace) -> int:
    teacher = args.teacher or CHECKOUT_ROOT
    course = load_course(args.course or default_course_path(teacher))  # the teacher's, never the tree's
    sandbox = require_sandbox(args.no_sandbox)
    report = grade_tree(args.tree, course, _teacher_task_ids(args, course), args.tests, args.hidden, args.timeout,
                        args.jobs, teacher_root=teacher, sandbox=sandbox)
    print(format_csv(report) if args.csv else format_table(report), end="")
    if args.json:
        results = gradescope_results(report, args.hidden_visibility or course.hidden_visibility)
        write_text_atomic(args.json, json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _score(args: argparse.Namespace) -> int:
    course = _course_for(args.course, args.tree)
    report = score_tree(args.tree, course, _task_ids(args, course, args.tree), args.timeout, args.jobs)
    print(format_table(report), end="")
    return 0


def _grade_class(args: argparse.Namespace) -> int:
    teacher = args.teacher or CHECKOUT_ROOT
    course = load_course(args.course or default_course_path(teacher))
    sandbox = require_sandbox(args.no_sandbox)
    task_ids = _teacher_task_ids(args, course)
    results = grade_class(args.submissions, course, task_ids, args.tests, args.hidden, args.timeout, args.jobs,
                          teacher_root=teacher, sandbox=sandbox)
    write_text_atomic(args.csv, class_csv(results, task_ids))
    width = max(len(student) for student, _ in results)
    for student, report in results:
        print(f"{student.ljust(width)}  {format_points(report.score)}/{format_points(report.max_score)}")
    print(f"wrote {args.csv}")
    return 0
