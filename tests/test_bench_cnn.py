"""bench_cnn runs in --quick mode and reports both seed nets beside torch (no timing asserts)."""
from __future__ import annotations

import pytest

from benchmarks import bench_cnn


def test_bench_cnn_quick_rows_and_table():
    pytest.importorskip("torch")
    rows = bench_cnn.run(quick=True)  # raises if tinydl and torch disagree on the first loss
    assert {(r["workload"].split()[0], r["impl"]) for r in rows} == {
        ("seed002", "tinydl"), ("seed002", "torch"), ("seed004", "tinydl"), ("seed004", "torch")}
    for row in rows:
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"]
        assert row["epoch_s"] > 0 and row["ratio_to_torch"] > 0
    table = bench_cnn.format_table(rows)
    assert table.count("\n") == 5 and "| seed004 b64 adam step | torch |" in table
