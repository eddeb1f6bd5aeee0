"""tinydl.distributed: DistributedDataParallel, DistributedSampler and fit(distributed=True).

The tests marked ``mpi`` start real jobs with ``mpirun -n 2`` and ``-n 3`` running
tests/mpi_worker.py (rank 0 prints its results as "RESULT {json}" lines); they skip, with the
install command, when mpirun or mpi4py is missing. The others run in this process, where the
world has one rank.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

import tinydl as td
from tinydl import distributed as dist
from tinydl import functional as F
from tinydl import nn, optim
from tinydl.data import DataLoader, TensorDataset
from tinydl.distributed.comm import _Buffer
from tinydl.testing import standin
from tinydl.train import fit

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "tests" / "mpi_worker.py"
MPIRUN = shutil.which("mpirun") or shutil.which("mpiexec")
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None

needs_mpi = pytest.mark.skipif(MPIRUN is None or not HAVE_MPI4PY,
                               reason=f"needs mpirun and mpi4py: {dist.INSTALL_HINT}")


def mpirun(n: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run tests/mpi_worker.py on n ranks, one BLAS thread each."""
    command = [MPIRUN, "-n", str(n)]
    version = subprocess.run([MPIRUN, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        command += ["--oversubscribe"]  # more ranks than cores is fine for tests
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command += ["--allow-run-as-root"]  # CI runs as root
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    return subprocess.run([*command, sys.executable, str(WORKER), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def results(run: subprocess.CompletedProcess) -> list[dict]:
    assert run.returncode == 0, f"mpirun failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    # raw_decode: Open MPI may append terminal codes to a rank's last line
    return [json.JSONDecoder().raw_decode(part)[0] for part in run.stdout.split("RESULT ")[1:]]


@pytest.fixture(scope="module")
def two_rank_results():
    return results(mpirun(2, "equal-steps"))


@pytest.fixture(scope="module")
def three_rank_results():
    return results(mpirun(3, "sampler"))


@pytest.fixture(scope="module", params=[2, 3])
def sampler_results(request):
    """(world, results) of the 2-rank job and of the 3-rank job (uneven shards)."""
    name = "two_rank_results" if request.param == 2 else "three_rank_results"
    return request.param, request.getfixturevalue(name)


# ---- collectives --------------------------------------------------------------------------------


@pytest.mark.mpi
@needs_mpi
def test_collectives_on_two_and_three_ranks(two_rank_results, sampler_results):
    for world, found in ((2, two_rank_results), sampler_results):
        per_rank = next(r for r in found if r.get("check") == "collectives")["per_rank"]
        assert len(per_rank) == world
        for me, got in enumerate(per_rank):
            assert got["sum"] == [world * (world + 1) / 2, 10.0 * world * (world - 1) / 2]
            assert got["avg"] == [(world - 1) / 2]
            assert got["gather"] == [[r, r * r] for r in range(world)]
            # rank s sends r + 10 s to rank r: rank r receives world * r + 10 * (0 + .. + world-1)
            assert got["reduce_scatter"] == [world * me + 10.0 * world * (world - 1) / 2]
            assert got["broadcast"] == [world - 1.0] * 3
            # a stand-in device array went through a host copy and came back on its device
            assert got["standin_max"] == [[1.0, world - 1.0], [2.0, 0.0]]
            assert got["standin_device"] == "standin"


# ---- equal weights: 2 ranks with batch B == 1 process with batch 2B -------------------------------

EQUAL_CASES = [("mlp", "sgd", "float32", "none", "cpu"), ("mlp", "adam", "float32", "none", "cpu"),
               ("mlp", "sgd", "float64", "none", "cpu"), ("mlp", "adam", "float64", "none", "cpu"),
               ("mlp", "adam", "float64", "none", "standin"),
               ("cnn", "sgd", "float32", "eval", "cpu"), ("cnn", "adam", "float64", "eval", "cpu"),
               ("cnn", "sgd", "float64", "train", "cpu"), ("cnn", "adam", "float32", "train", "cpu"),
               ("gpt", "sgd", "float32", "none", "cpu"), ("gpt", "adam", "float64", "none", "cpu")]


@pytest.mark.mpi
@needs_mpi
@pytest.mark.parametrize("case", EQUAL_CASES, ids=lambda c: "-".join(c))
def test_two_ranks_take_the_steps_of_one_process_with_twice_the_batch(two_rank_results, case):
    """K steps on 2 ranks (batch B each) give the weights of 1 process with batch 2B.

    BatchNorm: in eval mode it uses the (broadcast) running statistics, so the equality is the
    plain one. In training mode each rank normalises its shard by the shard's own statistics
    (PyTorch's DDP does the same without SyncBatchNorm), so the equal single process averages
    the losses of the shards computed separately; rank 0's running statistics are those of
    rank 0's shards alone (the ones DDP broadcasts).
    """
    kind, opt_name, dtype, bn, device = case
    found = next(r for r in two_rank_results if (r.get("model"), r.get("optimizer"), r.get("dtype"),
                                                 r.get("bn"), r.get("device")) == case)
    tolerance = 1e-6 if dtype == "float32" else 1e-12
    assert found["moved"] > 1e-3, "the steps must change the weights for the test to mean anything"
    assert found["max_diff"] < tolerance
    assert found["ranks_differ"] == 0.0, "every rank holds the same weights"
    if bn == "train":
        assert found["buffer_diff"] < tolerance
    if dtype == "float64":
        assert found["buckets"] > 1, "small bucket_cap_mb: several all-reduces per step"


@pytest.mark.mpi
@needs_mpi
def test_no_sync_accumulates_locally_then_averages_everything(two_rank_results):
    found = next(r for r in two_rank_results if r.get("check") == "no_sync")
    assert found["grads_differ"] > 1e-3, "inside no_sync the ranks' gradients stay their own"
    assert found["max_diff"] < 1e-12, "the next synced backward averages the accumulated sum"


@pytest.mark.mpi
@needs_mpi
def test_find_unused_parameters_averages_what_each_rank_used(two_rank_results):
    found = next(r for r in two_rank_results if r.get("check") == "find_unused")
    assert found["max_diff"] < 1e-12, "a rank that skipped a branch adds zeros to its average"
    assert found["never_grad_is_none"], "a parameter no rank used keeps .grad None (PyTorch)"
    assert found["ranks_differ"] == 0.0
    strict = next(r for r in two_rank_results if r.get("check") == "unfinished_reduction")
    assert "no gradient for: ['never.weight', 'never.bias']" in strict["message"]
    assert "find_unused_parameters=True" in strict["message"]


@pytest.mark.mpi
@needs_mpi
def test_buckets_start_their_all_reduce_during_backward(two_rank_results):
    """After the first step re-cuts the buckets in the order backward completes the gradients
    (the BatchNorm layers registered last finish late), the first bucket starts while most
    gradients are still to come; one launch per bucket."""
    found = next(r for r in two_rank_results if r.get("check") == "overlap")
    ready = found["ready_at_launch"]
    assert len(ready) == found["buckets"] > 2
    assert ready == sorted(ready) and ready[-1] == found["parameters"]
    assert ready[0] < found["parameters"] // 2


# ---- the sampler --------------------------------------------------------------------------------


@pytest.mark.mpi
@needs_mpi
def test_every_sample_once_per_epoch_across_ranks(sampler_results):
    world, found = sampler_results
    for run in (r for r in found if r.get("check") == "sampler"):
        n, drop_last = run["n"], run["drop_last"]
        first, second = run["epochs"]
        assert first != second, "set_epoch gives another order"
        for shares in (first, second):
            assert len(shares) == world
            assert len({len(share) for share in shares}) == 1, "equal shares: no rank waits"
            everything = sorted(i for share in shares for i in share)
            if n % world == 0:
                assert everything == list(range(n)), "each sample exactly once"
            elif drop_last:
                assert len(everything) == len(set(everything)) == n - n % world
            else:  # padded as in PyTorch: every sample, plus the first few repeated
                assert set(everything) == set(range(n))
                assert len(everything) == n + (world - n % world)


# ---- fit(distributed=True), checkpoints and resuming on another world size ----------------------


@pytest.mark.mpi
@needs_mpi
def test_fit_validation_on_uneven_shards_equals_one_process(three_rank_results):
    """10 validation samples on 3 ranks (4, 3, 3), a model with BatchNorm: the logged numbers
    are rank 0's model evaluated on the whole set by one process (no padding, no hang)."""
    run = next(r for r in three_rank_results if r.get("check") == "fit_bn")
    assert run["val_loss"] == pytest.approx(run["reference_loss"], abs=1e-6)
    assert run["val_accuracy"] == run["reference_accuracy"]


@pytest.mark.mpi
@needs_mpi
def test_checkpoint_from_two_ranks_resumes_on_one_and_three(tmp_path):
    """Global batch 6 (6/world per rank): the same steps on any world size, so resuming the
    epoch-1 checkpoint on 1 or 3 ranks ends where the uninterrupted 2-rank run ended."""
    full = results(mpirun(2, "fit", str(tmp_path)))[0]
    assert full["files"] == ["ckpt-1.npz", "ckpt-2.npz", "final-full-2.npy"], "rank 0 alone writes"
    assert full["log_spread"] == 0.0, "every rank logs the same numbers"
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    alone = subprocess.run([sys.executable, str(WORKER), "resume", str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=120)
    one = results(alone)[0]
    three = results(mpirun(3, "resume", str(tmp_path)))[0]
    final = np.load(tmp_path / "final-full-2.npy")
    for world, run in ((1, one), (3, three)):
        resumed = np.load(tmp_path / f"final-resumed-{world}.npy")
        assert np.abs(resumed - final).max() < 1e-12
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert run["logs"][key] == pytest.approx(full["logs"][key], abs=1e-12)
    assert three["log_spread"] == 0.0


# ---- a failing rank ends the job ----------------------------------------------------------------


@pytest.mark.mpi
@needs_mpi
def test_one_rank_raising_ends_the_job_with_its_error():
    start = time.monotonic()
    run = mpirun(2, "fail", timeout=60)
    took = time.monotonic() - start
    assert run.returncode != 0
    assert "rank 1 failed" in run.stderr and "ValueError: rank 1 cannot go on" in run.stderr
    assert took < 30, f"the job took {took:.0f} s to end: the other rank hung"


# ---- in this process: a world of one ------------------------------------------------------------


def test_without_mpirun_the_world_is_one_process_and_collectives_are_no_ops(monkeypatch):
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert dist.init() == 1 and dist.rank() == 0 and dist.world_size() == 1
    t = td.tensor([1.0, 2.0])
    dist.all_reduce(t)
    dist.broadcast(t, src=0)
    dist.barrier()
    assert t.tolist() == [1.0, 2.0]
    gathered = [td.zeros(2)]
    dist.all_gather(gathered, t)
    assert gathered[0].tolist() == [1.0, 2.0]
    with pytest.raises(td.ShapeError, match="the world has 1 ranks"):
        dist.all_gather([td.zeros(2), td.zeros(2)], t)


def test_ddp_on_one_process_is_the_plain_model():
    td.manual_seed(0)
    model = nn.Linear(3, 2)
    plain = nn.Linear(3, 2)
    plain.load_state_dict(model.state_dict())
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1e-5)
    x = td.randn(5, 3)
    ddp(x).sum().backward()
    plain(x).sum().backward()
    assert np.array_equal(model.weight.grad.numpy(), plain.weight.grad.numpy())
    assert list(ddp.state_dict()) == ["module.weight", "module.bias"]  # PyTorch's prefix
    assert ddp.bucket_sizes == [2, 6]  # reversed parameter order, each over the 8-byte cap


def test_host_copy_buffer_round_trips_a_device_array():
    """GPU arrays without CUDA-aware MPI go through a host copy: the stand-in device checks it."""
    standin.register()
    x = td.tensor([1.0, 2.0, 3.0], device="standin")
    buffer = _Buffer(x.data)
    assert isinstance(buffer.mpi, np.ndarray) and buffer.copied
    buffer.mpi *= 10  # what MPI would write
    buffer.finish()
    assert isinstance(x.data, standin.StandInArray)
    assert x.cpu().tolist() == [10.0, 20.0, 30.0]
    host = np.arange(4.0)
    assert _Buffer(host).mpi is host, "host arrays go to MPI as they are"


class _FakeGpuArray(np.ndarray):
    """Host memory posing as a GPU array, to check which path _Buffer picks for "cuda"."""


@pytest.mark.parametrize("cuda_aware", [True, False])
def test_gpu_arrays_go_to_mpi_directly_only_with_cuda_aware_mpi(monkeypatch, cuda_aware):
    from tinydl import backend
    from tinydl.distributed import comm

    if "cuda" in backend._BACKENDS:
        pytest.skip("a real CUDA backend is registered here")
    synced = []
    fake_xp = types.SimpleNamespace(
        cuda=types.SimpleNamespace(get_current_stream=lambda: types.SimpleNamespace(
            synchronize=lambda: synced.append(True))),
        ascontiguousarray=np.ascontiguousarray)
    fake = backend.Backend("cuda", fake_xp, _FakeGpuArray,
                           from_numpy=lambda a: np.array(a).view(_FakeGpuArray),
                           to_numpy=lambda a: np.array(a))
    monkeypatch.setitem(comm._world, "cuda_aware", cuda_aware)
    backend.register_backend(fake)
    try:
        gpu = np.arange(3.0).view(_FakeGpuArray)
        buffer = _Buffer(gpu)
        if cuda_aware:  # the device array itself, after the stream has finished writing it
            assert buffer.mpi is gpu and synced == [True] and not buffer.copied
        else:  # a host copy, written back by finish()
            assert type(buffer.mpi) is np.ndarray and buffer.copied and synced == []
            buffer.mpi += 1
            buffer.finish()
            assert gpu.tolist() == [1.0, 2.0, 3.0]
    finally:
        backend.unregister_backend("cuda")


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (12, 4, False),
                                                    (5, 8, False), (7, 2, True)])
@pytest.mark.torch
def test_sampler_indices_match_pytorch_without_shuffle(torch, n, replicas, drop_last):
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for rank in range(replicas):
        ours = dist.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_shuffles_by_seed_and_epoch():
    a, b = (dist.DistributedSampler(range(20), 2, 0, seed=3) for _ in range(2))
    assert list(a) == list(b), "the same seed and epoch give every rank the same permutation"
    other_rank = dist.DistributedSampler(range(20), 2, 1, seed=3)
    assert sorted(list(a) + list(other_rank)) == list(range(20))
    before = list(a)
    a.set_epoch(1)
    assert list(a) != before
    assert list(dist.DistributedSampler(range(20), 2, 0, seed=4)) != before, "the seed matters"
    with pytest.raises(ValueError, match="rank 2 is not in"):
        dist.DistributedSampler(range(4), 2, 2)


def test_loader_rejects_sampler_with_shuffle():
    ds = TensorDataset(np.arange(4.0), np.arange(4))
    with pytest.raises(ValueError, match="sampler and shuffle=True"):
        DataLoader(ds, sampler=range(4), shuffle=True)
    assert [x.tolist() for x, _ in DataLoader(ds, batch_size=2, sampler=[3, 1, 0])] == [[3.0, 1.0], [0.0]]


def test_fit_distributed_on_one_process_trains_like_fit():
    X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    losses = []
    for distributed in (False, True):
        td.manual_seed(0)
        model = nn.Linear(3, 2)
        loader = DataLoader(TensorDataset(X, y), batch_size=4)
        history = fit(model, loader, F.cross_entropy, optim.SGD(model.parameters(), lr=0.5),
                      epochs=3, val_loader=loader, progress=False, distributed=distributed)
        losses.append(history["loss"] + history["val_loss"])
    assert losses[0] == pytest.approx(losses[1], abs=1e-6)
    assert losses[0][2] < losses[0][0]


def test_init_process_group_takes_pytorch_arguments_and_checks_them():
    dist.init_process_group(backend="gloo")  # any backend name: MPI serves it
    assert dist.is_initialized() and dist.get_world_size() == dist.world_size()
    with pytest.raises(ValueError, match="world_size=4, but mpirun started this process with "
                                         "world_size 1"):
        dist.init_process_group("mpi", world_size=4)
