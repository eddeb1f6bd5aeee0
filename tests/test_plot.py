"""Tests for tinydl.plot: each figure's structure, the saved files, errors, and the backend."""

import os
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")

from tinydl import plot  # noqa: E402 (after the importorskip on purpose)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_blocking_windows(monkeypatch):
    """Fail any test whose code calls plt.show(); close every figure afterwards."""
    plt = plot._pyplot()

    def refuse_show(*args, **kwargs):
        raise AssertionError("tinydl.plot must never call plt.show()")

    monkeypatch.setattr(plt, "show", refuse_show)
    yield
    plt.close("all")


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 2_000 < len(data) < 5_000_000
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


class FakeHistory:
    def to_dict(self):
        return {"loss": [1.0, 0.5, 0.25], "val_loss": [1.2, 0.7, 0.6], "epochs": 3}


# ---------------------------------------------------------------- plot_history

def test_plot_history_one_axes_per_metric_train_and_val(tmp_path):
    history = {"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.6, 0.5],
               "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.4, 0.6, 0.75], "lr": [0.1] * 3}
    path = tmp_path / "deep" / "folder" / "history.png"
    fig = plot.plot_history(history, path=path)
    assert_png(path)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy", "lr"]
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2, 1]
    train, val = fig.axes[0].get_lines()
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])     # epochs count from 1
    np.testing.assert_array_equal(val.get_ydata(), [1.0, 0.6, 0.5])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train", "val"]


def test_plot_history_accepts_to_dict_and_metric_subset():
    fig = plot.plot_history(FakeHistory(), metrics=["loss"])  # the scalar 'epochs' is skipped
    assert len(fig.axes) == 1
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), [1.0, 0.5, 0.25])


def test_plot_history_errors():
    with pytest.raises(ValueError, match=r"plot_history: no curve for metric\(s\) \['acc'\]"):
        plot.plot_history({"loss": [1.0]}, metrics=["acc"])
    with pytest.raises(ValueError, match=r"plot_history: the history holds no per-epoch lists"):
        plot.plot_history({"epochs": 3})
    with pytest.raises(ValueError, match=r"plot_history: 'loss' must be a sequence of numbers"):
        plot.plot_history({"loss": ["a", "b"]})
    with pytest.raises(TypeError, match=r"plot_history: history must be a dict"):
        plot.plot_history([1.0, 2.0])


# ---------------------------------------------------------------- confusion matrix

def test_plot_confusion_matrix_counts_and_normalized(tmp_path):
    cm = np.array([[3, 1], [0, 4]])
    path = tmp_path / "cm.png"
    fig = plot.plot_confusion_matrix(cm, class_names=["cat", "dog"], path=path)
    assert_png(path)
    assert len(fig.axes) == 2                       # heatmap + colorbar
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["3", "1", "0", "4"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    assert ax.get_title() == "Confusion matrix"

    fig = plot.plot_confusion_matrix(np.array([[3, 1], [0, 0]]), normalize=True)
    # row 0: 3/4, 1/4; row 1 has no samples and stays 0
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.75", "0.25", "0.00", "0.00"]


def test_plot_confusion_matrix_errors():
    with pytest.raises(ValueError, match=r"plot_confusion_matrix: cm must be a square"):
        plot.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"plot_confusion_matrix: 3 class_names for a 2x2"):
        plot.plot_confusion_matrix(np.eye(2), class_names=["a", "b", "c"])


# ---------------------------------------------------------------- decision boundary

def test_plot_decision_boundary_calls_model_once_on_float32_grid(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    calls = []

    def predict(points):
        calls.append((points.shape, points.dtype))
        return (points[:, 0] > 0).astype(np.int64)

    path = tmp_path / "boundary.png"
    fig = plot.plot_decision_boundary(predict, X, y, path=path, resolution=50)
    assert_png(path)
    assert calls == [((2500, 2), np.float32)]
    assert len(fig.axes) == 1
    scatter = [c for c in fig.axes[0].collections if len(c.get_offsets()) == 30]
    assert len(scatter) == 1


def band_vertex_counts(fig):
    """Number of vertices in each class band of the filled contour."""
    contour = next(c for c in fig.axes[0].collections if hasattr(c, "levels"))
    return [len(path.vertices) for path in contour.get_paths()]


def test_plot_decision_boundary_reads_scores_and_probabilities():
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = np.array([0, 1, 2])

    def three_class_scores(points):   # (M, 3): class = which of x<-0.3, |x|<=0.3, x>0.3
        return np.stack([-points[:, 0], 0.3 - abs(points[:, 0]), points[:, 0]], axis=1)

    fig = plot.plot_decision_boundary(three_class_scores, X, y, resolution=30)
    assert all(count > 0 for count in band_vertex_counts(fig)[:3])

    def probability_of_class_1(points):  # float (M,) in (0, 1): must be thresholded at 0.5
        return 1 / (1 + np.exp(-4 * points[:, 0]))

    fig = plot.plot_decision_boundary(probability_of_class_1, X[:2], y[:2], resolution=30)
    counts = band_vertex_counts(fig)
    assert counts[0] > 0 and counts[1] > 0   # both classes appear in the plane


def test_plot_decision_boundary_errors():
    X, y = np.zeros((4, 3)), np.zeros(4, np.int64)
    with pytest.raises(ValueError, match=r"plot_decision_boundary: X must have shape \(N, 2\)"):
        plot.plot_decision_boundary(lambda p: p[:, 0], X, y)
    with pytest.raises(ValueError, match=r"plot_decision_boundary: predict_fn returned shape \(3,\)"):
        plot.plot_decision_boundary(lambda p: np.zeros(3), np.zeros((4, 2)), y, resolution=10)


# ---------------------------------------------------------------- image grid

def test_plot_image_grid_titles_pred_true_red_when_wrong(tmp_path):
    images = np.random.default_rng(0).random((12, 1, 8, 8)).astype(np.float32)  # (N, C, H, W)
    labels = np.arange(12) % 3
    predictions = labels.copy()
    predictions[[1, 4]] = 0                       # wrong: true 1 -> 0, true 1 -> 0
    names = ["cat", "dog", "emu"]
    path = tmp_path / "grid.png"
    fig = plot.plot_image_grid(images, labels, predictions, class_names=names, path=path)
    assert_png(path)
    assert len(fig.axes) == 10                    # rows=2 * cols=5
    titles = [ax.title for ax in fig.axes]
    assert titles[0].get_text() == "cat (cat)"
    assert titles[1].get_text() == "cat (dog)"
    red = [i for i, t in enumerate(titles) if matplotlib.colors.same_color(t.get_color(), "red")]
    assert red == [1, 4]
    assert fig.axes[0].get_images()[0].get_array().shape == (8, 8)


def test_plot_image_grid_channels_last_scores_and_small_batch():
    images = np.random.default_rng(1).normal(size=(3, 6, 6, 3))   # (N, H, W, C), outside [0, 1]
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])       # argmax: 1, 0, 1
    fig = plot.plot_image_grid(images, predictions=scores, rows=2, cols=3)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["1", "0", "1"]
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape == (6, 6, 3) and shown.min() >= 0 and shown.max() <= 1


def test_plot_image_grid_errors():
    with pytest.raises(ValueError, match=r"plot_image_grid: images must be \(N, H, W\)"):
        plot.plot_image_grid(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"plot_image_grid: cannot find a channel axis"):
        plot.plot_image_grid(np.zeros((2, 5, 8, 8)))
    with pytest.raises(ValueError, match=r"plot_image_grid: labels has 2 entries but 4 images"):
        plot.plot_image_grid(np.zeros((4, 8, 8)), labels=[0, 1])


# ---------------------------------------------------------------- attention

def test_plot_attention_heatmap_with_tokens(tmp_path):
    weights = np.full((2, 3), 1 / 3)
    path = tmp_path / "attention.png"
    fig = plot.plot_attention(weights, ["the", "cat", "sat"], ["le", "chat"], path=path,
                              title="head 0")
    assert_png(path)
    assert len(fig.axes) == 2                     # heatmap + colorbar
    ax = fig.axes[0]
    assert ax.get_title() == "head 0"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["the", "cat", "sat"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["le", "chat"]
    np.testing.assert_allclose(ax.get_images()[0].get_array(), weights)


def test_plot_attention_errors():
    with pytest.raises(ValueError, match=r"plot_attention: weights must be 2-D \(Tq, Tk\)"):
        plot.plot_attention(np.zeros((1, 2, 3, 3)), list("abc"))
    with pytest.raises(ValueError, match=r"plot_attention: weights of shape \(2, 3\) need 2 "
                                         r"y_tokens \(rows\) and 3 x_tokens"):
        plot.plot_attention(np.zeros((2, 3)), list("ab"), list("xy"))


# ---------------------------------------------------------------- curves and saving

def test_plot_curves_lines_legend_and_log_axis(tmp_path):
    curves = {"sgd": [1.0, 0.5, 0.3], "adam": [1.0, 0.2, 0.05, 0.01], "momentum": [1.0, 0.4]}
    path = tmp_path / "curves.png"
    fig = plot.plot_curves(curves, path=path, xlabel="epoch", ylabel="loss", title="optimizers",
                           logy=True)
    assert_png(path)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.get_lines()) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sgd", "adam", "momentum"]
    assert ax.get_yscale() == "log"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("epoch", "loss", "optimizers")
    np.testing.assert_array_equal(ax.get_lines()[1].get_xdata(), [1, 2, 3, 4])


def test_plot_curves_errors():
    with pytest.raises(ValueError, match=r"plot_curves: logy=True needs positive values, but "
                                         r"curve 'b' has minimum 0\.0"):
        plot.plot_curves({"a": [1.0], "b": [0.0, 1.0]}, logy=True)
    with pytest.raises(ValueError, match=r"plot_curves: curves must be a non-empty dict"):
        plot.plot_curves([1.0, 2.0])


def test_saving_replaces_existing_file_and_honours_suffix(tmp_path):
    path = tmp_path / "figure.png"
    path.write_bytes(b"old contents")
    plot.plot_curves({"a": [1.0, 2.0]}, path=path)
    assert_png(path)
    pdf = tmp_path / "figure.pdf"
    plot.plot_curves({"a": [1.0, 2.0]}, path=pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match=r"plot: cannot save '.*figure\.xyz': unknown image "
                                         r"format 'xyz'"):
        plot.plot_curves({"a": [1.0]}, path=tmp_path / "figure.xyz")


def test_saved_figures_are_released_from_pyplot(tmp_path):
    plt = plot._pyplot()
    before = len(plt.get_fignums())
    fig = plot.plot_curves({"a": [1.0, 2.0]}, path=tmp_path / "a.png")
    assert len(plt.get_fignums()) == before
    fig.savefig(tmp_path / "again.png")           # the returned figure is still usable
    assert_png(tmp_path / "again.png")


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"pip install tinydl\[plot\]"):
        plot.plot_curves({"a": [1.0]})


# ---------------------------------------------------------------- backend choice

BACKEND_PROBE = (
    "from tinydl import plot; import matplotlib; "
    "plot.plot_curves({'a': [1.0, 2.0]}); print(matplotlib.get_backend().lower())"
)


def run_probe(extra_env):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env.update(extra_env)
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", BACKEND_PROBE], env=env, cwd=repo_root,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="headless rule is Linux-only")
def test_headless_linux_gets_agg():
    assert run_probe({}) == "agg"


def test_backend_chosen_by_user_is_kept():
    assert run_probe({"MPLBACKEND": "svg"}) == "svg"
