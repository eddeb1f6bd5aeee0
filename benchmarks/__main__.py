"""Print the benchmark table of tinydl against PyTorch and DeZero (``python -m benchmarks``).

Each library runs in its own worker process, in rounds alternating between them, with its
default threads and then with everything on one thread (benchmarks/harness.py says how and
why). PyTorch is the reference (the "ratio" column); DeZero, where installed, adds its time and
tinydl/DeZero on the workloads it can express. Without a peer its columns are left out.

    python -m benchmarks                    # the full table (about ten minutes)
    python -m benchmarks --quick            # a smoke run: small sizes, one short round, default threads
    python -m benchmarks --only mlp,gpt --json results.json
    python -m benchmarks --threads 1        # only the one-thread column
    python -m benchmarks --only gemm_mlp,gemm_lstm,gemm_lstm_wgrad,gemm_gpt   # BLAS alone

The gemm_* rows (benchmarks/bench_gemm.py) time one matrix product each, NumPy's BLAS against
PyTorch's; they run only when named with --only.

The individual scripts (``python -m benchmarks.bench_kernels`` and the other bench_*.py)
time kernels and variants inside one process, for development.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks import harness
from benchmarks.common import format_ms
from benchmarks.workloads import FULL_RUN, WORKLOADS

LABELS = {"torch": "torch", "tinydl": "tinydl", "dezero": "DeZero"}


def _cell(row: dict | None) -> str:
    return "–" if row is None else format_ms(row["median_ms"])


def _ratio(row: dict | None, peer: str) -> str:
    ratio = None if row is None else row.get(f"ratio_to_{peer}")
    return "–" if ratio is None else f"{ratio:.2f}×"


def shown_libraries(report: dict) -> list[str]:
    """torch and tinydl always, DeZero when the report has a DeZero row: the table's order."""
    return ["torch", "tinydl"] + (["dezero"] if any(r["impl"] == "dezero" for r in report["rows"]) else [])


def markdown_table(report: dict, thread_settings) -> str:
    """The table: per workload, torch, tinydl (and DeZero) per thread setting, ratios unless loaded.

    Per thread setting the columns are torch, tinydl, ratio (tinydl / torch, the reference),
    then, with DeZero rows, DeZero and tinydl/DeZero; on a loaded machine the times and the
    CPU time per step of each library, and no ratios. "–": the library did not run that row.
    """
    rows = {(r["key"], r["threads"], r["impl"]): r for r in report["rows"]}
    names = list(dict.fromkeys(r["key"] for r in report["rows"]))
    libraries = shown_libraries(report)
    suffix = {"default": "", "1": ", 1 thread"}
    loaded = report["loaded"]
    header = ["workload"]
    for threads in thread_settings:
        label = suffix.get(threads, f", {threads} threads")
        if loaded:
            header += [f"{LABELS[lib]}{label} (machine loaded)" for lib in libraries]
            header += [f"{LABELS[lib]} CPU/step{label}" for lib in libraries]
        else:
            header += [f"torch{label}", f"tinydl{label}", f"ratio{label}"]
            if "dezero" in libraries:
                header += [f"DeZero{label}", f"tinydl/DeZero{label}"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for name in names:
        cells = [WORKLOADS[name].title]
        for threads in thread_settings:
            found = {lib: rows.get((name, threads, lib)) for lib in libraries}
            if loaded:
                cells += [_cell(found[lib]) for lib in libraries]
                cells += [_cell(found[lib] and {"median_ms": found[lib]["cpu_ms"]}) for lib in libraries]
                continue
            cells += [_cell(found["torch"]), _cell(found["tinydl"]), _ratio(found["tinydl"], "torch")]
            if "dezero" in libraries:
                cells += [_cell(found["dezero"]), _ratio(found["tinydl"], "dezero")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dezero_notes(report: dict) -> list[str]:
    """What the DeZero columns mean, why a row has none, or that DeZero is not installed."""
    if not report.get("peers", {}).get("dezero", True):
        return ['DeZero not installed: its columns are left out (pip install "tinydl[dezero]", '
                "which pins dezero==0.0.13)."]
    names = list(dict.fromkeys(r["key"] for r in report["rows"]))
    lines = []
    if "dezero" in shown_libraries(report):
        lines.append("DeZero 0.0.13: float32 inputs and weights, float32 forward; its backward promotes "
                     "the gradients to float64 on NumPy 2 (benchmarks/dezero_steps.py says where). "
                     "No set_num_threads: its 1-thread setting limits NumPy's BLAS with threadpoolctl.")
    for name in names:
        why = WORKLOADS[name].unsupported.get("dezero")
        if why:
            lines.append(f"DeZero – on {WORKLOADS[name].title}: {why}.")
    return lines


def notes(report: dict, thread_settings) -> list[str]:
    """Lines under the table: load, the busy-neighbour slowdown, DeZero, the threads each side used."""
    load = report["load"]
    others = "unknown" if load["others_cores"] is None else f"{load['others_cores']:.2f} cores"
    lines = [(f"load average (1 min) before {load['load_before']:.2f}, after {load['load_after']:.2f} "
              f"(after includes this benchmark); other processes used {others} meanwhile; "
              f"{load['cores']} cores")]
    if report["loaded"]:
        lines.append(f"MACHINE LOADED (above {harness.LOADED_PER_CORE} per core): ratios are not "
                     "printed; rerun on a quiet machine. CPU/step is the worker's CPU time per step.")
    rows = {(r["key"], r["threads"], r["impl"]): r for r in report["rows"]}
    libraries = ("tinydl",) + harness.PEERS
    for key, title in (("iris", "Iris"), ("lstm", "LSTM")):
        for impl in libraries:
            idle, busy = rows.get((key, "default", impl)), rows.get((f"{key}_busy", "default", impl))
            if idle and busy and not report["loaded"]:
                lines.append(f"{impl}: {title} step beside one busy process {format_ms(busy['median_ms'])} "
                             f"vs {format_ms(idle['median_ms'])} idle: "
                             f"{busy['median_ms'] / idle['median_ms']:.2f}×")
    lines += dezero_notes(report)
    for threads in thread_settings:
        for impl in libraries:
            info = next((r["threads_info"] for r in report["rows"]
                         if r["threads"] == threads and r["impl"] == impl), None)
            if info:
                lines.append(f"{impl} ({threads} threads setting): "
                             + ", ".join(f"{k} {v}" for k, v in info.items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one short round (smoke run)")
    parser.add_argument("--only", default="", help=f"comma-separated workloads: {', '.join(WORKLOADS)}")
    parser.add_argument("--threads", default=None,
                        help='thread settings, comma-separated: "default" and/or a count '
                             '(default: default,1; with --quick: default)')
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 5; 1 with --quick)")
    parser.add_argument("--json", metavar="PATH", nargs="?", const="-",
                        help="also write the rows as JSON (to stdout with no PATH)")
    args = parser.parse_args(argv)
    names = FULL_RUN
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in WORKLOADS]
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; available: {', '.join(WORKLOADS)}")
        names = wanted
    threads = args.threads or ("default" if args.quick else "default,1")
    thread_settings = [t.strip() for t in threads.split(",") if t.strip()]
    bad = [t for t in thread_settings if t != "default" and not t.isdigit()]
    if bad or not thread_settings:
        parser.error(f"--threads: {bad or threads!r} is not 'default' or a thread count")
    rounds = args.rounds or (1 if args.quick else 5)
    report = harness.run(names, args.quick, rounds, thread_settings,
                         progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(markdown_table(report, thread_settings))
    print()
    print("\n".join(notes(report, thread_settings)))
    if args.json == "-":
        print(json.dumps(report, indent=2))
    elif args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
