"""Classification metrics: accuracy, top-k accuracy, confusion matrix, precision, recall, F1.

Everything here works on NumPy arrays. Each function also accepts anything with a
``.numpy()`` method (a tinydl Tensor), so ``accuracy(y, model(x))`` works directly.

Conventions (the same as scikit-learn's, so results can be checked against it):

* Labels are class indices ``0 .. num_classes - 1``.
* Predictions are either labels of shape (N,) or scores/logits of shape (N, C); scores are
  turned into labels with an argmax over the class axis.
* The confusion matrix has one row per TRUE class and one column per PREDICTED class.
* A ratio whose denominator is zero (e.g. precision of a class that was never predicted)
  counts as 0.0, like scikit-learn's ``zero_division=0``.
"""

import numpy as np

from tinydl.backend import as_numpy as _as_numpy

AVERAGES = ("binary", "macro", "micro", "weighted", None)


def _check_labels(op, name, labels, num_classes=None):
    """Validate a 1-D array of class indices and return it as int64 (N,)."""
    labels = _as_numpy(labels)
    if labels.ndim != 1:
        raise ValueError(f"{op}: {name} must be a 1-D array of class indices, "
                         f"got shape {labels.shape}")
    if labels.size == 0:
        raise ValueError(f"{op}: {name} is empty; need at least one sample")
    if labels.dtype == bool:
        labels = labels.astype(np.int64)
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.floating):
            raise TypeError(f"{op}: {name} must hold integer class indices, "
                            f"got dtype {labels.dtype}")
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            bad = labels[~whole][0]
            raise ValueError(f"{op}: {name} holds non-integer value {float(bad)}; pass class "
                             f"indices, or scores of shape (N, C) for predictions")
    labels = labels.astype(np.int64)
    if labels.min() < 0:
        raise ValueError(f"{op}: {name} holds label {labels.min()}, but labels must be class "
                         f"indices in [0, num_classes)")
    if num_classes is not None and labels.max() >= num_classes:
        raise ValueError(f"{op}: {name} holds label {labels.max()}, outside [0, {num_classes}) "
                         f"(num_classes={num_classes}); raise num_classes or fix the labels")
    return labels


def _true_and_predicted(op, y_true, y_pred, num_classes=None):
    """Validate a (labels, predictions) pair.

    y_true: (N,) class indices. y_pred: (N,) class indices or (N, C) scores.
    Returns (true int64 (N,), pred int64 (N,), num_classes int).
    """
    y_pred = _as_numpy(y_pred)
    if y_pred.ndim == 2:
        n_score_classes = y_pred.shape[1]
        if n_score_classes == 0:
            raise ValueError(f"{op}: y_pred scores have shape {y_pred.shape}: no classes")
        if num_classes is not None and num_classes != n_score_classes:
            raise ValueError(f"{op}: num_classes={num_classes} but y_pred scores have "
                             f"{n_score_classes} columns (shape {y_pred.shape}); they must agree")
        num_classes = n_score_classes
        predicted = np.argmax(y_pred, axis=1).astype(np.int64)  # (N, C) -> (N,)
    elif y_pred.ndim == 1:
        predicted = _check_labels(op, "y_pred", y_pred, num_classes)
    else:
        raise ValueError(f"{op}: y_pred must be labels (N,) or scores (N, C), "
                         f"got shape {y_pred.shape}")

    true = _check_labels(op, "y_true", y_true, num_classes)
    if len(true) != len(predicted):
        raise ValueError(f"{op}: y_true has {len(true)} samples but y_pred has {len(predicted)}; "
                         f"they must have the same length N")
    if num_classes is None:
        num_classes = int(max(true.max(), predicted.max())) + 1
    return true, predicted, int(num_classes)


def accuracy(y_true, y_pred):
    """Fraction of samples whose predicted class equals the true class.

    y_true: (N,) class indices. y_pred: (N,) class indices or (N, C) scores/logits.
    Returns a float in [0, 1].
    """
    true, predicted, _ = _true_and_predicted("accuracy", y_true, y_pred)
    return float(np.mean(true == predicted))


def top_k_accuracy(y_true, scores, k=5):
    """Fraction of samples whose true class is among the k highest-scoring classes.

    y_true: (N,) class indices. scores: (N, C) scores/logits.
    Ties count in the sample's favour: the true class is a hit when fewer than k classes
    score strictly higher than it. k >= C makes every sample a hit.
    Returns a float in [0, 1].
    """
    scores = _as_numpy(scores)
    if scores.ndim != 2:
        raise ValueError(f"top_k_accuracy: scores must have shape (N, C), got {scores.shape}")
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"top_k_accuracy: k must be a positive integer, got {k!r}")
    true = _check_labels("top_k_accuracy", "y_true", y_true, num_classes=scores.shape[1])
    if len(true) != len(scores):
        raise ValueError(f"top_k_accuracy: y_true has {len(true)} samples but scores has "
                         f"{len(scores)} rows; they must have the same length N")
    true_scores = scores[np.arange(len(true)), true]                 # (N,)
    n_higher = np.sum(scores > true_scores[:, None], axis=1)         # (N, C) -> (N,)
    return float(np.mean(n_higher < k))


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Count matrix ``cm[i, j]`` = number of samples of true class i predicted as class j.

    y_true: (N,) class indices. y_pred: (N,) class indices or (N, C) scores.
    num_classes: size C of the matrix; inferred from the labels (max + 1) when None.
    Returns an int64 array of shape (C, C); rows are true classes, columns predicted.
    """
    true, predicted, num_classes = _true_and_predicted("confusion_matrix", y_true, y_pred,
                                                       num_classes)
    cell = true * num_classes + predicted                # flat index of (true, predicted)
    counts = np.bincount(cell, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)  # (C*C,) -> (C, C)


def _safe_divide(numerator, denominator):
    """numerator / denominator, with 0.0 wherever the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _score(op, y_true, y_pred, average, pos_label, num_classes):
    """Shared body of precision / recall / f1_score (op names which one)."""
    if average not in AVERAGES:
        raise ValueError(f"{op}: average must be one of {AVERAGES}, got {average!r}")
    true, predicted, n = _true_and_predicted(op, y_true, y_pred, num_classes)

    if average == "binary":
        present = np.union1d(true, predicted)
        if present.max() > 1:
            raise ValueError(f"{op}: average='binary' needs labels in {{0, 1}}, found labels "
                             f"{present.tolist()}; pass average='macro', 'micro', 'weighted' "
                             f"or None for more than two classes")
        if pos_label not in (0, 1):
            raise ValueError(f"{op}: pos_label must be 0 or 1 for average='binary', "
                             f"got {pos_label!r}")
        n = max(n, 2)  # a batch holding only class 0 still has a class 1 to score

    cm = np.bincount(true * n + predicted, minlength=n * n).reshape(n, n)  # (C, C)
    true_positives = np.diag(cm)           # (C,)
    predicted_count = cm.sum(axis=0)       # (C,) column sums: how often each class was predicted
    actual_count = cm.sum(axis=1)          # (C,) row sums: the support of each class

    if op == "precision":
        numerator, denominator = true_positives, predicted_count
    elif op == "recall":
        numerator, denominator = true_positives, actual_count
    else:  # F1 = 2 tp / (2 tp + fp + fn), and fp + fn + 2 tp = predicted + actual
        numerator, denominator = 2 * true_positives, predicted_count + actual_count

    if average == "micro":
        return float(_safe_divide(numerator.sum(), denominator.sum()))
    per_class = _safe_divide(numerator, denominator)  # (C,)
    if average is None:
        return per_class
    if average == "binary":
        return float(per_class[pos_label])
    if average == "macro":
        occurs = (predicted_count + actual_count) > 0  # classes seen in y_true or y_pred
        return float(per_class[occurs].mean())
    # weighted: mean over classes weighted by support
    return float(np.sum(per_class * actual_count) / actual_count.sum())


_AVERAGE_DOC = """
    y_true: (N,) class indices. y_pred: (N,) class indices or (N, C) scores.
    average:
      'binary'   -- the score of class ``pos_label`` (labels must be 0/1);
      'micro'    -- pool all counts, then divide (equals accuracy for single-label data);
      'macro'    -- unweighted mean of per-class scores over the classes that occur in
                    y_true or y_pred (scikit-learn's default set of labels);
      'weighted' -- mean of per-class scores weighted by each class's support;
      None       -- per-class scores, float64 array of shape (num_classes,) indexed by class.
    num_classes: number of classes; inferred from the labels when None.
    Zero denominators give 0.0. Returns a float (or an array when average is None).
"""


def precision(y_true, y_pred, average="binary", pos_label=1, num_classes=None):
    """Precision = tp / (tp + fp): of the samples predicted as a class, the fraction right."""
    return _score("precision", y_true, y_pred, average, pos_label, num_classes)


def recall(y_true, y_pred, average="binary", pos_label=1, num_classes=None):
    """Recall = tp / (tp + fn): of the samples of a class, the fraction found."""
    return _score("recall", y_true, y_pred, average, pos_label, num_classes)


def f1_score(y_true, y_pred, average="binary", pos_label=1, num_classes=None):
    """F1 = 2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall."""
    return _score("f1_score", y_true, y_pred, average, pos_label, num_classes)


precision.__doc__ += _AVERAGE_DOC
recall.__doc__ += _AVERAGE_DOC
f1_score.__doc__ += _AVERAGE_DOC


def classification_report(y_true, y_pred, class_names=None, num_classes=None, digits=3):
    """A text table of per-class precision, recall, F1 and support, plus averages.

    y_true: (N,) class indices. y_pred: (N,) class indices or (N, C) scores.
    class_names: optional list of C names used as row labels (defaults to "0", "1", ...).
    num_classes: number of classes C; taken from class_names, else inferred from the labels.
    digits: decimals printed for each score.
    Returns the table as a string (print it).
    """
    op = "classification_report"
    if class_names is not None:
        class_names = [str(name) for name in class_names]
        if num_classes is not None and num_classes != len(class_names):
            raise ValueError(f"{op}: num_classes={num_classes} but {len(class_names)} "
                             f"class_names were given; they must agree")
        num_classes = len(class_names)
    true, predicted, n = _true_and_predicted(op, y_true, y_pred, num_classes)
    if class_names is None:
        class_names = [str(c) for c in range(n)]

    def scores(average):
        return [score(true, predicted, average=average, num_classes=n)
                for score in (precision, recall, f1_score)]

    per_class = np.stack(scores(None), axis=1)      # (C, 3): precision, recall, f1
    support = np.bincount(true, minlength=n)        # (C,)

    name_width = max([len(name) for name in class_names] + [len("weighted avg")])
    col = max(10, digits + 4)  # room for "precision" plus a space
    header = " " * name_width + "".join(title.rjust(col) for title in
                                        ("precision", "recall", "f1-score", "support"))
    lines = [header, ""]

    def row(name, values, count):
        cells = "".join(("" if v is None else f"{v:.{digits}f}").rjust(col) for v in values)
        return name.rjust(name_width) + cells + str(count).rjust(col)

    for name, values, count in zip(class_names, per_class, support):
        lines.append(row(name, values, count))
    lines.append("")
    total = len(true)
    lines.append(row("accuracy", [None, None, accuracy(true, predicted)], total))
    lines.append(row("macro avg", scores("macro"), total))
    lines.append(row("weighted avg", scores("weighted"), total))
    return "\n".join(lines) + "\n"
