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
    group.addoption("--offer-equivalents", metavar="NAMES", default=None,
                    help='verify: comma-separated "module:qualname" functions of the task; run the task\'s '
                         "tests with every other function of the package in their place and record those that pass")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", 'task(id): the assignment task a test grades, e.g. task("2.1")')
    config.addinivalue_line("markers", "points(k): how many points the test is worth in an assignment")
    _use_deterministic_hypothesis()
    path = config.getoption("--task-results")
    if path:
        config.pluginmanager.register(_Recorder(path), "tinydl-task-recorder")
    offered = config.getoption("--offer-equivalents")
    if offered:
        config.pluginmanager.register(_EquivalentSearch(offered.split(","), path), "tinydl-equivalent-search")
    grading = os.environ.get(GRADING_CONFIG)
    if grading:
        _route_task_to_worker(config, grading)


def _route_task_to_worker(config: pytest.Config, config_path: str) -> None:
    """Trusted grading (grade.py): the task's functions run in the student's sandboxed worker.

    The grader's private copy of its modules (``GRADING_PACKAGE``, beside this file's copy) does
    it, so grading works whatever package the course teaches.
    """
    import importlib

    Proxy = importlib.import_module(f"{GRADING_PACKAGE}.proxy").Proxy
    sandbox = importlib.import_module(f"{GRADING_PACKAGE}.sandbox")
    Limits, Worker = sandbox.Limits, sandbox.Worker

    with open(config_path, encoding="utf-8") as file:
        settings = json.load(file)
    worker = Worker(settings["tree"], sandboxed=settings["sandboxed"], limits=Limits(**settings["limits"]),
                    stderr_path=settings.get("stderr"), callbacks=tuple(settings.get("callbacks", [])))
    Proxy(worker).install(settings["functions"], settings.get("callbacks", []))
    config.pluginmanager.register(_FreshWorkerPerTest(worker), "tinydl-grading-worker")
    config.add_cleanup(worker.stop)


# Modules never offered as an answer: tooling, files, plots, downloads (side effects, not maths).
_NOT_OFFERED = ("tinydl.assign", "tinydl.testing", "tinydl.cli", "tinydl.__main__", "tinydl.io", "tinydl.plot",
                "tinydl.viz", "tinydl.data", "tinydl.train", "tinydl.lessons", "tinydl.text", "tinydl.models")
_STATEFUL_PREFIXES = ("set_", "manual_seed", "use_", "seed", "register", "enable", "disable")
_CANDIDATE_SECONDS = 5


class _EquivalentSearch:
    """``--offer-equivalents``: is some other function of the package already this task's answer?

    For each of the task's functions and each other function of the package that takes as many
    positional arguments, the task's function is made to call the candidate, and the selected
    tests run again (without reporting). A candidate that makes any test pass is a leftover
    equivalent: the stripped tree still holds the answer. Each candidate gets a few seconds.
    """

    def __init__(self, targets: list[str], results_path: str | None) -> None:
        self.targets, self.results_path = targets, results_path

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        import importlib

        found, tried = [], 0
        failing = [item for item in session.items if not _passes(item)]  # one passing anyway proves nothing
        for target_name in self.targets:
            module_name, _, qualname = target_name.partition(":")
            target = importlib.import_module(module_name)
            for part in qualname.split("."):
                target = getattr(target, part)
            target = getattr(target, "__func__", target)
            original = target.__code__
            arity = _positional_arity(target)
            for name, candidate in _candidates(self.targets):
                if _positional_arity(candidate, at_least=arity) != arity:
                    continue
                tried += 1
                target.__globals__["__tinydl_offered__"] = candidate
                namespace: dict = {}
                exec("def offered(*args, **kwargs):\n    return __tinydl_offered__(*args, **kwargs)\n",
                     target.__globals__, namespace)
                target.__code__ = namespace["offered"].__code__
                try:
                    for item in failing:
                        if _passes(item):
                            found.append({"function": target_name, "candidate": name, "test": item.nodeid})
                            break
                finally:
                    target.__code__ = original
        if self.results_path:
            with open(self.results_path, "a", encoding="utf-8") as file:
                file.write(json.dumps({"event": "equivalents", "tried": tried, "found": found}) + "\n")
        return True


def _passes(item: pytest.Item) -> bool:
    """Run one test quietly (no report: formatting failures would cost far more than the test)."""
    import signal

    signal.signal(signal.SIGALRM, _too_slow)
    signal.alarm(_CANDIDATE_SECONDS)
    try:
        item.ihook.pytest_runtest_setup(item=item)
        item.runtest()
        return True
    except BaseException as error:  # any failure: not an equivalent
        if isinstance(error, KeyboardInterrupt):
            raise
        return False
    finally:
        signal.alarm(0)
        try:
            item.ihook.pytest_runtest_teardown(item=item, nextitem=None)
        except BaseException:
            pass


class _TooSlow(BaseException):
    """A candidate ran past its few seconds."""


def _too_slow(signum, frame):
    raise _TooSlow


def _positional_arity(function, at_least: int | None = None) -> int | None:
    """How many positional arguments ``function`` requires; with ``at_least``, that number when
    the function can also be called with exactly ``at_least`` of them, else None."""
    import inspect

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    if at_least is None:
        return sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   for p in signature.parameters.values())
    try:
        signature.bind(*range(at_least))
    except TypeError:
        return None
    return at_least


def _candidates(targets: list[str]):
    """("module:qualname", function) for every plain function and static method of the package."""
    import importlib
    import inspect
    import pkgutil

    package = importlib.import_module(targets[0].split(".")[0].split(":")[0])
    seen = set()
    modules = [package]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.startswith(_NOT_OFFERED):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except Exception:  # a module that needs a missing extra
            continue
    for module in modules:
        if module.__name__.startswith(_NOT_OFFERED):
            continue
        for owner_name, owner in [("", module), *((f"{n}.", c) for n, c in vars(module).items()
                                                  if inspect.isclass(c) and c.__module__ == module.__name__)]:
            for name, value in list(vars(owner).items()):
                function = value.__func__ if isinstance(value, staticmethod) else value
                if owner is not module and not isinstance(value, staticmethod):
                    continue  # a method needs its object: only static methods can stand in
                if not inspect.isfunction(function) and not hasattr(function, "py_func"):
                    continue
                if getattr(function, "__module__", None) != module.__name__ or name.startswith(_STATEFUL_PREFIXES):
                    continue
                qualified = f"{module.__name__}:{owner_name}{name}"
                if qualified in targets or id(function) in seen:
                    continue
                seen.add(id(function))
                yield qualified, function


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
            message=(first_failure_line(text) if report.when == "call"
                     else f"{report.when} failed: {first_failure_line(text)}"),
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
