"""Tests for tinydl.metrics: hand-worked cases, error messages, and scikit-learn as an oracle."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydl.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    f1_score,
    precision,
    recall,
    top_k_accuracy,
)

# A 3-class example used by several tests.
#   sample:  0  1  2  3  4  5
#   true:    0  0  1  1  1  2
#   pred:    0  1  1  1  2  2
# Confusion matrix (rows true, columns predicted):
#   true 0: predicted 0 once (s0), predicted 1 once (s1)  -> [1, 1, 0]
#   true 1: predicted 1 twice (s2, s3), 2 once (s4)       -> [0, 2, 1]
#   true 2: predicted 2 once (s5)                         -> [0, 0, 1]
# tp = diag = [1, 2, 1]; predicted counts (column sums) = [1, 3, 2];
# support (row sums) = [2, 3, 1]; correct = 4 of 6.
Y_TRUE = np.array([0, 0, 1, 1, 1, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 2])


class FakeTensor:
    """Stands in for a tinydl Tensor: only offers .numpy()."""

    def __init__(self, array):
        self._array = np.asarray(array)

    def numpy(self):
        return self._array


# ---------------------------------------------------------------- hand-worked values

def test_accuracy_from_labels_and_from_scores():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    # scores whose row-wise argmax is [2, 0, 1]; true [2, 1, 1] -> 2 of 3 correct
    scores = np.array([[0.1, 0.2, 0.7],
                       [3.0, 1.0, -1.0],
                       [0.0, 5.0, 4.9]])
    assert accuracy([2, 1, 1], scores) == pytest.approx(2 / 3)


def test_accepts_objects_with_numpy_method():
    assert accuracy(FakeTensor(Y_TRUE), FakeTensor(Y_PRED)) == pytest.approx(4 / 6)
    cm = confusion_matrix(FakeTensor(Y_TRUE), FakeTensor(Y_PRED))
    assert cm[1, 2] == 1


def test_accepts_torch_tensor_that_requires_grad():
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[2.0, 1.0], [0.0, 1.0], [1.0, 3.0]], requires_grad=True)
    # argmax per row: [0, 1, 1]; true [0, 0, 1] -> 2 of 3
    assert accuracy(torch.tensor([0, 0, 1]), logits) == pytest.approx(2 / 3)


def test_float_labels_that_are_whole_numbers_are_accepted():
    assert accuracy(np.array([0.0, 1.0, 2.0], np.float32), [0, 1, 1]) == pytest.approx(2 / 3)


def test_confusion_matrix_hand_worked():
    expected = np.array([[1, 1, 0],
                         [0, 2, 1],
                         [0, 0, 1]])
    cm = confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64


def test_confusion_matrix_num_classes_pads_unseen_classes():
    # true [0, 1], pred [1, 1] in a 4-class problem: one 0->1, one 1->1, classes 2, 3 empty
    cm = confusion_matrix([0, 1], [1, 1], num_classes=4)
    expected = np.zeros((4, 4), np.int64)
    expected[0, 1] = 1
    expected[1, 1] = 1
    np.testing.assert_array_equal(cm, expected)


def test_per_class_scores_hand_worked():
    # precision = tp / predicted = [1/1, 2/3, 1/2]
    np.testing.assert_allclose(precision(Y_TRUE, Y_PRED, average=None), [1.0, 2 / 3, 0.5])
    # recall = tp / support = [1/2, 2/3, 1/1]
    np.testing.assert_allclose(recall(Y_TRUE, Y_PRED, average=None), [0.5, 2 / 3, 1.0])
    # f1 = 2 tp / (predicted + support) = [2/3, 4/6, 2/3]
    np.testing.assert_allclose(f1_score(Y_TRUE, Y_PRED, average=None), [2 / 3, 2 / 3, 2 / 3])


def test_averaged_scores_hand_worked():
    # macro precision = (1 + 2/3 + 1/2) / 3 = 13/18
    assert precision(Y_TRUE, Y_PRED, average="macro") == pytest.approx(13 / 18)
    # macro recall = (1/2 + 2/3 + 1) / 3 = 13/18
    assert recall(Y_TRUE, Y_PRED, average="macro") == pytest.approx(13 / 18)
    # weighted precision = (2*1 + 3*(2/3) + 1*(1/2)) / 6 = 4.5/6
    assert precision(Y_TRUE, Y_PRED, average="weighted") == pytest.approx(0.75)
    # weighted recall = (2*(1/2) + 3*(2/3) + 1*1) / 6 = 4/6
    assert recall(Y_TRUE, Y_PRED, average="weighted") == pytest.approx(4 / 6)
    # every class has f1 2/3, so macro and weighted f1 are 2/3
    assert f1_score(Y_TRUE, Y_PRED, average="macro") == pytest.approx(2 / 3)
    # micro pools the counts: 4 correct of 6 for all three
    for score in (precision, recall, f1_score):
        assert score(Y_TRUE, Y_PRED, average="micro") == pytest.approx(4 / 6)


def test_binary_scores_hand_worked():
    #   sample: 0  1  2  3  4  5  6  7
    #   true:   1  1  1  0  0  0  1  0
    #   pred:   1  0  1  1  0  1  1  0
    # class 1: tp = s0, s2, s6 = 3; fp = s3, s5 = 2; fn = s1 = 1
    # class 0: tp = s4, s7 = 2;     fp = s1 = 1;     fn = s3, s5 = 2
    y_true = [1, 1, 1, 0, 0, 0, 1, 0]
    y_pred = [1, 0, 1, 1, 0, 1, 1, 0]
    assert precision(y_true, y_pred) == pytest.approx(3 / 5)
    assert recall(y_true, y_pred) == pytest.approx(3 / 4)
    assert f1_score(y_true, y_pred) == pytest.approx(6 / 9)  # 2*3 / (2*3 + 2 + 1)
    assert precision(y_true, y_pred, pos_label=0) == pytest.approx(2 / 3)
    assert recall(y_true, y_pred, pos_label=0) == pytest.approx(2 / 4)
    assert f1_score(y_true, y_pred, pos_label=0) == pytest.approx(4 / 7)  # 2*2 / (2*2 + 1 + 2)


def test_zero_division_gives_zero():
    # class 1 is never predicted: precision 0/0 -> 0; recall 0/2 -> 0; f1 0/(0+2) -> 0
    assert precision([0, 1, 1], [0, 0, 0]) == 0.0
    assert recall([0, 1, 1], [0, 0, 0]) == 0.0
    # only class 0 anywhere, pos_label=1: every count for class 1 is zero
    assert f1_score([0, 0], [0, 0]) == 0.0
    # class 2 exists (num_classes=3) but never occurs: its per-class scores are 0
    np.testing.assert_array_equal(precision([0, 1], [0, 1], average=None, num_classes=3),
                                  [1.0, 1.0, 0.0])


def test_macro_ignores_classes_absent_from_both_arrays():
    # classes 0 and 1 are perfect; class 2 never occurs -> macro over {0, 1} = 1.0
    assert precision([0, 1], [0, 1], average="macro", num_classes=3) == 1.0


def test_top_k_accuracy_hand_worked():
    scores = np.array([[0.5, 0.3, 0.2, 0.0],   # ranks: 0, 1, 2, 3
                       [0.1, 0.2, 0.3, 0.4],   # ranks: 3, 2, 1, 0
                       [0.9, 0.0, 0.05, 0.05]])
    y_true = [1, 1, 3]
    # sample 0: class 1 is 2nd; sample 1: class 1 is 3rd; sample 2: class 3 ties with class 2
    # for 2nd place (one class, 0, scores higher).
    assert top_k_accuracy(y_true, scores, k=1) == 0.0
    assert top_k_accuracy(y_true, scores, k=2) == pytest.approx(2 / 3)   # samples 0 and 2
    assert top_k_accuracy(y_true, scores, k=3) == 1.0
    assert top_k_accuracy(y_true, scores, k=10) == 1.0


def test_classification_report_lists_hand_worked_numbers():
    report = classification_report(Y_TRUE, Y_PRED, class_names=["cat", "dog", "emu"])
    rows = {line.split()[0]: line.split()[1:] for line in report.splitlines() if line.strip()}
    assert rows["cat"] == ["1.000", "0.500", "0.667", "2"]
    assert rows["dog"] == ["0.667", "0.667", "0.667", "3"]
    assert rows["emu"] == ["0.500", "1.000", "0.667", "1"]
    assert rows["accuracy"] == ["0.667", "6"]
    assert rows["macro"] == ["avg", "0.722", "0.722", "0.667", "6"]      # 13/18 = 0.722
    assert rows["weighted"] == ["avg", "0.750", "0.667", "0.667", "6"]


# ---------------------------------------------------------------- errors

def test_length_mismatch_is_named():
    with pytest.raises(ValueError, match=r"accuracy: y_true has 3 samples but y_pred has 2"):
        accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match=r"top_k_accuracy: y_true has 2 samples but scores has 3"):
        top_k_accuracy([0, 1], np.zeros((3, 4)), k=2)


def test_label_outside_num_classes_is_named():
    with pytest.raises(ValueError, match=r"confusion_matrix: y_true holds label 3, outside \[0, 3\)"):
        confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match=r"accuracy: y_true holds label 4, outside \[0, 2\)"):
        accuracy([0, 4], np.zeros((2, 2)))  # scores have 2 columns -> labels must be < 2
    with pytest.raises(ValueError, match=r"precision: y_pred holds label -1"):
        precision([0, 1], [0, -1])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"recall: average='binary' needs labels in \{0, 1\}"):
        recall([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match=r"f1_score: average must be one of"):
        f1_score([0, 1], [0, 1], average="mean")
    with pytest.raises(ValueError, match=r"precision: pos_label must be 0 or 1"):
        precision([0, 1], [0, 1], pos_label=2)
    with pytest.raises(ValueError, match=r"accuracy: y_pred holds non-integer value 0\.7"):
        accuracy([0, 1], [0.7, 0.2])
    with pytest.raises(ValueError, match=r"accuracy: y_pred must be labels \(N,\) or scores"):
        accuracy([0, 1], np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match=r"confusion_matrix: num_classes=4 but y_pred scores have 3"):
        confusion_matrix([0, 1], np.zeros((2, 3)), num_classes=4)
    with pytest.raises(ValueError, match=r"top_k_accuracy: k must be a positive integer"):
        top_k_accuracy([0], np.zeros((1, 3)), k=0)
    with pytest.raises(ValueError, match=r"accuracy: y_pred is empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match=r"classification_report: num_classes=2 but 3 class_names"):
        classification_report([0, 1], [0, 1], class_names=["a", "b", "c"], num_classes=2)


# ---------------------------------------------------------------- scikit-learn as oracle

@st.composite
def label_pairs(draw, min_classes=2, max_classes=6):
    """(y_true, y_pred, num_classes); y_pred often uses only some of the classes."""
    num_classes = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(1, 40))
    y_true = draw(st.lists(st.integers(0, num_classes - 1), min_size=n, max_size=n))
    # predictions drawn from a random non-empty subset, so some classes are never predicted
    allowed = draw(st.lists(st.integers(0, num_classes - 1), min_size=1, max_size=num_classes,
                            unique=True))
    y_pred = draw(st.lists(st.sampled_from(allowed), min_size=n, max_size=n))
    return np.array(y_true), np.array(y_pred), num_classes


@settings(max_examples=60, deadline=None)
@given(label_pairs(), st.sampled_from(["macro", "micro", "weighted", None]))
def test_multiclass_scores_match_sklearn(pair, average):
    skm = pytest.importorskip("sklearn.metrics")
    y_true, y_pred, num_classes = pair
    ours = {"precision": precision, "recall": recall, "f1": f1_score}
    theirs = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}
    # average=None: ours reports every class 0..C-1, so ask sklearn for all of them too
    labels = np.arange(num_classes) if average is None else None
    for name in ours:
        expected = theirs[name](y_true, y_pred, average=average, labels=labels, zero_division=0)
        got = ours[name](y_true, y_pred, average=average, num_classes=num_classes)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(label_pairs(min_classes=2, max_classes=2), st.sampled_from([0, 1]))
def test_binary_scores_match_sklearn(pair, pos_label):
    skm = pytest.importorskip("sklearn.metrics")
    y_true, y_pred, _ = pair
    for ours, theirs in ((precision, skm.precision_score), (recall, skm.recall_score),
                         (f1_score, skm.f1_score)):
        expected = theirs(y_true, y_pred, pos_label=pos_label, labels=[0, 1], zero_division=0)
        assert ours(y_true, y_pred, pos_label=pos_label) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(label_pairs())
def test_confusion_matrix_and_accuracy_match_sklearn(pair):
    skm = pytest.importorskip("sklearn.metrics")
    y_true, y_pred, num_classes = pair
    expected = skm.confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, num_classes), expected)
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 6), st.integers(1, 30), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_top_k_accuracy_matches_sklearn(num_classes, n, k, seed):
    skm = pytest.importorskip("sklearn.metrics")
    k = min(k, num_classes - 1)  # k >= C is always 1.0 (checked by hand above); sklearn warns
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, size=n)
    # a random permutation per row gives distinct scores, so tie-breaking cannot differ
    scores = np.argsort(rng.random((n, num_classes)), axis=1).astype(np.float64)
    expected = skm.top_k_accuracy_score(y_true, scores, k=k, labels=np.arange(num_classes))
    assert top_k_accuracy(y_true, scores, k=k) == pytest.approx(expected)
