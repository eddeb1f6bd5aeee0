"""Start the worker (worker.py) that runs a student's code, inside a bubblewrap sandbox.

The sandbox (``bwrap``, Debian's ``bubblewrap`` package) gives the worker:

* no network (``--unshare-net``), its own IPC, host name and (unless it starts as root) user
  namespaces;
* a private PID namespace whose every process dies with the sandbox (``--die-with-parent``;
  the grader kills the sandbox after the task, so a double-forked ``setsid`` process dies too);
* a fresh root holding only /usr (read-only), the Python installation (read-only), the student
  tree at /student (read-only), the grader's copy of worker.py and wire.py at /grader
  (read-only) and a private tmpfs at /tmp; nothing of the teacher's checkout, tests or results;
* limits set before the student's package is imported: CPU seconds, address space, file size
  and (as an unprivileged user: as root the worker first drops to ``nobody``) process count;
* a wall-clock limit on every call, enforced from outside (the grader kills the sandbox).

Where bubblewrap is missing or cannot create namespaces, ``sandbox_problem()`` says why and
grading refuses to start unless asked for ``--no-sandbox`` (the worker then runs as a plain
process with the same limits, and the results say so).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import wire  # relative: the grader loads a private copy of these modules (runner.py)
from .errors import AssignError

WORKER_FILES = ("worker.py", "wire.py")
TREE_MOUNT = "/student"
GRADER_MOUNT = "/grader"
NOBODY = 65534
_PROBE_TIMEOUT = 20.0
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class Limits:
    """What one worker may use: wall-clock seconds per call, CPU seconds, bytes of memory,
    processes (of the sandbox's user) and bytes per written file."""

    call_seconds: float = 60.0
    cpu_seconds: int = 120
    memory_bytes: int = 4 << 30
    processes: int = 256
    file_bytes: int = 16 << 20

    def rlimits(self) -> dict[str, int]:
        running_as_root = os.geteuid() == 0
        # As root the worker drops to nobody, whose processes are counted from ~0; otherwise the
        # count includes every process of the grading user, so the margin goes on top of them.
        processes = self.processes if running_as_root else _user_process_count() + self.processes
        return {"RLIMIT_CPU": self.cpu_seconds, "RLIMIT_AS": self.memory_bytes,
                "RLIMIT_NPROC": processes, "RLIMIT_FSIZE": self.file_bytes, "RLIMIT_CORE": 0}


def _user_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                continue
    return count


def _python_roots() -> list[str]:
    """The folders the sandbox must show read-only for this Python and its packages to run."""
    executable_folder = os.path.dirname(os.path.realpath(sys.executable))
    roots = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, executable_folder)}
    return sorted(r for r in roots if not r.startswith("/usr"))


def bwrap_command(tree: Path, grader_dir: Path, scratch_size: int = 256 << 20) -> list[str]:
    """The bubblewrap command line (without the program to run) described in the module docstring."""
    command = [
        "bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
        "--size", str(scratch_size), "--perms", "1777", "--tmpfs", "/tmp",
    ]
    made: set[str] = set()
    for root in _python_roots():
        parents = list(Path(root).parents)[-2::-1]  # /root, /root/.pyenv, ... (without "/")
        for parent in map(str, parents):
            if parent not in made:  # readable by the user the worker drops to
                command += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        command += ["--ro-bind", root, root]
    command += ["--ro-bind", str(tree), TREE_MOUNT, "--ro-bind", str(grader_dir), GRADER_MOUNT,
                "--chdir", "/tmp", "--clearenv"]
    if os.geteuid() == 0:
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # only to drop to nobody
    else:
        command += ["--unshare-user"]
    return command


_PROBLEM: list[str | None] = []


def sandbox_problem() -> str | None:
    """Why the sandbox cannot run here (bwrap missing, namespaces refused), or None when it can."""
    if _PROBLEM:
        return _PROBLEM[0]
    problem = None
    if shutil.which("bwrap") is None:
        problem = "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    else:
        with tempfile.TemporaryDirectory(prefix="tinydl-probe-") as folder:
            os.chmod(folder, 0o755)
            command = [*bwrap_command(Path(folder), Path(folder)), os.path.realpath(sys.executable), "-I", "-c", "pass"]
            try:
                done = subprocess.run(command, capture_output=True, timeout=_PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as error:
                problem = f"bubblewrap could not start: {error}"
            else:
                if done.returncode != 0:
                    reason = done.stderr.decode(errors="replace").strip().splitlines()
                    why = reason[-1] if reason else done.returncode
                    problem = f"bubblewrap cannot create its namespaces here ({why})"
    _PROBLEM.append(problem)
    return problem


def require_sandbox(no_sandbox: bool) -> str:
    """"bubblewrap" when the sandbox works; "none" with ``no_sandbox``; else AssignError saying why."""
    if no_sandbox:
        return "none"
    problem = sandbox_problem()
    if problem is not None:
        raise AssignError(f"grade: refusing to run students' code without a sandbox: {problem}. "
                          "Install bubblewrap, or pass --no-sandbox to grade anyway (the results say so)")
    return "bubblewrap"


class WorkerDied(Exception):
    """The worker ended, timed out or answered something that is not a frame."""


@dataclass
class Worker:
    """One sandboxed worker for one student tree; restarted after it dies or times out."""

    tree: Path
    sandboxed: bool = True
    limits: Limits = field(default_factory=Limits)
    stderr_path: Path | None = None
    callbacks: tuple[str, ...] = ()  # other tasks' functions, answered by the grader (proxy.py)
    failure: str | None = None  # why the worker died in the current test: later calls fail at once
    process: subprocess.Popen | None = None
    _folder: str | None = None

    def start(self) -> None:
        self._folder = tempfile.mkdtemp(prefix="tinydl-worker-")
        os.chmod(self._folder, 0o755)
        for name in WORKER_FILES:
            target = Path(self._folder) / name
            shutil.copyfile(Path(__file__).with_name(name), target)
            os.chmod(target, 0o644)
        root = os.geteuid() == 0
        config = {"tree": TREE_MOUNT if self.sandboxed else str(self.tree), "limits": self.limits.rlimits(),
                  "drop_to": NOBODY if root and self.sandboxed else None, "callbacks": list(self.callbacks)}
        folder = GRADER_MOUNT if self.sandboxed else self._folder
        program = [os.path.realpath(sys.executable), "-I", f"{folder}/worker.py", json.dumps(config)]
        command = [*bwrap_command(Path(self.tree), Path(self._folder)), *program] if self.sandboxed else program
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "NUMBA_CACHE_DIR": "/tmp/numba",
               "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "TINYDL_KERNELS": "numpy"}
        stderr = open(self.stderr_path, "ab") if self.stderr_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                            env=env, cwd=self._folder, start_new_session=True)
        finally:
            if stderr is not subprocess.DEVNULL:
                stderr.close()

    def call(self, request_frame: bytes, hook, on_callback) -> object:
        """Send one call frame and read the answer (decoded with ``hook``); WorkerDied on any failure.

        While the student's function runs it may call a function of another task; the worker then
        sends ``{"callback": name, "args", "kwargs"}`` and ``on_callback(that)`` returns the frame
        to answer it with (the teacher's function's result). After the worker died, every call
        fails with the same reason until ``next_test()`` (hypothesis would restart it per example).
        """
        if self.failure is not None:
            raise WorkerDied(self.failure)
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.start()
        process = self.process
        deadline = time.monotonic() + self.limits.call_seconds

        def wait_readable() -> None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([process.stdout], [], [], left)[0]:
                raise TimeoutError

        try:
            wire.write_frame(process.stdin.fileno(), request_frame)
            read = wire.fd_reader(process.stdout.fileno(), wait_readable)
            while True:
                answer = wire.read_frame(read, hook)
                if not (isinstance(answer, dict) and "callback" in answer):
                    return answer
                wire.write_frame(process.stdin.fileno(), on_callback(answer))
        except TimeoutError:
            self.stop()
            self.failure = (f"timed out: the call took longer than {self.limits.call_seconds:g} s "
                            "(an endless loop, or far too slow); the worker was stopped")
        except (EOFError, BrokenPipeError, wire.WireError, ValueError, KeyError) as error:
            try:  # the pipe closes a moment before the process is reaped
                code = process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            self.failure = f"the submitted code ended the worker (exit status {code}): {error}"
        raise WorkerDied(self.failure)

    def next_test(self) -> None:
        """A new test starts: a worker that died in the last one may be started again."""
        self.failure = None

    def stderr_tail(self) -> str:
        if self.stderr_path is None or not Path(self.stderr_path).is_file():
            return ""
        with open(self.stderr_path, "rb") as file:
            file.seek(max(0, os.path.getsize(self.stderr_path) - _STDERR_TAIL))
            return file.read().decode("utf-8", errors="replace")

    def stop(self) -> None:
        """Kill the sandbox (and with it every process inside) and remove the worker's files."""
        process, self.process = self.process, None
        if process is not None:
            try:
                os.killpg(process.pid, 9)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
