"""The benchmark runner works end to end in --quick mode (no timing assertions)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from benchmarks import harness
from benchmarks.__main__ import main, markdown_table, notes

needs_dezero = pytest.mark.skipif(importlib.util.find_spec("dezero") is None,
                                  reason='DeZero not installed (pip install "tinydl[dezero]")')


def _quick_overhead_run(tmp_path) -> tuple[str, dict]:
    """``python -m benchmarks --quick`` on the overhead row, both thread settings: (stdout, JSON report)."""
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "overhead", "--threads", "default,1",
         "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, json.loads(out.read_text())


def test_benchmarks_quick_smoke_run_writes_table_and_json(tmp_path):
    printed, report = _quick_overhead_run(tmp_path)
    assert printed.startswith("| workload | torch")
    assert "| (a+b).sum() fwd+bwd, 1 element |" in printed
    assert "load average (1 min) before " in printed
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


def _row(impl, threads, ms, ratio=None, key="mlp", ratio_to_dezero=None):
    return {"key": key, "workload": key, "impl": impl, "threads": threads,
            "median_ms": ms, "min_ms": ms, "max_ms": ms, "cpu_ms": ms / 2,
            "ratio_to_torch": ratio, "ratio_to_dezero": ratio_to_dezero,
            "threads_info": {"threads": 2 if threads == "default" else 1}}


def _report(loaded: bool, dezero_rows: tuple = ()) -> dict:
    return {"rows": [_row("tinydl", "default", 2.0, 0.5), _row("torch", "default", 4.0),
                     _row("tinydl", "1", 3.0, 1.5), _row("torch", "1", 2.0), *dezero_rows],
            "loaded": loaded, "load": {"load_before": 3.0 if loaded else 0.1, "load_after": 1.0,
                                       "others_cores": 0.0, "cores": 2, "limit": 1.0},
            "peers": {"torch": True, "dezero": bool(dezero_rows)}}


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


def _dezero_report(loaded: bool) -> dict:
    """MLP with DeZero on both settings; GPT (which DeZero cannot express) with torch and tinydl only."""
    rows = [_row("dezero", "default", 8.0), _row("dezero", "1", 6.0),
            _row("tinydl", "default", 20.0, 2.0, key="gpt"), _row("torch", "default", 10.0, key="gpt"),
            _row("tinydl", "1", 30.0, 3.0, key="gpt"), _row("torch", "1", 10.0, key="gpt")]
    report = _report(loaded, dezero_rows=rows)
    report["rows"][0]["ratio_to_dezero"], report["rows"][2]["ratio_to_dezero"] = 0.25, 0.5
    return report


def test_table_with_dezero_adds_its_time_and_the_tinydl_to_dezero_ratio():
    report = _dezero_report(loaded=False)
    lines = markdown_table(report, ["default", "1"]).splitlines()
    assert lines[0] == ("| workload | torch | tinydl | ratio | DeZero | tinydl/DeZero | torch, 1 thread | "
                        "tinydl, 1 thread | ratio, 1 thread | DeZero, 1 thread | tinydl/DeZero, 1 thread |")
    assert lines[2] == ("| MLP 784-256-256-10, b128, Adam | 4.00 ms | 2.00 ms | 0.50× | 8.00 ms | 0.25× | "
                        "2.00 ms | 3.00 ms | 1.50× | 6.00 ms | 0.50× |")
    assert lines[3] == ("| GPT-mini L4 H4 d128 T128 b32, AdamW | 10.00 ms | 20.00 ms | 2.00× | – | – | "
                        "10.00 ms | 30.00 ms | 3.00× | – | – |")
    lines = notes(report, ["default", "1"])
    assert any(line.startswith("DeZero – on GPT-mini") and "batched matmul" in line for line in lines)
    assert any("threadpoolctl" in line and "float64" in line for line in lines)


def test_table_with_dezero_on_a_loaded_machine_gives_times_and_cpu_but_no_ratios():
    table = markdown_table(_dezero_report(loaded=True), ["default"])
    assert "×" not in table and "ratio" not in table and "tinydl/DeZero" not in table
    assert table.splitlines()[0] == ("| workload | torch (machine loaded) | tinydl (machine loaded) | "
                                     "DeZero (machine loaded) | torch CPU/step | tinydl CPU/step | "
                                     "DeZero CPU/step |")
    assert "| 4.00 ms | 2.00 ms | 8.00 ms | 2.00 ms | 1.00 ms | 4.00 ms |" in table


def test_benchmarks_quick_without_dezero_leaves_its_columns_out_with_a_note(monkeypatch, capsys, tmp_path):
    real_installed = harness.installed
    monkeypatch.setattr(harness, "installed", lambda library: library != "dezero" and real_installed(library))
    out = tmp_path / "bench.json"
    assert main(["--quick", "--only", "overhead", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "DeZero" not in printed.splitlines()[0]
    assert 'DeZero not installed: its columns are left out (pip install "tinydl[dezero]"' in printed
    report = json.loads(out.read_text())
    assert report["peers"]["dezero"] is False
    assert {r["impl"] for r in report["rows"]} <= {"tinydl", "torch"}


@needs_dezero
def test_benchmarks_quick_smoke_run_with_dezero(tmp_path):
    printed, report = _quick_overhead_run(tmp_path)
    assert "DeZero" in printed.splitlines()[0]
    rows = {(r["impl"], r["threads"]): r for r in report["rows"]}
    assert {("dezero", "default"), ("dezero", "1")} <= set(rows)
    assert rows[("dezero", "1")]["threads_info"]["threads"] == 1  # BLAS limited by threadpoolctl
    for threads in ("default", "1"):  # one round: the ratio is that round's tinydl / DeZero
        tinydl, dezero = rows[("tinydl", threads)], rows[("dezero", threads)]
        assert tinydl["ratio_to_dezero"] == pytest.approx(tinydl["median_ms"] / dezero["median_ms"])
        assert dezero["ratio_to_dezero"] is None


def _libraries_loaded_by_builders(impl: str) -> dict:
    """Build every ``impl`` step in a fresh process: the workloads built and the tinydl/torch/dezero modules loaded."""
    code = f"""
import json, sys
from benchmarks.workloads import WORKLOADS
built = [name for name, w in WORKLOADS.items() if "{impl}" in w.builders and w.builders["{impl}"](True)]
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & {{"tinydl", "torch", "dezero"}})
print(json.dumps({{"built": built, "loaded": loaded}}))
"""
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                               timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


@needs_dezero
def test_dezero_steps_import_neither_tinydl_nor_torch():
    result = _libraries_loaded_by_builders("dezero")
    assert set(result["built"]) == {"mlp", "iris", "iris_busy", "seed002", "seed004", "lstm", "lstm_busy",
                                     "overhead"}
    assert result["loaded"] == ["dezero"]


@pytest.mark.torch
def test_torch_steps_never_import_tinydl():  # tinydl's import tunes malloc and threads: not torch's figures
    pytest.importorskip("torch")
    result = _libraries_loaded_by_builders("torch")
    assert set(result["built"]) == set(harness.WORKLOADS)
    assert result["loaded"] == ["torch"]


@needs_dezero
def test_dezero_steps_train_and_the_mlp_starts_at_tinydls_loss():
    from benchmarks.bench_mlp import make_problem, tinydl_step

    code = """
import json
import numpy as np
from benchmarks import dezero_steps, problems
X, y, weights = problems.mlp_problem()
model = dezero_steps.mlp_from(weights)
step = dezero_steps.training_step(model, X, y)
losses = {"mlp": [step() for _ in range(5)]}
for name, build in [("iris", dezero_steps.iris), ("seed002", dezero_steps.cnn("seed002")),
                    ("seed004", dezero_steps.cnn("seed004"))]:
    step = build(True)
    losses[name] = [step() for _ in range(5)]
print(json.dumps({"losses": losses, "dtypes": sorted({str(p.data.dtype) for p in model.params()})}))
"""
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                               timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.splitlines()[-1])
    for name, losses in result["losses"].items():
        assert losses[-1] < losses[0], (name, losses)  # five Adam steps on one batch lower its loss
    assert result["dtypes"] == ["float32"]
    assert result["losses"]["mlp"][0] == pytest.approx(tinydl_step(*make_problem())(), abs=1e-4)


def test_conv_product_variants_compute_the_products_they_name():
    """benchmarks/bench_conv_products.py times variants of one product: each must give it."""
    import numpy as np

    from benchmarks.bench_conv_products import products

    variants = products(4, 2, 18, 18, 2)  # O*K = 72: the image-by-image variant is among them
    results = {name: run() for name, run in variants.items()}
    assert "dW image by image" in results
    forward, one_product = results.pop("forward W @ cols"), results["dW grad @ cols^T"]
    assert forward.shape == (4, 2 * 16 * 16) and one_product.shape == (4, 18)
    for name, value in results.items():
        expected = one_product if name.startswith("dW") else results["dcols W^T @ grad"]
        np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-3, err_msg=name)


def test_gemm_rows_compute_the_products_they_name():
    """benchmarks/bench_gemm.py: each case's tinydl product is a @ b of the named shapes (b read
    transposed where a Linear layer reads it so), checked against float64 sums; only --only runs them."""
    import numpy as np

    from benchmarks import bench_gemm
    from benchmarks.workloads import FULL_RUN

    for name, (a_shape, b_shape, transposed, _) in bench_gemm.CASES.items():
        a, b = bench_gemm.operands(name)
        assert b.flags.c_contiguous != transposed  # a transposed view, as weight.T is
        got = bench_gemm.tinydl_product(name)()
        rows, inner = a_shape
        columns = b_shape[0] if transposed else b_shape[1]
        assert got.shape == (rows, columns) and got.dtype == np.float32
        want = np.einsum("mk,kn->mn", a.astype(np.float64), b.astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3 * np.sqrt(inner))
    assert "mlp" in FULL_RUN and not [name for name in FULL_RUN if name.startswith("gemm")]


@pytest.mark.torch
def test_gemm_rows_give_torch_the_same_product():
    pytest.importorskip("torch")
    import numpy as np

    from benchmarks import bench_gemm

    for name in bench_gemm.CASES:
        np.testing.assert_allclose(bench_gemm.torch_product(name)().numpy(),
                                   bench_gemm.tinydl_product(name)(), rtol=1e-4, atol=1e-2)


def test_lesson07_torch_loads_fashion_mnist_through_tinydl_in_a_child(tmp_path):
    """The torch yardstick gets its data from tinydl.data.fashion_mnist in a child process:
    IDX files written here come back as the same arrays, and the torch process never imports
    tinydl."""
    from tinydl.data import write_idx

    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": np.array([7, 9, 0, 1, 2, 3], dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": np.array([5, 4], dtype=np.uint8)}
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name, values in arrays.items():
        write_idx(values, folder / name)
    code = f"""
import json, sys
from benchmarks.lesson07_torch import load_fashion_mnist
data = load_fashion_mnist({str(tmp_path)!r})
print(json.dumps({{name: [a.shape, str(a.dtype), a.ravel().tolist()] for name, a in data.items()}}))
print("tinydl" in sys.modules)
"""
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    loaded, tinydl_imported = completed.stdout.splitlines()[-2:]
    loaded = json.loads(loaded)
    assert tinydl_imported == "False"
    for key, name in [("train_x", "train-images-idx3-ubyte"), ("train_y", "train-labels-idx1-ubyte"),
                      ("test_x", "t10k-images-idx3-ubyte"), ("test_y", "t10k-labels-idx1-ubyte")]:
        shape, dtype, values = loaded[key]
        assert tuple(shape) == arrays[name].shape and values == arrays[name].ravel().tolist()
        assert dtype == ("uint8" if key.endswith("_x") else "int64")
    # a broken file in that folder: the child's error (tinydl's, naming the file) comes back
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")
    from benchmarks.lesson07_torch import load_fashion_mnist

    with pytest.raises(RuntimeError, match="loading Fashion-MNIST failed(.|\n)*t10k-labels-idx1-ubyte"):
        load_fashion_mnist(str(tmp_path))
