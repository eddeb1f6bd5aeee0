"""11 — A GPT text generator on Python's own documentation

Teaches: a decoder-only Transformer (GPT) as a character-level language model: next-token
cross-entropy, causal self-attention, a count-based bigram model as the baseline to beat on
the same validation text, AdamW with warm-up and cosine decay, gradient clipping, sampling
with temperature / top-k / top-p, and saving a model and loading it into a fresh one.
Seed system: seed 000's TextGenerator (Embedding → Transformer → Linear, Adam, cross-entropy,
then generating text), built as a small GPT.

Run: python lessons/11_gpt_text_generator.py [--quick] [--out runs/]
The full run (600 steps) takes about 2.5 minutes on 2 CPU cores (measured; several times
longer when other programs share the cores); --quick takes seconds.
"""
# %%
import argparse
import math
import time
from pathlib import Path

import numpy as np

import tinydl as td
from tinydl.data import pydoc_corpus, train_val_split_text
from tinydl.models.gpt import GPT, GPTConfig
from tinydl.plot import plot_curves
from tinydl.text import CharTokenizer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--out", default="runs", help="folder for figures and the model")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: "
                        "600, or 30 with --quick)")
    return parser.parse_args()


# %% [markdown]
# ## The baseline: a bigram model
# The simplest language model predicts the next character from the current one only, with
# probabilities counted on the training text (plus a little smoothing so that no pair has
# probability zero). Its cross-entropy on the validation text, in nats per character, is the
# number the GPT has to beat: anything the GPT gains comes from looking further back.

# %%
def bigram_val_loss(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int,
                    smoothing: float = 0.1) -> float:
    """Mean -log p(next | current) on val, with p counted on train (add-`smoothing`)."""
    counts = np.full((vocab_size, vocab_size), smoothing)
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)
    log_probs = np.log(counts / counts.sum(axis=1, keepdims=True))  # row = current char
    return float(-log_probs[val_ids[:-1], val_ids[1:]].mean())


# %% [markdown]
# ## Batches of windows
# A training example is a window of block_size characters; the targets are the same window
# shifted by one, so every position is a prediction: from x[:t+1] guess x[t+1].

# %%
def random_batch(ids: np.ndarray, batch_size: int,
                 block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y), both (batch_size, block_size) int64: random windows and their next characters."""
    starts = td.random.generator().integers(0, len(ids) - block_size - 1, batch_size)
    x = np.stack([ids[s:s + block_size] for s in starts])
    y = np.stack([ids[s + 1:s + block_size + 1] for s in starts])
    return x, y


def val_loss(model: GPT, ids: np.ndarray, block_size: int, max_windows: int | None = None,
             batch_size: int = 64) -> float:
    """Mean cross-entropy over non-overlapping windows of the validation text: all of them, or
    ``max_windows`` spread evenly over it (a quicker estimate during training)."""
    n_windows = (len(ids) - 1) // block_size
    x = ids[:n_windows * block_size].reshape(n_windows, block_size)  # window i = chars i*T..
    y = ids[1:n_windows * block_size + 1].reshape(n_windows, block_size)
    if max_windows is not None and max_windows < n_windows:
        chosen = np.linspace(0, n_windows - 1, max_windows).astype(int)
        x, y, n_windows = x[chosen], y[chosen], max_windows
    model.eval()
    total = 0.0
    with td.no_grad():
        for start in range(0, n_windows, batch_size):
            _, loss = model(x[start:start + batch_size], y[start:start + batch_size])
            total += loss.item() * len(x[start:start + batch_size])
    model.train()
    return total / n_windows


def main() -> None:
    args = parse_args()
    td.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # %% data: the same train/val split for the bigram and the GPT
    text = pydoc_corpus()
    train_text, val_text = train_val_split_text(text, val_fraction=0.1)
    if args.quick:
        train_text, val_text = train_text[:20_000], val_text[:4_000]
    # The vocabulary comes from the whole text: knowing which characters exist tells the
    # model nothing about how often they follow each other.
    tokenizer = CharTokenizer.from_text(text)
    train_ids = np.array(tokenizer.encode(train_text), dtype=np.int64)
    val_ids = np.array(tokenizer.encode(val_text), dtype=np.int64)
    print(f"corpus: {len(text):,} characters, vocabulary {tokenizer.vocab_size}; "
          f"train {len(train_ids):,}, val {len(val_ids):,}")

    bigram = bigram_val_loss(train_ids, val_ids, tokenizer.vocab_size)
    print(f"bigram baseline val loss: {bigram:.4f} nats/char "
          f"(uniform guessing: {math.log(tokenizer.vocab_size):.4f})")

    # %% the model
    if args.quick:
        config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=1, n_head=2,
                           n_embd=32)
        steps, batch_size, eval_every, lr = args.steps or 30, 16, 10, 3e-3
    else:
        config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=4, n_head=4,
                           n_embd=128)
        steps, batch_size, eval_every, lr = args.steps or 600, 32, 100, 3e-3
    model = GPT(config)
    print(f"GPT: {config.n_layer} layers, {config.n_head} heads, {config.n_embd} channels, "
          f"context {config.block_size}; {model.num_parameters():,} parameters")

    # %% training: AdamW, linear warm-up then cosine decay to 10%, clipped gradients
    optimizer = td.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    warmup = max(1, steps // 20)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress))

    schedule = td.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    train_curve, train_at_eval, val_curve = [], [], []
    started, cpu_started = time.perf_counter(), time.process_time()
    for step in range(steps):
        x, y = random_batch(train_ids, batch_size, config.block_size)
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        td.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        train_curve.append(loss.item())
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            train_at_eval.append(float(np.mean(train_curve[-eval_every:])))
            val_curve.append(val_loss(model, val_ids, config.block_size, max_windows=128))
            print(f"step {step + 1:4d}  train {train_at_eval[-1]:.4f}  "
                  f"val {val_curve[-1]:.4f}  ({time.perf_counter() - started:.0f} s)")
    minutes = (time.perf_counter() - started) / 60
    # CPU time of all threads; below the wall time when other programs share the cores
    cpu_minutes = (time.process_time() - cpu_started) / 60

    # %% the verdict on the whole validation text
    final = val_loss(model, val_ids, config.block_size)
    print(f"trained {steps} steps in {minutes:.1f} min ({cpu_minutes:.1f} min of CPU time)")
    print(f"GPT val loss: {final:.4f} nats/char; bigram: {bigram:.4f}; "
          f"GPT is {bigram - final:.4f} nats/char below the bigram")

    # %% samples: lower temperature = safer, more repetitive; 1.0 = the model's own odds
    prompt = np.array([tokenizer.encode("The ")])
    length = 60 if args.quick else 300
    for temperature in (0.5, 1.0):
        td.manual_seed(1)
        ids = model.generate(prompt, length, temperature=temperature, top_k=None)
        print(f"--- sample at temperature {temperature} ---")
        print(tokenizer.decode(ids.numpy()[0]))
    td.manual_seed(1)
    nucleus = model.generate(prompt, length, temperature=1.0, top_p=0.9)
    print("--- sample at temperature 1.0, top_p 0.9 ---")
    print(tokenizer.decode(nucleus.numpy()[0]))

    # %% save (config, vocabulary, weights in one .npz) and load into a fresh model
    checkpoint = out / "11_gpt_pydoc.npz"
    td.io.save({"config": config.to_dict(), "tokenizer": tokenizer.to_dict(),
                "model": model.state_dict()}, checkpoint)
    saved = td.io.load(checkpoint)
    fresh = GPT(GPTConfig.from_dict(saved["config"]))
    fresh.load_state_dict(saved["model"])
    fresh_tokenizer = CharTokenizer.from_dict(saved["tokenizer"])
    original = model.generate(prompt, 40, greedy=True).numpy()
    reloaded = fresh.generate(np.array([fresh_tokenizer.encode("The ")]), 40, greedy=True).numpy()
    print(f"saved to {checkpoint.name}; the reloaded model continues identically: "
          f"{bool(np.array_equal(original, reloaded))}")
    print("reloaded, greedy:", repr(fresh_tokenizer.decode(reloaded[0])))

    # %% the loss curves
    plot_curves({"train (mean since the last evaluation)": train_at_eval, "val": val_curve,
                 "bigram val": [bigram] * len(val_curve)}, out / "11_gpt_loss.png",
                xlabel=f"evaluation (every {eval_every} steps)", ylabel="nats per character",
                title="GPT on the pydoc corpus")
    print(f"figure: {out / '11_gpt_loss.png'}")


if __name__ == "__main__":
    main()
