"""16 — Data parallelism over MPI

Teaches: how data-parallel training works inside: every rank (process) holds the same model,
computes gradients on its own shard of the batch, an all-reduce averages the gradients, and
every rank takes the same step. First the all-reduce drawn and computed by hand for 2 ranks;
then seed 002's CNN trained on Fashion-MNIST with `mpirun -n 2` (1 thread each) against one
process with 2 threads and one with 1 thread: time per epoch, communication time per step,
the equal weights after K steps, and why 2 ranks on 2 cores can lose to 2 threads. Last, how
to run the same script on several machines with a hostfile.
Seed system: seed 002's Keras CNN on Fashion-MNIST, trained the way PyTorch's
DistributedDataParallel (or Chainer's ChainerMN) trains it.

Run: python lessons/16_data_parallelism.py [--quick] [--out runs/]
It starts its own `mpirun -n 2` job; without MPI (apt-get install openmpi-bin libopenmpi-dev,
pip install 'tinydl[mpi]') it runs the 1-process parts and says so.
Uses Fashion-MNIST from Debian's dataset-fashion-mnist package, or generated images without it.
"""
# %% Imports and arguments
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import tinydl as td
from tinydl import distributed as dist
from tinydl import functional as F
from tinydl import optim
from tinydl.data import DataLoader, TensorDataset, fashion_mnist, make_shapes
from tinydl.data import transforms as T
from tinydl.data.mnist_datasets import DatasetNotFoundError
from tinydl.models import Seed002Net

parser = argparse.ArgumentParser(description="16 — Data parallelism over MPI")
parser.add_argument("--quick", action="store_true", help="256 images, a seconds-long run")
parser.add_argument("--samples", type=int, default=12_000, help="training images (default 12,000)")
parser.add_argument("--out", default="runs", help="folder for figures and results (default runs/)")
parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # set for the child runs
args = parser.parse_args()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
SAMPLES = 256 if args.quick else args.samples
GLOBAL_BATCH = 64   # images per step over all ranks: 2 ranks x 32, or 1 process x 64
K_STEPS = 4         # the weights are compared after this many steps


# %% The training run every configuration executes (in a child process, maybe under mpirun)
def load_images(samples):
    """uint8 (N, 28, 28) images and labels: Fashion-MNIST, or generated shapes without it."""
    try:
        images, labels = fashion_mnist(train=True)
        return images[:samples], labels[:samples], "Fashion-MNIST"
    except DatasetNotFoundError:
        shapes, labels = make_shapes(samples, size=28)  # (N, 3, 28, 28) floats in [0, 1]
        return (shapes.mean(axis=1) * 255).astype(np.uint8), labels, "generated shapes"


def train_worker(config):
    """One epoch of seed 002's CNN with a global batch of 64; rank 0 writes the results."""
    dist.init()
    world, rank = dist.world_size(), dist.rank()
    td.manual_seed(0)
    images, labels, source = load_images(SAMPLES)
    dataset = TensorDataset(images, labels)
    sampler = dist.DistributedSampler(dataset, shuffle=True, seed=0)  # the shard of this rank
    loader = DataLoader(dataset, batch_size=GLOBAL_BATCH // world, sampler=sampler,
                        transform=T.ToFloat())
    model = dist.DistributedDataParallel(Seed002Net())  # world 1: nothing to average
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    dist.barrier()
    start, losses = time.perf_counter(), []
    for step, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()                    # the all-reduce of the gradients happens in here
        optimizer.step()
        batch_loss = loss.detach()
        dist.all_reduce(batch_loss, op=dist.ReduceOp.AVG)  # the loss of the whole global batch
        losses.append(batch_loss.item())
        if step + 1 == K_STEPS and rank == 0:
            weights = np.concatenate([p.numpy().ravel() for p in model.parameters()])
            np.save(out / f"16_weights_after_{K_STEPS}_steps_{config}.npy", weights)
    dist.barrier()
    epoch_seconds = time.perf_counter() - start
    # communication alone: all-reduce one gradient's worth of float32 numbers, 20 times
    gradient = td.zeros(sum(p.numel() for p in model.parameters()))
    dist.barrier()
    tick = time.perf_counter()
    for _ in range(20):
        dist.all_reduce(gradient)
    comm_ms = (time.perf_counter() - tick) / 20 * 1000
    if rank == 0:
        result = {"config": config, "world": world, "source": source, "steps": len(loader),
                  "epoch_seconds": epoch_seconds, "comm_ms_per_step": comm_ms,
                  "loss_first": losses[0], "loss_last": float(np.mean(losses[-5:]))}
        (out / f"16_result_{config}.json").write_text(json.dumps(result))


if args.worker is not None or dist.launched_by_mpi():  # a child run (or started by mpirun)
    train_worker(args.worker or "mpirun")
    sys.exit(0)

# %% Part 1: the all-reduce by hand, on 2 ranks
# A linear model y = x @ w with a mean-squared error; 8 samples, 4 on each rank.
print("Part 1: the all-reduce by hand (2 ranks)\n")
rng = np.random.default_rng(0)
X, Y = rng.normal(size=(8, 4)), rng.normal(size=8)
w0 = np.array([0.5, -0.25, 1.0, 0.0])


def gradient_on(rows):
    """d(mean squared error)/dw over these samples, by tinydl's autograd."""
    w = td.tensor(w0, dtype=td.float64, requires_grad=True)
    ((td.tensor(X[rows], dtype=td.float64) @ w - td.tensor(Y[rows], dtype=td.float64)) ** 2).mean().backward()
    return w.grad.numpy()


g = [gradient_on(slice(0, 4)), gradient_on(slice(4, 8))]  # what each rank computes
print("rank 0's gradient:", np.round(g[0], 4))
print("rank 1's gradient:", np.round(g[1], 4))
print("""
The ring all-reduce (what MPI does for big buffers): cut each vector into one chunk per rank.
  step 1, reduce-scatter: each rank sends one chunk and adds the chunk it receives
      rank 0 [a0|a1] --a1--> rank 1 ;  rank 1 [b0|b1] --b0--> rank 0
      rank 0 now owns a0+b0            rank 1 now owns a1+b1
  step 2, all-gather: each rank sends the chunk it owns
      rank 0 --(a0+b0)--> rank 1 ;     rank 1 --(a1+b1)--> rank 0
  both ranks hold [a0+b0 | a1+b1]; divide by 2 ranks for the average.
Each rank sends 2 x (n/2) numbers in all: for P ranks 2 x (P-1)/P x n, nearly 2n whatever P.
""")
chunks = [np.split(g[0], 2), np.split(g[1], 2)]
owned = {0: chunks[0][0] + chunks[1][0], 1: chunks[1][1] + chunks[0][1]}  # after step 1
for r in (0, 1):
    print(f"after step 1, rank {r} owns chunk {r}: {np.round(owned[r], 4)}")
by_hand = np.concatenate([owned[0], owned[1]]) / 2  # after step 2, on both ranks
whole_batch = gradient_on(slice(0, 8))
print("after step 2, both ranks:", np.round(by_hand, 4))
print("gradient of the whole batch of 8:", np.round(whole_batch, 4))
print(f"largest difference: {np.abs(by_hand - whole_batch).max():.1e} "
      "(the average of the shards' mean gradients is the mean gradient of the whole batch)\n")

# %% Part 2: seed 002's CNN, one epoch three ways
MPIRUN = shutil.which("mpirun") or shutil.which("mpiexec")
HAVE_MPI = MPIRUN is not None and importlib.util.find_spec("mpi4py") is not None


def this_script():
    """This lesson's file, which the runs below start again (in a notebook: found by number)."""
    if "__file__" in globals():
        return __file__
    from tinydl.cli import find_lessons, lessons_folder, resolve_lesson

    return str(resolve_lesson("16", find_lessons(lessons_folder())).path)


def run_config(config, ranks, threads):
    """Start this script as a worker: `ranks` processes with `threads` BLAS threads each."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    command = [sys.executable, this_script(), "--worker", config, "--out", str(out),
               "--samples", str(SAMPLES)] + (["--quick"] if args.quick else [])
    if ranks > 1:
        launcher = [MPIRUN, "-n", str(ranks)]
        if "Open MPI" in subprocess.run([MPIRUN, "--version"], capture_output=True, text=True).stdout:
            launcher += ["--oversubscribe", "-x", "OPENBLAS_NUM_THREADS", "-x", "OMP_NUM_THREADS"]
            if os.geteuid() == 0:
                launcher += ["--allow-run-as-root"]
        command = launcher + command
    # the runs print nothing (rank 0 writes its results to a file); errors still show
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / f"16_result_{config}.json").read_text())


print("Part 2: seed 002's CNN, one epoch with a global batch of 64\n")
configs = [("1 process x 1 thread", "1x1", 1, 1), ("1 process x 2 threads", "1x2", 1, 2)]
if HAVE_MPI:
    configs.append(("mpirun -n 2, 1 thread each", "2x1", 2, 1))
else:
    print("MPI not found (mpirun and mpi4py are needed): this run skips the 2-rank "
          f"configuration. {dist.INSTALL_HINT}\n")
results = {}
for label, config, ranks, threads in configs:
    results[config] = run_config(config, ranks, threads)
    results[config]["label"] = label
first = next(iter(results.values()))
print(f"data: {SAMPLES:,} images of {first['source']}, {first['steps']} steps per epoch "
      f"for one process")
print("(times on a shared machine move 20-60% from run to run; compare within one run)")
print(f"{'configuration':32s} {'s/epoch':>8s} {'ms/step':>8s} {'comm ms/step':>13s} "
      f"{'loss: first -> last':>21s}")
for r in results.values():
    per_step = r["epoch_seconds"] / r["steps"] * 1000
    comm = f"{r['comm_ms_per_step']:.2f}" if r["world"] > 1 else "-"
    print(f"{r['label']:32s} {r['epoch_seconds']:8.2f} {per_step:8.1f} {comm:>13s} "
          f"{r['loss_first']:9.3f} -> {r['loss_last']:.3f}")

# %% The weights after K steps are the same
reference = np.load(out / f"16_weights_after_{K_STEPS}_steps_1x1.npy")
print(f"\nweights after {K_STEPS} steps, largest difference from 1 process x 1 thread:")
for config in results:
    if config != "1x1":
        other = np.load(out / f"16_weights_after_{K_STEPS}_steps_{config}.npy")
        print(f"  {results[config]['label']:32s} {np.abs(other - reference).max():.1e}")
print("(float32 rounding only: the 2 ranks sum their two half-batch gradients in another "
      "order than one process sums the whole batch)")

# %% Why the scaling is what it is
if "2x1" in results:
    two, one = results["2x1"], results["1x1"]
    speedup = one["epoch_seconds"] / two["epoch_seconds"]
    print(f"\n2 ranks are {speedup:.2f}x as fast as 1 process with 1 thread; 2 threads: "
          f"{one['epoch_seconds'] / results['1x2']['epoch_seconds']:.2f}x.")
print("""
What 2 ranks buy and what they cost:
  * each rank does half the arithmetic, including the parts one process runs on one thread
    only (im2col, pooling, element-wise backward, the optimizer): that is where ranks can beat
    threads, which only speed up the BLAS matrix products;
  * every step each rank sends and receives the whole gradient (93,322 float32 = 365 KiB):
    shared memory on one machine costs a fraction of a millisecond, a 1 Gb/s network ~6 ms;
  * each rank's batch is half as big, so its matrix products are smaller and less efficient,
    and Python's per-op overhead is paid twice (once per rank);
  * on a 2-core machine shared with other work the two ranks compete for the cores: when one
    is descheduled the other waits at the all-reduce, so 2 ranks can lose to 2 threads;
  * threads have the same problem at a finer grain: OpenBLAS's threads wait for each other
    inside every matrix product (spinning first), so on a busy machine 2 threads can even lose
    to 1 thread. Measure on the machine you will train on.
More machines help when the model's compute per step is large against its gradient's size.
""")

# %% Running on several machines
print("""Several machines: the same script, MPI starts the ranks.
  1. the same Python, tinydl and data on every machine (same paths), password-less ssh
     between them;
  2. a hostfile lists the machines and how many ranks each takes:
        node1 slots=2
        node2 slots=2
  3. mpirun -n 4 --hostfile hosts -x OPENBLAS_NUM_THREADS=1 python lessons/16_data_parallelism.py --worker 4x1
     (Open MPI; MPICH: mpiexec -n 4 -f hosts -genv OPENBLAS_NUM_THREADS 1 python ...).
  Inside the script nothing changes: dist.init(), DistributedDataParallel(model) and a
  DistributedSampler per rank; only rank 0 writes files.
""")

# %% A figure: time per epoch
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 2.8))
    labels = [r["label"] for r in results.values()]
    axis.barh(labels, [r["epoch_seconds"] for r in results.values()], color="#4c72b0")
    axis.set_xlabel("seconds per epoch")
    axis.set_title(f"seed 002's CNN, {SAMPLES:,} images, global batch {GLOBAL_BATCH}")
    figure.tight_layout()
    figure.savefig(out / "16_time_per_epoch.png", dpi=100)
    print(f"saved {out / '16_time_per_epoch.png'}")
except ImportError:
    print("matplotlib is not installed: no figure (pip install 'tinydl[plot]')")
