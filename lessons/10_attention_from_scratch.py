"""10 — Attention from scratch

Teaches: scaled dot-product self-attention, padding and causal masks, multi-head attention,
the position-wise feed-forward network and the residual + LayerNorm encoder layer, each
computed step by step with tinydl and checked against the formula written in plain NumPy;
an attention-map plot of one head.
Seed system: seed 000 §4.1–4.3 (Transformer: self-attention, multi-head attention, FFN).

Run: python lessons/10_attention_from_scratch.py [--quick] [--out runs/]
"""
# %% [setup]
import argparse
from pathlib import Path

import numpy as np

import tinydl
import tinydl.functional as F
from tinydl import nn
from tinydl.plot import plot_attention
from tinydl.testing import gradcheck

parser = argparse.ArgumentParser(description="10 — Attention from scratch")
parser.add_argument("--quick", action="store_true", help="a smaller model (seconds)")
parser.add_argument("--out", default="runs", help="folder for the figures")
args = parser.parse_args()
out_dir = Path(args.out)
out_dir.mkdir(parents=True, exist_ok=True)
tinydl.manual_seed(0)
rng = np.random.default_rng(0)

D_MODEL = 16 if args.quick else 64     # width of every token vector
HEADS = 4
D_FF = 4 * D_MODEL                      # the FFN's hidden width (the paper uses 4x)


def report(what, ours, reference):
    """Print the largest difference between tinydl's result and the NumPy formula."""
    diff = float(np.max(np.abs(np.asarray(ours) - np.asarray(reference))))
    print(f"{what:<48s} max |tinydl - numpy| = {diff:.1e}")
    return diff


# %% [1. tokens become vectors]
# A sentence, split into words; each word id picks a row of an embedding table, and the
# sinusoidal positional encoding adds "where am I" to every vector (attention itself is
# blind to order).
words = "the cat sat on the mat because it was warm".split()
vocab = sorted(set(words))
ids = tinydl.tensor([[vocab.index(w) for w in words]])              # (B=1, T)
embed = nn.Embedding(len(vocab), D_MODEL)
position = nn.PositionalEncoding(D_MODEL)
x = position(embed(ids))                                              # (1, T, D)
T = len(words)
print(f"{T} tokens, vocabulary {len(vocab)}, vectors of {D_MODEL} numbers: x {x.shape}")

# %% [2. self-attention, one head]
# Every token asks a question (query), advertises what it holds (key) and offers content
# (value), all linear maps of the same x. The weights say how much token i takes from j:
#     A = softmax(Q K^T / sqrt(d)),   out = A V
w_q, w_k, w_v = (tinydl.randn(D_MODEL, D_MODEL) * D_MODEL ** -0.5 for _ in range(3))
q, k, v = x @ w_q, x @ w_k, x @ w_v                                   # (1, T, D) each
scores = q @ k.swapaxes(-1, -2) / D_MODEL ** 0.5                      # (1, T, T)
weights = F.softmax(scores, axis=-1)
attended = weights @ v                                                # (1, T, D)

X, WQ, WK, WV = (t.numpy().astype(np.float64) for t in (x, w_q, w_k, w_v))
Q, K, V = X @ WQ, X @ WK, X @ WV
S = Q @ K.transpose(0, 2, 1) / np.sqrt(D_MODEL)
A = np.exp(S - S.max(-1, keepdims=True))
A /= A.sum(-1, keepdims=True)
report("self-attention weights A", weights.numpy(), A)
report("self-attention output A V", attended.numpy(), A @ V)
report("F.scaled_dot_product_attention", F.scaled_dot_product_attention(q, k, v).numpy(), A @ V)
print(f"each row of A sums to 1: row sums from {weights.numpy().sum(-1).min():.6f} "
      f"to {weights.numpy().sum(-1).max():.6f}")

# %% [3. masks]
# Padding: a batch pads short sentences; padded keys must get zero weight. Causal: a
# language model may not look ahead, so query i sees keys 0..i only. Blocked scores are
# set to -inf before the softmax (tinydl uses a huge negative number, so a row with no
# visible key gives zeros, not NaN).
keep = np.ones((1, T, T), bool)
keep[..., T - 3:] = False                                              # the last 3 are padding
padded = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
S_pad = np.where(keep, S, -np.inf)
A_pad = np.exp(S_pad - S_pad.max(-1, keepdims=True))
A_pad /= A_pad.sum(-1, keepdims=True)
report("padding mask (last 3 keys hidden)", padded.numpy(), A_pad @ V)

causal_out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
S_causal = np.where(np.tril(np.ones((T, T), bool)), S, -np.inf)
A_causal = np.exp(S_causal - S_causal.max(-1, keepdims=True))
A_causal /= A_causal.sum(-1, keepdims=True)
report("causal mask", causal_out.numpy(), A_causal @ V)
print("causal weights, first 4 queries x 4 keys (zeros above the diagonal):")
print(np.array2string(A_causal[0, :4, :4], precision=2, suppress_small=True))

# %% [4. multi-head attention]
# Split D into HEADS slices of D/HEADS: each head attends on its own, with its own pattern;
# the heads' outputs are joined again and mixed by an output projection W_o.
mha = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
library_out, library_weights = mha(x, x, x, average_attn_weights=False)

W_in = mha.in_proj_weight.numpy().astype(np.float64)                  # (3D, D): [Wq; Wk; Wv]
b_in = mha.in_proj_bias.numpy().astype(np.float64)
W_o = mha.out_proj.weight.numpy().astype(np.float64)
b_o = mha.out_proj.bias.numpy().astype(np.float64)
head_dim = D_MODEL // HEADS
QKV = X @ W_in.T + b_in                                                # (1, T, 3D)
Qh, Kh, Vh = (m.reshape(1, T, HEADS, head_dim).transpose(0, 2, 1, 3)   # (1, H, T, D/H)
              for m in np.split(QKV, 3, axis=-1))
Sh = Qh @ Kh.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
Ah = np.exp(Sh - Sh.max(-1, keepdims=True))
Ah /= Ah.sum(-1, keepdims=True)
heads_joined = (Ah @ Vh).transpose(0, 2, 1, 3).reshape(1, T, D_MODEL)  # (1, T, D)
report("multi-head attention weights (per head)", library_weights.numpy(), Ah)
report("nn.MultiheadAttention output", library_out.numpy(), heads_joined @ W_o.T + b_o)

# %% [5. the position-wise feed-forward network]
# FFN(x) = W2 relu(W1 x + b1) + b2, the same small MLP applied to every position alone.
ffn = nn.Sequential(nn.Linear(D_MODEL, D_FF), nn.ReLU(), nn.Linear(D_FF, D_MODEL))
whole = ffn(x).numpy()
one_by_one = np.stack([ffn(x[:, t]).numpy() for t in range(T)], axis=1)
report("FFN on the sequence vs position by position", whole, one_by_one)
W1, b1 = ffn[0].weight.numpy().astype(np.float64), ffn[0].bias.numpy().astype(np.float64)
W2, b2 = ffn[2].weight.numpy().astype(np.float64), ffn[2].bias.numpy().astype(np.float64)
report("FFN formula", whole, np.maximum(X @ W1.T + b1, 0) @ W2.T + b2)

# %% [6. the encoder layer: residuals and LayerNorm]
# Post-norm (the paper): x = LN(x + MHA(x)); x = LN(x + FFN(x)).
layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, D_FF, dropout=0.0, batch_first=True)
layer_out = layer(x).numpy()


def layer_norm(a, weight, bias, eps=1e-5):
    mean, var = a.mean(-1, keepdims=True), a.var(-1, keepdims=True)
    return (a - mean) / np.sqrt(var + eps) * weight + bias


def params(module):
    return {name: p.numpy().astype(np.float64) for name, p in module.named_parameters()}


p = params(layer)
QKV = X @ p["self_attn.in_proj_weight"].T + p["self_attn.in_proj_bias"]
Qh, Kh, Vh = (m.reshape(1, T, HEADS, head_dim).transpose(0, 2, 1, 3)
              for m in np.split(QKV, 3, axis=-1))
Sh = Qh @ Kh.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
Ah = np.exp(Sh - Sh.max(-1, keepdims=True))
Ah /= Ah.sum(-1, keepdims=True)
attn = (Ah @ Vh).transpose(0, 2, 1, 3).reshape(1, T, D_MODEL)
attn = attn @ p["self_attn.out_proj.weight"].T + p["self_attn.out_proj.bias"]
h1 = layer_norm(X + attn, p["norm1.weight"], p["norm1.bias"])
ff = np.maximum(h1 @ p["linear1.weight"].T + p["linear1.bias"], 0)
ff = ff @ p["linear2.weight"].T + p["linear2.bias"]
report("TransformerEncoderLayer (post-norm)", layer_out, layer_norm(h1 + ff, p["norm2.weight"],
                                                                    p["norm2.bias"]))
print(f"after LayerNorm every token vector has mean ~0 and std ~1: mean "
      f"{layer_out.mean(-1).max():.1e}, std {layer_out.std(-1).mean():.3f}")

# %% [7. gradients flow through all of it]
# Autograd differentiates attention like any other composition of ops; gradcheck compares
# its gradients with finite differences (float64, a tiny instance).
small_q = tinydl.randn(1, 3, 4, dtype=tinydl.float64, requires_grad=True)
small_kv = tinydl.randn(1, 3, 4, dtype=tinydl.float64, requires_grad=True)
ok = gradcheck(lambda a, b: F.scaled_dot_product_attention(a, b, b, is_causal=True),
               [small_q, small_kv])
print(f"gradcheck of causal attention: {'passed' if ok else 'FAILED'}")

# %% [8. look at one head]
head = 0
figure_path = out_dir / "attention_map.png"
plot_attention(library_weights.numpy()[0, head], words, path=figure_path,
               title=f"MultiheadAttention head {head} (random weights)")
causal_path = out_dir / "attention_map_causal.png"
plot_attention(A_causal[0], words, path=causal_path, title="causal self-attention")
print(f"saved {figure_path} and {causal_path}")
