"""Data: file readers and data sets (NumPy arrays in, NumPy arrays out)."""

from tinydl.data.cifar import CIFAR10_CLASSES, cifar10
from tinydl.data.idx import read_idx, write_idx
from tinydl.data.mnist_datasets import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_SHA256,
    FASHION_MNIST_URL,
    DatasetNotFoundError,
    fashion_mnist,
    mnist,
)
from tinydl.data.shapes import SHAPES_CLASSES, make_shapes
from tinydl.data.text import fortunes, pydoc_corpus, text_file, train_val_split_text
from tinydl.data.toy import (LabeledArrays, digits, iris, make_moons, make_regression,
                             make_spirals, train_test_split)
from tinydl.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                                 TensorDataset, random_split)
from tinydl.data.loader import DataLoader, default_collate, default_convert
from tinydl.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                                 SubsetRandomSampler, WeightedRandomSampler)
from tinydl.data.worker import WorkerInfo, get_worker_info
from tinydl.data import transforms
