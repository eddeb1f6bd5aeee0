"""The tinydl command starts on a plain install: pytest (a test dependency) is not needed to
list or run lessons, only to grade."""
import os
import subprocess
import sys

from conftest import REPO


def test_tinydl_lessons_runs_without_pytest(tmp_path):
    # a sitecustomize that makes `import pytest` fail, as on a machine without the test extra
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['pytest'] = None\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    done = subprocess.run([sys.executable, "-m", "tinydl", "lessons"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "06   An MLP classifier on iris" in done.stdout
