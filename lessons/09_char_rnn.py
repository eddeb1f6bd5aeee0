"""09 — Character-level RNN vs LSTM

Teaches: next-character language modelling; how an RNN carries a hidden state through a
sequence; why the LSTM's gated cell trains better than a plain tanh RNN (vanishing and
exploding gradients, gradient clipping); validation loss in nats per character against
simple baselines; sampling text with a temperature.
Seed system: seeds 003/004 (RNN / LSTM on text): Embedding -> RNN or LSTM -> Linear, trained
with Adam and cross-entropy on Python's own documentation (tinydl.data.pydoc_corpus()).

Run: python lessons/09_char_rnn.py [--quick] [--out runs/]
"""
# %% [setup]
import argparse
import math
import time
from pathlib import Path

import numpy as np

import tinydl
import tinydl.functional as F
from tinydl import nn, optim
from tinydl.data import pydoc_corpus, train_val_split_text
from tinydl.nn.utils import clip_grad_norm_
from tinydl.plot import plot_curves
from tinydl.text import CharTokenizer

parser = argparse.ArgumentParser(description="09 — Character-level RNN vs LSTM")
parser.add_argument("--quick", action="store_true", help="a few steps on a small model")
parser.add_argument("--out", default="runs", help="folder for the figures")
args = parser.parse_args()
out_dir = Path(args.out)
out_dir.mkdir(parents=True, exist_ok=True)
tinydl.manual_seed(0)

STEPS = 30 if args.quick else 1500       # optimizer steps per model
BATCH, SEQ_LEN = (16, 32) if args.quick else (32, 64)
EMBED, HIDDEN = (16, 64) if args.quick else (32, 256)
LR, CLIP = 3e-3, 1.0
EVAL_EVERY = 10 if args.quick else 100

# %% [the data: Python's help pages, one character at a time]
text = pydoc_corpus()
if args.quick:
    text = text[:200_000]
train_text, val_text = train_val_split_text(text, val_fraction=0.1)
tokenizer = CharTokenizer.from_text(text)  # every character of the corpus has an id
train_ids = np.asarray(tokenizer.encode(train_text), dtype=np.int64)
val_ids = np.asarray(tokenizer.encode(val_text), dtype=np.int64)
vocab = tokenizer.vocab_size
print(f"corpus: {len(train_ids):,} train / {len(val_ids):,} val characters, {vocab} distinct")

# Baselines, in nats per character (lower is better): guessing uniformly, and a bigram
# table (the next character's frequency given only the current one, add-one smoothed).
counts = np.ones((vocab, vocab))
np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1)
bigram = counts / counts.sum(1, keepdims=True)
bigram_loss = float(-np.mean(np.log(bigram[val_ids[:-1], val_ids[1:]])))
print(f"baselines on val: uniform {math.log(vocab):.3f} nats/char, bigram {bigram_loss:.3f}")

generator = np.random.default_rng(0)  # batch positions (the lesson's own, so both models
                                      # see the same batches)


def batch_from(ids, rng):
    """BATCH random windows: inputs (B, T) and the next characters as targets (B, T)."""
    starts = rng.integers(0, len(ids) - SEQ_LEN - 1, size=BATCH)
    windows = np.stack([ids[s:s + SEQ_LEN + 1] for s in starts])       # (B, T + 1)
    return tinydl.tensor(windows[:, :-1]), tinydl.tensor(windows[:, 1:])


val_batches = [batch_from(val_ids, np.random.default_rng(100 + i)) for i in range(4)]


# %% [the model: Embedding -> recurrent layer -> Linear to next-character logits]
class CharModel(nn.Module):
    """ids (B, T) -> logits (B, T, vocab); ``state`` carries the recurrence between calls."""

    def __init__(self, cell: str):
        super().__init__()
        self.embed = nn.Embedding(vocab, EMBED)
        layer = nn.LSTM if cell == "lstm" else nn.RNN
        self.rnn = layer(EMBED, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, vocab)

    def forward(self, ids, state=None):
        out, state = self.rnn(self.embed(ids), state)                     # (B, T, H)
        return self.head(out), state


def sequence_loss(logits, targets):
    """Mean cross-entropy over every position: logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))


def validation_loss(model):
    model.eval()
    with tinydl.no_grad():
        losses = [float(sequence_loss(model(x)[0], y).item()) for x, y in val_batches]
    model.train()
    return float(np.mean(losses))


# %% [training both, on the same batches]
def train(cell):
    tinydl.manual_seed(0)
    model = CharModel(cell)
    optimizer = optim.Adam(model.parameters(), lr=LR)
    rng = np.random.default_rng(1)
    history = {"train": [], "val": [], "grad_norm": []}
    start = time.perf_counter()
    for step in range(1, STEPS + 1):
        x, y = batch_from(train_ids, rng)
        logits, _ = model(x)
        loss = sequence_loss(logits, y)
        optimizer.zero_grad()
        loss.backward()
        # RNN gradients can explode over long sequences; capping their norm keeps the
        # steps sane (the norm before clipping is recorded to show it).
        history["grad_norm"].append(clip_grad_norm_(model.parameters(), CLIP))
        optimizer.step()
        history["train"].append(float(loss.item()))
        if step % EVAL_EVERY == 0 or step == STEPS:
            history["val"].append(validation_loss(model))
    seconds = time.perf_counter() - start
    print(f"{cell.upper():4s}: {model.num_parameters():,} parameters, {STEPS} steps in "
          f"{seconds:.1f} s; final train loss {np.mean(history['train'][-10:]):.3f}, "
          f"val loss {history['val'][-1]:.3f} nats/char")
    return model, history


models, histories = {}, {}
for cell in ("rnn", "lstm"):
    models[cell], histories[cell] = train(cell)


# %% [curves]
def smooth(values, width=10):
    values = np.asarray(values)
    width = min(width, len(values))
    return np.convolve(values, np.ones(width) / width, mode="valid")


plot_curves({"RNN": smooth(histories["rnn"]["train"]),
             "LSTM": smooth(histories["lstm"]["train"])}, path=out_dir / "char_rnn_train_loss.png",
            xlabel="step", ylabel="train loss (nats/char, smoothed)",
            title="Character-level RNN vs LSTM")
plot_curves({"RNN": histories["rnn"]["val"], "LSTM": histories["lstm"]["val"],
             "bigram baseline": [bigram_loss] * len(histories["rnn"]["val"])},
            path=out_dir / "char_rnn_val_loss.png", xlabel=f"evaluation (every {EVAL_EVERY} steps)",
            ylabel="val loss (nats/char)", title="Validation loss")
plot_curves({"RNN": histories["rnn"]["grad_norm"], "LSTM": histories["lstm"]["grad_norm"]},
            path=out_dir / "char_rnn_grad_norm.png", xlabel="step",
            ylabel="gradient norm before clipping", logy=True)
print(f"saved figures under {out_dir}")


# %% [sampling: feed each new character back in, carrying the hidden state]
def sample(model, prompt, length, temperature):
    model.eval()
    rng = np.random.default_rng(0)
    ids = tokenizer.encode(prompt)
    with tinydl.no_grad():
        logits, state = model(tinydl.tensor([ids]))
        for _ in range(length):
            last = logits.numpy()[0, -1].astype(np.float64) / temperature
            probs = np.exp(last - last.max())
            probs /= probs.sum()
            ids.append(int(rng.choice(vocab, p=probs)))
            logits, state = model(tinydl.tensor([[ids[-1]]]), state)
    return tokenizer.decode(ids)


for cell in ("rnn", "lstm"):
    for temperature in (0.5, 1.0):
        text_out = sample(models[cell], "The ", 120 if args.quick else 300, temperature)
        print(f"--- {cell.upper()} sample, temperature {temperature} ---")
        print(text_out)

best = min(("rnn", "lstm"), key=lambda c: histories[c]["val"][-1])
print(f"lower validation loss: {best.upper()} ({histories[best]['val'][-1]:.3f} vs bigram "
      f"{bigram_loss:.3f} nats/char)")
