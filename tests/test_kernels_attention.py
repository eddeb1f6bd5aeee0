"""Attention kernels: reference vs closed forms, finite differences and torch; tiled and Numba
versions vs the reference; all-masked rows; memory use."""

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydl.kernels import attention as att

FORWARDS = {
    "reference": att.attention_forward_reference,
    "tiled_numpy": att.attention_forward_tiled_numpy,
    "numba": att.attention_forward_numba,
}
BACKWARDS = {
    "reference": att.attention_backward_reference,
    "tiled_numpy": att.attention_backward_tiled_numpy,
    "numba": att.attention_backward_numba,
}


# ----------------------------------------------------------------------------- helpers

@st.composite
def attention_cases(draw, max_tokens=9, max_dim=40):
    """Random small problems: odd and unequal lengths, masks with all-masked rows, causal."""
    B, H = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    Tq, Tk = draw(st.integers(1, max_tokens)), draw(st.integers(1, max_tokens))
    D, Dv = draw(st.integers(1, max_dim)), draw(st.integers(1, 8))
    mask_kind = draw(st.sampled_from(["none", "key_padding", "query_key", "per_head", "full"]))
    causal = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = rng.standard_normal((B, H, Tq, D))
    k = rng.standard_normal((B, H, Tk, D))
    v = rng.standard_normal((B, H, Tk, Dv))
    dout = rng.standard_normal((B, H, Tq, Dv))
    mask_shape = {"none": None, "key_padding": (B, 1, 1, Tk), "query_key": (Tq, Tk),
                  "per_head": (1, H, Tq, Tk), "full": (B, H, Tq, Tk)}[mask_kind]
    mask = None
    if mask_shape is not None:
        mask = rng.random(mask_shape) < 0.7
        if draw(st.booleans()):  # hide every key from some query rows (or batch entries)
            mask[..., rng.integers(mask_shape[-2]), :] = False
    scale = draw(st.sampled_from([None, 0.3]))
    return dict(q=q, k=k, v=v, mask=mask, causal=causal, scale=scale, dout=dout)


def as_dtype(case, dtype):
    return {name: value.astype(dtype) if name in ("q", "k", "v", "dout") else value
            for name, value in case.items()}


def assert_close(actual, expected, dtype):
    """float32: 1e-5 relative to the magnitude of expected; float64: 1e-10."""
    assert actual.dtype == expected.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-10
    magnitude = max(1.0, float(np.max(np.abs(expected[np.isfinite(expected)]), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * magnitude)


def forward_backward(forward, backward, case):
    """(out, lse, dq, dk, dv); the backward gets the reference's out and lse."""
    args = (case["q"], case["k"], case["v"], case["mask"], case["causal"], case["scale"])
    out, lse = forward(*args)
    ref_out, ref_lse = att.attention_forward_reference(*args)
    return (out, lse, *backward(*args, ref_out, ref_lse, case["dout"]))


def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function f() with respect to array x (changed in place)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        plus = f()
        x[index] = saved - eps
        minus = f()
        x[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


# ----------------------------------------------------------------------------- correctness

@pytest.mark.parametrize("impl", ["reference", "tiled_numpy", "numba"])
@pytest.mark.parametrize("causal", [False, True])
def test_zero_queries_average_the_visible_values(impl, causal):
    # q = 0 makes every score 0, so each row's weights are uniform over its visible keys:
    # out = mean of those v rows and lse = log(number of visible keys).
    Tq, Tk = 4, 5
    v = np.arange(2 * Tk * 3, dtype=np.float64).reshape(1, 2, Tk, 3) ** 1.5
    q = np.zeros((1, 2, Tq, 2))
    k = np.random.default_rng(0).standard_normal((1, 2, Tk, 2))
    keep = np.array([True, False, True, True, True])  # key 1 is padding
    out, lse = FORWARDS[impl](q, k, v, keep[None, None, None, :], causal)
    for i in range(Tq):
        visible = [j for j in range(Tk) if keep[j] and (not causal or j <= i)]
        np.testing.assert_allclose(out[0, :, i], v[0][:, visible].mean(axis=1), rtol=1e-12)
        np.testing.assert_allclose(lse[0, :, i], math.log(len(visible)), rtol=1e-12)


@pytest.mark.parametrize("impl", ["reference", "tiled_numpy", "numba"])
def test_all_masked_row_gives_zero_output_and_no_gradient(impl):
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((2, 1, 2, 3, 4))
    v, dout = rng.standard_normal((1, 2, 3, 5)), rng.standard_normal((1, 2, 3, 5))
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False  # query 1 may attend to nothing
    out, lse = FORWARDS[impl](q, k, v, mask)
    dq, dk, dv = BACKWARDS[impl](q, k, v, mask, False, None, out, lse, dout)
    assert np.all(out[:, :, 1] == 0) and np.all(np.isneginf(lse[:, :, 1]))
    assert np.all(dq[:, :, 1] == 0)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dk)) and np.all(np.isfinite(dv))
    # Dropping query 1 altogether must leave out and the k, v gradients unchanged.
    rows = [0, 2]
    out2, lse2 = att.attention_forward_reference(q[:, :, rows], k, v)
    _, dk2, dv2 = att.attention_backward_reference(
        q[:, :, rows], k, v, None, False, None, out2, lse2, dout[:, :, rows])
    np.testing.assert_allclose(out[:, :, rows], out2, rtol=1e-12)
    np.testing.assert_allclose(dk, dk2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dv, dv2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_reference_backward_matches_finite_differences(causal):
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((1, 2, 3, 2)), rng.standard_normal((1, 2, 4, 2)), \
        rng.standard_normal((1, 2, 4, 3))
    dout = rng.standard_normal((1, 2, 3, 3))
    mask = np.array([[True, True, False, True], [False] * 4, [True, False, True, True]])

    def loss():
        return float(np.sum(att.attention_forward_reference(q, k, v, mask, causal, 0.7)[0] * dout))

    out, lse = att.attention_forward_reference(q, k, v, mask, causal, 0.7)
    grads = att.attention_backward_reference(q, k, v, mask, causal, 0.7, out, lse, dout)
    for array, grad in zip((q, k, v), grads):
        np.testing.assert_allclose(grad, numerical_gradient(loss, array), rtol=1e-6, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(case=attention_cases(), dtype=st.sampled_from([np.float32, np.float64]))
def test_numba_matches_reference(case, dtype):
    case = as_dtype(case, dtype)
    expected = forward_backward(att.attention_forward_reference, att.attention_backward_reference,
                                case)
    actual = forward_backward(att.attention_forward_numba, att.attention_backward_numba, case)
    for got, want in zip(actual, expected):
        assert_close(got, want, dtype)


@settings(max_examples=40, deadline=None)
@given(case=attention_cases(), block_size=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_tiled_numpy_matches_reference(case, block_size, dtype):
    case = as_dtype(case, dtype)
    expected = forward_backward(att.attention_forward_reference, att.attention_backward_reference,
                                case)

    def forward(*args):
        return att.attention_forward_tiled_numpy(*args, block_size=block_size)

    def backward(*args):
        return att.attention_backward_tiled_numpy(*args, block_size=block_size)

    for got, want in zip(forward_backward(forward, backward, case), expected):
        assert_close(got, want, dtype)


def test_numba_matches_reference_across_several_tiles():
    # Lengths that are not multiples of the 64-wide tiles, with causal and a padding mask.
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal((2, 2, 2, 150, 16)).astype(np.float32)
    v, dout = rng.standard_normal((2, 2, 2, 150, 8)).astype(np.float32)
    mask = rng.random((2, 1, 1, 150)) < 0.8
    case = dict(q=q, k=k, v=v, mask=mask, causal=True, scale=None, dout=dout)
    expected = forward_backward(att.attention_forward_reference, att.attention_backward_reference,
                                case)
    actual = forward_backward(att.attention_forward_numba, att.attention_backward_numba, case)
    for got, want in zip(actual, expected):
        assert_close(got, want, np.float32)


def _torch_mask(case):
    """mask AND causal as one bool array of shape (B, H, Tq, Tk) (torch takes one or the other)."""
    B, H, Tq, _ = case["q"].shape
    Tk = case["k"].shape[2]
    keep = np.ones((B, H, Tq, Tk), dtype=bool)
    if case["mask"] is not None:
        keep &= case["mask"]
    if case["causal"]:
        keep &= np.tril(np.ones((Tq, Tk), dtype=bool))
    return keep


@pytest.mark.torch
@settings(max_examples=25, deadline=None)
@given(case=attention_cases())
def test_forward_matches_torch_except_all_masked_rows(case):
    torch = pytest.importorskip("torch")
    keep = _torch_mask(case)
    expected = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(case[name]) for name in "qkv"), attn_mask=torch.from_numpy(keep),
        scale=case["scale"]).numpy()
    out, _ = att.attention_forward_reference(case["q"], case["k"], case["v"], case["mask"],
                                             case["causal"], case["scale"])
    rows = keep.any(axis=-1)  # torch gives NaN where a row sees no key
    np.testing.assert_allclose(out[rows], expected[rows], rtol=1e-10, atol=1e-12)
    assert np.all(out[~rows] == 0)


@pytest.mark.torch
@pytest.mark.parametrize("impl", ["reference", "numba"])
@settings(max_examples=15, deadline=None)
@given(case=attention_cases())
def test_backward_matches_torch(impl, case):
    torch = pytest.importorskip("torch")
    if case["mask"] is not None:
        case["mask"][..., 0] = True  # every row sees key 0 (so does causal): no NaN in torch
    tensors = [torch.from_numpy(case[name]).requires_grad_() for name in "qkv"]
    out_t = torch.nn.functional.scaled_dot_product_attention(
        *tensors, attn_mask=torch.from_numpy(_torch_mask(case)), scale=case["scale"])
    out_t.backward(torch.from_numpy(case["dout"]))
    args = (case["q"], case["k"], case["v"], case["mask"], case["causal"], case["scale"])
    out, lse = FORWARDS[impl](*args)
    grads = BACKWARDS[impl](*args, out, lse, case["dout"])
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for grad, tensor in zip(grads, tensors):
        np.testing.assert_allclose(grad, tensor.grad.numpy(), rtol=1e-9, atol=1e-11)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("impl", ["reference", "tiled_numpy", "numba"])
def test_bad_inputs_raise_one_clear_error(impl):
    forward = FORWARDS[impl]
    q = np.zeros((2, 1, 3, 4), dtype=np.float32)
    with pytest.raises(TypeError, match=r"q, k, v must all be float32 or all float64, got "
                                        r"float32, float64, float32"):
        forward(q, q.astype(np.float64), q)
    with pytest.raises(ValueError, match=r"k \(2, 1, 3, 5\).*D must match"):
        forward(q, np.zeros((2, 1, 3, 5), np.float32), q)
    with pytest.raises(ValueError, match=r"q must be a 4-D NumPy array.*shape \(3, 4\)"):
        forward(q[0, 0], q, q)
    with pytest.raises(TypeError, match=r"mask must be a bool array \(True = attend\), got "
                                        r"dtype float64"):
        forward(q, q, q, np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3\) does not broadcast to the "
                                         r"scores' shape \(B, H, Tq, Tk\) = \(2, 1, 3, 3\).*"
                                         r"mask\[:, None, None, :\]"):
        forward(q, q, q, np.ones((2, 3), dtype=bool))


def test_backward_rejects_out_and_lse_of_the_wrong_shape():
    q = np.zeros((1, 1, 3, 4))
    out, lse = att.attention_forward_reference(q, q, q)
    with pytest.raises(ValueError, match=r"attention_backward_numba: lse must be a float64 "
                                         r"array of shape \(1, 1, 3\), got float64 with shape "
                                         r"\(1, 3\)"):
        att.attention_backward_numba(q, q, q, None, False, None, out, lse[0], out)


# ----------------------------------------------------------------------------- memory

def _peak_extra_mib(run):
    """Peak bytes (MiB) NumPy allocates while run() runs, beyond what existed before.

    tracemalloc sees NumPy's allocations; Numba's in-kernel scratch (tiles, one D x Tq
    accumulator per head) is allocated outside its view and is O(T * d) by construction.
    A first call, not measured, compiles or loads the kernels (with a cold Numba cache the
    compiler's own memory would count).
    """
    run()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - before) / 2**20


def _forward_backward_run(forward, backward, B, H, T, D, causal):
    """A forward + backward pass on random float32 inputs, after a small warm-up run (the
    first Numba call imports Numba and loads compiled code, which tracemalloc would count)."""
    rng = np.random.default_rng(4)
    small = rng.standard_normal((3, B, H, 5, D), dtype=np.float32)
    backward(*small, None, causal, None, *forward(*small, None, causal), small[0])
    q, k, v, dout = rng.standard_normal((4, B, H, T, D), dtype=np.float32)

    def run():
        out, lse = forward(q, k, v, None, causal)
        backward(q, k, v, None, causal, None, out, lse, dout)

    return run


@pytest.mark.parametrize("impl", ["tiled_numpy", "numba"])
def test_tiled_versions_never_build_the_score_matrix(impl):
    # T = 2048, one head: the (T, T) float32 score matrix alone would take 16 MiB.
    run = _forward_backward_run(FORWARDS[impl], BACKWARDS[impl], 1, 1, 2048, 16, causal=True)
    assert _peak_extra_mib(run) < 8


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["tiled_numpy", "numba"])
def test_long_sequence_forward_backward_stays_under_64_mib(impl):
    # T = 4096, B1 H4 d64: the score matrix alone would take 256 MiB in float32.
    run = _forward_backward_run(FORWARDS[impl], BACKWARDS[impl], 1, 4, 4096, 64, causal=False)
    assert _peak_extra_mib(run) < 64


# ----------------------------------------------------------------------------- softmax weights

@settings(max_examples=40, deadline=None)
@given(case=attention_cases())
def test_softmax_weights_numba_matches_the_reference(case):
    pytest.importorskip("numba")
    B, H, Tq, D = case["q"].shape
    Tk = case["k"].shape[2]
    mask = att._broadcast_mask("test", case["mask"], (B, H, Tq, Tk))
    for dtype in (np.float32, np.float64):
        scores = (case["q"] @ case["k"].swapaxes(-1, -2)).astype(dtype)  # (B, H, Tq, Tk)
        want = att.attention_softmax_weights_reference(scores.copy(), mask, case["causal"])
        got = att.attention_softmax_weights_numba(scores.copy(), mask, case["causal"])
        for g, w in zip(got, want):
            assert g.shape == w.shape
            assert_close(g, w, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])  # float32: its own fused kernel
def test_softmax_weights_by_hand_with_causal_and_empty_rows(dtype):
    scores = np.array([[[[1.0, 5.0], [2.0, 2.0], [0.0, 3.0]]]], dtype=dtype)  # (1, 1, 3, 2)
    mask = np.array([True, True, False])[None, None, :, None]     # row 2 sees no key
    for softmax_weights in (att.attention_softmax_weights_reference,
                            att.attention_softmax_weights_numba):
        weights, row_sum = softmax_weights(scores.copy(), np.broadcast_to(mask, scores.shape), True)
        np.testing.assert_allclose(weights[0, 0], [[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
        np.testing.assert_allclose(row_sum[0, 0, :, 0], [1.0, 2.0, 0.0])
        assert row_sum.shape == (1, 1, 3, 1) and weights.dtype == row_sum.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_weights_by_hand_over_long_rows_and_a_nan(dtype):
    # rows of 21 keys: the running maxima and sums go in blocks of 8, then one by one
    scores = np.zeros((1, 1, 3, 21), dtype=dtype)
    scores[0, 0, 0, 17] = 2.0               # row 0: max 2 at key 17 (a key of the tail)
    scores[0, 0, 1, 5] = np.log(3.0)        # row 1: one weight 1 (the max), twenty weights 1/3
    scores[0, 0, 2, 3] = np.nan             # row 2: NaN everywhere, as NumPy and PyTorch give
    weights, row_sum = att.attention_softmax_weights_numba(scores, None, False)
    expected_row0 = np.full(21, np.exp(-2.0))
    expected_row0[17] = 1.0
    np.testing.assert_allclose(weights[0, 0, 0], expected_row0, rtol=1e-6)
    np.testing.assert_allclose(row_sum[0, 0, :2, 0], [1.0 + 20 * np.exp(-2.0), 1.0 + 20 / 3],
                               rtol=1e-6)
    np.testing.assert_allclose(weights[0, 0, 1, 4:7], [1 / 3, 1.0, 1 / 3], rtol=1e-6)
    assert np.isnan(weights[0, 0, 2]).all() and np.isnan(row_sum[0, 0, 2, 0])
    # causal: a NaN score in row 3 makes the whole row NaN (its hidden key too, as the
    # reference's exp(-inf - NaN)); rows 2 and 4 keep their numbers
    causal = np.zeros((1, 1, 5, 5), dtype=dtype)
    causal[0, 0, 3, 3] = np.nan
    weights, row_sum = att.attention_softmax_weights_numba(causal, None, True)
    np.testing.assert_allclose(weights[0, 0, 2], [1.0, 1.0, 1.0, 0.0, 0.0])
    assert np.isnan(weights[0, 0, 3]).all() and not np.isnan(weights[0, 0, 4]).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_weights_with_infinite_and_nan_scores_follow_the_reference(dtype):
    # one row per case, 12 keys (a block of 8 and a tail), causal off and on, key 1 masked
    inf, nan = np.inf, np.nan
    rows = np.zeros((7, 12))
    rows[0, 4] = inf                      # +inf: NaN there (inf - inf), 0 elsewhere, 0 hidden
    rows[1, [2, 9]] = [inf, nan]          # +inf and NaN: NaN everywhere
    rows[2, 10] = nan                     # NaN in the tail, a finite max: NaN everywhere
    rows[3, :] = -inf
    rows[3, 6] = nan                      # NaN among -inf: NaN everywhere
    rows[4, 1] = nan                      # NaN under the mask: masked away, the row is finite
    rows[5, 11] = nan                     # NaN past the diagonal: hidden when causal
    rows[6, 3] = -inf                     # -inf: weight 0
    scores = np.broadcast_to(rows, (12, 7, 12)).transpose(1, 0, 2).reshape(1, 7, 12, 12)
    scores = np.ascontiguousarray(scores, dtype=dtype)  # (1, 7, 12, 12): query i of each case
    keep = np.ones((1, 1, 12, 12), dtype=bool)
    keep[..., 1] = False
    keep = np.broadcast_to(keep, scores.shape)
    for causal in (False, True):
        with np.errstate(invalid="ignore"):
            want_weights, want_sum = att.attention_softmax_weights_reference(scores.copy(), keep, causal)
        got_weights, got_sum = att.attention_softmax_weights_numba(scores.copy(), keep, causal)
        np.testing.assert_allclose(got_weights, want_weights, rtol=1e-6, atol=0)  # NaN where NaN
        np.testing.assert_allclose(got_sum, want_sum, rtol=1e-6, atol=0)
        assert not np.isnan(got_weights[0, 4]).any() and np.isnan(got_weights[0, 2, 11]).all()


@settings(max_examples=30, deadline=None)
@given(case=attention_cases())
def test_score_gradients_numba_matches_the_reference(case):
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    B, H, Tq, _ = case["q"].shape
    Tk, Dv = case["v"].shape[2:]
    for dtype in (np.float32, np.float64):
        dweights = rng.standard_normal((B, H, Tq, Tk)).astype(dtype)
        weights = rng.random((B, H, Tq, Tk)).astype(dtype)
        out = rng.standard_normal((B, H, Tq, Dv)).astype(dtype)
        inverse_sum = rng.random((B, H, Tq, 1)).astype(dtype)
        dout = case["dout"].astype(dtype)
        want = att.attention_score_gradients_reference(dweights.copy(), weights, dout, out,
                                                       inverse_sum)
        got = att.attention_score_gradients_numba(dweights.copy(), weights, dout, out, inverse_sum)
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_score_gradients_numba_takes_strided_dout_and_out(dtype):
    """A causal block's dout and out are strided slices of the whole sequence's, and a
    transposed layout too: the same values as the reference."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(3)
    B, H, T, Dv, rows = 2, 3, 20, 5, slice(7, 15)
    whole_dout, whole_out = rng.standard_normal((2, B, H, T, Dv)).astype(dtype)
    transposed = np.ascontiguousarray(whole_out.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
    for dout, out in [(whole_dout[:, :, rows], whole_out[:, :, rows]),
                      (whole_dout[:, :, rows], transposed[:, :, rows])]:
        assert not dout.flags.c_contiguous and not out.flags.c_contiguous
        dweights = rng.standard_normal((B, H, 8, 11)).astype(dtype)
        weights = rng.random((B, H, 8, 11)).astype(dtype)
        inverse_sum = rng.random((B, H, 8, 1)).astype(dtype)
        want = att.attention_score_gradients_reference(dweights.copy(), weights, dout, out,
                                                       inverse_sum)
        got = att.attention_score_gradients_numba(dweights.copy(), weights, dout, out, inverse_sum)
        assert_close(got, want, dtype)


def test_score_gradients_by_hand():
    dweights = np.array([[[[1.0, 2.0]]]])                     # (1, 1, 1, 2)
    weights = np.array([[[[0.5, 0.0]]]])
    dout, out = np.array([[[[1.0, 2.0]]]]), np.array([[[[3.0, 1.0]]]])  # dout . out = 5
    inverse_sum = np.array([[[[0.5]]]])                      # correction 2.5
    for score_gradients in (att.attention_score_gradients_reference,
                            att.attention_score_gradients_numba):
        got = score_gradients(dweights.copy(), weights, dout, out, inverse_sum)
        np.testing.assert_allclose(got, [[[[0.5 * (1.0 - 2.5), 0.0]]]])


# ----------------------------------------------------------------------------- per-head Numba

@settings(max_examples=40, deadline=None)
@given(case=attention_cases(max_tokens=40))
def test_per_head_numba_forward_and_backward_match_the_weights_keeping_formulas(case):
    """Every shape, causal or not (a mask takes the NumPy path inside): out, weights, row sums
    and the gradients from them, in float32 and float64."""
    pytest.importorskip("numba")
    for dtype in (np.float32, np.float64):
        c = as_dtype(case, dtype)
        args = (c["q"], c["k"], c["v"], c["mask"], c["causal"], c["scale"])
        want = att.attention_forward_keeping_weights(*args)
        got = att.attention_forward_keeping_weights_numba(*args)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            assert_close(g, w, dtype)
        out, weights, row_sum = want
        grads_args = (c["q"], c["k"], c["v"], c["scale"], weights, row_sum, out, c["dout"])
        want_grads = att.attention_backward_from_weights(*grads_args)
        got_grads = att.attention_backward_from_weights_numba(*grads_args, c["causal"])
        for g, w in zip(got_grads, want_grads):
            assert g.shape == w.shape
            assert_close(g, w, dtype)


def test_per_head_numba_parallel_copies_match_the_reference():
    """Scores past HEADS_PARALLEL_MIN_WORK with two threads: the parallel copies of the kernels,
    causal, odd lengths (not multiples of KEY_BLOCK or ROW_GROUP) and head dims; against the
    plain reference formulas (out, lse, gradients)."""
    pytest.importorskip("numba")
    import tinydl

    rng = np.random.default_rng(11)
    B, H, T, D, Dv = 2, 5, 123, 19, 9
    assert B * H * T * T >= att.HEADS_PARALLEL_MIN_WORK
    q, k = rng.standard_normal((2, B, H, T, D)).astype(np.float32)
    v, dout = rng.standard_normal((2, B, H, T, Dv)).astype(np.float32)
    want_out, lse = att.attention_forward_reference(q, k, v, None, True, None)
    want_grads = att.attention_backward_reference(q, k, v, None, True, None, want_out, lse, dout)
    previous = tinydl.get_num_threads()
    tinydl.set_num_threads(2)
    try:
        out, weights, row_sum = att.attention_forward_keeping_weights_numba(q, k, v, None, True)
        grads = att.attention_backward_from_weights_numba(q, k, v, None, weights, row_sum, out, dout,
                                                          True)
    finally:
        tinydl.set_num_threads(previous)
    assert_close(out, want_out, np.float32)
    np.testing.assert_array_equal(np.triu(weights[0, 0], 1), 0)  # the hidden keys: weight 0
    for g, w in zip(grads, want_grads):
        assert_close(g, w, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("where", ["nan key past the first", "nan first key", "nan query",
                                   "nan value", "+inf key"])
def test_per_head_numba_with_nan_and_inf_follows_the_reference(dtype, causal, where):
    """The per-head kernel's row max passes NaN scores over (_visible_row_max, the first key's
    too); the NaN row sum must still make the row's output and normalised weights
    NaN where the reference's are (raw weights may differ: the reference's max is NaN there).
    A NaN value reaches only the rows that see its key here (PyTorch: every row, listed in
    docs/porting-from-pytorch.md)."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((3, 1, 2, 40, 8)).astype(dtype)
    if where == "nan key past the first":
        k[0, 1, 21, 2] = np.nan      # key 21 (past KEY_BLOCK lanes' first block), head 1
    elif where == "nan first key":
        k[0, 0, 0, 1] = np.nan
    elif where == "nan query":
        q[0, 0, 3, 0] = np.nan
    elif where == "nan value":
        v[0, 1, 7, 0] = np.nan
    else:
        k[0, 1, 4, 0] = np.inf
    with np.errstate(all="ignore"):
        out, weights, row_sum = att.attention_forward_keeping_weights_numba(q, k, v, None, causal)
        want_out, want_weights, want_sum = att.attention_forward_keeping_weights(
            q, k, v, None, causal)
        normalised, want_normalised = weights / row_sum, want_weights / want_sum
    seen = (np.arange(40)[:, None] >= 7) if causal and where == "nan value" else True
    want_nan_rows = np.isnan(want_out) & seen   # rows that do not see key 7: finite here
    np.testing.assert_array_equal(np.isnan(out), want_nan_rows)
    np.testing.assert_array_equal(np.isnan(normalised), np.isnan(want_normalised))
    assert want_nan_rows.any()                  # each case makes some output NaN
    finite = ~np.isnan(want_normalised)
    assert_close(normalised[finite], want_normalised[finite], dtype)
    finite = ~np.isnan(want_out)
    assert_close(out[finite], want_out[finite], dtype)
