"""Lesson 09 runs with --quick: both models train, beat uniform guessing, sample, and plot."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_lesson_09_quick(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(REPO / "lessons" / "09_char_rnn.py"), "--quick", "--out",
         str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    vocab = int(re.search(r"(\d+) distinct", out).group(1))
    uniform = float(re.search(r"uniform ([\d.]+) nats/char", out).group(1))
    assert abs(uniform - math.log(vocab)) < 1e-3
    val = {m.group(1): float(m.group(2))
           for m in re.finditer(r"^(RNN|LSTM)\s*:.*val loss ([\d.]+) nats/char", out, re.M)}
    assert set(val) == {"RNN", "LSTM"}
    for name, loss in val.items():
        assert loss < uniform - 0.5, f"{name} did not learn: {loss} vs uniform {uniform}"
    assert len(re.findall(r"^--- (RNN|LSTM) sample, temperature", out, re.M)) == 4
    for name in ("char_rnn_train_loss.png", "char_rnn_val_loss.png", "char_rnn_grad_norm.png"):
        assert (tmp_path / name).stat().st_size > 1000
