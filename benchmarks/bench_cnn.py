"""One Adam training step (batch 64, cross-entropy) of the two seed CNNs, tinydl beside torch.

* seed002: Seed002Net on (64, 1, 28, 28) images (Fashion-MNIST's shape);
* seed004: Seed004Net on (64, 3, 32, 32) images (CIFAR-10's shape).

Both implementations start from the same weights (torch's, copied into tinydl by name) and
must agree on the first loss. Steps are timed in interleaved rounds (timings on a shared
machine drift); the table gives the median with min–max, the ratio to torch measured in the
same run, and the projected time of one epoch (60,000 or 50,000 images / 64 per step).
torch runs with its default thread count, printed under the table with BLAS's.

    python benchmarks/bench_cnn.py [--quick] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable

import numpy as np

import tinydl
import tinydl.functional as F
from benchmarks.common import training_step
from benchmarks.problems import CNN_BATCH, cnn_batch
from benchmarks.torch_steps import cnn_step as torch_step_for  # the torch twins, with tinydl's layer names
from benchmarks.torch_steps import seed_net as torch_seed_net  # noqa: F401 (tests/test_vision_nn.py uses it)
from tinydl import optim
from tinydl.models import Seed002Net, Seed004Net

BATCH = CNN_BATCH
LR = 1e-3
NETS = {
    "seed002": {"model": Seed002Net, "epoch_images": 60_000},
    "seed004": {"model": Seed004Net, "epoch_images": 50_000},
}


def tinydl_step_for(name: str, images: np.ndarray, labels: np.ndarray,
                    state_dict: dict | None = None) -> Callable[[], float]:
    """One tinydl Adam step returning the loss; weights from ``state_dict`` when given."""
    tinydl.manual_seed(0)
    model = NETS[name]["model"]()
    if state_dict is not None:
        model.load_state_dict(state_dict)
    opt = optim.Adam(model.parameters(), lr=LR)
    return training_step(model, tinydl.tensor(images), tinydl.tensor(labels), opt, F.cross_entropy)


def steps_for(name: str) -> dict[str, Callable[[], float]]:
    """{impl: one training step returning the loss}, all from the same initial weights.

    Both libraries in one process: for checking that they agree, not for timing (their
    thread pools disturb each other; ``python -m benchmarks`` times each in its own process).
    """
    images, labels = cnn_batch(name)
    try:
        import torch
    except ImportError:
        return {"tinydl": tinydl_step_for(name, images, labels)}
    torch_step, torch_model = torch_step_for(torch, name, images, labels)
    weights = {k: v.detach().numpy() for k, v in torch_model.state_dict().items()}
    return {"tinydl": tinydl_step_for(name, images, labels, weights), "torch": torch_step}


def _time(step: Callable[[], float], count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def run(quick: bool = False) -> list[dict]:
    """Rows {workload, impl, median_ms, min_ms, max_ms, ratio_to_torch, epoch_s}."""
    warmup, rounds, per_round = (1, 1, 2) if quick else (5, 6, 5)
    rows = []
    for name, spec in NETS.items():
        steps = steps_for(name)
        first = {impl: step() for impl, step in steps.items()}
        if max(first.values()) - min(first.values()) > 1e-4:
            raise RuntimeError(f"bench_cnn: {name}: first losses disagree: {first}")
        for step in steps.values():
            _time(step, warmup)
        samples: dict[str, list[float]] = {impl: [] for impl in steps}
        for _ in range(rounds):
            for impl, step in steps.items():
                samples[impl].extend(_time(step, per_round))
        medians = {impl: statistics.median(times) for impl, times in samples.items()}
        steps_per_epoch = -(-spec["epoch_images"] // BATCH)
        for impl, times in samples.items():
            rows.append({"workload": f"{name} b{BATCH} adam step", "impl": impl,
                         "median_ms": medians[impl], "min_ms": min(times), "max_ms": max(times),
                         "ratio_to_torch": (medians[impl] / medians["torch"]
                                            if "torch" in medians else None),
                         "epoch_s": medians[impl] * steps_per_epoch / 1e3})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["| workload | impl | median ms | min–max ms | × torch | projected epoch |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        ratio = "n/a" if row["ratio_to_torch"] is None else f"{row['ratio_to_torch']:.2f}"
        lines.append(f"| {row['workload']} | {row['impl']} | {row['median_ms']:.1f} | "
                     f"{row['min_ms']:.1f}–{row['max_ms']:.1f} | {ratio} | "
                     f"{row['epoch_s']:.0f} s |")
    return "\n".join(lines)


def threads() -> str:
    """Thread counts of torch and of NumPy's BLAS (when threadpoolctl can tell)."""
    parts = []
    try:
        import torch

        parts.append(f"torch {torch.__version__}: {torch.get_num_threads()} threads")
    except ImportError:
        parts.append("torch not installed")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            parts.append(f"{pool.get('internal_api')} ({pool.get('user_api')}): "
                         f"{pool.get('num_threads')} threads")
    except ImportError:
        pass
    return "; ".join(parts)


def profile(name: str = "seed002", count: int = 10) -> None:
    """Where a tinydl step's time goes: the 20 functions with the most time of their own."""
    step = steps_for(name)["tinydl"]
    _time(step, 3)
    profiler = cProfile.Profile()
    profiler.enable()
    _time(step, count)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    parser.add_argument("--profile", choices=sorted(NETS), help="profile tinydl's step instead")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile)
        return
    print(format_table(run(quick=args.quick)))
    print()
    print(threads())


if __name__ == "__main__":
    main()
