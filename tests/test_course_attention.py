"""Graded tasks of assignment 5 (public tests): attention forward and backward.

The student writes the NumPy reference kernels in tinydl/kernels/attention.py. The tests
compare them with the formula written out here, softmax(q k^T * scale + mask) v, and with
central differences of that formula.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinydl.kernels.attention import attention_backward_reference, attention_forward_reference


def formula(q, k, v, keep=None, scale=None):
    """softmax(q k^T * scale, masked) v, written out plainly (rows with no key give 0)."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    scores = scores if keep is None else np.where(keep, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    weights = np.exp(scores - top)
    total = weights.sum(axis=-1, keepdims=True)
    return np.where(total > 0, weights @ v / np.where(total > 0, total, 1), 0)


def random_qkv(rng, B=2, H=2, Tq=3, Tk=4, D=5):
    return (rng.standard_normal((B, H, Tq, D)), rng.standard_normal((B, H, Tk, D)),
            rng.standard_normal((B, H, Tk, D)))


@pytest.mark.task("5.1")
@pytest.mark.points(2)
def test_attention_forward_matches_the_formula(course_rng):
    q, k, v = random_qkv(course_rng)
    out, lse = attention_forward_reference(q, k, v)
    np.testing.assert_allclose(out, formula(q, k, v), rtol=1e-10)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(5)
    np.testing.assert_allclose(lse, np.log(np.exp(scores).sum(-1)), rtol=1e-10)


@pytest.mark.task("5.1")
@pytest.mark.points(2)
def test_attention_forward_causal_and_fully_masked_rows(course_rng):
    q, k, v = random_qkv(course_rng, Tq=4, Tk=4)
    causal = np.tril(np.ones((4, 4), dtype=bool))
    out, _ = attention_forward_reference(q, k, v, causal=True)
    np.testing.assert_allclose(out, formula(q, k, v, causal), rtol=1e-10)
    keep = np.ones((1, 1, 4, 4), dtype=bool)
    keep[..., 2, :] = False  # query 2 may see no key at all
    out, _ = attention_forward_reference(q, k, v, mask=keep)
    assert np.all(out[:, :, 2] == 0) and np.all(np.isfinite(out))


@pytest.mark.task("5.2")
@pytest.mark.points(2)
def test_attention_backward_matches_central_differences(course_rng):
    q, k, v = random_qkv(course_rng, B=1, H=1, Tq=2, Tk=3, D=2)
    dout = course_rng.standard_normal((1, 1, 2, 2))
    out = formula(q, k, v)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(2)
    lse = np.log(np.exp(scores).sum(-1))
    dq, dk, dv = attention_backward_reference(q, k, v, None, False, None, out, lse, dout)
    for array, analytic in ((q, dq), (k, dk), (v, dv)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + 1e-6
            up = np.sum(formula(q, k, v) * dout)
            array[index] = saved - 1e-6
            down = np.sum(formula(q, k, v) * dout)
            array[index] = saved
            numeric[index] = (up - down) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.task("5.2")
@pytest.mark.points(2)
def test_attention_backward_gives_zero_for_fully_masked_rows(course_rng):
    q, k, v = random_qkv(course_rng, B=1, H=1, Tq=2, Tk=2, D=3)
    keep = np.array([[[[True, True], [False, False]]]])
    out = formula(q, k, v, keep)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(3)
    lse = np.array([[[np.log(np.exp(scores[0, 0, 0]).sum()), -np.inf]]])
    dq, dk, dv = attention_backward_reference(q, k, v, keep, False, None, out, lse,
                                              np.ones_like(out))
    assert np.all(dq[0, 0, 1] == 0)
    assert all(np.all(np.isfinite(g)) for g in (dq, dk, dv))
