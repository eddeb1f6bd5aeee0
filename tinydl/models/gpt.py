"""GPT: a decoder-only Transformer language model in GPT-2's layout.

    idx (B, T) ──wte + wpe──> x (B, T, C) ──n_layer × Block──> ln_f ──lm_head──> logits (B, T, V)

    Block:  x = x + attn(ln_1(x))     causal self-attention (each position sees only the past)
            x = x + mlp(ln_2(x))      Linear C→4C, GELU, Linear 4C→C

The layer names follow GPT-2's (``wte``, ``h.0.attn.c_attn``, ``h.0.mlp.c_fc``, ``ln_f``), so
Hugging Face GPT-2 weights load by name (``from_gpt2_safetensors``); only GPT-2's ``Conv1D``
layers store their weight as (in, out) where ``Linear`` stores (out, in), so those are
transposed on the way in. With ``tie_weights`` the output layer reuses the token embedding
matrix: logits = x @ wte.weight^T.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from tinydl import backend, nn
from tinydl import functional as F
from tinydl.autograd import no_grad
from tinydl.errors import ShapeError
from tinydl.io import load_safetensors
from tinydl.models.common import linear_rows
from tinydl.ops.attention import split_heads
from tinydl.random import generator
from tinydl.tensor import Tensor

ACTIVATIONS = {"gelu": "none", "gelu_tanh": "tanh"}  # our name -> F.gelu's approximate=

# Hugging Face's names for GPT-2's activation -> ours ("gelu_new" is the tanh formula).
_HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                   "gelu_fast": "gelu_tanh", "gelu": "gelu"}

# GPT-2 parameters stored by Conv1D as (in, out); Linear wants (out, in).
_CONV1D_SUFFIXES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                    "mlp.c_proj.weight")


@dataclass
class GPTConfig:
    """Sizes and switches of a GPT.

    vocab_size: number of token ids V. block_size: the longest context T the model sees
    (the number of learned positions). n_layer blocks, each with n_head attention heads over
    n_embd channels (n_embd must divide by n_head). dropout: on embeddings, attention weights
    and residual branches. bias: biases in Linear and LayerNorm layers. activation: 'gelu'
    (exact, erf) or 'gelu_tanh' (GPT-2's tanh approximation). tie_weights: the output layer
    shares the token embedding matrix.
    """

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    activation: str = "gelu_tanh"
    layer_norm_eps: float = 1e-5
    tie_weights: bool = True

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"GPTConfig: {name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd={self.n_embd} does not divide into "
                             f"n_head={self.n_head} heads; pick n_embd a multiple of n_head")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"GPTConfig: activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {self.activation!r}")

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-safe), e.g. to save beside the weights."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> GPTConfig:
        """Build from a dict of this class's field names (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"GPTConfig.from_dict: unknown fields {unknown}; "
                             f"known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_hf_gpt2(cls, hf: dict) -> GPTConfig:
        """Translate a Hugging Face GPT-2 ``config.json`` dict (n_positions, n_layer, ...)."""
        activation = hf.get("activation_function", "gelu_new")
        if activation not in _HF_ACTIVATIONS:
            raise ValueError(f"GPTConfig.from_hf_gpt2: activation_function {activation!r} is not "
                             f"supported; tinydl's GPT knows {sorted(_HF_ACTIVATIONS)}")
        n_embd = hf.get("n_embd", 768)
        if hf.get("n_inner") not in (None, 4 * n_embd):
            raise ValueError(f"GPTConfig.from_hf_gpt2: n_inner={hf['n_inner']} but tinydl's GPT "
                             f"uses an MLP width of 4 * n_embd = {4 * n_embd}")
        return cls(vocab_size=hf.get("vocab_size", 50257),
                   block_size=hf.get("n_positions", hf.get("n_ctx", 1024)),
                   n_layer=hf.get("n_layer", 12), n_head=hf.get("n_head", 12), n_embd=n_embd,
                   dropout=0.0, bias=True, activation=_HF_ACTIVATIONS[activation],
                   layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
                   tie_weights=hf.get("tie_word_embeddings", True))


def _layer_norm(config: GPTConfig) -> nn.LayerNorm:
    """LayerNorm over n_embd channels, with a bias only when config.bias."""
    return nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t attends to positions 0..t only.

    One Linear ``c_attn`` makes queries, keys and values together (C -> 3C); ``c_proj`` mixes
    the heads' outputs (C -> C). Shapes: x (B, T, C) -> (B, T, C).
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        batch, steps, channels = x.shape
        qkv = linear_rows(self.c_attn, x)  # (B, T, 3C): [q | k | v], each head a D-slice
        # (B, T, 3C) -> three contiguous (B, H, T, D), so each head attends on its own slice
        # (NumPy multiplies stacks of matrices far faster when each matrix is contiguous).
        q, k, v = split_heads(qkv, self.n_head)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.swapaxes(1, 2).reshape(batch, steps, channels)  # heads side by side again
        return self.resid_dropout(linear_rows(self.c_proj, y))

    def extra_repr(self) -> str:
        return f"n_head={self.n_head}, n_embd={self.n_embd}"


class MLP(nn.Module):
    """Position-wise feed-forward: Linear C→4C, GELU, Linear 4C→C, Dropout. (B, T, C) -> same."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.act = nn.GELU(approximate=ACTIVATIONS[config.activation])
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(linear_rows(self.c_proj, self.act(linear_rows(self.c_fc, x))))


class Block(nn.Module):
    """One pre-norm Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = _layer_norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = _layer_norm(config)
        self.mlp = MLP(config)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """A GPT language model (see the module docstring for the picture).

    ``model(idx)`` gives next-token logits for every position; ``model(idx, targets)`` also
    gives the mean cross-entropy against ``targets``; ``model.generate(idx, n)`` continues a
    prompt by sampling. ``model.num_parameters()`` counts the tied embedding once.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT: expected a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embeddings
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # learned positions
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = _layer_norm(config)
        if not config.tie_weights:
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2's initialisation: N(0, 0.02) weights, zero biases, and the residual
        projections scaled down by sqrt(2 * n_layer) so the residual stream does not grow
        with depth."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, param in self.named_parameters():
            if name.endswith(".bias"):
                nn.init.zeros_(param)
            elif ".ln_" in name or name.startswith("ln_"):
                nn.init.ones_(param)
            elif name.endswith("c_proj.weight"):
                nn.init.normal_(param, 0.0, residual_std)
            else:
                nn.init.normal_(param, 0.0, 0.02)

    # ---- forward ------------------------------------------------------------------------------
    def _check_idx(self, idx: Any, op: str, any_length: bool = False) -> Tensor:
        """idx as an int Tensor (B, T) of valid ids, or one clear error."""
        idx = idx if isinstance(idx, Tensor) else Tensor(np.asarray(idx))
        if idx.dtype.kind not in "iu":
            raise TypeError(f"GPT.{op}: idx must hold integer token ids, got dtype {idx.dtype}")
        if idx.ndim != 2:
            raise ShapeError(f"GPT.{op}: idx must have shape (batch, time), got {idx.shape}; "
                             "add a batch axis with idx[None] for a single sequence")
        if idx.shape[1] > self.config.block_size and not any_length:
            raise ShapeError(f"GPT.{op}: a sequence of {idx.shape[1]} tokens is longer than "
                             f"block_size={self.config.block_size}; crop it to the last "
                             f"{self.config.block_size} tokens")
        if idx.size and (int(idx.data.min()) < 0 or int(idx.data.max()) >= self.config.vocab_size):
            raise ValueError(f"GPT.{op}: token ids must lie in [0, {self.config.vocab_size}), got "
                             f"values from {int(idx.data.min())} to {int(idx.data.max())}")
        return idx

    def hidden_states(self, idx: Any) -> Tensor:
        """The final (normalised) hidden states. Shapes: idx (B, T) int -> (B, T, n_embd)."""
        idx = self._check_idx(idx, "forward")
        steps = idx.shape[1]
        positions = Tensor(idx.xp.arange(steps, dtype=idx.dtype))  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(positions))  # (B, T, C) + (T, C)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)

    def output_logits(self, hidden: Tensor) -> Tensor:
        """Hidden states (..., n_embd) -> logits (..., vocab_size)."""
        if self.config.tie_weights:
            return linear_rows(lambda rows: F.linear(rows, self.wte.weight), hidden)
        return linear_rows(self.lm_head, hidden)

    def forward(self, idx: Any, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        """Shapes: idx (B, T) int, targets (B, T) int or None -> (logits (B, T, V), loss).

        loss is the mean cross-entropy of predicting targets[b, t] from idx[b, :t+1]
        (None without targets).
        """
        logits = self.output_logits(self.hidden_states(idx))
        if targets is None:
            return logits, None
        targets = targets if isinstance(targets, Tensor) else Tensor(np.asarray(targets))
        if tuple(targets.shape) != tuple(logits.shape[:2]):
            raise ShapeError(f"GPT.forward: targets of shape {targets.shape} do not match idx "
                             f"of shape {logits.shape[:2]}; pass one target id per input token")
        batch, steps, vocab = logits.shape
        loss = F.cross_entropy(logits.reshape(batch * steps, vocab),  # (B*T, V)
                               targets.reshape(batch * steps))
        return logits, loss

    # ---- generation ---------------------------------------------------------------------------
    def generate(self, idx: Any, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 greedy: bool = False) -> Tensor:
        """Continue each sequence by ``max_new_tokens`` tokens. (B, T) -> (B, T + max_new_tokens).

        Each step feeds the last block_size tokens, takes the logits of the last position,
        divides them by ``temperature`` (lower = safer, higher = wilder), keeps the ``top_k``
        most likely tokens and/or the smallest set whose probability reaches ``top_p``, and
        samples from tinydl's generator (``greedy=True`` takes the most likely token instead).
        Runs in eval mode (no dropout) and without recording gradients.
        """
        idx = self._check_idx(idx, "generate", any_length=True)
        if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 0:
            raise ValueError("GPT.generate: max_new_tokens must be an int >= 0, "
                             f"got {max_new_tokens!r}")
        if not greedy and not temperature > 0:
            raise ValueError(f"GPT.generate: temperature must be > 0, got {temperature} "
                             "(use greedy=True for the most likely token)")
        if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 1):
            raise ValueError(f"GPT.generate: top_k must be a positive int or None, got {top_k!r}")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise ValueError(f"GPT.generate: top_p must be in (0, 1], got {top_p}")
        if idx.shape[1] == 0:
            raise ShapeError("GPT.generate: the prompt is empty; give at least one token per row")

        tokens = backend.to_numpy(idx.data).astype(np.int64)  # (B, T) grows on the host
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for _ in range(max_new_tokens):
                    context = tokens[:, -self.config.block_size:]  # crop to the last block
                    context = Tensor(backend.to_device(context, idx.device))
                    hidden = self.hidden_states(context)[:, -1, :]  # (B, C): last position only
                    logits = backend.to_numpy(self.output_logits(hidden).data).astype(np.float64)
                    next_ids = sample_next_token(logits, temperature, top_k, top_p, greedy)
                    tokens = np.concatenate([tokens, next_ids[:, None]], axis=1)
        finally:
            self.train(was_training)
        return Tensor(backend.to_device(tokens, idx.device))

    # ---- pretrained weights -------------------------------------------------------------------
    @classmethod
    def from_gpt2_safetensors(cls, path_or_dir: str | os.PathLike,
                              config: GPTConfig | None = None) -> GPT:
        """A GPT holding Hugging Face GPT-2 weights (see ``from_gpt2_safetensors``)."""
        return from_gpt2_safetensors(path_or_dir, config)


def sample_next_token(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, greedy: bool = False) -> np.ndarray:
    """One token id per row from logits (B, V) -> (B,) int64, drawn with tinydl's generator.

    greedy: argmax. Otherwise softmax(logits / temperature) restricted to the top_k largest
    and to the smallest most-likely set whose total probability reaches top_p (nucleus
    sampling), renormalised.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if greedy:
        return logits.argmax(axis=-1).astype(np.int64)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth_largest = np.sort(logits, axis=-1)[:, -top_k][:, None]  # (B, 1)
        logits = np.where(logits < kth_largest, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1)  # most likely first
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        mass_before = np.cumsum(sorted_probs, axis=-1) - sorted_probs
        keep_sorted = mass_before < top_p  # the first token is always kept
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=-1, keepdims=True)
    draws = generator().random(probs.shape[0])  # one uniform number per row
    cumulative = np.cumsum(probs, axis=-1)
    choice = (cumulative < draws[:, None] * cumulative[:, -1:]).sum(axis=-1)
    return np.minimum(choice, probs.shape[-1] - 1).astype(np.int64)


def gpt2_state_dict(tensors: dict[str, np.ndarray], config: GPTConfig) -> dict[str, np.ndarray]:
    """Rename and reshape Hugging Face GPT-2 tensors into tinydl GPT names.

    'transformer.' prefixes are dropped, Conv1D weights (in, out) are transposed to Linear's
    (out, in), the causal-mask buffers 'h.N.attn.bias'/'masked_bias' are skipped, and
    'lm_head.weight' is dropped when the embeddings are tied (it is the same matrix).
    """
    state: dict[str, np.ndarray] = {}
    for name, array in tensors.items():
        short = name[len("transformer."):] if name.startswith("transformer.") else name
        parts = short.split(".")
        if len(parts) == 4 and parts[0] == "h" and parts[2] == "attn" and parts[3] in (
                "bias", "masked_bias"):
            continue  # GPT-2's stored causal mask, not a parameter
        if short == "lm_head.weight" and config.tie_weights:
            continue
        if short.endswith(_CONV1D_SUFFIXES):
            if array.ndim != 2:
                raise ShapeError(f"from_gpt2_safetensors: {name} should be a matrix, got shape "
                                 f"{array.shape}")
            array = array.T  # Conv1D (in, out) -> Linear (out, in)
        state[short] = np.ascontiguousarray(array)
    return state


def from_gpt2_safetensors(path_or_dir: str | os.PathLike, config: GPTConfig | None = None) -> GPT:
    """Load Hugging Face GPT-2 weights (``model.safetensors``) into a tinydl GPT.

    path_or_dir: the .safetensors file or a folder holding ``model.safetensors`` (and usually
    ``config.json``, which gives the sizes). config: overrides config.json; needed when there
    is none. Returns the GPT in eval mode.
    """
    path = os.fspath(path_or_dir)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    file = os.path.join(path, "model.safetensors") if os.path.isdir(path) else path
    if not os.path.isfile(file):
        found = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        hint = (" (this folder has pytorch_model.bin; tinydl never unpickles, so convert it to "
                "safetensors first)" if "pytorch_model.bin" in found else "")
        raise FileNotFoundError(f"from_gpt2_safetensors: no safetensors file at {file!r}{hint}; "
                                "pass a model.safetensors file or the folder holding it")
    if config is None:
        config_path = os.path.join(folder, "config.json")
        if not os.path.isfile(config_path):
            raise FileNotFoundError(f"from_gpt2_safetensors: no config.json beside {file!r}; "
                                    "pass config=GPTConfig(...) with the model's sizes")
        with open(config_path, encoding="utf-8") as handle:
            config = GPTConfig.from_hf_gpt2(json.load(handle))
    state = gpt2_state_dict(load_safetensors(file), config)
    model = GPT(config)
    model.load_state_dict(state)
    return model.eval()
