"""`tinydl notebook`: a lesson becomes a Jupyter notebook that runs on a real kernel."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

pytest.importorskip("jupytext", reason="pip install 'tinydl[notebook]'")
nbclient = pytest.importorskip("nbclient", reason="pip install 'tinydl[notebook]'")
pytest.importorskip("ipykernel", reason="pip install 'tinydl[notebook]'")


def _tinydl(*args: str, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "tinydl", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_lesson_06_notebook_executes_on_a_kernel(tmp_path):
    done = _tinydl("notebook", "06", "--quick", "--out", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "06_mlp_classifier_iris.ipynb"
    notebook = json.loads(path.read_text())
    kinds = [cell["cell_type"] for cell in notebook["cells"]]
    assert kinds[:2] == ["code", "markdown"]  # the options cell, then the lesson's docstring
    assert "06 — An MLP classifier on iris" in "".join(notebook["cells"][1]["source"])
    assert kinds.count("code") >= 6  # one per `# %%` cell of the script

    import nbformat

    executed = nbformat.read(path, as_version=4)
    env_backup = dict(os.environ)
    os.environ.update(PYTHONPATH=str(REPO), MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1")
    try:
        nbclient.NotebookClient(executed, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    printed = "".join(output.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                      for output in cell.get("outputs", []))
    accuracy = float(printed.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.6  # 3 classes: chance 0.33; 5 quick epochs measured 0.77 (full run: 0.95)
    assert (tmp_path / "runs").is_dir() and any((tmp_path / "runs").iterdir())


def test_lesson_copy_puts_an_editable_script_and_never_overwrites(tmp_path):
    done = _tinydl("lesson", "06", "--copy", str(tmp_path / "mine"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    copied = tmp_path / "mine" / "06_mlp_classifier_iris.py"
    assert copied.read_text() == (REPO / "lessons" / "06_mlp_classifier_iris.py").read_text()
    copied.write_text("# my edits\n")
    again = _tinydl("lesson", "06", "--copy", str(tmp_path / "mine"), cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr
    assert copied.read_text() == "# my edits\n"
