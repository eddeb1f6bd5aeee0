"""DistributedDataParallel: the same model on every rank, gradients averaged after backward.

Data parallelism in four steps, as PyTorch's ``DistributedDataParallel`` does them:

1. At wrap time rank 0's parameters and buffers are broadcast, so every rank starts equal.
2. Each rank runs forward and backward on its own shard of the batch.
3. During backward the gradients are averaged over the ranks with all-reduce. Parameters are
   grouped into *buckets* of about ``bucket_cap_mb`` megabytes, at first in reverse order of
   ``model.parameters()`` (a guess at the order backward finishes them), after the first
   backward in the order it really did finish them (rank 0's, as PyTorch). A hook on each
   parameter (``register_post_accumulate_grad_hook``) notices when its gradient is complete;
   when a bucket's gradients all are, they are copied into one flat buffer and a non-blocking
   all-reduce starts on it while backward goes on with the earlier layers. When the last
   bucket has started, every reduction is waited for and the averages written back to .grad.
4. Every rank's optimizer then takes the same step from the same gradients: the models stay
   equal without ever sending a weight again.

``no_sync()`` skips step 3 (gradients just accumulate locally, for gradient accumulation);
the next backward outside it averages everything accumulated. With ``broadcast_buffers``
(the default) rank 0's buffers (BatchNorm's running statistics) are broadcast before each
forward, as in PyTorch.

Why buckets: one all-reduce per parameter pays MPI's per-message latency dozens of times;
one for the whole model cannot start until backward is over. Buckets trade between the two.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinydl.autograd import _topological_order, is_grad_enabled
from tinydl.backend import get_array_module
from tinydl.distributed import comm
from tinydl.nn.module import Module
from tinydl.tensor import Tensor


class _Bucket:
    """Parameters whose gradients travel together in one flat all-reduce."""

    def __init__(self, params: list) -> None:
        self.params = params
        self.slices: list[tuple[int, int]] = []
        start = 0
        for param in params:
            self.slices.append((start, start + param.data.size))
            start += param.data.size
        self.numel = start
        self.ready = 0           # how many of its parameters' gradients are complete
        self.work: comm.Work | None = None
        self.flat: Any = None    # the flat buffer of the last reduction

    def pack(self) -> Any:
        """The gradients in one flat array (zeros for a parameter without a gradient)."""
        first = self.params[0].data
        flat = get_array_module(first).zeros(self.numel, dtype=first.dtype)
        for param, (start, stop) in zip(self.params, self.slices):
            if param.grad is not None:
                flat[start:stop] = param.grad.data.reshape(-1)
        return flat

    def unpack(self, world: int, skip: set[int]) -> None:
        """Write the averaged flat buffer back into the parameters' .grad (not those in skip)."""
        self.flat /= world
        for param, (start, stop) in zip(self.params, self.slices):
            if id(param) in skip:
                continue
            # a view of this step's flat buffer, which nothing else writes: no copy needed
            averaged = self.flat[start:stop].reshape(param.data.shape)
            param.grad = Tensor(averaged, dtype=averaged.dtype)


def _make_buckets(params: list, cap_bytes: float) -> list[_Bucket]:
    """Cut ``params`` (in the order their gradients are expected) into buckets of at most
    ``cap_bytes`` each (a bigger parameter gets a bucket of its own); one dtype and one
    device per bucket."""
    buckets, current, size = [], [], 0
    for param in params:
        nbytes = param.data.size * param.data.dtype.itemsize
        mismatch = current and (param.data.dtype != current[0].data.dtype
                                or param.device != current[0].device)
        if current and (mismatch or size + nbytes > cap_bytes):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(param)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


class DistributedDataParallel(Module):
    """Wrap ``module`` so that backward averages its gradients over all ranks.

    Args:
        module: the model (every rank builds the same architecture).
        broadcast_buffers: broadcast rank 0's buffers before each forward.
        bucket_cap_mb: size of a gradient bucket in megabytes (2**20 bytes); one all-reduce
            per bucket.
        find_unused_parameters: look, after each forward, for parameters the output does not
            depend on and count them as ready (their gradient averages in as zeros);
            without it such a parameter makes the next forward raise.
        device_ids, output_device: accepted for PyTorch compatibility; the module's own
            device is used.

    ``ddp.module`` is the wrapped model; ``ddp.state_dict()`` names its entries
    ``module.<name>`` as PyTorch does (save ``ddp.module.state_dict()`` to load into an
    unwrapped model). Call ``tinydl.distributed.init()`` first (it is called for you if not).
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 broadcast_buffers: bool = True, bucket_cap_mb: float = 25.0,
                 find_unused_parameters: bool = False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a tinydl.nn.Module, got "
                            f"{type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got "
                             f"{bucket_cap_mb!r}")
        comm.init()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.require_backward_grad_sync = True
        self._world = comm.world_size()
        params = [p for p in module.parameters() if p.requires_grad]
        self._params = params
        self._locally_unused: set[int] = set()  # ids, filled by find_unused_parameters
        self._ready: set[int] = set()  # ids of the parameters whose gradient is complete
        for tensor in [*module.parameters(), *module.buffers()]:
            comm.broadcast(tensor, src=0)  # every rank starts from rank 0's model
        # reversed: backward finishes the last layers first
        self._set_buckets(params[::-1])  # reversed: backward finishes the last layers first
        self._ready_order: list = []  # the order of the first synced backward, for the rebuild
        self._buckets_rebuilt = False
        self._next_to_launch = 0
        self._hook_handles = [] if self._world == 1 else [
            p.register_post_accumulate_grad_hook(self._grad_ready) for p in params]

    @property
    def bucket_sizes(self) -> list[int]:
        """Number of gradient elements in each bucket, in launch order."""
        return [bucket.numel for bucket in self._buckets]

    # ---- forward -------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._world > 1:
            self._check_last_reduction_finished()
            if self.broadcast_buffers:
                for buffer in self.module.buffers():
                    comm.broadcast(buffer, src=0)
        output = self.module(*args, **kwargs)
        if (self._world > 1 and self.find_unused_parameters and is_grad_enabled()
                and self.require_backward_grad_sync):
            self._mark_unused_parameters(output)
        return output

    def _check_last_reduction_finished(self) -> None:
        if self._ready:
            names = [n for n, p in self.module.named_parameters()
                     if p.requires_grad and id(p) not in self._ready]
            self._reset()
            raise RuntimeError(
                "DistributedDataParallel: the previous backward did not reach every parameter, "
                f"so no gradient was averaged (no gradient for: {names[:8]}); pass "
                "find_unused_parameters=True if some parameters are unused in forward")

    def _mark_unused_parameters(self, output: Any) -> None:
        outputs = output if isinstance(output, (tuple, list)) else [output]
        roots = [t._ctx for t in outputs if isinstance(t, Tensor) and t._ctx is not None]
        used = {id(t) for ctx in _topological_order(roots) for t in ctx.graph_inputs}
        self._locally_unused = {id(p) for p in self._params if id(p) not in used}
        for param in self._params:
            if id(param) in self._locally_unused:
                self._grad_ready(param)

    # ---- backward: the hooks -------------------------------------------------------------------
    def _grad_ready(self, param: Any) -> None:
        """Called by backward once ``param.grad`` is complete."""
        if not self.require_backward_grad_sync:
            return
        self._ready.add(id(param))
        if not self._buckets_rebuilt:
            self._ready_order.append(param)
        bucket = self._bucket_of[id(param)]
        bucket.ready += 1
        # buckets start strictly in order: MPI needs every rank to issue its collectives in
        # the same order, whatever order backward completes them in
        while (self._next_to_launch < len(self._buckets)
               and self._buckets[self._next_to_launch].ready
               == len(self._buckets[self._next_to_launch].params)):
            launched = self._buckets[self._next_to_launch]
            launched.flat = launched.pack()
            launched.work = comm.all_reduce_array(launched.flat)
            self._next_to_launch += 1
        for bucket in self._buckets[:self._next_to_launch]:
            bucket.work.is_completed()  # lets MPI make progress on the reductions in flight
        if self._next_to_launch == len(self._buckets):
            self._finish()

    def _finish(self) -> None:
        unused_everywhere = self._unused_on_every_rank() if self.find_unused_parameters else set()
        for bucket in self._buckets:
            bucket.work.wait()
            bucket.unpack(self._world, skip=unused_everywhere)
        self._reset()
        if not self._buckets_rebuilt:
            self._rebuild_buckets()

    def _set_buckets(self, ordered_params: list) -> None:
        self._buckets = _make_buckets(ordered_params, self.bucket_cap_mb * 2 ** 20)
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}

    def _rebuild_buckets(self) -> None:
        """Re-cut the buckets in the order the first backward completed the gradients.

        Every rank must cut the same buckets, so rank 0's order is broadcast."""
        index = {id(p): i for i, p in enumerate(self._params)}
        seen = [index[id(p)] for p in self._ready_order]
        never = [i for i in range(len(self._params)) if i not in set(seen)]  # (unused ones)
        order = Tensor(np.array(seen + never, dtype=np.int64))
        comm.broadcast(order, src=0)
        self._set_buckets([self._params[i] for i in order.data.tolist()])
        self._ready_order, self._buckets_rebuilt = [], True

    def _unused_on_every_rank(self) -> set[int]:
        """Parameters no rank used: their .grad stays as it was (None), as in PyTorch."""
        used = np.array([id(p) not in self._locally_unused for p in self._params], dtype=np.int32)
        comm.all_reduce_array(used).wait()  # how many ranks used each parameter
        return {id(p) for p, count in zip(self._params, used.tolist()) if count == 0}

    def _reset(self) -> None:
        for bucket in self._buckets:
            bucket.ready, bucket.work, bucket.flat = 0, None, None
        self._next_to_launch = 0
        self._locally_unused, self._ready = set(), set()

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate gradients locally, without communicating."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def extra_repr(self) -> str:
        return (f"world_size={self._world}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_cap_mb}, broadcast_buffers={self.broadcast_buffers}")
