"""Shared test settings: a repeatable hypothesis profile, the torch oracle fixture and other
fixtures several test files use."""
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=8,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("thorough", deadline=None, max_examples=100,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="session")
def budget_stays_put():
    """The default thread budget does not follow the machine's load during the tests: on a busy
    machine it would change mid-suite which kernel copies run. tests/test_threads.py checks
    follow_machine_load with a clock and CPU counters of its own."""
    from tinydl import threads

    threads.LOAD_CHECK_SECONDS = math.inf
    yield


@pytest.fixture
def slice_counts(monkeypatch):
    """A list that gets, for each call of tinydl.threads.over_batch_slices during the test, how
    many slices it ran (1: the batch was not split)."""
    from tinydl import threads

    counts = []
    unspied = threads.over_batch_slices

    def spy(fn, batch, work, min_work=None):
        results = unspied(fn, batch, work, min_work)
        counts.append(len(results))
        return results

    monkeypatch.setattr(threads, "over_batch_slices", spy)
    return counts


@pytest.fixture
def course_rng(request):
    """Random inputs for the graded course tests: fresh each grading run, repeatable otherwise.

    ``tinydl assign grade`` seeds it with a secret drawn per run (TINYDL_GRADING_SEED, set only
    in the trusted test process, never in the student's sandbox), so a submission cannot be
    tuned to the inputs; outside grading the seed is 0 and each test's inputs are fixed.
    """
    import zlib

    import numpy as np

    secret = int(os.environ.get("TINYDL_GRADING_SEED", "0"))
    return np.random.default_rng([secret, zlib.crc32(request.node.nodeid.encode())])


@pytest.fixture
def torch():
    """PyTorch as a test oracle; tests using it skip cleanly when it is not installed."""
    return pytest.importorskip("torch")


# ---- lessons: each runs once per test session with --quick; tests share the result ----------

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted((REPO / "lessons").glob("[0-9][0-9]*_*.py"))


class LessonRun:
    """The outcome of ``python lessons/<name>.py --quick --out <dir>``."""

    def __init__(self, path: Path, out_dir: Path, completed: subprocess.CompletedProcess):
        self.path, self.out_dir = path, out_dir
        self.returncode, self.stdout, self.stderr = (completed.returncode, completed.stdout,
                                                     completed.stderr)

    def files(self) -> list[str]:
        return sorted(p.name for p in self.out_dir.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def run_lesson(tmp_path_factory):
    """run_lesson("01") -> LessonRun; each lesson runs at most once per session."""
    # one BLAS thread: small matmuls in a busy process pool run faster that way, and the
    # printed results do not depend on the thread count
    cache: dict[str, LessonRun] = {}

    def run(prefix: str) -> LessonRun:
        matches = [p for p in LESSONS if p.name.split("_")[0] == prefix]
        assert len(matches) == 1, f"no single lesson numbered {prefix}: {matches}"
        path = matches[0]
        if prefix not in cache:
            out_dir = tmp_path_factory.mktemp(f"lesson{prefix}")
            env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
            completed = subprocess.run(
                [sys.executable, str(path), "--quick", "--out", str(out_dir)], cwd=out_dir,
                env=env, capture_output=True, text=True, timeout=600)
            cache[prefix] = LessonRun(path, out_dir, completed)
        return cache[prefix]

    return run
