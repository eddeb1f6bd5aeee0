"""The benchmark runner works end to end in --quick mode (no timing assertions)."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_benchmarks_quick_smoke_run_writes_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "overhead", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "| workload | impl | median |" in completed.stdout
    rows = json.loads(out.read_text())["rows"]
    impls = {r["impl"] for r in rows}
    assert "tinydl" in impls
    assert all(r["min_ms"] <= r["median_ms"] <= r["max_ms"] for r in rows)


def test_benchmarks_unknown_name_is_a_clear_error():
    completed = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nonsense"],
                               cwd=REPO, capture_output=True, text=True, timeout=60)
    assert completed.returncode != 0
    assert "unknown benchmark" in completed.stderr and "overhead" in completed.stderr
