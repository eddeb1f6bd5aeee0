"""The benchmark runner works end to end in --quick mode (no timing assertions)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

from benchmarks import harness
from benchmarks.__main__ import markdown_table, notes


def test_benchmarks_quick_smoke_run_writes_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "overhead", "--threads", "default,1",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("| workload | torch")
    assert "| (a+b).sum() fwd+bwd, 1 element |" in completed.stdout
    assert "load average (1 min) before " in completed.stdout
    report = json.loads(out.read_text())
    rows = report["rows"]
    impls = {(r["impl"], r["threads"]) for r in rows}
    assert {("tinydl", "default"), ("tinydl", "1")} <= impls
    assert all(r["min_ms"] <= r["median_ms"] <= r["max_ms"] for r in rows)
    one_thread = next(r for r in rows if r["impl"] == "tinydl" and r["threads"] == "1")
    assert one_thread["threads_info"]["threads"] == 1  # the worker really ran on one thread
    assert set(report["load"]) >= {"load_before", "load_after", "others_cores", "cores"}


def test_benchmarks_unknown_name_is_a_clear_error():
    completed = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nonsense"],
                               cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode != 0
    assert "unknown benchmark" in completed.stderr and "overhead" in completed.stderr


def _report(loaded: bool) -> dict:
    def row(impl, threads, ms, ratio=None):
        return {"key": "mlp", "workload": "MLP", "impl": impl, "threads": threads,
                "median_ms": ms, "min_ms": ms, "max_ms": ms, "cpu_ms": ms / 2,
                "ratio_to_torch": ratio, "threads_info": {"threads": 2 if threads == "default" else 1}}

    return {"rows": [row("tinydl", "default", 2.0, 0.5), row("torch", "default", 4.0),
                     row("tinydl", "1", 3.0, 1.5), row("torch", "1", 2.0)],
            "loaded": loaded, "load": {"load_before": 3.0 if loaded else 0.1, "load_after": 1.0,
                                       "others_cores": 0.0, "cores": 2, "limit": 1.0}}


def test_table_prints_ratios_on_a_quiet_machine():
    table = markdown_table(_report(loaded=False), ["default", "1"])
    assert table.splitlines()[0] == ("| workload | torch | tinydl | ratio | torch, 1 thread | "
                                     "tinydl, 1 thread | ratio, 1 thread |")
    assert table.splitlines()[2] == "| MLP 784-256-256-10, b128, Adam | 4.00 ms | 2.00 ms | 0.50× | " \
                                    "2.00 ms | 3.00 ms | 1.50× |"


def test_table_refuses_ratios_on_a_loaded_machine():
    report = _report(loaded=True)
    table = markdown_table(report, ["default", "1"])
    assert "×" not in table and "ratio" not in table
    assert "tinydl (machine loaded)" in table.splitlines()[0]
    assert any(line.startswith("MACHINE LOADED") for line in notes(report, ["default", "1"]))


def test_busy_neighbour_runs_only_inside_its_block():
    with harness.BusyNeighbour() as busy:
        assert busy.process.poll() is None
    assert busy.process.poll() is not None


@pytest.mark.parametrize("load, others, loaded", [(0.2, 0.1, False), (1.5, 0.0, True), (0.1, 1.4, True)])
def test_loaded_when_load_before_or_others_use_passes_half_a_core(monkeypatch, load, others, loaded):
    monkeypatch.setattr(harness, "cores", lambda: 2)
    monkeypatch.setattr(harness.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(harness.CpuUseOfOthers, "stop", lambda self: others)
    monkeypatch.setattr(harness, "measure", lambda *a: harness.Result("mlp", "default"))
    assert harness.run(["mlp"], quick=True, rounds=1, progress=lambda _: None)["loaded"] is loaded
