"""Lesson 14 runs with --quick: the three attention implementations agree, it prints times and
memory for each, and saves its figure."""
from __future__ import annotations

import re


def test_lesson_14_fast_kernels_agree_and_report_time_and_memory(run_lesson):
    lesson = run_lesson("14")
    assert lesson.returncode == 0, lesson.stderr
    online = re.search(r"online softmax over 3 blocks: .* difference (\S+)", lesson.stdout)
    assert online and float(online.group(1)) < 1e-12
    agreement = re.findall(r"^(numpy formula|tiled numpy|numba kernel)\s+max \|out - formula\| "
                           r"= (\S+)\s+max \|grad - reference\| = (\S+)$", lesson.stdout, re.M)
    assert {name for name, _, _ in agreement} >= {"numpy formula", "tiled numpy"}
    for name, out_diff, grad_diff in agreement:
        assert float(out_diff) < 1e-5 and float(grad_diff) < 1e-5, name
    fused = re.search(r"tinydl fused vs composed: max \|difference\| = (\S+)", lesson.stdout)
    assert fused and float(fused.group(1)) < 1e-5
    rows = re.findall(r"^T=(\d+)\s+(.+?)\s+fwd\+bwd\s+(\S+) ms\s+peak extra memory\s+(\S+) MiB$",
                      lesson.stdout, re.M)
    assert len(rows) >= 4 and all(float(ms) > 0 and float(mib) >= 0 for _, _, ms, mib in rows)
    assert "attention_timings.png" in lesson.files()
