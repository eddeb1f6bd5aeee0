"""A pytest plugin that runs the tests of chosen assignment tasks and records what happened.

Load it with ``-p``::

    python -m pytest tests -p tinydl.assign.pytest_plugin --task 2.1 [--task 2.2]

``--task N.M`` keeps only the tests marked ``@pytest.mark.task("N.M")`` (``--task all``: every
test marked with any task); pytest's ``-m`` cannot select on a marker's argument, hence this
plugin. With ``--task-results FILE`` it appends one JSON object per line to FILE, flushed at
once so that a crash of the process loses nothing already written:

    {"event": "collect_error", "path", "message", "details"}   a test file that failed to import
    {"event": "collected", "tests": [{"nodeid", "path", "name", "task", "points"}, ...]}
    {"event": "start", "nodeid": ...}                  as each test begins
    {"event": "result", "nodeid", "outcome", "message", "details"}   as each test ends;
        outcome is "passed", "failed" (the test body), "error" (setup or teardown) or "skipped"
    {"event": "finished", "exitstatus": ...}           when the session ends normally

It also makes hypothesis deterministic (derandomize, no deadline, no example database), so a
grade does not depend on luck or on how busy the machine is.

The grader copies this file and loads the copy, so it must import nothing from tinydl.
"""

from __future__ import annotations

import json
import os
import re

import pytest

ALL_TASKS = "all"
GRADING_CONFIG = "TINYDL_GRADING_CONFIG"
GRADING_PACKAGE = "tinydl_grading_private"  # runner.py copies proxy, sandbox, wire, worker there
HYPOTHESIS_PROFILE = "tinydl-grading"
_DETAILS_LIMIT = 4000  # characters of traceback kept per failed test


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tinydl", "tinydl assignment tasks")
    group.addoption("--task", action="append", default=[], metavar="N.M",
                    help='run only the tests marked @pytest.mark.task("N.M"); repeatable; "all" for every task')
    group.addoption("--task-results", metavar="FILE", default=None,
                    help="append per-test outcomes and points to FILE as JSON lines")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", 'task(id): the assignment task a test grades, e.g. task("2.1")')
    config.addinivalue_line("markers", "points(k): how many points the test is worth in an assignment")
    _use_deterministic_hypothesis()
    path = config.getoption("--task-results")
    if path:
        config.pluginmanager.register(_Recorder(path), "tinydl-task-recorder")
    grading = os.environ.get(GRADING_CONFIG)
    if grading:
        _route_task_to_worker(config, grading)


def _route_task_to_worker(config: pytest.Config, config_path: str) -> None:
    """Trusted grading (grade.py): the task's functions run in the student's sandboxed worker.

    The grader's private copy of its modules (``GRADING_PACKAGE``, beside this file's copy) does
    it, so grading works whatever package the course teaches.
    """
    import importlib  # noqa: PLC0415

    Proxy = importlib.import_module(f"{GRADING_PACKAGE}.proxy").Proxy  # noqa: N806
    sandbox = importlib.import_module(f"{GRADING_PACKAGE}.sandbox")
    Limits, Worker = sandbox.Limits, sandbox.Worker  # noqa: N806

    with open(config_path, encoding="utf-8") as file:
        settings = json.load(file)
    worker = Worker(settings["tree"], sandboxed=settings["sandboxed"], limits=Limits(**settings["limits"]),
                    stderr_path=settings.get("stderr"), callbacks=tuple(settings.get("callbacks", [])))
    Proxy(worker).install(settings["functions"], settings.get("callbacks", []))
    config.pluginmanager.register(_FreshWorkerPerTest(worker), "tinydl-grading-worker")
    config.add_cleanup(worker.stop)


class _FreshWorkerPerTest:
    """A worker that died (or hung) fails the rest of its test at once, and restarts for the next."""

    def __init__(self, worker) -> None:
        self.worker = worker

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.worker.next_test()


def _use_deterministic_hypothesis() -> None:
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile(HYPOTHESIS_PROFILE, derandomize=True, deadline=None, database=None, print_blob=False)
    settings.load_profile(HYPOTHESIS_PROFILE)


def task_of(item: pytest.Item) -> str | None:
    """The task id of a test's ``task`` marker, or None when it has none."""
    marker = item.get_closest_marker("task")
    if marker is None:
        return None
    if len(marker.args) != 1 or marker.kwargs or not isinstance(marker.args[0], str):
        raise pytest.UsageError(
            f'{item.nodeid}: @pytest.mark.task takes one task id string, like task("2.1"); '
            f"got args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    return marker.args[0]


def points_of(item: pytest.Item) -> float | None:
    """The number in a test's ``points`` marker, or None when it has none."""
    marker = item.get_closest_marker("points")
    if marker is None:
        return None
    value = marker.args[0] if len(marker.args) == 1 and not marker.kwargs else None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.points takes one non-negative number, like points(2); "
            f"got args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    return value


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("--task"))
    if not wanted:
        return
    selected, deselected = [], []
    for item in items:
        task = task_of(item)
        chosen = task is not None and (ALL_TASKS in wanted or task in wanted)
        (selected if chosen else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected


class _Recorder:
    """Writes the JSON-lines record described in the module docstring."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._outcomes: dict[str, dict] = {}

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = report.longreprtext
            self._write({"event": "collect_error", "path": report.nodeid,
                         "message": first_failure_line(text), "details": text[-_DETAILS_LIMIT:]})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        tests = [
            {"nodeid": item.nodeid, "path": str(item.path), "name": item.name,
             "task": task_of(item), "points": points_of(item)}
            for item in session.items
        ]
        self._write({"event": "collected", "tests": tests})

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._outcomes[nodeid] = {"outcome": "passed", "message": "", "details": ""}
        self._write({"event": "start", "nodeid": nodeid})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = self._outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": "", "details": ""})
        if outcome["outcome"] != "passed" or report.passed:
            return  # keep the first thing that went wrong
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            outcome.update(outcome="skipped", message=str(reason))
            return
        text = report.longreprtext
        outcome.update(
            outcome="failed" if report.when == "call" else "error",
            message=first_failure_line(text) if report.when == "call" else f"{report.when} failed: {first_failure_line(text)}",
            details=text[-_DETAILS_LIMIT:],
        )

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        self._write({"event": "result", "nodeid": nodeid, **self._outcomes.pop(nodeid, {"outcome": "passed"})})

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self._write({"event": "finished", "exitstatus": int(exitstatus)})
        self._file.close()


def first_failure_line(text: str) -> str:
    """The exception of a pytest failure report: its first ``E   ...`` line, else its last line.

    For an exception group (hypothesis reporting several failures) it is the first exception
    inside the group. The grader's own module path is dropped from its StudentCodeError.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ") or line == "E"]
    grouped = not errors or errors[0].startswith("+")  # an exception group's box, or no E lines
    inner = [line.lstrip("|+ ").strip() for line in (errors or lines)]
    named = [line for line in inner if _EXCEPTION_LINE.match(line) and not line.startswith(_GROUPS)]
    named.sort(key=lambda line: not line.startswith(GRADING_PACKAGE))  # the submission's own error first
    if grouped and named:
        line = named[0]
    elif errors:
        line = errors[0]
    else:
        return lines[-1].strip() if lines else ""
    return line.split(".StudentCodeError: ", 1)[-1] if line.startswith(GRADING_PACKAGE) else line


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")
_GROUPS = ("ExceptionGroup", "BaseExceptionGroup", "hypothesis.errors.")
