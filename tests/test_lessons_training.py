"""The training lessons (03-06a) run with --quick and print what they measured."""
import re


def number_after(label, text):
    match = re.search(re.escape(label) + r"\s*([-+0-9.e]+)", text)
    assert match, f"no number after {label!r} in:\n{text}"
    return float(match.group(1))


def test_03_linear_regression(run_lesson):
    run = run_lesson("03")
    out = run.stdout
    assert number_after("final train MSE:", out) < 1.0  # 3 quick epochs already fit most of it
    assert number_after("max |learned - true| coefficient:", out) < 0.5
    assert (run.out_dir / "03_loss_curve.png").stat().st_size > 0


def test_04_mlp_from_scratch_gradients_agree(run_lesson):
    run = run_lesson("04")
    out = run.stdout
    assert number_after("max |hand-written gradient - tinydl gradient| =", out) < 1e-10
    assert number_after("max loss difference over training:", out) < 1e-10
    hand, library = re.search(r"test accuracy: by hand ([0-9.]+), tinydl ([0-9.]+)", out).groups()
    assert hand == library
    assert (run.out_dir / "04_loss_curve.png").stat().st_size > 0


def test_05_optimizers_follow_their_formulas(run_lesson):
    run = run_lesson("05")
    out = run.stdout
    diffs = [float(d) for d in re.findall(r"by hand vs tinydl max diff ([0-9.e+-]+)", out)]
    assert len(diffs) == 3 and max(diffs) < 1e-8
    assert len(re.findall(r"spirals MLP (SGD|momentum|Adam) ", out)) == 3
    assert (run.out_dir / "05_rosenbrock.png").stat().st_size > 0
    assert (run.out_dir / "05_mlp.png").stat().st_size > 0


def test_06_mlp_classifier_iris(run_lesson):
    run = run_lesson("06")
    out = run.stdout
    assert 0.6 <= number_after("test accuracy", out) <= 1.0  # 5 quick epochs: well above chance
    assert (run.out_dir / "06_history.png").stat().st_size > 0


def test_06a_metrics_and_training_strategies(run_lesson):
    run = run_lesson("06a")
    out = run.stdout
    rows = re.findall(r"^(plain|cosine schedule|weight decay|early stopping)\s+(\d+)\s+([0-9.]+)",
                      out, flags=re.MULTILINE)
    assert [r[0] for r in rows] == ["plain", "cosine schedule", "weight decay", "early stopping"]
    assert all(0.5 < float(r[2]) <= 1.0 for r in rows)  # 3 quick epochs on digits
    assert "most frequent confusion:" in out
    assert (run.out_dir / "06a_confusion_matrix.png").stat().st_size > 0
    assert (run.out_dir / "06a_val_loss.png").stat().st_size > 0
