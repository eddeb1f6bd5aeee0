"""Run every benchmark script and print one markdown table (``python -m benchmarks``).

Each ``benchmarks/bench_*.py`` has ``run(quick) -> rows``; rows from all scripts go into one
table of medians, min–max and the ratio to PyTorch measured in the same run.

    python -m benchmarks            # everything (minutes)
    python -m benchmarks --quick    # a smoke run (seconds)
    python -m benchmarks --only mlp,cnn --json results.json
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from benchmarks.common import environment, markdown_table


def discover() -> list[str]:
    return sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))


def _fill_missing_ratios(rows: list[dict]) -> None:
    """Ratio to the same workload's torch row, for scripts that do not compute it themselves."""
    torch_ms = {r["workload"]: r["median_ms"] for r in rows if r["impl"].startswith("torch")}
    for r in rows:
        if r.get("ratio_to_torch") is None and r["workload"] in torch_ms:
            r["ratio_to_torch"] = r["median_ms"] / torch_ms[r["workload"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. mlp,cnn")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        wanted = {f"bench_{n.removeprefix('bench_')}" for n in args.only.split(",")}
        unknown = wanted - set(names)
        if unknown:
            parser.error(f"unknown benchmark(s) {sorted(unknown)}; available: "
                         f"{', '.join(n.removeprefix('bench_') for n in names)}")
        names = [n for n in names if n in wanted]
    rows = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        for row in module.run(quick=args.quick):
            rows.append({"benchmark": name, **row})
    _fill_missing_ratios(rows)
    print(markdown_table(rows))
    env = environment()
    print()
    print("; ".join(f"{k}: {v}" for k, v in env.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
