"""Full training checkpoints: save_checkpoint / load_checkpoint and resuming fit bit for bit."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tinydl
import tinydl.functional as F
from tinydl import nn, optim
from tinydl.data import DataLoader, TensorDataset
from tinydl.io import CheckpointError
from tinydl.optim import lr_scheduler
from tinydl.train import ModelCheckpoint, fit, load_checkpoint, save_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)  # 3 classes
    return X, y


def make_run(seed):
    """Model with dropout, Adam, StepLR and a shuffling loader, all from tinydl's generator."""
    tinydl.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = optim.Adam(model.parameters(), lr=0.01)
    scheduler = lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    X, y = make_data()
    loader = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True)
    val = DataLoader(TensorDataset(*make_data(16, seed=1)), batch_size=8)
    return model, opt, scheduler, loader, val


def test_resumed_run_repeats_the_uninterrupted_run_bit_for_bit(tmp_path):
    model, opt, scheduler, loader, val = make_run(seed=7)
    saver = ModelCheckpoint(tmp_path / "epoch{epoch}.npz", save_best_only=False)
    full = fit(model, loader, nn.CrossEntropyLoss(), opt, epochs=4, val_loader=val,
               metrics=["accuracy"], callbacks=[saver], scheduler=scheduler, progress=False)
    final_weights = {k: t.numpy().copy() for k, t in model.state_dict().items()}

    # a fresh process would start from other weights and another random state
    model, opt, scheduler, loader, val = make_run(seed=999)
    checkpoint = load_checkpoint(tmp_path / "epoch2.npz", model, opt, scheduler)
    assert checkpoint["epoch"] == 2
    resumed = fit(model, loader, nn.CrossEntropyLoss(), opt, epochs=4, val_loader=val,
                  metrics=["accuracy"], scheduler=scheduler, progress=False,
                  initial_epoch=checkpoint["epoch"])

    assert resumed.epoch == [2, 3]
    for key in ("loss", "val_loss", "accuracy", "lr"):
        assert resumed[key] == full[key][2:], key  # exact equality of floats
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), final_weights[key])
    # the loss really changes between epochs, and dropout really drew random numbers
    assert len(set(full["loss"])) == 4


def test_round_trip_restores_optimizer_scheduler_and_rng(tmp_path):
    model, opt, scheduler, loader, _ = make_run(seed=3)
    fit(model, loader, nn.CrossEntropyLoss(), opt, 2, scheduler=scheduler, progress=False)
    save_checkpoint(tmp_path / "c.npz", model, opt, scheduler, epoch=2, note="hello",
                    numbers=[1, 2.5])
    expected_draws = tinydl.random.generator().random(3)
    X, y = make_data(8)

    def one_more_step(model, opt):
        opt.zero_grad()
        F.cross_entropy(model(tinydl.tensor(X)), tinydl.tensor(y)).backward()
        opt.step()
        return {k: t.numpy().copy() for k, t in model.state_dict().items()}

    model.eval()  # no dropout: the step depends on the weights and Adam's state only
    expected_after_step = one_more_step(model, opt)

    model2, opt2, scheduler2, _, _ = make_run(seed=4)
    checkpoint = load_checkpoint(tmp_path / "c.npz", model2, opt2, scheduler2)
    assert (checkpoint["epoch"], checkpoint["note"], checkpoint["numbers"]) == (2, "hello",
                                                                                [1, 2.5])
    np.testing.assert_array_equal(tinydl.random.generator().random(3), expected_draws)
    assert scheduler2.state_dict() == scheduler.state_dict()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.01 * 0.49)
    model2.eval()
    after_step = one_more_step(model2, opt2)
    for key, value in expected_after_step.items():
        np.testing.assert_array_equal(after_step[key], value)


def test_checkpoint_opens_with_numpy_without_pickle(tmp_path):
    model, opt, _, _, _ = make_run(seed=0)
    save_checkpoint(tmp_path / "c.npz", model, opt, epoch=1)
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["model/0.weight"], model[0].weight.numpy())


def test_load_checkpoint_errors(tmp_path):
    model, opt, scheduler, _, _ = make_run(seed=0)
    tinydl.io.save(model.state_dict(), tmp_path / "weights.npz")
    with pytest.raises(CheckpointError, match="not a training checkpoint from save_checkpoint"):
        load_checkpoint(tmp_path / "weights.npz", model)
    save_checkpoint(tmp_path / "model_only.npz", model)
    with pytest.raises(CheckpointError, match="holds no optimizer state; pass optimizer=None"):
        load_checkpoint(tmp_path / "model_only.npz", model, opt)
    with pytest.raises(ValueError, match=r"extra names \['rng_state'\] are reserved"):
        save_checkpoint(tmp_path / "x.npz", model, rng_state=1)
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 3))
    with pytest.raises(tinydl.ShapeError, match=r"0.weight: checkpoint \(16, 4\) vs model"):
        load_checkpoint(tmp_path / "model_only.npz", other)


def test_save_checkpoint_failure_keeps_the_previous_file(tmp_path, monkeypatch):
    model, opt, _, _, _ = make_run(seed=0)
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, opt, epoch=1)

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, opt, epoch=2)
    monkeypatch.undo()
    assert load_checkpoint(path, model)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temp file left


def test_killed_writer_never_leaves_a_mixed_checkpoint(tmp_path):
    """SIGKILL a process that rewrites a checkpoint in a loop; the file on disk is always one
    complete checkpoint: every weight holds the value of the epoch it was saved at."""
    path = tmp_path / "ckpt.npz"
    writer = textwrap.dedent(f"""
        import sys
        import tinydl
        from tinydl import nn
        from tinydl.train import save_checkpoint
        model = nn.Sequential(*[nn.Linear(512, 512) for _ in range(8)])  # 8 MB of float32
        for epoch in range(1, 10_000):
            for p in model.parameters():
                p.data[...] = epoch
            save_checkpoint({str(path)!r}, model, epoch=epoch)
            print(epoch, flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", writer], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        assert child.stdout.readline().strip() == "1"  # one complete checkpoint exists
        time.sleep(0.15)  # let it get into the middle of later writes
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    model = nn.Sequential(*[nn.Linear(512, 512) for _ in range(8)])
    epoch = load_checkpoint(path, model)["epoch"]
    assert epoch >= 1
    for p in model.parameters():
        np.testing.assert_array_equal(p.numpy(), np.full(p.shape, epoch, np.float32))
