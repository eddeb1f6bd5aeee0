"""scaled_dot_product_attention through the fused Function: which path runs, agreement with
the composed ops on hypothesis-drawn shapes (both kernel paths), fully masked rows, second
derivatives, and the extra memory of a long sequence with the Numba kernels."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydl
import tinydl.functional as F
from tinydl.functional.attention import attention_composed
from tinydl.kernels import numba_available
from tinydl.ops.attention import FusedAttention

KERNEL_PATHS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not numba_available(), reason="Numba is not installed"))]


def _leaves(arrays, dtype):
    return [tinydl.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]


def _node_functions(out):
    """The Function classes of the graph nodes that produced ``out``."""
    seen, stack, found = set(), [out._ctx], set()
    while stack:
        ctx = stack.pop()
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        found.add(ctx.fn)
        stack.extend(t._ctx for t in ctx.inputs)
    return found


def test_bool_or_no_mask_runs_fused_and_float_mask_or_dropout_runs_composed():
    q = tinydl.randn(2, 3, 4, 5, requires_grad=True)
    mask = np.tril(np.ones((4, 4), bool))
    assert _node_functions(F.scaled_dot_product_attention(q, q, q)) == {FusedAttention}
    assert FusedAttention in _node_functions(F.scaled_dot_product_attention(q, q, q, mask))
    float_mask = np.where(mask, 0.0, -np.inf).astype(np.float32)
    assert FusedAttention not in _node_functions(
        F.scaled_dot_product_attention(q, q, q, attn_mask=float_mask))
    assert FusedAttention not in _node_functions(
        F.scaled_dot_product_attention(q, q, q, dropout_p=0.5))
    assert FusedAttention not in _node_functions(attention_composed(q, q, q, mask))


@st.composite
def _cases(draw):
    leading = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=3)))
    num_queries, num_keys = draw(st.integers(1, 70)), draw(st.integers(1, 70))
    dim, value_dim = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(leading + (num_queries, dim))
    k = rng.standard_normal(leading + (num_keys, dim))
    v = rng.standard_normal(leading + (num_keys, value_dim))
    mask = None
    if draw(st.booleans()):
        mask_shape = draw(st.sampled_from([(num_queries, num_keys), (num_keys,),
                                           leading + (num_queries, num_keys)]))
        mask = rng.random(mask_shape) > draw(st.sampled_from([0.2, 0.6, 0.95]))
    grad = rng.standard_normal(leading + (num_queries, value_dim))
    return q, k, v, mask, draw(st.booleans()), grad


@pytest.mark.parametrize("kernels", KERNEL_PATHS)
@pytest.mark.parametrize("dtype,tolerance", [(np.float32, 1e-5), (np.float64, 1e-10)])
@settings(max_examples=15, deadline=None)
@given(case=_cases())
def test_fused_matches_composed_forward_and_backward(kernels, dtype, tolerance, case):
    q, k, v, mask, causal, grad = case
    results = []
    for attention in (F.scaled_dot_product_attention, attention_composed):
        leaves = _leaves((q, k, v), dtype)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TINYDL_KERNELS", kernels)
            out = attention(*leaves, attn_mask=mask, is_causal=causal)
            out.backward(tinydl.tensor(grad, dtype=dtype))
        assert out.dtype == dtype and all(t.grad.dtype == dtype for t in leaves)
        results.append([out.numpy()] + [t.grad.numpy() for t in leaves])
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused, composed, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("kernels", KERNEL_PATHS)
def test_fully_masked_rows_give_zeros_and_zero_gradients(monkeypatch, kernels):
    monkeypatch.setenv("TINYDL_KERNELS", kernels)
    rng = np.random.default_rng(0)
    q, k, v = _leaves(rng.standard_normal((3, 1, 2, 4, 3)), np.float32)
    mask = np.ones((1, 2, 4, 4), bool)
    mask[0, 1, 2] = False                      # head 1, query 2 sees no key
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy()[0, 1, 2], 0.0)
    np.testing.assert_array_equal(q.grad.numpy()[0, 1, 2], 0.0)
    assert np.abs(out.numpy()[0, 1, 1]).sum() > 0  # the other rows are not zeroed


def test_second_derivatives_equal_the_composed_path():
    rng = np.random.default_rng(1)
    arrays = rng.standard_normal((3, 2, 3, 2))
    mask = np.array([[True, False, True], [False, False, False], [True, True, False]])
    results = []
    for attention in (F.scaled_dot_product_attention, attention_composed):
        q, k, v = _leaves(arrays, np.float64)
        out = attention(q, k, v, attn_mask=mask, is_causal=True)
        grads = tinydl.grad((out ** 2).sum(), [q, k, v], create_graph=True)
        penalty = sum((g ** 2).sum() for g in grads)
        results.append(tinydl.grad(penalty, [q, k, v]))
    for fused, composed in zip(*results):
        np.testing.assert_allclose(fused.numpy(), composed.numpy(), atol=1e-10)


def test_matches_torch_sdpa_with_a_padding_mask():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    q, k, v, grad = rng.standard_normal((4, 2, 3, 6, 4))
    keep = rng.random((2, 6)) > 0.3
    keep[:, 0] = True                           # no fully masked row (torch gives NaN there)
    ours = _leaves((q, k, v), np.float64)
    out = F.scaled_dot_product_attention(*ours, attn_mask=keep[:, None, None, :])
    out.backward(tinydl.tensor(grad, dtype=np.float64))
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out_t = torch.nn.functional.scaled_dot_product_attention(
        *theirs, attn_mask=torch.from_numpy(keep[:, None, None, :]))
    out_t.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-11)


@pytest.mark.parametrize("length", [128, 200])  # two blocks of 64 queries; 64, 64 and 72
def test_causal_blocks_match_torch_sdpa(length, monkeypatch):
    torch = pytest.importorskip("torch")
    from tinydl.kernels import attention as kernels_attention
    from tinydl.ops import attention as ops_attention

    monkeypatch.setattr(kernels_attention, "HEADS_PARALLEL_MIN_WORK", 2**62)  # not the per-head kernels
    rng = np.random.default_rng(3)
    q, k, v, grad = rng.standard_normal((4, 2, 2, length, 8))
    ours = _leaves((q, k, v), np.float64)
    assert ops_attention._causal_blocks(ours[0].data, ours[1].data, None, True)
    out = F.scaled_dot_product_attention(*ours, is_causal=True)
    out.backward(tinydl.tensor(grad, dtype=np.float64))
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out_t = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=True)
    out_t.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), atol=1e-12)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-11)


def test_mask_that_does_not_broadcast_names_the_shapes():
    q = tinydl.randn(2, 3, 4)
    with pytest.raises(tinydl.errors.ShapeError, match=r"attn_mask of shape \(5,\) does not "
                                                       r"broadcast to the scores' shape"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones(5, bool))


def _peak_extra_mib(run):
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - before) / 2**20


@pytest.mark.skipif(not numba_available(), reason="Numba is not installed")
def test_long_sequence_through_sdpa_stays_under_64_mib_with_numba(monkeypatch):
    # T = 4096, B1 H4 d64: the (T, T) float32 weights of one head alone take 64 MiB.
    monkeypatch.setenv("TINYDL_KERNELS", "numba")
    small = tinydl.randn(1, 1, 5, 64, requires_grad=True)  # warm-up: load the compiled kernels
    F.scaled_dot_product_attention(small, small, small, is_causal=True).sum().backward()
    q, k, v = (tinydl.randn(1, 4, 4096, 64, requires_grad=True) for _ in range(3))
    grad = tinydl.randn(1, 4, 4096, 64)

    def run():
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(grad)

    assert _peak_extra_mib(run) < 64
    assert q.grad.shape == (1, 4, 4096, 64) and np.isfinite(q.grad.numpy()).all()


def test_split_heads_matches_reshape_permute_and_its_gradient():
    from tinydl.ops.attention import split_heads

    rng = np.random.default_rng(4)
    qkv_array = rng.standard_normal((2, 5, 3 * 3 * 4))                 # B 2, T 5, H 3, D 4
    weights = [rng.standard_normal((2, 3, 5, 4)) for _ in range(3)]
    fused = tinydl.tensor(qkv_array, dtype=np.float64, requires_grad=True)
    composed = tinydl.tensor(qkv_array, dtype=np.float64, requires_grad=True)
    parts = split_heads(fused, 3)
    by_ops = composed.reshape(2, 5, 3, 3, 4).permute(2, 0, 3, 1, 4)
    for index, part in enumerate(parts):
        assert part.shape == (2, 3, 5, 4) and part.data.flags.c_contiguous
        np.testing.assert_array_equal(part.numpy(), by_ops[index].numpy())
    loss = sum(((p * tinydl.tensor(w)) ** 2).sum() for p, w in zip(parts, weights))
    loss_ops = sum(((by_ops[i] * tinydl.tensor(w)) ** 2).sum() for i, w in enumerate(weights))
    (grad,) = tinydl.autograd.grad(loss, [fused], create_graph=True)    # the recorded backward
    loss.backward()
    loss_ops.backward()
    np.testing.assert_allclose(fused.grad.numpy(), composed.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad.numpy(), composed.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="3 \\* heads \\* head_dim"):
        split_heads(tinydl.zeros(2, 5, 10), 3)


@pytest.mark.skipif(not numba_available(), reason="Numba is not installed")
@pytest.mark.parametrize("causal, lengths, dims", [(True, (130, 130), (16, 16)), (False, (70, 90), (13, 7)),
                                                   (True, (40, 72), (8, 5))])
def test_per_head_kernels_match_torch_sdpa(causal, lengths, dims, monkeypatch):
    """The per-head Numba kernels (the default), two threads and scores past
    HEADS_PARALLEL_MIN_WORK (lowered here): FusedAttention runs them (parallel copies), in
    float32; values and gradients as torch's."""
    torch = pytest.importorskip("torch")
    from tinydl.kernels import attention as kernels_attention
    from tinydl.ops import attention as ops_attention

    monkeypatch.delenv("TINYDL_KERNELS", raising=False)  # the default choice
    monkeypatch.setattr(kernels_attention, "HEADS_PARALLEL_MIN_WORK", 1000)
    # 130 keys: past a block of 128
    monkeypatch.setattr(ops_attention, "HEADS_MAX_KEYS", {"tbb": 1024, "workqueue": 1024})
    for kernel in (kernels_attention._attention_forward_heads_kernel,
                   kernels_attention._attention_backward_heads_kernel):
        monkeypatch.setattr(kernel, "parallel_min_work", 1000)
    previous = tinydl.get_num_threads()
    tinydl.set_num_threads(2)
    try:
        rng = np.random.default_rng(5)
        (Tq, Tk), (D, Dv) = lengths, dims
        q, k = rng.standard_normal((2, 3, Tq, D)), rng.standard_normal((2, 3, Tk, D))
        v = rng.standard_normal((2, 3, Tk, Dv))
        grad = rng.standard_normal((2, 3, Tq, Dv))
        ours = _leaves((q, k, v), np.float32)
        chosen = ops_attention._per_head_kernel("attention_forward_keeping_weights", ours[0].data, ours[1].data)
        assert chosen is kernels_attention.attention_forward_keeping_weights_numba
        out = F.scaled_dot_product_attention(*ours, is_causal=causal)
        out.backward(tinydl.tensor(grad, dtype=np.float32))
    finally:
        tinydl.set_num_threads(previous)
    theirs = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (q, k, v)]
    out_t = torch.nn.functional.scaled_dot_product_attention(*theirs, is_causal=causal)
    out_t.backward(torch.tensor(grad, dtype=torch.float32))
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_per_head_kernels_are_chosen_at_the_benchmark_size_with_two_threads(monkeypatch):
    """The registered CPU default: causal SDPA B8 H4 T128 d32 (524k scores) on two threads."""
    from tinydl.kernels import attention as kernels_attention
    from tinydl.ops import attention as ops_attention

    monkeypatch.delenv("TINYDL_KERNELS", raising=False)
    q = np.zeros((8, 4, 128, 32), dtype=np.float32)
    previous = tinydl.get_num_threads()
    try:
        tinydl.set_num_threads(2)
        expected = kernels_attention.attention_forward_keeping_weights_numba if numba_available() else None
        assert ops_attention._per_head_kernel("attention_forward_keeping_weights", q, q) is expected
        small = q[:, :, :16]  # 8 * 4 * 16 * 16 scores: below HEADS_PARALLEL_MIN_WORK
        assert ops_attention._per_head_kernel("attention_forward_keeping_weights", small, small) is None
        # the most keys: 256 on TBB's pool, 128 on workqueue's, which is slow to wake
        longest = 256 if tinydl.threads.numba_layer_planned() == "tbb" else 128
        longer = np.zeros((8, 4, 2 * longest, 32), dtype=np.float32)
        longest_taken = np.zeros((8, 4, longest, 32), dtype=np.float32)
        assert ops_attention._per_head_kernel("attention_forward_keeping_weights", longer, longer) is None
        assert ops_attention._per_head_kernel("attention_forward_keeping_weights", longest_taken,
                                              longest_taken) is expected
    finally:
        tinydl.set_num_threads(previous)


@pytest.mark.parametrize("length, kernels, slices", [(256, None, 2), (256, "numpy", 2), (128, "numpy", 1)])
def test_long_causal_attention_runs_split_over_the_batch_on_two_threads(length, kernels, slices,
                                                                        slice_counts, monkeypatch):
    """The benchmark's causal SDPA (B8 H4 d32) at T256: 2.1M scores, past SPLIT_MIN_WORK, and
    more keys than the per-head kernels take, so forward and backward run the causal blocks on
    two slices of the batch (with the default kernels too); at T128 without the per-head
    kernels (TINYDL_KERNELS=numpy), 524k scores stay whole. Values as the one-thread run's.
    (On TBB's pool the per-head kernels take 256 keys: held to 128 here, as on workqueue's.)"""
    from tinydl.ops import attention as ops_attention

    monkeypatch.setattr(ops_attention, "HEADS_MAX_KEYS", {"tbb": 128, "workqueue": 128})
    if kernels is None:
        monkeypatch.delenv("TINYDL_KERNELS", raising=False)
    else:
        monkeypatch.setenv("TINYDL_KERNELS", kernels)
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((8, 4, length, 32)).astype(np.float32) for _ in range(3)]
    results = {}
    previous = tinydl.get_num_threads()
    try:
        for budget in (2, 1):
            tinydl.set_num_threads(budget)
            q, k, v = (tinydl.tensor(a, requires_grad=True) for a in arrays)
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            out.sum().backward()
            results[budget] = [out.numpy(), q.grad.numpy(), k.grad.numpy(), v.grad.numpy()]
    finally:
        tinydl.set_num_threads(previous)
    assert slice_counts == [slices, slices, 1, 1]  # forward and backward, two threads then one
    for split, whole in zip(results[2], results[1]):
        np.testing.assert_allclose(split, whole, rtol=1e-5, atol=1e-6)


def test_per_head_kernels_are_chosen_as_the_default_on_any_thread_budget(monkeypatch):
    from tinydl.kernels import attention as kernels_attention
    from tinydl.ops import attention as ops_attention

    q = np.zeros((8, 4, 128, 32), dtype=np.float32)
    monkeypatch.setattr(kernels_attention, "HEADS_PARALLEL_MIN_WORK", 1000)
    previous = tinydl.get_num_threads()
    try:
        tinydl.set_num_threads(2)
        monkeypatch.setenv("TINYDL_KERNELS", "numpy")
        assert ops_attention._per_head_kernel("attention_forward_keeping_weights", q, q) is None
        monkeypatch.delenv("TINYDL_KERNELS")
        expected = kernels_attention.attention_backward_from_weights_numba if numba_available() else None
        assert ops_attention._per_head_kernel("attention_backward_from_weights", q, q) is expected
        tinydl.set_num_threads(1)  # their serial copies: they beat the NumPy formulas there too
        assert ops_attention._per_head_kernel("attention_backward_from_weights", q, q) is expected
        monkeypatch.setattr(kernels_attention, "HEADS_PARALLEL_MIN_WORK", 8 * 4 * 128 * 128 + 1)
        assert ops_attention._per_head_kernel("attention_backward_from_weights", q, q) is None
    finally:
        tinydl.set_num_threads(previous)
