"""fit / evaluate / predict, History, callbacks and the progress bar (tinydl.train)."""
import io
import re
import sys

import numpy as np
import pytest

import tinydl
import tinydl.functional as F
from tinydl import nn, optim
from tinydl.data import DataLoader, TensorDataset
from tinydl.optim import lr_scheduler
from tinydl.train import Callback, EarlyStopping, History, ModelCheckpoint, evaluate, fit, predict


def regression_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)[:, None]  # (n, 1)
    return X, y


def classification_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


def linear_setup(lr=0.05, seed=0):
    tinydl.manual_seed(seed)
    model = nn.Linear(3, 1)
    return model, optim.SGD(model.parameters(), lr=lr)


class TTYStream(io.StringIO):
    def isatty(self):
        return True


# ---------------------------------------------------------------- History

def test_history_holds_plain_floats_per_epoch():
    h = History()
    h.append(0, {"loss": np.float32(0.5), "acc": tinydl.tensor(1.0)})
    h.append(1, {"loss": 0.25, "acc": 0.75})
    assert h["loss"] == [0.5, 0.25] and len(h) == 2 and h.epoch == [0, 1]
    assert all(type(v) is float for values in h.to_dict().values() for v in values)
    d = h.to_dict()
    d["loss"].append(9.0)
    assert h["loss"] == [0.5, 0.25]  # to_dict returns a copy
    with pytest.raises(KeyError, match=r"History: no entry 'val_loss'; it has \['acc', 'loss'\]"):
        h["val_loss"]


def test_history_plot_writes_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    h = History()
    for epoch, (loss, val) in enumerate([(1.0, 1.2), (0.5, 0.8)]):
        h.append(epoch, {"loss": loss, "val_loss": val, "accuracy": 0.5 + epoch / 4})
    fig = h.plot(tmp_path / "history.png")
    assert (tmp_path / "history.png").stat().st_size > 0
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert len(fig.axes[0].get_lines()) == 2  # train and val


# ---------------------------------------------------------------- fit

def test_fit_losses_equal_a_hand_written_loop():
    X, y = regression_data()
    # the PyTorch-style loop, written out; per-epoch loss = sample-weighted mean of batch losses
    model, opt = linear_setup()
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    expected = []
    for _ in range(3):
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        expected.append(total / len(X))
    expected_weight = model.weight.numpy().copy()

    model, opt = linear_setup()
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    history = fit(model, loader, nn.MSELoss(), opt, epochs=3, progress=False)
    assert history["loss"] == expected
    np.testing.assert_array_equal(model.weight.numpy(), expected_weight)
    assert history["lr"] == [0.05] * 3
    assert sorted(history.keys()) == ["loss", "lr"]


def test_fit_learns_and_logs_validation():
    X, y = regression_data(n=64)
    model, opt = linear_setup(lr=0.1)
    train = DataLoader(TensorDataset(X[:48], y[:48]), batch_size=8, shuffle=True)
    val = DataLoader(TensorDataset(X[48:], y[48:]), batch_size=8)
    history = fit(model, train, nn.MSELoss(), opt, epochs=15, val_loader=val, progress=False)
    assert sorted(history.keys()) == ["loss", "lr", "val_loss"]
    assert len(history) == 15 and history.epoch == list(range(15))
    assert history["val_loss"][-1] < 1e-3 < history["val_loss"][0]
    np.testing.assert_allclose(model.weight.numpy().ravel(), [1.0, -2.0, 0.5], atol=0.02)


def test_metrics_by_name_and_by_function():
    X, y = classification_data()
    tinydl.manual_seed(1)
    model = nn.Linear(2, 2)
    seen_shapes = []

    def fraction_of_ones_predicted(y_true, y_pred):
        seen_shapes.append((y_true.shape, y_pred.shape))
        return float(np.mean(y_pred.argmax(axis=1) == 1))

    val = DataLoader(TensorDataset(X[40:], y[40:]), batch_size=7)
    history = fit(model, DataLoader(TensorDataset(X[:40], y[:40]), batch_size=10),
                  nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), epochs=2,
                  val_loader=val, metrics=["accuracy", fraction_of_ones_predicted],
                  progress=False)
    assert sorted(history.keys()) == ["accuracy", "fraction_of_ones_predicted", "loss", "lr",
                                      "val_accuracy", "val_fraction_of_ones_predicted",
                                      "val_loss"]
    # metrics see every sample of the epoch at once: (40,) labels and (40, 2) logits for train
    assert seen_shapes[:2] == [((40,), (40, 2)), ((20,), (20, 2))]
    logits = predict(model, X[40:])
    assert history["val_accuracy"][-1] == np.mean(logits.argmax(1) == y[40:])
    with pytest.raises(ValueError, match="fit: unknown metric 'acuracy'; known names are"):
        fit(model, val, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), 1,
            metrics=["acuracy"], progress=False)


class ModeSpy(nn.Module):
    """Records (training mode, grad recording) at each forward."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, tinydl.is_grad_enabled()))
        return self.linear(x)


def test_fit_trains_in_train_mode_and_validates_in_eval_mode_without_grad():
    X, y = regression_data(n=8)
    model = ModeSpy()
    model.eval()
    fit(model, DataLoader(TensorDataset(X, y), batch_size=4), nn.MSELoss(),
        optim.SGD(model.parameters(), lr=0.01), epochs=2,
        val_loader=DataLoader(TensorDataset(X, y), batch_size=8), progress=False)
    train_step, val_step = (True, True), (False, False)
    assert model.calls == [train_step, train_step, val_step] * 2
    assert model.training is False  # the mode it had before fit


def test_fit_argument_errors():
    X, y = regression_data(n=8)
    model, opt = linear_setup()
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    with pytest.raises(TypeError, match=r"fit: each batch must be a tuple \(inputs..., targets\)"):
        fit(model, DataLoader(TensorDataset(X), batch_size=4), nn.MSELoss(), opt, 1,
            progress=False)
    with pytest.raises(ValueError, match=r"loss_fn must return a one-element Tensor, got Tensor "
                                         r"of shape \(4, 1\)"):
        fit(model, loader, nn.MSELoss(reduction="none"), opt, 1, progress=False)
    with pytest.raises(ValueError, match="initial_epoch=3 is past epochs=2"):
        fit(model, loader, nn.MSELoss(), opt, 2, initial_epoch=3, progress=False)
    with pytest.raises(ValueError, match="train_loader yielded no batches"):
        fit(model, DataLoader(TensorDataset(X, y), batch_size=16, drop_last=True),
            nn.MSELoss(), opt, 1, progress=False)


def test_initial_epoch_runs_the_remaining_epochs():
    X, y = regression_data(n=8)
    model, opt = linear_setup()
    epochs_seen = []

    class Recorder(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs_seen.append(epoch)

    history = fit(model, DataLoader(TensorDataset(X, y), batch_size=4), nn.MSELoss(), opt,
                  epochs=5, initial_epoch=3, callbacks=[Recorder()], progress=False)
    assert epochs_seen == [3, 4] and history.epoch == [3, 4]


# ---------------------------------------------------------------- evaluate / predict

def test_evaluate_averages_per_sample_over_uneven_batches():
    X, y = regression_data(n=10)
    model, _ = linear_setup()
    with tinydl.no_grad():
        full = F.mse_loss(model(tinydl.tensor(X)), tinydl.tensor(y)).item()
    result = evaluate(model, DataLoader(TensorDataset(X, y), batch_size=4), nn.MSELoss())
    assert list(result) == ["loss"]
    assert result["loss"] == pytest.approx(full, rel=1e-6)  # batches of 4, 4, 2


def test_evaluate_metrics_match_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    X, y = classification_data()
    tinydl.manual_seed(3)
    model = nn.Linear(2, 2)
    result = evaluate(model, DataLoader(TensorDataset(X, y), batch_size=16),
                      metrics=["accuracy", "f1"])
    predicted = predict(model, X).argmax(axis=1)
    assert result["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y, predicted))
    assert result["f1"] == pytest.approx(sklearn_metrics.f1_score(y, predicted, average="macro"))


def test_predict_arrays_and_loaders_in_eval_mode():
    X, y = regression_data(n=10)
    model = ModeSpy()
    with tinydl.no_grad():
        expected = model(tinydl.tensor(X)).numpy()
    model.calls.clear()
    out = predict(model, X, batch_size=3)
    assert isinstance(out, np.ndarray) and out.shape == (10, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert model.calls == [(False, False)] * 4 and model.training is True
    from_loader = predict(model, DataLoader(TensorDataset(X, y), batch_size=5))  # y ignored
    np.testing.assert_allclose(from_loader, expected, rtol=1e-6)


# ---------------------------------------------------------------- schedulers

def test_scheduler_steps_once_per_epoch_and_lr_is_logged():
    X, y = regression_data(n=8)
    model, opt = linear_setup(lr=0.1)
    history = fit(model, DataLoader(TensorDataset(X, y), batch_size=2), nn.MSELoss(), opt, 3,
                  scheduler=lr_scheduler.StepLR(opt, step_size=1, gamma=0.5), progress=False)
    assert history["lr"] == [0.1, 0.05, 0.025]
    assert opt.param_groups[0]["lr"] == 0.0125


class PlateauSpy(lr_scheduler.ReduceLROnPlateau):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def step(self, metrics, *args, **kwargs):
        self.seen.append(metrics)
        return super().step(metrics, *args, **kwargs)


def test_reduce_on_plateau_gets_val_loss_or_loss():
    X, y = regression_data(n=8)
    for with_val in (True, False):
        model, opt = linear_setup(lr=0.0)  # lr 0: the loss never improves
        opt.param_groups[0]["lr"] = 0.0
        scheduler = PlateauSpy(opt, patience=0)
        val = DataLoader(TensorDataset(X[:4] * 2, y[:4]), batch_size=4) if with_val else None
        history = fit(model, DataLoader(TensorDataset(X, y), batch_size=4), nn.MSELoss(), opt,
                      3, val_loader=val, scheduler=scheduler, progress=False)
        assert scheduler.seen == history["val_loss" if with_val else "loss"]


# ---------------------------------------------------------------- callbacks

def drive(callback, values, monitor="val_loss", model=None):
    """Feed a callback a sequence of monitored values, as fit would; return epochs run."""
    callback.attach(model, None, None)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {monitor: value})
        if callback.stop_training:
            return epoch + 1
    return len(values)


def test_early_stopping_counts_epochs_without_improvement():
    # best 1.0 at epoch 1; epochs 2, 3 do not improve -> stop after epoch 3 (patience 2)
    stopper = EarlyStopping(patience=2)
    assert drive(stopper, [2.0, 1.0, 1.5, 1.2, 0.1]) == 4
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (1.0, 1, 3)
    # min_delta 0.5: 1.0 -> 0.8 is not enough of an improvement
    assert drive(EarlyStopping(patience=1, min_delta=0.5), [1.0, 0.8, 0.1]) == 2
    # accuracy is maximised in 'auto' mode
    assert drive(EarlyStopping("val_accuracy", patience=1), [0.5, 0.7, 0.6, 0.9],
                 monitor="val_accuracy") == 3
    assert drive(EarlyStopping(patience=0), [1.0, 1.0]) == 2


def test_early_stopping_missing_monitor_says_what_to_do():
    stopper = EarlyStopping()
    with pytest.raises(KeyError, match="monitor 'val_loss' is not in this epoch's logs "
                                       r"\['loss'\]; pass val_loader to fit"):
        drive(stopper, [1.0], monitor="loss")
    with pytest.raises(ValueError, match="mode must be 'auto', 'min' or 'max'"):
        EarlyStopping(mode="smallest")


def test_early_stopping_in_fit_restores_best_weights():
    X, y = regression_data(n=16)
    model, opt = linear_setup(lr=0.05)
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.weight.numpy().copy())

    # the validation set is unrelated to the training targets, so val_loss worsens early
    val = DataLoader(TensorDataset(X, -y), batch_size=16)
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    history = fit(model, DataLoader(TensorDataset(X, y), batch_size=4), nn.MSELoss(), opt, 50,
                  val_loader=val, callbacks=[Snapshot(), stopper], progress=False)
    best = int(np.argmin(history["val_loss"]))
    assert len(history) == best + 3 < 50  # best epoch, then patience epochs
    np.testing.assert_array_equal(model.weight.numpy(), snapshots[best])


def test_model_checkpoint_best_only_and_every_epoch(tmp_path):
    model, opt = linear_setup()
    best = ModelCheckpoint(tmp_path / "best-{epoch}.npz")
    drive(best, [3.0, 2.0, 2.5, 1.0], model=model)
    assert [p.split("/")[-1] for p in best.saved_paths] == ["best-1.npz", "best-2.npz",
                                                             "best-4.npz"]
    every = ModelCheckpoint(tmp_path / "e{epoch:02d}-{loss:.1f}.npz", save_best_only=False)
    every.attach(model, opt, None)
    every.on_train_begin()
    for epoch in range(2):
        every.on_epoch_end(epoch, {"loss": 1.25 - epoch})
    assert sorted(p.name for p in tmp_path.glob("e*.npz")) == ["e01-1.2.npz", "e02-0.2.npz"]
    checkpoint = tinydl.io.load(tmp_path / "e02-0.2.npz")
    assert checkpoint["epoch"] == 2 and checkpoint["logs"] == {"loss": 0.25}
    with pytest.raises(ValueError, match=r"ModelCheckpoint: cannot fill in path .*\{val_acc\}"):
        drive(ModelCheckpoint(tmp_path / "{val_acc}.npz"), [1.0], model=model)


# ---------------------------------------------------------------- progress bar

def run_small_fit(progress):
    X, y = regression_data(n=8)
    model, opt = linear_setup()
    fit(model, DataLoader(TensorDataset(X, y), batch_size=4), nn.MSELoss(), opt, 2,
        progress=progress)


def test_progress_bar_on_a_terminal_shows_epoch_and_loss(monkeypatch):
    pytest.importorskip("tqdm")
    stream = TTYStream()
    monkeypatch.setattr(sys, "stderr", stream)
    run_small_fit(progress=True)
    text = stream.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "loss=" in text and "lr=0.05" in text


def test_off_a_terminal_fit_prints_one_line_per_epoch_and_no_bar(monkeypatch, capsys):
    pipe = io.StringIO()  # isatty() is False: a log file, a CI job, a test
    monkeypatch.setattr(sys, "stderr", pipe)
    run_small_fit(progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert re.fullmatch(r"epoch 1/2 - loss [0-9.e+-]+ - lr 0\.05 - [0-9.]+ s", lines[0]), lines[0]
    assert pipe.getvalue() == ""
    tty = TTYStream()
    monkeypatch.setattr(sys, "stderr", tty)
    run_small_fit(progress=False)
    assert tty.getvalue() == "" and capsys.readouterr().out == ""


@pytest.mark.parametrize("verbose, bar, lines", [(0, False, 0), (1, True, 0), (2, False, 2)])
def test_verbose_levels_are_keras_levels_on_a_terminal(monkeypatch, capsys, verbose, bar, lines):
    pytest.importorskip("tqdm")
    tty = TTYStream()
    monkeypatch.setattr(sys, "stderr", tty)
    X, y = regression_data(n=8)
    model, opt = linear_setup()
    fit(model, DataLoader(TensorDataset(X, y), batch_size=4), nn.MSELoss(), opt, 2, verbose=verbose)
    assert ("epoch 2/2" in tty.getvalue()) == bar
    assert len(capsys.readouterr().out.splitlines()) == lines


def test_verbose_rejects_other_values():
    X, y = regression_data(n=8)
    model, opt = linear_setup()
    with pytest.raises(ValueError, match="verbose must be 'auto', 0 .* 1 .* or 2"):
        fit(model, DataLoader(TensorDataset(X, y), batch_size=4), nn.MSELoss(), opt, 1, verbose=3)


def test_fit_works_without_tqdm(monkeypatch, capsys):
    stream = TTYStream()
    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` now raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # (even after an earlier import)
    run_small_fit(progress=True)
    assert stream.getvalue() == ""  # no bar: one line per epoch instead
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_accuracy_takes_one_hot_targets_as_cross_entropy_does():
    """CrossEntropyLoss accepts class-probability targets; the metrics do too (argmax per row)."""
    labels = np.array([0, 2, 1, 2])
    logits = np.array([[3.0, 0, 0], [0, 0, 1], [0, 2, 0], [5, 0, 0]], dtype=np.float32)
    one_hot = np.eye(3, dtype=np.float32)[labels]
    model = nn.Linear(3, 3)
    history = fit(model, DataLoader(TensorDataset(logits, one_hot), batch_size=2),
                  nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0), 1,
                  metrics=["accuracy"], progress=False)
    with tinydl.no_grad():
        predicted = model(tinydl.tensor(logits)).numpy().argmax(axis=1)
    assert history["accuracy"][0] == pytest.approx(float(np.mean(predicted == labels)))


def test_a_lambda_metric_is_named_by_its_key():
    X, y = regression_data(n=8)
    model, opt = linear_setup()
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    history = fit(model, loader, nn.MSELoss(), opt, 1, progress=False,
                  metrics={"max_error": lambda t, p: float(np.abs(t - p).max())})
    assert set(history.history) == {"loss", "max_error", "lr"}
    with pytest.raises(ValueError, match=r"without a name .*metrics=\{'name': fn\}"):
        fit(model, loader, nn.MSELoss(), opt, 1, progress=False, metrics=[lambda t, p: 0.0])


def test_fit_evaluate_predict_on_another_device_match_the_cpu():
    """On the stand-in device (arrays that reject direct NumPy calls) the loop gives the CPU's
    numbers: fit, evaluate and predict only reach arrays through the device's module."""
    from tinydl.testing import standin

    standin.register()
    X, y = classification_data(n=20)
    results = {}
    for device in ("cpu", "standin"):
        tinydl.manual_seed(0)
        model = nn.Linear(2, 2).to(device)
        val = DataLoader(TensorDataset(X, y), batch_size=10, device=device)
        history = fit(model, DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True,
                                        device=device),
                      nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.1), 3,
                      val_loader=val, metrics=["accuracy"], progress=False)
        assert model.weight.device == device
        results[device] = (history.to_dict(), evaluate(model, val, nn.CrossEntropyLoss()),
                           predict(model, X))
    # the CPU may run Adam's Numba kernel and the stand-in its NumPy reference: float32
    # rounding differs in the last bits, so compare to a tolerance
    cpu_history, dev_history = results["cpu"][0], results["standin"][0]
    assert cpu_history.keys() == dev_history.keys()
    for key in cpu_history:
        np.testing.assert_allclose(dev_history[key], cpu_history[key], rtol=1e-5)
    for key in results["cpu"][1]:
        np.testing.assert_allclose(results["standin"][1][key], results["cpu"][1][key], rtol=1e-5)
    np.testing.assert_allclose(results["standin"][2], results["cpu"][2], rtol=1e-4, atol=1e-4)
