"""A tiny synthetic course checkout for the tests of the assignment tools and the CLI.

It mirrors the layout of the real checkout: a package called ``tinydl`` (two modules, four
solution blocks), ``tinydl/assign/course.toml`` (two assignments of two tasks), a lesson,
public tests with task/points markers (and a helper module they import), one hidden test, and
the clutter a student tree must not get (caches, runs/, .git). Points: 1.1 = 2 public + 1 hidden,
1.2 = 3, 2.1 = 2, 2.2 = 2.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

TASK_POINTS = {"1.1": 3, "1.2": 3, "2.1": 2, "2.2": 2}
PUBLIC_POINTS = {"1.1": 2, "1.2": 3, "2.1": 2, "2.2": 2}

# The marker lines are built here, not written out, so this file never looks like a source
# with solution blocks to the tools reading it.
BEGIN = "### BEGIN" + " SOLUTION task"
END = "### END" + " SOLUTION"

OPS = f'''\
"""Two small operations."""


def add(a, b):
    """a + b for numbers."""
    {BEGIN} 1.1
    # HINT: use the + operator
    return a + b
    {END}


def scale(xs, k):
    """Each entry of xs times k."""
    out = []
    for x in xs:
        {BEGIN} 1.2
        out.append(x * k)
        {END}
    return out
'''

LAYERS = f'''\
"""Layers built on the operations."""

from tinydl.ops import add


def relu(xs):
    """Negative entries become zero."""
    {BEGIN} 2.1
    return [x if x > 0 else 0 for x in xs]
    {END}


class Summer:
    """Adds numbers up with ops.add."""

    def total(self, xs):
        {BEGIN} 2.2
        running_sum_of_entries = 0
        for x in xs:
            running_sum_of_entries = add(running_sum_of_entries, x)
        return running_sum_of_entries
        {END}
'''

COURSE = '''\
[[assignment]]
number = 1
title = "Operations"
lessons = ["01"]

[[assignment.task]]
id = "1.1"
title = "Addition"
points = 3
files = ["tinydl/ops.py"]

[[assignment.task]]
id = "1.2"
title = "Scaling"
points = 3
hint = "multiply each entry by k"

[[assignment]]
number = 2
title = "Layers"
lessons = ["01", "02"]

[[assignment.task]]
id = "2.1"
title = "ReLU"
points = 2

[[assignment.task]]
id = "2.2"
title = "Summing"
points = 2
'''

TEST_OPS = '''\
import pytest

from expected import SCALED
from tinydl.ops import add, scale


@pytest.mark.task("1.1")
@pytest.mark.points(1)
def test_add_integers():
    assert add(2, 3) == 5


@pytest.mark.task("1.1")
@pytest.mark.points(1)
def test_add_negative(numbers):
    assert add(numbers[0], -7) == -6


@pytest.mark.task("1.2")
@pytest.mark.points(3)
def test_scale():
    assert scale([1, 2, 3], 2) == SCALED


def test_not_graded():
    assert add(1, 1) == 2
'''

TEST_LAYERS = '''\
import pytest
from hypothesis import given, strategies as st

from tinydl.layers import Summer, relu


@pytest.mark.task("2.1")
@pytest.mark.points(2)
@given(st.lists(st.integers(-5, 5), min_size=1))
def test_relu(xs):
    assert relu(xs) == [max(x, 0) for x in xs]


@pytest.mark.task("2.2")
@pytest.mark.points(2)
def test_total(numbers):
    assert Summer().total(numbers) == 6
'''

CONFTEST = '''\
import pytest


@pytest.fixture
def numbers():
    return [1, 2, 3]
'''

HIDDEN_TEST = '''\
import pytest

from tinydl.ops import add


@pytest.mark.task("1.1")
@pytest.mark.points(1)
def test_add_floats():
    assert add(0.5, 0.25) == 0.75
'''

LESSON = '''\
"""01 — Adding numbers

Teaches: addition and scaling with tinydl.ops
Seed system: a pocket calculator
"""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--out", default="runs")
args = parser.parse_args()
print(f"lesson 01 quick={args.quick} out={args.out}")
'''

SETUP_CFG = '''\
[tool:pytest]
testpaths = tests
addopts = -ra --strict-markers -m "not slow"
markers =
    slow: slow
    task(id): the task a test grades
    points(k): points
'''


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (dedenting nothing) and return ``root``."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def make_course_tree(root: Path) -> Path:
    """Write the synthetic solution checkout under ``root`` and return ``root``."""
    return write_tree(root, {
        "setup.cfg": SETUP_CFG,
        "README.md": "# tinydl (synthetic)\n",
        "tinydl/__init__.py": '"""Synthetic package."""\n',
        "tinydl/ops.py": OPS,
        "tinydl/layers.py": LAYERS,
        "tinydl/assign/course.toml": COURSE,
        "lessons/01_adding.py": LESSON,
        "tests/conftest.py": CONFTEST,
        "tests/test_ops.py": TEST_OPS,
        "tests/expected.py": "SCALED = [2, 4, 6]  # a helper module the tests import\n",
        "tests/test_layers.py": TEST_LAYERS,
        "tests/hidden/test_hidden_ops.py": HIDDEN_TEST,
        # Clutter a student tree must not get.
        "runs/curve.txt": "old run\n",
        ".git/config": "[core]\n",
        "tinydl/__pycache__/ops.cpython-311.pyc": "compiled solution\n",
        ".pytest_cache/v/cache/lastfailed": "{}\n",
    })


def replace_in(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in the file at ``path`` by ``new``."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def dedent(text: str) -> str:
    """textwrap.dedent, for inline sources in tests."""
    return textwrap.dedent(text)


def restore_task(source: Path, course, tree: Path, task_id: str) -> None:
    """Solve ``task_id`` honestly in a stripped ``tree``: its solution blocks from ``source`` go back in."""
    from tinydl.assign.markers import find_solution_blocks

    for relative in course.task(task_id).files:
        blocks = [b for b in find_solution_blocks(Path(source) / relative) if b.task == task_id]
        target = Path(tree) / relative
        lines = target.read_text().splitlines(keepends=True)
        for block in blocks:
            index = next(i for i, line in enumerate(lines) if f'raise NotImplementedError("task {task_id}:' in line)
            lines[index:index + 1] = [line + "\n" for line in block.body]
        target.write_text("".join(lines))
