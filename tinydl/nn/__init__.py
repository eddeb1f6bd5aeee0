"""Layers and models' building blocks, with PyTorch's names (``tinydl.nn.Linear``, ...)."""
from tinydl.nn import init
from tinydl.nn.activation import (GELU, Dropout, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax,
                                  Tanh)
from tinydl.nn.container import ModuleDict, ModuleList, Sequential
from tinydl.nn.linear import Flatten, Identity, Linear
from tinydl.nn.module import Module, Parameter
from tinydl.nn.conv import Conv2d
from tinydl.nn.normalization import BatchNorm1d, BatchNorm2d
from tinydl.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from tinydl.nn import utils
from tinydl.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
