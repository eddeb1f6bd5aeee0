"""Benchmark tinydl's hot-path kernels: NumPy reference vs Numba vs PyTorch (when installed).

Run from the repository root:

    python -m benchmarks.bench_kernels            # full run (about a minute)
    python -m benchmarks.bench_kernels --quick    # a few seconds, small problems

``--threads N`` caps the threads of Numba, torch and (when threadpoolctl is installed) the
BLAS library. On a busy shared machine, ``--threads 1 --clock cpu`` compares per-core work:
it measures the process's CPU time, which does not grow while other programs hold the cores.

Prints a markdown table of median wall times, with the Numba and torch columns given as
speed-ups over the NumPy reference (2.0x = twice as fast). Timings on a shared machine move
from run to run; compare columns within one run. Each implementation of a case is timed in
blocks, in alternating order over several rounds, after a warm-up call (which also compiles
the Numba kernels on the first run; they are cached on disk afterwards).
"""

import argparse
import contextlib
import platform
import time

import numpy as np

import tinydl
from tinydl.kernels import activation, attention, conv, indexing, normalization, optim, recurrent
from tinydl.kernels._jit import numba_available
from tinydl.ops import conv as conv_ops
from tinydl.ops import nn as nn_ops
from tinydl.ops import normalization as normalization_ops
from tinydl.ops import recurrent as recurrent_ops
from tinydl.ops import shape as shape_ops
from tinydl.optim import adam, sgd


def _try_import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def limit_threads(threads, torch):
    """Cap Numba's and torch's thread pools; returns a context manager capping BLAS's."""
    if threads is None:
        return contextlib.nullcontext()
    tinydl.set_num_threads(threads)  # the budget the kernels pick their serial or parallel copy by
    if numba_available():
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("(threadpoolctl is not installed: BLAS keeps its default thread count)")
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_case(impls, rounds, repeats, clock):
    """{impl name: median ms}; impls are timed in blocks of `repeats` calls, in alternating
    order over `rounds` rounds, after one warm-up call each."""
    for run in impls.values():
        run()  # warm-up (and Numba compilation on the very first run)
    times = {name: [] for name in impls}
    names = list(impls)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else names[::-1]:
            for _ in range(repeats):
                start = clock()
                impls[name]()
                times[name].append(clock() - start)
    return {name: 1e3 * float(np.median(values)) for name, values in times.items()}


# ----------------------------------------------------------------------------- cases

def attention_case(B, T, torch):
    """Forward + backward of (non-causal) attention, B x 4 heads x T tokens, d32, float32."""
    rng = np.random.default_rng(0)
    q, k, v, dout = rng.standard_normal((4, B, 4, T, 32), dtype=np.float32)

    def numpy_run():
        out, lse = attention.attention_forward_reference(q, k, v)
        attention.attention_backward_reference(q, k, v, None, False, None, out, lse, dout)

    def numba_run():
        out, lse = attention.attention_forward_numba(q, k, v)
        attention.attention_backward_numba(q, k, v, None, False, None, out, lse, dout)

    impls = {"numpy": numpy_run, "numba": numba_run}
    if torch is not None:
        tensors = [torch.from_numpy(a.copy()).requires_grad_() for a in (q, k, v)]
        dout_t = torch.from_numpy(dout)

        def torch_run():
            out = torch.nn.functional.scaled_dot_product_attention(*tensors)
            torch.autograd.grad(out, tensors, dout_t)

        impls["torch"] = torch_run
    return f"attention fwd+bwd B{B} H4 d32 T{T}", impls


def causal_attention_case(B, T, torch):
    """Causal attention fwd+bwd by the weights-keeping formulas (the CPU default's), B x 4 heads
    x T tokens, d32, float32: NumPy (BLAS products) against the per-head Numba kernels."""
    rng = np.random.default_rng(0)
    q, k, v, dout = rng.standard_normal((4, B, 4, T, 32), dtype=np.float32)

    def runner(forward, backward):
        def run():
            out, weights, row_sum = forward(q, k, v, None, True)
            backward(q, k, v, None, weights, row_sum, out, dout, True)
        return run

    impls = {"numpy": runner(attention.attention_forward_keeping_weights, attention.attention_backward_from_weights),
             "numba": runner(attention.attention_forward_keeping_weights_numba,
                             attention.attention_backward_from_weights_numba)}
    if torch is not None:
        tensors = [torch.from_numpy(a.copy()).requires_grad_() for a in (q, k, v)]
        dout_t = torch.from_numpy(dout)

        def torch_run():
            out = torch.nn.functional.scaled_dot_product_attention(*tensors, is_causal=True)
            torch.autograd.grad(out, tensors, dout_t)

        impls["torch"] = torch_run
    return f"causal attention keeping weights fwd+bwd B{B} H4 d32 T{T}", impls


def adam_case(size, torch):
    """One Adam step with weight decay on `size` float32 parameters."""
    rng = np.random.default_rng(1)
    grad = rng.standard_normal(size, dtype=np.float32)
    state = {name: [rng.standard_normal(size, dtype=np.float32), np.zeros(size, np.float32),
                    np.zeros(size, np.float32)] for name in ("numpy", "numba")}

    def runner(update, arrays):
        def run():
            update(arrays[0], grad, arrays[1], arrays[2], 10, 1e-3, 0.9, 0.999, 1e-8, 1e-2, False)
        return run

    impls = {"numpy": runner(adam.adam_update_reference, state["numpy"]),
             "numba": runner(optim.adam_update_numba, state["numba"])}
    if torch is not None:
        weight = torch.nn.Parameter(torch.from_numpy(state["numpy"][0].copy()))
        weight.grad = torch.from_numpy(grad)
        optimizer = torch.optim.Adam([weight], lr=1e-3, weight_decay=1e-2)
        impls["torch"] = optimizer.step
    return f"adam update, {size:,} params", impls


def sgd_case(size, torch):
    """One SGD step with momentum 0.9 on `size` float32 parameters."""
    rng = np.random.default_rng(2)
    grad = rng.standard_normal(size, dtype=np.float32)
    state = {name: [rng.standard_normal(size, dtype=np.float32), np.zeros(size, np.float32)]
             for name in ("numpy", "numba")}

    def runner(update, arrays):
        def run():
            update(arrays[0], grad, arrays[1], 1e-2, 0.9, 0.0, False, 0.0, False)
        return run

    impls = {"numpy": runner(sgd.sgd_momentum_update_reference, state["numpy"]),
             "numba": runner(optim.sgd_momentum_update_numba, state["numba"])}
    if torch is not None:
        weight = torch.nn.Parameter(torch.from_numpy(state["numpy"][0].copy()))
        weight.grad = torch.from_numpy(grad)
        optimizer = torch.optim.SGD([weight], lr=1e-2, momentum=0.9)
        optimizer.step()  # creates the momentum buffer
        impls["torch"] = optimizer.step
    return f"sgd momentum update, {size:,} params", impls


def max_pool_case(N, torch):
    """2x2 max pooling forward + backward on an Nx32x28x28 float32 batch."""
    x = np.random.default_rng(5).standard_normal((N, 32, 28, 28), dtype=np.float32)
    dout = np.ones((N, 32, 14, 14), dtype=np.float32)

    def runner(forward, backward):
        def run():
            _, indices = forward(x, (2, 2), (2, 2), (0, 0))
            backward(dout, indices, x.shape)
        return run

    impls = {"numpy": runner(conv_ops.max_pool2d_forward, conv_ops.max_pool2d_scatter),
             "numba": runner(conv.max_pool2d_forward_numba, conv.max_pool2d_scatter_numba)}
    if torch is not None:
        x_t = torch.from_numpy(x.copy()).requires_grad_()
        dout_t = torch.from_numpy(dout)

        def torch_run():
            out = torch.nn.functional.max_pool2d(x_t, 2)
            torch.autograd.grad(out, x_t, dout_t)

        impls["torch"] = torch_run
    return f"max_pool2d 2x2 fwd+bwd {N}x32x28x28", impls


def recurrence_case(cell, T, B, H, torch):
    """A fused LSTM or GRU recurrence forward + backward on arrays: (T, B, G*H) float32
    pre-projected inputs, hidden size H (no torch column: torch has no separate recurrence)."""
    rng = np.random.default_rng(6)
    gates = 4 if cell == "lstm" else 3
    projected = rng.standard_normal((T, B, gates * H), dtype=np.float32)
    w_hh = rng.standard_normal((gates * H, H), dtype=np.float32) / np.float32(np.sqrt(H))
    h0 = np.zeros((B, H), dtype=np.float32)
    grad_hs = np.ones((T, B, H), dtype=np.float32)
    if cell == "lstm":
        forward_args, backward_args = (projected, w_hh, h0, h0), (w_hh, h0, h0, grad_hs, h0)
    else:
        b_hh = np.zeros(gates * H, dtype=np.float32)
        forward_args, backward_args = (projected, w_hh, b_hh, h0), (w_hh, h0, grad_hs)

    def runner(forward, backward):
        def run():
            backward(*forward(*forward_args), *backward_args)
        return run

    references = (getattr(recurrent_ops, f"{cell}_forward_reference"),
                  getattr(recurrent_ops, f"{cell}_backward_reference"))
    kernels = (getattr(recurrent, f"{cell}_forward_numba"),
               getattr(recurrent, f"{cell}_backward_numba"))
    return (f"{cell.upper()} recurrence fwd+bwd T{T} B{B} H{H}",
            {"numpy": runner(*references), "numba": runner(*kernels)})


def im2col_case(shape, padding, torch):
    """im2col then col2im (a 3x3 convolution's forward and input-gradient data movement) on a
    float32 batch of ``shape`` (N, C, H, W) stored as a convolution's output stores it, a
    (C, N, H, W) block."""
    block = np.random.default_rng(6).standard_normal((shape[1], shape[0]) + shape[2:],
                                                     dtype=np.float32)
    x = block.transpose(1, 0, 2, 3)
    geometry = (3, 3, (1, 1), (padding, padding), (1, 1))

    def runner(forward, backward):
        def run():
            backward(forward(x, *geometry), x.shape, *geometry)
        return run

    impls = {"numpy": runner(conv_ops.im2col, conv_ops.col2im),
             "numba": runner(conv.im2col_numba, conv.col2im_numba)}
    if torch is not None:
        x_t = torch.from_numpy(x.copy())

        def torch_run():
            cols = torch.nn.functional.unfold(x_t, 3, padding=padding)
            torch.nn.functional.fold(cols, shape[2:], 3, padding=padding)

        impls["torch"] = torch_run
    return f"im2col + col2im 3x3 pad {padding}, {'x'.join(map(str, shape))}", impls


def relu_case(shape, torch):
    """ReLU forward + backward on a convolution's float32 output (a (C, N, H, W) block)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((shape[1], shape[0]) + shape[2:], dtype=np.float32).transpose(1, 0, 2, 3)
    grad = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3) * 0.5

    def runner(forward, backward):
        def run():
            forward(x)
            backward(x, grad)
        return run

    impls = {"numpy": runner(nn_ops.relu_forward_reference, nn_ops.relu_backward_reference),
             "numba": runner(activation.relu_forward_numba, activation.relu_backward_numba)}
    if torch is not None:
        x_t = torch.from_numpy(x.copy()).requires_grad_()
        grad_t = torch.from_numpy(grad.copy())

        def torch_run():
            torch.autograd.grad(torch.relu(x_t), x_t, grad_t)

        impls["torch"] = torch_run
    return f"relu fwd+bwd {'x'.join(map(str, shape))}", impls


def _pair(reference, numba_version, first, *args):
    """{"numpy": reference, "numba": numba_version}, each called as kernel(copy of first, *args):
    these kernels overwrite their first argument (both pay the same copy)."""
    def runner(kernel):
        return lambda: kernel(first.copy(), *args)
    return {"numpy": runner(reference), "numba": runner(numba_version)}


def gpt_kernel_cases(torch):
    """The kernels of one GPT-mini layer (B32, T128, C128, 4 heads; float32), forward and
    backward, each against its NumPy reference (torch: the same layer op, where it has one)."""
    rng = np.random.default_rng(6)
    x, grad = rng.standard_normal((2, 32, 128, 128), dtype=np.float32)
    weight, bias = rng.standard_normal((2, 128), dtype=np.float32)
    hidden, hidden_grad = rng.standard_normal((2, 32, 128, 512), dtype=np.float32)
    scores, dweights = rng.standard_normal((2, 32, 4, 128, 128), dtype=np.float32)
    out, dout = rng.standard_normal((2, 32, 4, 128, 32), dtype=np.float32)
    inverse_sum = rng.random((32, 4, 128, 1), dtype=np.float32)
    ids = rng.integers(0, 128, (32, 128))

    def both(forward, backward, forward_args, backward_args):
        def run(pick):
            return lambda: (pick(forward)(*forward_args), pick(backward)(*backward_args))
        return {"numpy": run(lambda pair: pair[0]), "numba": run(lambda pair: pair[1])}

    x_hat, rstd = normalization_ops.normalize_forward_reference(x)
    layer_norm = both(
        (normalization_ops.affine_normalize_forward_reference, normalization.affine_normalize_forward_numba),
        (normalization_ops.affine_normalize_backward_reference, normalization.affine_normalize_backward_numba),
        (x, weight, bias), (x_hat, rstd, weight, grad))
    gelu = both((nn_ops.gelu_forward_reference, activation.gelu_forward_numba),
                (nn_ops.gelu_backward_reference, activation.gelu_backward_numba),
                (hidden, "tanh"), (hidden, hidden_grad, "tanh"))
    if torch is not None:
        x_t, hidden_t = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, hidden))
        layer = torch.nn.LayerNorm(128)
        layer_norm["torch"] = lambda: torch.autograd.grad(layer(x_t), [x_t, *layer.parameters()],
                                                          torch.from_numpy(grad))
        gelu["torch"] = lambda: torch.autograd.grad(
            torch.nn.functional.gelu(hidden_t, approximate="tanh"), hidden_t,
            torch.from_numpy(hidden_grad))
    return [
        ("layer_norm with weight and bias fwd+bwd 32x128x128", layer_norm),
        ("gelu (tanh) fwd+bwd 32x128x512", gelu),
        ("causal attention softmax weights B32 H4 T128", _pair(
            attention.attention_softmax_weights_reference, attention.attention_softmax_weights_numba,
            scores, None, True)),
        ("attention score gradients B32 H4 T128", _pair(
            attention.attention_score_gradients_reference, attention.attention_score_gradients_numba,
            dweights, scores, dout, out, inverse_sum)),
        ("embedding backward (scatter rows) 4096 ids, 128x128", _pair(
            shape_ops.scatter_add_rows_reference, indexing.scatter_add_rows_numba,
            np.zeros((128, 128), np.float32), ids, x)),
    ]


# ----------------------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--threads", type=int, default=None,
                        help="cap the thread count of Numba, torch and BLAS")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall time (default) or the process's CPU time")
    args = parser.parse_args(argv)
    torch = _try_import_torch()
    has_numba = numba_available()
    with limit_threads(args.threads, torch):
        run_table(args, torch, has_numba)


def _cases(quick, torch):
    if quick:  # small problems
        return [attention_case(2, 64, torch), causal_attention_case(2, 64, torch), adam_case(100_000, torch),
                sgd_case(100_000, torch),
                max_pool_case(4, torch), recurrence_case("lstm", 8, 4, 32, torch),
                recurrence_case("gru", 8, 4, 32, torch), im2col_case((4, 8, 13, 13), 0, torch),
                relu_case((4, 8, 13, 13), torch)]
    return [attention_case(8, 128, torch), attention_case(8, 256, torch),
            causal_attention_case(8, 128, torch), causal_attention_case(8, 256, torch),
            adam_case(1_000_000, torch), sgd_case(1_000_000, torch),
            max_pool_case(64, torch), recurrence_case("lstm", 64, 32, 128, torch),
            recurrence_case("gru", 64, 32, 128, torch),
            im2col_case((64, 32, 13, 13), 0, torch), im2col_case((64, 32, 16, 16), 1, torch),
            relu_case((64, 32, 26, 26), torch), *gpt_kernel_cases(torch)]


def run(quick=False):
    """Rows for ``python -m benchmarks``: each kernel's NumPy reference, Numba and torch."""
    from benchmarks.common import measure_interleaved, rows_for

    torch = _try_import_torch()
    rows = []
    for title, impls in _cases(quick, torch):
        if not numba_available():
            impls.pop("numba")
        timings = measure_interleaved(impls, repeats=3 if quick else 5)
        rows.extend(rows_for(f"kernel: {title}", timings))
    return rows


def run_table(args, torch, has_numba):
    """Build the cases and print the table."""
    rounds, repeats = (1, 3) if args.quick else (3, 5)
    cases = _cases(args.quick, torch)
    print(f"# tinydl kernels: median {args.clock} ms, speed-up over the NumPy reference "
          f"({platform.machine()}, NumPy {np.__version__}"
          f"{', torch ' + torch.__version__ if torch else ''}; "
          f"{'quick' if args.quick else f'{rounds}x{repeats}'} runs, "
          f"threads: {args.threads or 'default'})\n")
    print("| case | numpy ref | numba | torch |")
    print("|---|---:|---:|---:|")
    for title, impls in cases:
        if not has_numba:
            impls.pop("numba")
        times = time_case(impls, rounds, repeats, CLOCKS[args.clock])
        base = times["numpy"]
        cells = [f"{base:.2f} ms"]
        for name in ("numba", "torch"):
            cells.append(f"{base / times[name]:.2f}x ({times[name]:.2f} ms)" if name in times
                         else "n/a")
        print(f"| {title} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
