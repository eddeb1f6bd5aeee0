"""Hidden tests of assignment 5."""
from __future__ import annotations

import numpy as np
import pytest

from tinydl.kernels.attention import attention_backward_reference, attention_forward_reference


@pytest.mark.task("5.1")
@pytest.mark.points(1)
def test_attention_forward_custom_scale_and_float32(course_rng):
    rng = course_rng
    q, k, v = (rng.standard_normal((1, 2, 3, 4)).astype(np.float32) for _ in range(3))
    out, _ = attention_forward_reference(q, k, v, scale=0.5)
    scores = q @ np.swapaxes(k, -1, -2) * 0.5
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    expected = weights / weights.sum(-1, keepdims=True) @ v
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.task("5.2")
@pytest.mark.points(1)
def test_attention_backward_value_gradient_is_weights_transposed(course_rng):
    rng = course_rng
    q, k, v = (rng.standard_normal((1, 1, 2, 2)) for _ in range(3))
    out, lse = attention_forward_reference(q, k, v)
    dout = np.zeros_like(out)
    dout[..., 0, 0] = 1.0  # only out[query 0, feature 0] matters
    _, _, dv = attention_backward_reference(q, k, v, None, False, None, out, lse, dout)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(2)
    weights = np.exp(scores[0, 0, 0]) / np.exp(scores[0, 0, 0]).sum()
    np.testing.assert_allclose(dv[0, 0, :, 0], weights, rtol=1e-10)
