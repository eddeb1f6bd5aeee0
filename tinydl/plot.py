"""Figures for lessons: training curves, confusion matrices, decision boundaries,
image grids with predictions, attention heatmaps and generic curve comparisons.

matplotlib is optional (``pip install tinydl[plot]``) and is imported only when a function
here is called. Each function builds one matplotlib Figure and returns it; given ``path``
it also writes the image there (PNG unless the suffix names another format, parent folders
created, written atomically). Nothing here calls ``plt.show()``, so no window ever blocks a
script; show a returned figure yourself if you want one.

Backend: on a Linux machine with no display (neither DISPLAY nor WAYLAND_DISPLAY set) and no
backend chosen by you (no MPLBACKEND, no ``matplotlib.use`` before pyplot was imported),
the non-interactive Agg backend is selected. Any choice you made is left alone.

Figures saved to a path are closed in pyplot (they stay usable as objects) so long runs do
not pile up open figures; figures without a path stay open for ``plt.show()``.
"""

import os
import sys
import uuid
from pathlib import Path

import numpy as np

from tinydl.backend import as_numpy as _as_numpy


def _pyplot():
    """Import and return matplotlib.pyplot, choosing Agg on a headless Linux machine."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("tinydl.plot needs matplotlib, which is not installed; "
                          "install it with: pip install tinydl[plot]") from None
    # A backend counts as chosen when pyplot is already imported, MPLBACKEND is set, or
    # matplotlib.use() / a matplotlibrc set one (rcParams then holds a name, not "auto").
    backend_or_none = getattr(matplotlib.rcParams, "_get_backend_or_none", lambda: None)
    user_chose_backend = ("matplotlib.pyplot" in sys.modules or bool(os.environ.get("MPLBACKEND"))
                          or backend_or_none() is not None)
    headless = (sys.platform.startswith("linux")
                and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))
    if headless and not user_chose_backend:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _finish(fig, path):
    """Save ``fig`` to ``path`` atomically when a path is given; return the figure."""
    if path is None:
        return fig
    path = Path(path)
    image_format = path.suffix[1:].lower() or "png"
    supported = fig.canvas.get_supported_filetypes()
    if image_format not in supported:
        raise ValueError(f"plot: cannot save '{path}': unknown image format '{image_format}'; "
                         f"use a .png suffix (or one of {sorted(supported)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    # a unique temp name in the same folder; "xb" keeps the usual file permissions (umask)
    temp_name = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(temp_name, "xb") as file:
            fig.savefig(file, format=image_format, dpi=100, bbox_inches="tight")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        if os.path.exists(temp_name):
            os.remove(temp_name)
        raise
    _pyplot().close(fig)  # drop pyplot's reference; the Figure object stays usable
    return fig


def _float_list(op, name, values):
    """Turn a sequence of numbers (floats, 0-d arrays or tensors) into a float64 (T,) array."""
    try:
        return np.array([float(_as_numpy(v)) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: '{name}' must be a sequence of numbers, got "
                         f"{type(values).__name__} {str(values)[:60]}") from None


def _is_sequence(values):
    return isinstance(values, (list, tuple, np.ndarray)) and np.ndim(values) == 1


def _grid_shape(n, max_cols=3):
    cols = min(n, max_cols)
    return (n + cols - 1) // cols, cols


# ---------------------------------------------------------------- training history

def plot_history(history, path=None, metrics=None):
    """One subplot per metric with the training and validation curves over epochs.

    history: dict like {'loss': [...], 'val_loss': [...], 'accuracy': [...], ...} of
             numbers per epoch, or an object with ``.to_dict()`` returning one (train.History).
             Keys starting with 'val_' are the validation curve of the metric after the
             prefix. Entries that are not 1-D sequences (e.g. an epoch count) are skipped.
    metrics: metric names to plot, e.g. ['loss']; default: every metric in the history.
    Returns the Figure (one Axes per metric, one line per train/val curve present).
    """
    op = "plot_history"
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    if not isinstance(history, dict):
        raise TypeError(f"{op}: history must be a dict of per-epoch lists or have .to_dict(), "
                        f"got {type(history).__name__}")
    curves = {key: values for key, values in history.items() if _is_sequence(values)}
    available = []
    for key in curves:
        name = key[len("val_"):] if key.startswith("val_") else key
        if name not in available:
            available.append(name)
    if metrics is None:
        metrics = available
    elif isinstance(metrics, str):
        metrics = [metrics]
    missing = [name for name in metrics if name not in available]
    if missing:
        raise ValueError(f"{op}: no curve for metric(s) {missing} in the history; "
                         f"available: {available}")
    if not metrics:
        raise ValueError(f"{op}: the history holds no per-epoch lists to plot "
                         f"(keys: {list(history)})")

    plt = _pyplot()
    rows, cols = _grid_shape(len(metrics))
    fig = plt.figure(figsize=(4.5 * cols, 3.5 * rows))
    for i, name in enumerate(metrics):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key, label, style in ((name, "train", "-"), ("val_" + name, "val", "--")):
            if key in curves:
                values = _float_list(op, key, curves[key])
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _finish(fig, path)


# ---------------------------------------------------------------- confusion matrix

def plot_confusion_matrix(cm, class_names=None, path=None, normalize=False):
    """Heatmap of a confusion matrix with the count (or fraction) written in each cell.

    cm: (C, C) counts, rows = true class, columns = predicted (metrics.confusion_matrix).
    class_names: C tick labels; default "0", "1", ...
    normalize: divide each row by its total, so cells show the fraction of each true class
               (rows with no samples stay 0).
    Returns the Figure (the heatmap Axes plus a colorbar Axes).
    """
    op = "plot_confusion_matrix"
    cm = _as_numpy(cm).astype(np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"{op}: cm must be a square (C, C) matrix, got shape {cm.shape}")
    n = cm.shape[0]
    if class_names is None:
        class_names = [str(c) for c in range(n)]
    if len(class_names) != n:
        raise ValueError(f"{op}: {len(class_names)} class_names for a {n}x{n} matrix; "
                         f"give exactly {n}")
    if normalize:
        row_totals = cm.sum(axis=1, keepdims=True)  # (C, 1)
        cm = np.divide(cm, row_totals, out=np.zeros_like(cm), where=row_totals != 0)

    plt = _pyplot()
    size = max(4.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(n), labels=class_names, rotation=45 if n > 5 else 0)
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (rows normalized)" if normalize else "Confusion matrix")
    if n <= 20:  # beyond that the numbers would not fit in the cells
        threshold = cm.max() / 2
        for i in range(n):
            for j in range(n):
                text = f"{cm[i, j]:.2f}" if normalize else f"{int(cm[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > threshold else "black")
    fig.tight_layout()
    return _finish(fig, path)


# ---------------------------------------------------------------- decision boundary

def plot_decision_boundary(predict_fn, X, y, path=None, resolution=200):
    """Colour the plane by the class a model predicts, with the data points on top.

    predict_fn: maps an (M, 2) float32 array of points to labels (M,) or scores (M, C);
                scores are argmaxed. A float output of shape (M,) or (M, 1) that is not
                whole numbers is read as the probability of class 1 (threshold 0.5).
    X: (N, 2) points. y: (N,) class indices.
    resolution: grid points along each axis (the model is called once on resolution**2 points).
    Returns the Figure (one Axes).
    """
    op = "plot_decision_boundary"
    X = _as_numpy(X)
    y = _as_numpy(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"{op}: X must have shape (N, 2) for a 2-D plot, got {X.shape}")
    if y.shape != (len(X),):
        raise ValueError(f"{op}: y must have shape ({len(X)},) to match X {X.shape}, got {y.shape}")
    if resolution < 2:
        raise ValueError(f"{op}: resolution must be at least 2, got {resolution}")

    margin = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 0.1  # (2,)
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xs = np.linspace(low[0], high[0], resolution)
    ys = np.linspace(low[1], high[1], resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)                     # each (R, R)
    points = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)  # (R*R, 2)

    output = _as_numpy(predict_fn(points))
    if output.ndim == 2 and output.shape[1] == 1:
        output = output[:, 0]                                # (M, 1) -> (M,)
    if output.shape[0] != len(points) or output.ndim not in (1, 2):
        raise ValueError(f"{op}: predict_fn returned shape {output.shape} for {len(points)} "
                         f"points; expected ({len(points)},) labels or ({len(points)}, C) scores")
    if output.ndim == 2:
        labels = output.argmax(axis=1)
    elif np.issubdtype(output.dtype, np.floating) and not np.all(output == np.round(output)):
        labels = (output > 0.5).astype(np.int64)
    else:
        labels = output.astype(np.int64)
    labels = labels.reshape(grid_x.shape)                    # (R*R,) -> (R, R)

    n_classes = int(max(labels.max(), y.max())) + 1
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    levels = np.arange(n_classes + 1) - 0.5                  # one colour band per class
    ax.contourf(grid_x, grid_y, labels, levels=levels, cmap="tab10", vmin=0, vmax=9, alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="tab10", vmin=0, vmax=9, s=12, edgecolors="k",
               linewidths=0.3)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_title("Decision boundary")
    fig.tight_layout()
    return _finish(fig, path)


# ---------------------------------------------------------------- image grid

def _images_for_display(op, images):
    """Return images as (N, H, W) or (N, H, W, C) with C in {3, 4}, ready for imshow."""
    images = _as_numpy(images)
    if images.ndim == 3:
        return images
    if images.ndim != 4:
        raise ValueError(f"{op}: images must be (N, H, W), (N, C, H, W) or (N, H, W, C), "
                         f"got shape {images.shape}")
    if images.shape[1] in (1, 3, 4):                 # channels first, as tinydl/PyTorch store them
        images = np.moveaxis(images, 1, -1)          # (N, C, H, W) -> (N, H, W, C)
    elif images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{op}: cannot find a channel axis of size 1, 3 or 4 in images of "
                         f"shape {images.shape}")
    if images.shape[-1] == 1:
        images = images[..., 0]                      # (N, H, W, 1) -> (N, H, W)
    return images


def plot_image_grid(images, labels=None, predictions=None, class_names=None, rows=2, cols=5,
                    path=None):
    """A grid of the first rows*cols images, titled with their labels / predictions.

    images: (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3, 4}.
    labels: (N,) true class indices. predictions: (N,) class indices or (N, K) scores.
    class_names: names for class indices in titles.
    Titles read "pred (true)" when both are given, coloured red where they differ.
    Returns the Figure (one Axes per image shown).
    """
    op = "plot_image_grid"
    images = _images_for_display(op, images)
    n = min(len(images), rows * cols)
    if n == 0:
        raise ValueError(f"{op}: nothing to show (images has {len(images)} items, "
                         f"rows*cols = {rows * cols})")
    if labels is not None:
        labels = _as_numpy(labels).astype(np.int64)
    if predictions is not None:
        predictions = _as_numpy(predictions)
        if predictions.ndim == 2:
            predictions = predictions.argmax(axis=1)  # (N, K) scores -> (N,) labels
        predictions = predictions.astype(np.int64)
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) < n:
            raise ValueError(f"{op}: {name} has {len(values)} entries but {n} images are shown")

    def name_of(index):
        return str(class_names[index]) if class_names is not None else str(index)

    plt = _pyplot()
    fig = plt.figure(figsize=(1.8 * cols, 2.0 * rows))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        image = images[i]
        if image.ndim == 3 and np.issubdtype(image.dtype, np.floating):
            low, high = image.min(), image.max()     # colour images: rescale into [0, 1]
            if low < 0 or high > 1:
                image = (image - low) / (high - low) if high > low else np.zeros_like(image)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_xticks([])
        ax.set_yticks([])
        if predictions is not None and labels is not None:
            wrong = predictions[i] != labels[i]
            ax.set_title(f"{name_of(predictions[i])} ({name_of(labels[i])})", fontsize=9,
                         color="red" if wrong else "black")
        elif predictions is not None:
            ax.set_title(name_of(predictions[i]), fontsize=9)
        elif labels is not None:
            ax.set_title(name_of(labels[i]), fontsize=9)
    fig.tight_layout()
    return _finish(fig, path)


# ---------------------------------------------------------------- attention

def plot_attention(weights, x_tokens, y_tokens=None, path=None, title=None):
    """Heatmap of attention weights: row i shows how query token i attends to each key token.

    weights: (Tq, Tk) attention weights for one head (select one first, e.g. w[0, head]).
    x_tokens: Tk key tokens (columns). y_tokens: Tq query tokens (rows); default x_tokens
              (self-attention).
    Returns the Figure (the heatmap Axes plus a colorbar Axes).
    """
    op = "plot_attention"
    weights = _as_numpy(weights).astype(np.float64)
    if weights.ndim != 2:
        raise ValueError(f"{op}: weights must be 2-D (Tq, Tk) for one head, got shape "
                         f"{weights.shape}; select a batch item and head first, e.g. w[0, 0]")
    if y_tokens is None:
        y_tokens = x_tokens
    if len(x_tokens) != weights.shape[1] or len(y_tokens) != weights.shape[0]:
        raise ValueError(f"{op}: weights of shape {weights.shape} need {weights.shape[0]} "
                         f"y_tokens (rows) and {weights.shape[1]} x_tokens (columns); got "
                         f"{len(y_tokens)} and {len(x_tokens)}")
    plt = _pyplot()
    width = max(4.0, 0.4 * weights.shape[1] + 2)
    height = max(3.5, 0.4 * weights.shape[0] + 1.5)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(weights, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(len(x_tokens)), labels=[str(t) for t in x_tokens], rotation=90)
    ax.set_yticks(range(len(y_tokens)), labels=[str(t) for t in y_tokens])
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(title if title is not None else "Attention weights")
    fig.tight_layout()
    return _finish(fig, path)


# ---------------------------------------------------------------- generic curves

def plot_curves(curves, path=None, xlabel="step", ylabel="value", title=None, logy=False):
    """Several curves on one Axes, e.g. the loss of three optimizers.

    curves: dict {name: sequence of T numbers}; curve values are plotted at x = 1..T.
    logy: use a logarithmic y axis (all values must then be positive).
    Returns the Figure (one Axes, one line per curve, with a legend).
    """
    op = "plot_curves"
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"{op}: curves must be a non-empty dict {{name: list of numbers}}, "
                         f"got {type(curves).__name__}")
    series = {name: _float_list(op, name, values) for name, values in curves.items()}
    if logy:
        for name, values in series.items():
            if np.any(values <= 0):
                raise ValueError(f"{op}: logy=True needs positive values, but curve '{name}' "
                                 f"has minimum {values.min()}; plot with logy=False")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=str(name))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _finish(fig, path)
