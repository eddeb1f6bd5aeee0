"""Where one tinydl step's time goes: a one-thread CPU profile of a benchmark workload.

    python -m benchmarks.profile_step mlp [--steps 30] [--top 14]

Runs tinydl alone with ``tinydl.set_num_threads(1)`` and profiles with the thread's own CPU
clock (``time.thread_time``), so other programs on a busy machine do not change the figures:
they show the work each step does, function by function (time spent in the function itself,
as a share of the step). Workload names are those of ``python -m benchmarks --only``.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import tinydl
from benchmarks.workloads import WORKLOADS


def profile(name: str, steps: int, top: int) -> str:
    """The profile of ``steps`` steps of ``name`` as text: CPU ms per step, then top functions."""
    tinydl.set_num_threads(1)
    step = WORKLOADS[name].builders["tinydl"](False)
    for _ in range(3):
        step()
    start = time.thread_time()
    for _ in range(steps):
        step()
    per_step = (time.thread_time() - start) / steps
    profiler = cProfile.Profile(timer=time.thread_time)
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    lines = [f"== {name}: {per_step * 1e3:.2f} ms CPU per step on one thread "
             f"(profiled: {total / steps * 1e3:.2f} ms)"]
    entries = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:top]
    for (filename, line, function), (_, calls, own, _cumulative, _) in entries:
        where = f"{filename.rsplit('/', 2)[-1] if '/' in filename else filename}:{line}({function})"
        lines.append(f"  {own / total * 100:5.1f}%  {own / steps * 1e3:7.3f} ms  "
                     f"{calls / steps:6.0f} calls/step  {where}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=14)
    args = parser.parse_args()
    print(profile(args.workload, args.steps, args.top))


if __name__ == "__main__":
    main()
