"""Lesson 10 runs with --quick and reports agreement with the NumPy formulas and its figures."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_lesson_10_quick(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(REPO / "lessons" / "10_attention_from_scratch.py"), "--quick",
         "--out", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr
    diffs = re.findall(r"^(.+?)\s+max \|tinydl - numpy\| = (\S+)$", result.stdout, re.M)
    assert len(diffs) >= 10, result.stdout
    for what, value in diffs:
        assert float(value) < 1e-4, f"{what.strip()}: {value}"
    assert "gradcheck of causal attention: passed" in result.stdout
    for name in ("attention_map.png", "attention_map_causal.png"):
        assert (tmp_path / name).stat().st_size > 1000
