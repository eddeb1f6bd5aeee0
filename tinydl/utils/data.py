"""``tinydl.utils.data``: the names of ``tinydl.data`` under PyTorch's ``torch.utils.data`` path."""
from tinydl.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                         IterableDataset, RandomSampler, Sampler, SequentialSampler, Subset,
                         SubsetRandomSampler, TensorDataset, WeightedRandomSampler, WorkerInfo,
                         default_collate, default_convert, get_worker_info, random_split)

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
           "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
           "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "WorkerInfo",
           "default_collate", "default_convert", "get_worker_info", "random_split"]
