"""Every lesson runs with --quick, exits cleanly, prints what it measured and saves a figure."""
from __future__ import annotations

import re

import pytest
from conftest import LESSONS

# the last line of a lesson stopped by tinydl.errors.MissingResourceError or a subclass of it
MISSING_RESOURCE = re.compile(r"(?:MissingResourceError|DatasetNotFoundError|WeightsNotFoundError)"
                              r": (.*)")


def _prefix(path):
    return path.name.split("_")[0]


@pytest.mark.parametrize("prefix", [_prefix(p) for p in LESSONS])
def test_lesson_runs_quick(run_lesson, prefix):
    run = run_lesson(prefix)
    missing = MISSING_RESOURCE.search(run.stderr) if run.returncode != 0 else None
    if missing:  # a data set or pretrained weights this machine lacks; the message says how
        pytest.skip(f"{run.path.name} needs what this machine lacks: {missing.group(1)[:300]}")
    assert run.returncode == 0, f"{run.path.name} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    assert run.stdout.strip(), "a lesson prints what it measured"
    assert run.files(), f"{run.path.name} saved nothing under --out"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_header_follows_the_convention(path):
    doc = path.read_text().split('"""')[1]
    first = doc.strip().splitlines()[0]
    assert re.match(r"^\d\d[a-z]? — \S", first), f"first docstring line must be 'NN — Title': {first}"
    assert "Teaches:" in doc and "Seed system:" in doc
    assert "sys.path" not in path.read_text()
    assert "# %%" in path.read_text()


def test_lesson_01_three_ways_agree(run_lesson):
    run = run_lesson("01")
    worst = float(re.search(r"largest disagreement: (\S+)", run.stdout).group(1))
    assert worst < 1e-6
    assert "01_graph.dot" in run.files()


def test_lesson_02_catches_the_bug_and_runs_hypothesis(run_lesson):
    run = run_lesson("02")
    assert "gradcheck caught the buggy backward" in run.stdout
    assert int(re.search(r"hypothesis checked softplus on (\d+)", run.stdout).group(1)) >= 10


def test_lesson_15_trains_on_the_available_device(run_lesson):
    run = run_lesson("15")
    device = re.search(r"^device: (\w+)", run.stdout, re.M).group(1)
    assert device in ("cpu", "cuda")
    if device == "cpu":
        assert "No GPU here" in run.stdout and "pip install 'tinydl[cuda]'" in run.stdout
    first, last = map(float, re.search(r"loss (\S+) -> (\S+),", run.stdout).groups())
    assert last < first
    assert "add: inputs are on different devices" in run.stdout


def test_lesson_16_all_reduce_by_hand_and_equal_weights(run_lesson):
    run = run_lesson("16")
    by_hand = float(re.search(r"largest difference: (\S+) \(the average", run.stdout).group(1))
    assert by_hand < 1e-12
    weight_lines = re.findall(r"^  (1 process x 2 threads|mpirun -n 2, 1 thread each) +(\S+)$",
                              run.stdout, re.M)
    assert any(name == "1 process x 2 threads" for name, _ in weight_lines)
    assert all(float(diff) < 1e-5 for _, diff in weight_lines), weight_lines
    if not any(name.startswith("mpirun") for name, _ in weight_lines):
        assert "MPI not found" in run.stdout and "pip install 'tinydl[mpi]'" in run.stdout
