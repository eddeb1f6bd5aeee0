"""The programs tests/test_distributed.py starts with mpirun (not a test module itself).

    mpirun -n 2 python tests/mpi_worker.py equal-steps
    mpirun -n 3 python tests/mpi_worker.py sampler
    mpirun -n 2 python tests/mpi_worker.py fit OUT_DIR          (then resume on 1 and 3 ranks)
    mpirun -n 2 python tests/mpi_worker.py fail

Rank 0 prints one JSON line per result, prefixed "RESULT "; the test asserts on them. Each
"equal-steps" reference is computed on rank 0 by one process without DDP.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import tinydl as td
from tinydl import distributed as dist
from tinydl import functional as F
from tinydl import nn, optim
from tinydl.data import DataLoader, TensorDataset
from tinydl.models import Seed002Net
from tinydl.models.gpt import GPT, GPTConfig
from tinydl.testing import standin
from tinydl.train import ModelCheckpoint, evaluate, fit, load_checkpoint

standin.register()

K_STEPS, PER_RANK_BATCH = 3, 4


def report(**result) -> None:
    if dist.rank() == 0:
        print("RESULT " + json.dumps(result), flush=True)


def flat(model) -> np.ndarray:
    return np.concatenate([p.numpy().ravel().astype(np.float64) for p in model.parameters()])


def spread(vector: np.ndarray) -> float:
    """The largest difference between this rank's vector and rank 0's, over all ranks."""
    reference = td.tensor(vector, dtype=td.float64)
    dist.broadcast(reference, src=0)
    worst = td.tensor([float(np.abs(vector - reference.numpy()).max())], dtype=td.float64)
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst.item())


# ---- models -------------------------------------------------------------------------------------


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(F.tanh(self.fc1(x)))


class Seed002NetBN(Seed002Net):
    """Seed 002's CNN with BatchNorm after its first two convolutions."""

    def __init__(self):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(32), nn.BatchNorm2d(64)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = F.relu(self.conv3(x))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class TinyGPT(GPT):
    def __init__(self):
        super().__init__(GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16))

    def forward(self, idx):
        return super().forward(idx)[0].flatten(0, 1)  # (B*T, V)


def gpt_loss(logits, targets):
    return F.cross_entropy(logits, targets.flatten())


def make_data(kind: str, n: int, dtype):
    # values float32 holds exactly: DataLoader hands float64 arrays out as float32 batches
    rng = np.random.default_rng(7)
    if kind == "mlp":
        return rng.normal(size=(n, 6)).astype(np.float32).astype(dtype), rng.integers(0, 3, n)
    if kind == "cnn":
        images = rng.normal(size=(n, 1, 28, 28)).astype(np.float32).astype(dtype)
        return images, rng.integers(0, 10, n)
    tokens = rng.integers(0, 11, (n, 9))
    return tokens[:, :-1], tokens[:, 1:]


MODELS = {"mlp": (MLP, F.cross_entropy), "cnn": (Seed002NetBN, F.cross_entropy),
          "gpt": (TinyGPT, gpt_loss)}


def make_optimizer(name, params):
    return optim.SGD(params, lr=0.1, momentum=0.9) if name == "sgd" else optim.Adam(params, lr=1e-3)


def build(kind, dtype, seed):
    td.manual_seed(seed)
    return MODELS[kind][0]().to(dtype)


def reference_run(kind, opt_name, dtype, bn_mode, inputs, targets):
    """One process, batch world*B: the steps DDP should reproduce."""
    model = build(kind, dtype, seed=1)
    model.train(bn_mode != "eval")
    optimizer = make_optimizer(opt_name, model.parameters())
    world, loss_fn = dist.world_size(), MODELS[kind][1]
    global_batch = world * PER_RANK_BATCH
    for step in range(K_STEPS):
        x = td.tensor(inputs[step * global_batch:(step + 1) * global_batch], dtype=inputs.dtype)
        y = td.tensor(targets[step * global_batch:(step + 1) * global_batch])
        optimizer.zero_grad()
        if bn_mode == "train":
            # BatchNorm in training mode normalises each rank's shard by that shard's own
            # statistics: the equal single process computes each shard's loss separately
            # (rank r's shard is rows r, r+world, ... of the global batch) and averages them.
            # Rank 0's running statistics only ever see rank 0's shards: keep those.
            losses = []
            for r in range(world):
                kept = [b.data.copy() for b in model.buffers()]
                losses.append(loss_fn(model(x[r::world]), y[r::world]))
                if r > 0:
                    for buffer, value in zip(model.buffers(), kept):
                        buffer.data[...] = value
            loss = sum(losses[1:], losses[0]) / world
        else:
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    return model


def ddp_run(kind, opt_name, dtype, bn_mode, inputs, targets, bucket_cap_mb, device="cpu"):
    model = build(kind, dtype, seed=1 + dist.rank())  # different on each rank: DDP broadcasts
    model.to(device)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb)
    ddp.train(bn_mode != "eval")
    optimizer = make_optimizer(opt_name, ddp.parameters())
    dataset = TensorDataset(inputs, targets)
    sampler = dist.DistributedSampler(dataset, shuffle=False)
    loader = DataLoader(dataset, batch_size=PER_RANK_BATCH, sampler=sampler)
    for _, (x, y) in zip(range(K_STEPS), loader):
        x, y = x.to(inputs.dtype).to(device), y.to(device)  # (float64 batches come as float32)
        optimizer.zero_grad()
        MODELS[kind][1](ddp(x), y).backward()
        optimizer.step()
    return model, len(ddp.bucket_sizes)


def equal_steps() -> None:
    # (model, optimizer, dtype, BatchNorm mode, bucket_cap_mb, device); "standin" is the test
    # device whose arrays NumPy refuses: MPI gets host copies of them, as of GPU arrays
    # without a CUDA-aware MPI
    cases = [("mlp", "sgd", np.float32, "none", 25.0, "cpu"),
             ("mlp", "adam", np.float32, "none", 25.0, "cpu"),
             ("mlp", "sgd", np.float64, "none", 1e-4, "cpu"),
             ("mlp", "adam", np.float64, "none", 1e-4, "cpu"),
             ("mlp", "adam", np.float64, "none", 1e-4, "standin"),
             ("cnn", "sgd", np.float32, "eval", 0.1, "cpu"),
             ("cnn", "adam", np.float64, "eval", 0.1, "cpu"),
             ("cnn", "sgd", np.float64, "train", 0.1, "cpu"),
             ("cnn", "adam", np.float32, "train", 25.0, "cpu"),
             ("gpt", "sgd", np.float32, "none", 0.01, "cpu"),
             ("gpt", "adam", np.float64, "none", 0.01, "cpu")]
    for kind, opt_name, dtype, bn_mode, cap, device in cases:
        n = K_STEPS * PER_RANK_BATCH * dist.world_size()
        inputs, targets = make_data(kind, n, dtype)
        model, buckets = ddp_run(kind, opt_name, dtype, bn_mode, inputs, targets, cap, device)
        model.to("cpu")
        result = dict(model=kind, optimizer=opt_name, dtype=np.dtype(dtype).name, bn=bn_mode,
                      device=device, buckets=buckets, ranks_differ=spread(flat(model)))
        if dist.rank() == 0:
            reference = reference_run(kind, opt_name, dtype, bn_mode, inputs, targets)
            result["max_diff"] = float(np.abs(flat(model) - flat(reference)).max())
            result["moved"] = float(np.abs(flat(reference) - flat(build(kind, dtype, 1))).max())
            if bn_mode == "train":
                mine = np.concatenate([b.numpy().ravel() for b in model.buffers()]).astype(float)
                theirs = np.concatenate([b.numpy().ravel() for b in reference.buffers()])
                result["buffer_diff"] = float(np.abs(mine - theirs.astype(float)).max())
        report(**result)


def collectives() -> None:
    world, me = dist.world_size(), dist.rank()
    t = td.tensor([me + 1.0, 10.0 * me])
    dist.all_reduce(t)
    m = td.tensor([float(me)])
    dist.all_reduce(m, op=dist.ReduceOp.AVG)
    gathered = [td.zeros(2) for _ in range(world)]
    dist.all_gather(gathered, td.tensor([me, me * me], dtype=td.float32))
    out = td.zeros(1)
    dist.reduce_scatter(out, [td.tensor([float(r + 10 * me)]) for r in range(world)])
    b = td.tensor([float(me)] * 3)
    dist.broadcast(b, src=world - 1)
    on_device = td.tensor([[1.0, me], [2.0, -me]], device="standin")  # host-copy path
    dist.all_reduce(on_device, op=dist.ReduceOp.MAX)
    outs = {"sum": t.tolist(), "avg": m.tolist(), "gather": [g.tolist() for g in gathered],
            "reduce_scatter": out.tolist(), "broadcast": b.tolist(),
            "standin_max": on_device.cpu().tolist(), "standin_device": str(on_device.device)}
    text = np.frombuffer(json.dumps(outs).encode().ljust(2000), dtype=np.uint8)
    rows = dist.all_gather_rows(text[None])  # (world, 2000) bytes
    report(check="collectives", world=world, per_rank=[json.loads(r.tobytes()) for r in rows])


def no_sync_accumulates() -> None:
    """Two half-steps under no_sync then one synced step equal one step on the whole batch."""
    inputs, targets = make_data("mlp", 4 * dist.world_size() * 2, np.float64)
    model = build("mlp", np.float64, seed=3)
    ddp = dist.DistributedDataParallel(model)
    shard = slice(dist.rank() * 8, dist.rank() * 8 + 8)
    x, y = td.tensor(inputs[shard], dtype=td.float64), td.tensor(targets[shard])
    with ddp.no_sync():
        (F.cross_entropy(ddp(x[:4]), y[:4]) / 2).backward()
    local_after_no_sync = flat_grads(model)
    (F.cross_entropy(ddp(x[4:]), y[4:]) / 2).backward()
    reference = build("mlp", np.float64, seed=3)
    F.cross_entropy(reference(td.tensor(inputs, dtype=td.float64)), td.tensor(targets)).backward()
    report(check="no_sync", grads_differ=spread(local_after_no_sync),
           max_diff=float(np.abs(flat_grads(model) - flat_grads(reference)).max()))


class TwoBranch(nn.Module):
    """`branch` is used only when asked; `never` is never used."""

    def __init__(self):
        super().__init__()
        self.shared, self.branch, self.never = nn.Linear(4, 3), nn.Linear(3, 3), nn.Linear(3, 3)

    def forward(self, x, use_branch):
        h = self.shared(x)
        return self.branch(h) if use_branch else h


def unused_parameters() -> None:
    """find_unused_parameters: rank 0 uses `branch`, the others do not; nobody uses `never`."""
    world, me = dist.world_size(), dist.rank()
    data = [np.random.default_rng(10 + r).normal(size=(5, 4)) for r in range(world)]
    td.manual_seed(4)
    model = TwoBranch().to(np.float64)
    expected = {}  # the average over ranks of each rank's gradient, zeros where unused
    for r in range(world):
        twin = TwoBranch().to(np.float64)
        twin.load_state_dict(model.state_dict())
        twin(td.tensor(data[r], dtype=td.float64), r == 0).sum().backward()
        for name, p in twin.named_parameters():
            grad = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
            expected[name] = expected.get(name, 0) + grad / world
    ddp = dist.DistributedDataParallel(model, find_unused_parameters=True, bucket_cap_mb=1e-4)
    ddp(td.tensor(data[me], dtype=td.float64), me == 0).sum().backward()
    worst = max(float(np.abs(p.grad.numpy() - expected[name]).max())
                for name, p in model.named_parameters() if not name.startswith("never"))
    never_untouched = all(p.grad is None for p in model.never.parameters())
    report(check="find_unused", max_diff=worst, never_grad_is_none=never_untouched,
           ranks_differ=spread(np.concatenate([model.branch.weight.grad.numpy().ravel()])))
    # without find_unused_parameters the unreached bucket is reported at the next forward
    strict = dist.DistributedDataParallel(TwoBranch())
    strict(td.randn(2, 4), True).sum().backward()  # `never` gets no gradient
    try:
        strict(td.randn(2, 4), True)
        message = ""
    except RuntimeError as err:
        message = str(err)
    report(check="unfinished_reduction", message=message)


def overlap() -> None:
    """Record how many gradients were complete when each bucket's all-reduce started."""
    model = build("cnn", np.float32, seed=1)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.05)
    started = []
    launch = dist.comm.all_reduce_array

    def recording_launch(array, *args):
        started.append(len(ddp._ready))
        return launch(array, *args)

    images, labels = make_data("cnn", 4, np.float32)
    first_buckets = len(ddp.bucket_sizes)
    F.cross_entropy(ddp(td.tensor(images)), td.tensor(labels)).backward()  # buckets re-cut
    dist.comm.all_reduce_array = recording_launch
    try:
        F.cross_entropy(ddp(td.tensor(images)), td.tensor(labels)).backward()
    finally:
        dist.comm.all_reduce_array = launch
    report(check="overlap", ready_at_launch=started, parameters=len(list(model.parameters())),
           buckets=len(ddp.bucket_sizes), first_buckets=first_buckets)


def flat_grads(model) -> np.ndarray:
    return np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])


def sampler_epochs() -> None:
    for n, drop_last in ((12, False), (10, False), (10, True)):
        dataset = TensorDataset(np.arange(n), np.zeros(n))
        sampler = dist.DistributedSampler(dataset, drop_last=drop_last)
        loader = DataLoader(dataset, batch_size=2, sampler=sampler)
        epochs = []
        for epoch in range(2):
            sampler.set_epoch(epoch)
            seen = np.concatenate([x.numpy() for x, _ in loader])
            epochs.append([row.tolist() for row in split_by_rank(seen)])
        report(check="sampler", n=n, drop_last=drop_last, world=dist.world_size(), epochs=epochs)


def split_by_rank(local: np.ndarray) -> list:
    counts = dist.all_gather_rows(np.array([local.size]))
    every = dist.all_gather_rows(local)
    return np.split(every, np.cumsum(counts)[:-1])


# ---- fit and checkpoints ------------------------------------------------------------------------

GLOBAL_BATCH, FIT_SAMPLES = 6, 24


def fit_run(out_dir: Path, resume: bool) -> None:
    """2 epochs (or epoch 2 only, resumed from the epoch-1 checkpoint) with a global batch of 6."""
    world = dist.world_size()
    inputs, targets = make_data("mlp", FIT_SAMPLES, np.float64)
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=GLOBAL_BATCH // world,
                        shuffle=True)
    model = build("mlp", np.float64, seed=5)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    start = 0
    if resume:
        start = load_checkpoint(out_dir / "ckpt-1.npz", model, optimizer)["epoch"]
    callbacks = [] if resume else [ModelCheckpoint(out_dir / "ckpt-{epoch}.npz", monitor="loss",
                                                   save_best_only=False)]
    history = fit(model, loader, F.cross_entropy, optimizer, epochs=2, val_loader=loader,
                  metrics=["accuracy"], callbacks=callbacks, progress=False,
                  initial_epoch=start, distributed=True)
    logs = {key: values[-1] for key, values in history.history.items()}
    log_spread = spread(np.array([logs["loss"], logs["accuracy"], logs["val_loss"]]))
    if dist.rank() == 0:
        np.save(out_dir / f"final-{'resumed' if resume else 'full'}-{world}.npy", flat(model))
    report(check="fit", world=world, resume=resume, logs=logs, log_spread=log_spread,
           files=sorted(p.name for p in out_dir.iterdir()))


def fit_batchnorm_uneven_validation() -> None:
    """fit with BatchNorm and a validation set that splits unevenly (10 samples on 3 ranks):
    the validation numbers are those of rank 0's model on the whole set in one process."""
    inputs, targets = make_data("mlp", 12, np.float32)
    td.manual_seed(6)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3))
    train = DataLoader(TensorDataset(inputs, targets), batch_size=2, shuffle=True)
    val = DataLoader(TensorDataset(inputs[:10], targets[:10]), batch_size=3)
    history = fit(model, train, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1),
                  epochs=1, val_loader=val, metrics=["accuracy"], progress=False,
                  distributed=True)
    result = dict(check="fit_bn", val_loss=history["val_loss"][-1],
                  val_accuracy=history["val_accuracy"][-1])
    if dist.rank() == 0:
        whole = evaluate(model, DataLoader(TensorDataset(inputs[:10], targets[:10]),
                                           batch_size=10), F.cross_entropy, ["accuracy"])
        result.update(reference_loss=whole["loss"], reference_accuracy=whole["accuracy"])
    report(**result)


def fail() -> None:
    if dist.rank() == 1:
        raise ValueError("rank 1 cannot go on")
    dist.barrier()  # rank 0 would wait here forever without the abort


def main() -> None:
    dist.init()
    what = sys.argv[1]
    if what == "equal-steps":
        collectives()
        no_sync_accumulates()
        unused_parameters()
        overlap()
        sampler_epochs()
        equal_steps()
    elif what == "sampler":
        collectives()
        sampler_epochs()
        fit_batchnorm_uneven_validation()
    elif what in ("fit", "resume"):
        fit_run(Path(sys.argv[2]), resume=what == "resume")
    elif what == "fail":
        fail()
    else:
        raise SystemExit(f"unknown scenario {what!r}")


if __name__ == "__main__":
    main()
