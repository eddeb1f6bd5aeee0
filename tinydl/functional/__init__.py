"""Composite functions, the names a user imports as ``F`` (``import tinydl.functional as F``).

Every function here is a composition of the primitives in ``tinydl.ops`` (Function subclasses),
so its gradient comes for free. One module per kind, as in ``tinydl.nn``:

    activation     elu, selu, silu, mish, hardswish, prelu, glu, ... and normalize,
                   cosine_similarity, pairwise_distance (relu, sigmoid, tanh, gelu, softmax,
                   ... are primitives)
    conv           conv1d/2d/3d, conv_transpose1d/2d, unfold, fold, pad (all modes)
    pooling        max/avg pools in 1-d, 2-d, 3-d, adaptive pools, max_unpool2d
    normalization  layer_norm, batch_norm, group_norm, instance_norm, local_response_norm
    vision         interpolate, pixel_shuffle, pixel_unshuffle
    dropout        dropout, dropout1d/2d/3d
    embedding      embedding, embedding_bag, one_hot
    linear         bilinear (linear is a primitive)
    recurrent      lstm_sequence, gru_sequence, rnn_sequence (the RNN layers' recurrences)
    attention      scaled_dot_product_attention
    loss           mse_loss, cross_entropy, nll_loss, binary_cross_entropy(_with_logits),
                   l1, smooth_l1, huber, kl_div, poisson/gaussian nll and the margin losses

Everything public is re-exported here, so ``F.cross_entropy`` or ``F.conv2d`` works as in
PyTorch; ``tinydl.nn.functional`` is this same module.
"""
from __future__ import annotations

from tinydl.functional.activation import (celu, cosine_similarity, elu, glu, hardshrink,
                                         hardsigmoid, hardswish, hardtanh, leaky_relu,
                                         logsigmoid, mish, normalize, pairwise_distance, prelu,
                                         relu6, rrelu, selu, silu, softmin, softplus,
                                         softshrink, softsign, tanhshrink, threshold)
from tinydl.functional.attention import scaled_dot_product_attention
from tinydl.functional.conv import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,
                                   fold, pad, unfold)
from tinydl.functional.dropout import dropout, dropout1d, dropout2d, dropout3d
from tinydl.functional.embedding import embedding, embedding_bag, one_hot
from tinydl.functional.linear import bilinear
from tinydl.functional.loss import (binary_cross_entropy, binary_cross_entropy_with_logits,
                                   cosine_embedding_loss, cross_entropy, gaussian_nll_loss,
                                   hinge_embedding_loss, huber_loss, kl_div, l1_loss,
                                   margin_ranking_loss, mse_loss, multi_margin_loss,
                                   multilabel_soft_margin_loss, nll_loss, poisson_nll_loss,
                                   smooth_l1_loss, soft_margin_loss, triplet_margin_loss)
from tinydl.functional.normalization import (batch_norm, group_norm, instance_norm, layer_norm,
                                            local_response_norm)
from tinydl.functional.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d,
                                      adaptive_max_pool1d, adaptive_max_pool2d, avg_pool1d,
                                      avg_pool2d, avg_pool3d, max_pool1d, max_pool2d, max_pool3d,
                                      max_unpool2d)
from tinydl.functional.vision import interpolate, pixel_shuffle, pixel_unshuffle, upsample
from tinydl.functional.recurrent import gru_sequence, lstm_sequence, rnn_sequence
from tinydl.ops.nn import gelu, linear, log_softmax, relu, sigmoid, softmax, tanh
from tinydl.ops.reduce import logsumexp

__all__ = [
    # primitives of tinydl.ops, re-exported
    "linear", "relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "logsumexp",
    # compositions
    "leaky_relu", "silu", "softplus", "elu", "selu", "celu", "mish", "relu6", "hardswish",
    "hardsigmoid", "hardtanh", "prelu", "rrelu", "logsigmoid", "softsign", "softmin", "glu",
    "tanhshrink", "threshold", "hardshrink", "softshrink", "normalize", "cosine_similarity",
    "pairwise_distance", "bilinear",
    "conv1d", "conv2d", "conv3d", "conv_transpose1d",
    "conv_transpose2d", "unfold", "fold", "pad", "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d",
    "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
    "adaptive_max_pool2d", "max_unpool2d",
    "layer_norm", "batch_norm", "group_norm", "instance_norm", "local_response_norm", "dropout",
    "dropout1d", "dropout2d", "dropout3d", "interpolate", "upsample", "pixel_shuffle",
    "pixel_unshuffle", "embedding", "embedding_bag", "one_hot",
    "lstm_sequence", "gru_sequence", "rnn_sequence", "scaled_dot_product_attention",
    "mse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div",
    "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss", "margin_ranking_loss",
    "triplet_margin_loss", "hinge_embedding_loss", "multilabel_soft_margin_loss",
    "soft_margin_loss", "multi_margin_loss",
]
