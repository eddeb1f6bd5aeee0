"""Lesson 10 runs with --quick and reports agreement with the NumPy formulas and its figures."""
from __future__ import annotations

import re


def test_lesson_10_quick(run_lesson):
    result = run_lesson("10")
    tmp_path = result.out_dir
    assert result.returncode == 0, result.stderr
    diffs = re.findall(r"^(.+?)\s+max \|tinydl - numpy\| = (\S+)$", result.stdout, re.M)
    assert len(diffs) >= 10, result.stdout
    for what, value in diffs:
        assert float(value) < 1e-4, f"{what.strip()}: {value}"
    assert "gradcheck of causal attention: passed" in result.stdout
    for name in ("attention_map.png", "attention_map_causal.png"):
        assert (tmp_path / name).stat().st_size > 1000
