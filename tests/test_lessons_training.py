"""The training lessons (03-06a) run with --quick and print what they measured."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LESSONS = REPO_ROOT / "lessons"


def run_lesson(name, tmp_path):
    # One BLAS thread: on a busy 2-core machine OpenBLAS's spinning threads make these small
    # matmuls up to 10x slower; the printed results do not depend on the thread count.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg",
           "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(LESSONS / name), "--quick", "--out", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def number_after(label, text):
    match = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", text)
    assert match, f"no number after {label!r} in:\n{text}"
    return float(match.group(1))


@pytest.mark.parametrize("name", ["03_linear_regression.py", "04_mlp_from_scratch_iris.py",
                                  "05_optimizers.py", "06_mlp_classifier_iris.py",
                                  "06a_metrics_and_training_strategies.py"])
def test_lesson_header_follows_the_rules(name):
    text = (LESSONS / name).read_text()
    docstring = text.split('"""')[1]
    number = name.split("_")[0]
    assert docstring.startswith(f"{number} — ")
    assert "\nTeaches: " in docstring and "\nSeed system: " in docstring
    assert "# %%" in text and "--quick" in text and "manual_seed(" in text
    assert "sys.path" not in text


def test_03_linear_regression(tmp_path):
    out = run_lesson("03_linear_regression.py", tmp_path)
    assert number_after("final train MSE:", out) < 1.0  # 3 quick epochs already fit most of it
    assert number_after("max |learned - true| coefficient:", out) < 0.5
    assert (tmp_path / "03_loss_curve.png").stat().st_size > 0


def test_04_mlp_from_scratch_gradients_agree(tmp_path):
    out = run_lesson("04_mlp_from_scratch_iris.py", tmp_path)
    assert number_after("max |hand-written gradient - tinydl gradient| =", out) < 1e-10
    assert number_after("max loss difference over training:", out) < 1e-10
    hand, library = re.search(r"test accuracy: by hand ([0-9.]+), tinydl ([0-9.]+)", out).groups()
    assert hand == library
    assert (tmp_path / "04_loss_curve.png").stat().st_size > 0


def test_05_optimizers_follow_their_formulas(tmp_path):
    out = run_lesson("05_optimizers.py", tmp_path)
    diffs = [float(d) for d in re.findall(r"by hand vs tinydl max diff ([0-9.e+-]+)", out)]
    assert len(diffs) == 3 and max(diffs) < 1e-8
    assert len(re.findall(r"spirals MLP (SGD|momentum|Adam) ", out)) == 3
    assert (tmp_path / "05_rosenbrock.png").stat().st_size > 0
    assert (tmp_path / "05_mlp.png").stat().st_size > 0


def test_06_mlp_classifier_iris(tmp_path):
    out = run_lesson("06_mlp_classifier_iris.py", tmp_path)
    assert 0.6 <= number_after("test accuracy", out) <= 1.0  # 5 quick epochs: well above chance
    assert (tmp_path / "06_history.png").stat().st_size > 0


def test_06a_metrics_and_training_strategies(tmp_path):
    out = run_lesson("06a_metrics_and_training_strategies.py", tmp_path)
    rows = re.findall(r"^(plain|cosine schedule|weight decay|early stopping)\s+(\d+)\s+([0-9.]+)",
                      out, flags=re.MULTILINE)
    assert [r[0] for r in rows] == ["plain", "cosine schedule", "weight decay", "early stopping"]
    assert all(0.5 < float(r[2]) <= 1.0 for r in rows)  # 3 quick epochs on digits
    assert "most frequent confusion:" in out
    assert (tmp_path / "06a_confusion_matrix.png").stat().st_size > 0
    assert (tmp_path / "06a_val_loss.png").stat().st_size > 0
