"""Layers and models' building blocks, with PyTorch's names (``tinydl.nn.Linear``, ...).

``tinydl.nn.functional`` is ``tinydl.functional`` itself (the same module object), so both
``import tinydl.nn.functional as F`` and ``import tinydl.functional as F`` work.
"""
import sys

from tinydl import functional
from tinydl.nn import init
from tinydl.nn.activation import (CELU, ELU, GELU, GLU, SELU, CosineSimilarity, Dropout,
                                  Dropout1d, Dropout2d, Dropout3d,
                                  Hardshrink, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU,
                                  LogSigmoid, LogSoftmax, Mish, PairwiseDistance, PReLU, ReLU,
                                  ReLU6, RReLU, Sigmoid, SiLU, Softmax, Softmin, Softplus,
                                  Softshrink, Softsign, Tanh, Tanhshrink, Threshold)
from tinydl.nn.container import (ModuleDict, ModuleList, ParameterDict, ParameterList,
                                 Sequential)
from tinydl.nn.linear import Bilinear, Flatten, Identity, Linear, Unflatten
from tinydl.nn.module import Module, Parameter
from tinydl.nn.attention import MultiheadAttention
from tinydl.nn.embedding import Embedding, EmbeddingBag
from tinydl.nn.normalization_layer import LayerNorm
from tinydl.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from tinydl.nn.transformer import (LearnedPositionalEmbedding, PositionalEncoding,
                                   Transformer, TransformerDecoder, TransformerDecoderLayer,
                                   TransformerEncoder, TransformerEncoderLayer)
from tinydl.nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d
from tinydl.nn.normalization import (BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d,
                                     InstanceNorm2d, LocalResponseNorm)
from tinydl.nn.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d,
                               AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d,
                               MaxPool2d, MaxPool3d, MaxUnpool2d)
from tinydl.nn.vision import Fold, PixelShuffle, PixelUnshuffle, Unfold, Upsample
from tinydl.nn import utils
from tinydl.nn.loss import (BCELoss, BCEWithLogitsLoss, CosineEmbeddingLoss, CrossEntropyLoss,
                            GaussianNLLLoss, HingeEmbeddingLoss, HuberLoss, KLDivLoss, L1Loss,
                            MarginRankingLoss, MSELoss, MultiLabelSoftMarginLoss,
                            MultiMarginLoss, NLLLoss, PoissonNLLLoss, SmoothL1Loss,
                            SoftMarginLoss, TripletMarginLoss)

sys.modules[__name__ + ".functional"] = functional  # `import tinydl.nn.functional` finds it
