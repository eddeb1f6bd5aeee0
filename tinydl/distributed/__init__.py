"""Data-parallel training over MPI: the same script on many processes, one shard of data each.

    mpirun -n 2 python train.py          # two ranks on this machine
    mpirun -n 8 --hostfile hosts python train.py   # eight, spread over the listed machines

Inside the script::

    from tinydl import distributed as dist
    dist.init()                                      # world size 1 without mpirun
    model = dist.DistributedDataParallel(model)      # gradients averaged over the ranks
    loader = DataLoader(ds, batch_size=32, sampler=dist.DistributedSampler(ds))

or just ``tinydl.train.fit(..., distributed=True)``. Needs MPI and mpi4py
(``pip install 'tinydl[mpi]'``) only when started by mpirun.
"""
from tinydl.distributed.comm import (
                                     INSTALL_HINT,
                                     ReduceOp,
                                     Work,
                                     all_gather,
                                     all_gather_rows,
                                     all_reduce,
                                     barrier,
                                     broadcast,
                                     cuda_aware,
                                     get_rank,
                                     get_world_size,
                                     init,
                                     init_process_group,
                                     is_initialized,
                                     launched_by_mpi,
                                     rank,
                                     reduce_scatter,
                                     world_size,
)
from tinydl.distributed.parallel import DistributedDataParallel
from tinydl.distributed.sampler import DistributedSampler

__all__ = ["INSTALL_HINT", "DistributedDataParallel", "DistributedSampler", "ReduceOp", "Work",
           "all_gather", "all_gather_rows", "all_reduce", "barrier", "broadcast", "cuda_aware",
           "get_rank", "get_world_size", "init", "init_process_group", "is_initialized",
           "launched_by_mpi", "rank", "reduce_scatter", "world_size"]
