"""Run the tests of some tasks in a separate pytest process, with a time limit, and read the outcomes.

A separate process is what keeps one broken task from costing the others: a student function
that loops forever is stopped at the time limit (the whole process group is killed, children
too), and one that kills the interpreter (``os._exit``, a segfault) only ends its own process.
The process imports the package of the tree being tested: the tree is the working directory and
comes first on PYTHONPATH (after the plugin, before the test folders), ahead of any installed copy.
Test modules are imported in pytest's importlib mode, which never puts a test folder's parent
(which could be a solution checkout) on sys.path.

Installed pytest plugins are not loaded (see ``_environment``). The plugin (pytest_plugin.py) is
copied into a fresh temporary folder under its own module name, so the copy inside a student tree
is never the one that records the outcomes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_SOURCE = Path(__file__).with_name("pytest_plugin.py")
PLUGIN_MODULE = "tinydl_task_plugin"
GRADING_MODULES = ("proxy.py", "sandbox.py", "wire.py", "worker.py", "errors.py")
ALL_TASKS = "all"
_OUTPUT_TAIL = 4000  # characters of the process's own output kept for messages


@dataclass(frozen=True)
class CollectedTest:
    """A test pytest collected: its node id, file, name, task id and points (None: no marker)."""

    nodeid: str
    path: Path
    name: str
    task: str | None
    points: float | None


@dataclass(frozen=True)
class TestOutcome:
    """How one test ended: "passed", "failed", "error" or "skipped", the first failure line, the traceback."""

    outcome: str
    message: str
    details: str


@dataclass
class PytestRun:
    """What a pytest process did. ``collected`` is None when it ended before collection finished."""

    collected: list[CollectedTest] | None = None
    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    collect_errors: list[str] = field(default_factory=list)
    finished: bool = False
    returncode: int | None = None
    timed_out: bool = False
    timeout: float = 0.0
    output: str = ""
    equivalents: list[dict] | None = None  # --offer-equivalents: what passed in the task's place

    def problem(self) -> str | None:
        """Why the process did not end normally (time limit, crash), or None when it did."""
        if self.timed_out:
            return f"timed out after {self.timeout:g} s (an endless loop, or far too slow); the tests were stopped"
        if self.finished:
            return None
        code = self.returncode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the test process was killed by {name} (a crash in the code under test)"
        return (f"the test process exited with code {code} before finishing "
                "(os._exit, sys.exit or a crash in the code under test)")


def run_pytest(tree: Path, test_paths: list[Path], tasks: list[str], timeout: float,
               collect_only: bool = False, ignore: list[Path] = (), test_roots: list[Path] = (),
               extra_env: dict[str, str] | None = None, extra_args: list[str] = ()) -> PytestRun:
    """Run the tests of ``tasks`` (task ids, or ["all"]) found under ``test_paths`` against ``tree``.

    The process runs in ``tree`` with ``tree`` first on PYTHONPATH, so ``import tinydl`` there
    means the tree's package; it is killed after ``timeout`` seconds. ``ignore`` lists folders to
    skip. ``test_roots`` (default: the folders among ``test_paths``, and the folders of the files)
    come next on PYTHONPATH, so tests can import helper modules that sit beside them.
    ``extra_env`` is added to the process's environment (grade.py passes the grading config);
    ``extra_args`` to pytest's command line (verify.py's ``--offer-equivalents``).
    """
    tree = Path(tree).resolve()
    paths = [Path(p).resolve() for p in test_paths]
    roots = [Path(p).resolve() for p in test_roots] or [p if p.is_dir() else p.parent for p in paths]
    rootdir = Path(os.path.commonpath([tree, *paths]))
    # (imported here: the plugin imports pytest, and the tinydl command starts without it)
    from tinydl.assign.pytest_plugin import GRADING_PACKAGE

    with tempfile.TemporaryDirectory(prefix="tinydl-grade-") as scratch:
        scratch = Path(scratch)
        shutil.copyfile(PLUGIN_SOURCE, scratch / f"{PLUGIN_MODULE}.py")
        grading = scratch / GRADING_PACKAGE
        grading.mkdir()
        (grading / "__init__.py").write_text('"""The grader\'s private copy of its trusted modules."""\n')
        for name in GRADING_MODULES:
            shutil.copyfile(PLUGIN_SOURCE.with_name(name), grading / name)
        (scratch / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        results = scratch / "results.jsonl"
        results.touch()
        command = [
            sys.executable, "-m", "pytest", *map(str, paths),
            "-p", PLUGIN_MODULE, *(arg for task in tasks for arg in ("--task", task)),
            "--task-results", str(results),
            # Our own empty config, so the tree's setup.cfg (addopts, -m "not slow") does not apply.
            "-c", str(scratch / "pytest.ini"), "--rootdir", str(rootdir), "--confcutdir", str(rootdir),
            # importlib mode never puts a tests folder's parent (a solution checkout) on sys.path.
            "--import-mode=importlib", "-p", "no:cacheprovider", "--continue-on-collection-errors",
            "--tb=short", "-q", "--no-header",
            *(arg for folder in ignore for arg in ("--ignore", str(folder))),
            *(["--collect-only"] if collect_only else []), *extra_args,
        ]
        run = PytestRun(timeout=timeout)
        output_path = scratch / "output.txt"
        with open(output_path, "wb") as output:
            env = {**_environment([scratch, tree, *roots]), **(extra_env or {})}
            process = subprocess.Popen(command, cwd=tree, env=env, stdout=output,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                run.returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                run.timed_out = True
                _kill_group(process)
                run.returncode = process.wait()
            _kill_group(process)  # children the tests left behind
        run.output = output_path.read_text(encoding="utf-8", errors="replace")[-_OUTPUT_TAIL:]
        _read_results(results, run)
    return run


def _environment(python_path: list[Path]) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(name, None)  # options from the caller's shell must not change a grade
    env.update(
        # Installed pytest plugins are not loaded: they could reorder or skip tests, and loading
        # them costs about a second per process. Graded tests may use pytest and hypothesis only.
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        PYTHONPATH=os.pathsep.join(dict.fromkeys(map(str, python_path))),
        PYTHONDONTWRITEBYTECODE="1",  # leave no compiled files in the graded tree
        PYTHONHASHSEED="0",
        MPLBACKEND="Agg",
    )
    return env


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the process and everything it started (its process group, where the platform has them)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # the group is already gone
    elif process.poll() is None:
        process.kill()


def _read_results(path: Path, run: PytestRun) -> None:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        event = record.get("event")
        if event == "collected":
            run.collected = [
                CollectedTest(t["nodeid"], Path(t["path"]), t["name"], t["task"], t["points"]) for t in record["tests"]
            ]
        elif event == "collect_error":
            run.collect_errors.append(f"{record['path']}: {record['message']}")
        elif event == "start":
            run.started.append(record["nodeid"])
        elif event == "result":
            run.outcomes[record["nodeid"]] = TestOutcome(record["outcome"], record["message"], record["details"])
        elif event == "finished":
            run.finished = True
        elif event == "equivalents":
            run.equivalents = list(record["found"])
