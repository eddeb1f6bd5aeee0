"""The vision lessons (07, 08, 08a, 08b) in --quick mode, and a quick real-data training run:
Seed002Net on 2,000 Fashion-MNIST images for one epoch must beat chance by far."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

import tinydl
from tinydl import nn, optim
from tinydl.data import DataLoader, DatasetNotFoundError, TensorDataset, fashion_mnist
from tinydl.data import transforms as T
from tinydl.models import Seed002Net
from tinydl.train import evaluate, fit


def _fashion_mnist_or_skip():
    try:
        return fashion_mnist(train=True), fashion_mnist(train=False)
    except DatasetNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


def _number_after(label, text):
    match = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", text)
    assert match, f"no number after {label!r} in:\n{text}"
    return float(match.group(1))


def _check(run):
    assert run.returncode == 0, \
        f"{run.path.name} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run.stdout


def test_seed002_net_learns_fashion_mnist_in_one_quick_epoch():
    (train_x, train_y), (test_x, test_y) = _fashion_mnist_or_skip()
    tinydl.manual_seed(0)
    model = Seed002Net()
    loader = DataLoader(TensorDataset(train_x[:2000], train_y[:2000]), batch_size=32,
                        shuffle=True, transform=T.ToFloat())
    history = fit(model, loader, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), epochs=1,
                  progress=False)
    assert history["loss"][0] < 2.0  # ln(10) = 2.30 at chance
    test_loader = DataLoader(TensorDataset(test_x[:1000], test_y[:1000]), batch_size=500,
                             transform=T.ToFloat())
    accuracy = evaluate(model, test_loader, metrics=["accuracy"])["accuracy"]
    assert accuracy > 0.55, f"test accuracy {accuracy:.3f} after one epoch on 2,000 images"


def test_lesson_07_quick(run_lesson):
    _fashion_mnist_or_skip()
    out = _check(run_lesson("07"))
    assert "1,000 training" in out and "parameters: 93,322" in out
    assert 0.3 < _number_after("test accuracy", out) <= 1.0
    assert _number_after("seconds per epoch:", out) > 0
    assert {"07_predictions.png", "07_history.png"} <= set(run_lesson("07").files())


def test_lesson_08_quick_says_which_data_it_used(run_lesson):
    run = run_lesson("08")
    out = _check(run)
    first = out.splitlines()[0]
    assert first.startswith("data: ") and ("CIFAR-10 from" in first or "make_shapes" in first)
    assert "64*8*8 = 4096 features" in out
    epochs = re.findall(r"Epoch \[(\d)/6\], Loss: ([0-9.]+), Test Accuracy: ([0-9.]+)%", out)
    assert [e[0] for e in epochs] == ["1", "2", "3", "4", "5", "6"]
    first_loss, last_loss = float(epochs[0][1]), float(epochs[-1][1])
    # ten classes: an untrained net sits at ln(10) = 2.30 and 10%; six quick epochs must get
    # clearly below and above them (measured: loss 2.31 -> 1.79, accuracy 23%)
    assert abs(first_loss - np.log(10)) < 0.1 and last_loss < 2.1
    assert float(epochs[-1][2]) >= 17.0
    assert {"08_loss.png", "08_test_accuracy.png", "08_predictions.png"} <= set(run.files())


def test_lesson_08a_quick_trains_both_ways(run_lesson):
    run = run_lesson("08a")
    out = _check(run)
    assert out.splitlines()[0].startswith("data: ")
    # ten classes (chance 0.10); measured after five quick epochs: train accuracy 0.356 without
    # augmentation, 0.206 with it, and the train-test gap 0.203 vs 0.053: augmentation shrinks it
    plain = _number_after("no augmentation: final train accuracy", out)
    augmented = _number_after("with augmentation: final train accuracy", out)
    assert plain > 0.25 and augmented > 0.15
    gaps = dict(re.findall(r"(no|with) augmentation: final train accuracy .*gap ([-0-9.]+)", out))
    assert float(gaps["no"]) > float(gaps["with"])
    assert {"08a_accuracy.png", "08a_augmented_examples.png"} <= set(run.files())


def test_lesson_08b_quick_checks_im2col_against_loops(run_lesson):
    run = run_lesson("08b")
    out = _check(run)
    assert "the loops give the same: True" in out
    assert _number_after("largest difference loops vs im2col", out) < 1e-4
    figures = {"08b_patches.png", "08b_filters_initial.png", "08b_filters_learned.png"}
    assert figures <= set(run.files())


@pytest.mark.slow
def test_lesson_07_full_run_reaches_90_percent(tmp_path):
    """Seed 002's bar: the full lesson (5 epochs, 60,000 images) reaches >= 90% on the test set."""
    _fashion_mnist_or_skip()
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(REPO / "lessons" / "07_cnn_fashion_mnist.py"),
                           "--out", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=3 * 3600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _number_after("test accuracy", done.stdout) >= 0.90
