"""Collective communication between processes over MPI (mpi4py), on tinydl Tensors.

``mpirun -n 4 python train.py`` starts four copies of one script: four *ranks* (0..3) in one
*world* of size 4. They share nothing but messages. The collectives here are the messages data
parallelism needs, each called by every rank at the same point of the program:

    all_reduce(t)        every rank's t becomes the sum (or max, min, product, average) of all
    broadcast(t, src)    every rank's t becomes rank src's t
    all_gather(ts, t)    ts[r] becomes rank r's t, on every rank
    reduce_scatter(o, ts)  o on rank r becomes the sum over ranks of their ts[r]
    barrier()            wait until every rank has reached this line

Tensors travel as raw array buffers (MPI's uppercase mpi4py methods: no pickling). Arrays on
the GPU go to MPI directly when the MPI build is CUDA-aware, and through a host copy otherwise.

Without ``mpirun`` (a plain ``python train.py``) the world has one rank and every collective
returns at once with the tensor unchanged, so the same script runs on one process or many.
"""
from __future__ import annotations

import ctypes
import enum
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import numpy

from tinydl import backend
from tinydl.errors import DeviceError, DTypeError, ShapeError

INSTALL_HINT = ("install MPI and mpi4py: apt-get install openmpi-bin libopenmpi-dev (or mpich), "
                "then pip install 'tinydl[mpi]'")

# environment variables the MPI launchers set in every rank they start
_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE",  # Open MPI's mpirun
                       "PMI_SIZE", "PMI_RANK",   # MPICH's (Hydra's) mpiexec, Intel MPI
                       "PMIX_RANK")              # PMIx launchers (Slurm's srun, prrte)

# The process group: None until init(); then the MPI communicator (None for a lone process).
_world: dict[str, Any] = {"initialized": False, "comm": None, "cuda_aware": None}


class ReduceOp(enum.Enum):
    """How ``all_reduce`` / ``reduce_scatter`` combine the ranks' values (PyTorch's names)."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"  # the sum divided by the world size


def launched_by_mpi() -> bool:
    """True when this process was started by an MPI launcher (mpirun, mpiexec, srun)."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def init(abort_on_error: bool = True) -> int:
    """Join the world of ranks ``mpirun`` started; returns the world size (1 without mpirun).

    Under an MPI launcher this imports mpi4py (which initialises MPI) and uses
    ``MPI.COMM_WORLD``. With ``abort_on_error`` an uncaught exception on any rank prints its
    traceback (marked with the rank) and aborts the whole job, so the other ranks do not wait
    forever in their next collective. Calling init again does nothing.
    """
    if _world["initialized"]:
        return world_size()
    if launched_by_mpi():
        try:
            from mpi4py import MPI  # optional dependency, imported only here
        except ImportError as err:
            raise ImportError(f"tinydl.distributed.init: started by mpirun but mpi4py is "
                              f"missing ({err}); {INSTALL_HINT}") from None
        _world["comm"] = MPI.COMM_WORLD
        if abort_on_error and _world["comm"].Get_size() > 1:
            sys.excepthook = _abort_job_hook(sys.excepthook)
    _world["initialized"] = True
    return world_size()


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       world_size: int = -1, rank: int = -1, **options: Any) -> None:
    """PyTorch's name for ``init()``: the ranks are always MPI's world, started by mpirun.

    ``backend`` ("mpi", "gloo", "nccl") and ``init_method`` are accepted and MPI serves them;
    ``world_size``/``rank``, when given, must be what mpirun started.
    """
    init()
    for name, asked, actual in (("world_size", world_size, _world_size()), ("rank", rank,
                                                                             _rank())):
        if asked not in (-1, None) and asked != actual:
            raise ValueError(f"init_process_group: {name}={asked}, but mpirun started this "
                             f"process with {name} {actual}; drop the argument (mpirun -n sets it)")


def _abort_job_hook(previous: Any) -> Any:
    def hook(kind: type, error: BaseException, trace: Any) -> None:
        me = rank()
        text = "".join(traceback.format_exception(kind, error, trace))
        sys.stderr.write(f"[tinydl.distributed] rank {me} failed; aborting all ranks:\n{text}")
        sys.stderr.flush()
        sys.stdout.flush()
        comm = _world["comm"]
        if comm is None:
            previous(kind, error, trace)
            return
        comm.Abort(1)

    return hook


def is_initialized() -> bool:
    return bool(_world["initialized"])


def rank() -> int:
    """This process's rank, 0 .. world_size()-1 (0 without mpirun)."""
    comm = _world["comm"]
    return 0 if comm is None else comm.Get_rank()


def world_size() -> int:
    """How many ranks run this program (1 without mpirun)."""
    comm = _world["comm"]
    return 1 if comm is None else comm.Get_size()


get_rank, get_world_size = rank, world_size  # PyTorch's names
_rank, _world_size = rank, world_size  # (init_process_group's arguments hide the public names)


def barrier() -> None:
    """Wait until every rank reaches this call."""
    if _world["comm"] is not None:
        _world["comm"].Barrier()


def mpi_description() -> str:
    """The MPI library's own one-line name and version (needs mpi4py)."""
    from mpi4py import MPI

    return MPI.Get_library_version().strip().splitlines()[0]


def cuda_aware() -> bool:
    """True when the MPI library can read and write GPU memory directly (CUDA-aware MPI).

    Asks Open MPI's ``MPIX_Query_cuda_support`` (MPICH builds answer through the same name
    when they have it); any other answer means host copies.
    """
    if _world["cuda_aware"] is None:
        _world["cuda_aware"] = _query_cuda_support()
    return _world["cuda_aware"]


def _query_cuda_support() -> bool:
    try:
        from mpi4py import MPI

        library = ctypes.CDLL(MPI.__file__)  # its symbol lookup also searches the libmpi it uses
    except (ImportError, OSError):
        return False
    query = getattr(library, "MPIX_Query_cuda_support", None)
    return bool(query()) if query is not None else False


# ---------------------------------------------------------------------------------------------
# Buffers: what MPI reads and writes for an array
# ---------------------------------------------------------------------------------------------


class _Buffer:
    """An array as MPI sees it: the array itself (host, or GPU with CUDA-aware MPI) or a
    host copy that ``finish()`` writes back to the device array."""

    def __init__(self, array: Any):
        self.array = array
        owner = backend.backend_of(array)
        if owner.device_type == "cpu":
            self.mpi = array if array.flags.c_contiguous else numpy.ascontiguousarray(array)
        elif owner.device_type == "cuda" and cuda_aware():
            owner.xp.cuda.get_current_stream().synchronize()  # the data must be written
            self.mpi = array if array.flags.c_contiguous else owner.xp.ascontiguousarray(array)
        else:
            self.mpi = owner.to_numpy(array)  # a host copy
        self.copied = self.mpi is not array
        self.owner = owner

    def finish(self) -> None:
        """Write the received values back into the original array (when MPI had a copy)."""
        if self.copied:
            self.array[...] = _to_device_of(self.array, self.mpi)


def _mpi_op(op: ReduceOp, dtype: Any) -> Any:
    from mpi4py import MPI

    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op must be a tinydl.distributed.ReduceOp, got {op!r}")
    if op is ReduceOp.AVG and numpy.dtype(dtype).kind not in "fc":
        raise DTypeError(f"all_reduce: ReduceOp.AVG needs a floating tensor, got {dtype}; "
                         "use ReduceOp.SUM and divide yourself")
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


class Work:
    """A collective in flight (``async_op=True``): ``wait()`` finishes it, ``is_completed()`` polls."""

    def __init__(self, request: Any, buffer: _Buffer | None, op: ReduceOp | None):
        self.request, self.buffer, self.op = request, buffer, op
        self.done = request is None

    def is_completed(self) -> bool:
        """Has the message arrived? (Polling also lets MPI progress the operation.)"""
        if not self.done and self.request.Test():
            self._complete()
        return self.done

    def wait(self) -> bool:
        if not self.done:
            self.request.Wait()
            self._complete()
        return True

    def _complete(self) -> None:
        self.done = True
        if self.op is ReduceOp.AVG:
            self.buffer.mpi /= world_size()
        self.buffer.finish()


def all_reduce_array(array: Any, op: ReduceOp = ReduceOp.SUM) -> Work:
    """Start an in-place all-reduce of a raw (contiguous) array; returns the Work to wait on."""
    comm = _world["comm"]
    if comm is None:
        return Work(None, None, None)
    from mpi4py import MPI

    mpi_op = _mpi_op(op, array.dtype)
    buffer = _Buffer(array)
    return Work(comm.Iallreduce(MPI.IN_PLACE, buffer.mpi, op=mpi_op), buffer, op)


# ---------------------------------------------------------------------------------------------
# Collectives on Tensors (PyTorch's signatures)
# ---------------------------------------------------------------------------------------------


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM, async_op: bool = False) -> Work | None:
    """Replace ``tensor`` on every rank by the reduction (default: sum) over all ranks, in place.

    Shapes: any; every rank passes the same shape and dtype. ``async_op=True`` returns a Work
    whose ``wait()`` completes it (the tensor must not be touched before then).
    """
    _require_initialized("all_reduce")
    work = all_reduce_array(tensor.data, op)
    if async_op:
        return work
    work.wait()
    return None


def broadcast(tensor: Any, src: int = 0) -> None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank, in place."""
    _require_initialized("broadcast")
    comm = _world["comm"]
    if comm is None:
        return
    _check_rank("broadcast", src)
    buffer = _Buffer(tensor.data)
    comm.Bcast(buffer.mpi, root=src)
    buffer.finish()


def all_gather(tensor_list: list, tensor: Any) -> None:
    """``tensor_list[r]`` becomes rank r's ``tensor`` on every rank.

    tensor_list: world_size() Tensors, each of ``tensor``'s shape and dtype (overwritten).
    """
    _require_initialized("all_gather")
    _check_list("all_gather", tensor_list, tensor)
    comm = _world["comm"]
    if comm is None:
        tensor_list[0].data[...] = tensor.data
        return
    sent = _Buffer(tensor.data)
    received = numpy.empty((world_size(), *tensor.shape), dtype=sent.mpi.dtype)
    comm.Allgather(sent.mpi, received)
    for target, row in zip(tensor_list, received):
        target.data[...] = _to_device_of(target.data, row)


def reduce_scatter(output: Any, input_list: list, op: ReduceOp = ReduceOp.SUM) -> None:
    """``output`` on rank r becomes the reduction over all ranks of their ``input_list[r]``.

    input_list: world_size() Tensors of ``output``'s shape and dtype.
    """
    _require_initialized("reduce_scatter")
    _check_list("reduce_scatter", input_list, output)
    comm = _world["comm"]
    if comm is None:
        output.data[...] = input_list[0].data
        return
    stacked = numpy.stack([backend.to_numpy(t.data) for t in input_list])  # (world, *shape)
    received = numpy.empty(output.shape, dtype=stacked.dtype)
    comm.Reduce_scatter_block(stacked, received, op=_mpi_op(op, stacked.dtype))
    if op is ReduceOp.AVG:
        received /= world_size()
    output.data[...] = _to_device_of(output.data, received)


def all_gather_rows(array: numpy.ndarray) -> numpy.ndarray:
    """Concatenate every rank's host array along axis 0, in rank order (lengths may differ).

    Shapes: (n_r, *rest) on rank r -> (sum of n_r, *rest) on every rank.
    """
    comm = _world["comm"]
    if comm is None:
        return array
    array = numpy.ascontiguousarray(array)
    counts = numpy.array(comm.allgather(int(array.size)), dtype=numpy.int64)
    received = numpy.empty(int(counts.sum()), dtype=array.dtype)
    comm.Allgatherv(array.reshape(-1), [received, counts])
    return received.reshape(-1, *array.shape[1:])


def _to_device_of(target: Any, host: numpy.ndarray) -> Any:
    owner = backend.backend_of(target)
    return host if owner.device_type == "cpu" else owner.from_numpy(host)


def _require_initialized(op: str) -> None:
    if not _world["initialized"]:
        raise RuntimeError(f"{op}: call tinydl.distributed.init() first (once per process, "
                           "before any collective)")


def _check_rank(op: str, src: int) -> None:
    if not 0 <= src < world_size():
        raise ValueError(f"{op}: src={src} is not a rank of this world of {world_size()} "
                         f"(ranks 0..{world_size() - 1})")


def _check_list(op: str, tensors: Sequence[Any], like: Any) -> None:
    if len(tensors) != world_size():
        raise ShapeError(f"{op}: the list holds {len(tensors)} tensors but the world has "
                         f"{world_size()} ranks; give one tensor per rank")
    for t in tensors:
        if t.shape != like.shape or t.dtype != like.dtype:
            raise ShapeError(f"{op}: every tensor must have shape {like.shape} and dtype "
                             f"{like.dtype}, got {t.shape} {t.dtype}")
        if t.device != like.device:
            raise DeviceError(f"{op}: tensors on {t.device} and {like.device}; put them on one "
                              "device")
