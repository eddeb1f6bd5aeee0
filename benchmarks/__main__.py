"""Print the benchmark table of tinydl against PyTorch (``python -m benchmarks``).

Each library runs in its own worker process, in rounds alternating between them, with its
default threads and then with everything on one thread (benchmarks/harness.py says how and
why). Without PyTorch only tinydl's times are printed.

    python -m benchmarks                    # the full table (about ten minutes)
    python -m benchmarks --quick            # a smoke run: small sizes, one short round, default threads
    python -m benchmarks --only mlp,gpt --json results.json
    python -m benchmarks --threads 1        # only the one-thread column

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
from benchmarks.workloads import WORKLOADS


def _cell(row: dict | None) -> str:
    return "–" if row is None else format_ms(row["median_ms"])


def _ratio(row: dict | None) -> str:
    return "–" if row is None or row["ratio_to_torch"] is None else f"{row['ratio_to_torch']:.2f}×"


def markdown_table(report: dict, thread_settings) -> str:
    """The table: per workload, torch and tinydl per thread setting, ratios unless loaded."""
    rows = {(r["key"], r["threads"], r["impl"]): r for r in report["rows"]}
    names = list(dict.fromkeys(r["key"] for r in report["rows"]))
    suffix = {"default": "", "1": ", 1 thread"}
    loaded = report["loaded"]
    header = ["workload"]
    for threads in thread_settings:
        label = suffix.get(threads, f", {threads} threads")
        if loaded:
            header += [f"torch{label} (machine loaded)", f"tinydl{label} (machine loaded)",
                       f"torch CPU/step{label}", f"tinydl CPU/step{label}"]
        else:
            header += [f"torch{label}", f"tinydl{label}", f"ratio{label}"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for name in names:
        cells = [WORKLOADS[name].title]
        for threads in thread_settings:
            torch_row, tinydl_row = rows.get((name, threads, "torch")), rows.get((name, threads, "tinydl"))
            cells += [_cell(torch_row), _cell(tinydl_row)]
            if loaded:
                cells += [_cell(row and {"median_ms": row["cpu_ms"]}) for row in (torch_row, tinydl_row)]
            else:
                cells.append(_ratio(tinydl_row))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes(report: dict, thread_settings) -> list[str]:
    """Lines under the table: load, the busy-neighbour slowdown, the threads each side used."""
    load = report["load"]
    others = "unknown" if load["others_cores"] is None else f"{load['others_cores']:.2f} cores"
    lines = [(f"load average (1 min) before {load['load_before']:.2f}, after {load['load_after']:.2f} "
              f"(after includes this benchmark); other processes used {others} meanwhile; "
              f"{load['cores']} cores")]
    if report["loaded"]:
        lines.append(f"MACHINE LOADED (above {harness.LOADED_PER_CORE} per core): ratios are not "
                     "printed; rerun on a quiet machine. CPU/step is the worker's CPU time per step.")
    rows = {(r["key"], r["threads"], r["impl"]): r for r in report["rows"]}
    for impl in ("tinydl", "torch"):
        idle, busy = rows.get(("iris", "default", impl)), rows.get(("iris_busy", "default", impl))
        if idle and busy and not report["loaded"]:
            lines.append(f"{impl}: Iris step beside one busy process {format_ms(busy['median_ms'])} vs "
                         f"{format_ms(idle['median_ms'])} idle: {busy['median_ms'] / idle['median_ms']:.2f}×")
    for threads in thread_settings:
        for impl in ("tinydl", "torch"):
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
    names = list(WORKLOADS)
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
