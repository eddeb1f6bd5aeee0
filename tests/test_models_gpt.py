"""GPT: shapes, causality, loss, generation, saving, errors, and Hugging Face GPT-2 weights
(logits of a randomly initialised GPT2LMHeadModel reproduced to 1e-4; skipped without
torch + transformers)."""
import json
import os

import numpy as np
import pytest

import tinydl
from tinydl.errors import ShapeError
from tinydl.models.gpt import GPT, GPTConfig, from_gpt2_safetensors, sample_next_token

TINY = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)


@pytest.fixture
def tiny_gpt():
    tinydl.manual_seed(0)
    return GPT(GPTConfig(**TINY)).eval()


def test_forward_shapes_and_loss_is_cross_entropy_of_logits(tiny_gpt):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 11, size=(3, 5))
    targets = rng.integers(0, 11, size=(3, 5))
    logits, loss = tiny_gpt(idx, targets)
    assert logits.shape == (3, 5, 11) and logits.dtype == np.float32
    # independent cross-entropy: -mean log softmax(logits)[target], in float64
    z = logits.numpy().astype(np.float64).reshape(15, 11)
    log_probs = z - z.max(1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(1, keepdims=True))
    expected = -log_probs[np.arange(15), targets.reshape(15)].mean()
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert tiny_gpt(idx)[1] is None


def test_fresh_model_predicts_near_uniform(tiny_gpt):
    # N(0, 0.02) weights: the first loss is close to log(V), the closed form for uniform guesses
    rng = np.random.default_rng(2)
    idx, targets = rng.integers(0, 11, size=(2, 16, 8))
    _, loss = tiny_gpt(idx, targets)
    assert abs(loss.item() - np.log(11)) < 0.05


def test_logits_are_causal(tiny_gpt):
    idx = np.array([[1, 2, 3, 4, 5, 6]])
    changed = idx.copy()
    changed[0, 4] = 9  # change a later token
    a, b = tiny_gpt(idx)[0].numpy(), tiny_gpt(changed)[0].numpy()
    np.testing.assert_array_equal(a[0, :4], b[0, :4])
    assert np.abs(a[0, 4:] - b[0, 4:]).max() > 1e-4


def test_num_parameters_closed_form_with_tied_embedding():
    cfg = GPTConfig(**TINY)
    v, t, c, n_layer = 11, 8, 16, 2
    layer_norms = 2 * 2 * c
    attention = (3 * c * c + 3 * c) + (c * c + c)  # c_attn, c_proj
    mlp = (4 * c * c + 4 * c) + (4 * c * c + c)  # c_fc, c_proj
    per_block = layer_norms + attention + mlp
    expected = v * c + t * c + n_layer * per_block + 2 * c
    assert GPT(cfg).num_parameters() == expected
    untied = GPT(GPTConfig(**TINY, tie_weights=False))
    assert untied.num_parameters() == expected + v * c


def test_tied_embedding_gets_gradient_from_both_ends(tiny_gpt):
    tiny_gpt.train()
    idx = np.array([[1, 2, 3]])
    _, loss = tiny_gpt(idx, np.array([[4, 5, 6]]))
    loss.backward()
    grad = tiny_gpt.wte.weight.grad.numpy()
    assert grad.dtype == np.float32
    # token 7 never appears in the input, yet its row is trained through the output layer
    assert np.abs(grad[7]).max() > 0


def test_it_learns_a_repeating_sequence():
    tinydl.manual_seed(3)
    model = GPT(GPTConfig(**TINY))
    idx = np.array([[0, 1, 2, 3, 4, 5, 6, 7]] * 4)
    targets = np.roll(idx, -1, axis=1)
    first = None
    for _ in range(60):
        model.zero_grad()
        _, loss = model(idx, targets)
        first = first if first is not None else loss.item()
        loss.backward()
        with tinydl.no_grad():
            for p in model.parameters():
                p.data -= 0.5 * p.grad.data
    assert first > 2.0 and loss.item() < 0.5


def test_bias_false_has_no_biases():
    model = GPT(GPTConfig(**TINY, bias=False))
    assert not [n for n, _ in model.named_parameters() if n.endswith("bias")]
    assert model(np.array([[1, 2]]))[0].shape == (1, 2, 11)


# ---- generation ----------------------------------------------------------------------------------
def test_generate_greedy_matches_step_by_step_argmax(tiny_gpt):
    prompt = np.array([[3, 1], [2, 2]])
    out = tiny_gpt.generate(prompt, 5, greedy=True).numpy()
    assert out.shape == (2, 7)
    np.testing.assert_array_equal(out[:, :2], prompt)
    tokens = prompt
    for _ in range(5):
        logits = tiny_gpt(tokens)[0].numpy()[:, -1]
        tokens = np.concatenate([tokens, logits.argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(out, tokens)


def test_generate_crops_context_to_block_size(tiny_gpt):
    prompt = np.arange(20)[None] % 11  # longer than block_size=8
    out = tiny_gpt.generate(prompt, 3, greedy=True).numpy()
    assert out.shape == (1, 23)
    expected = tiny_gpt(out[:, 14:22])[0].numpy()[0, -1].argmax()  # last 8 tokens before the end
    assert out[0, -1] == expected


def test_generate_repeats_with_seed_and_restores_mode(tiny_gpt):
    tiny_gpt.train()
    tinydl.manual_seed(5)
    a = tiny_gpt.generate(np.array([[1]]), 6, temperature=1.0).numpy()
    tinydl.manual_seed(5)
    b = tiny_gpt.generate(np.array([[1]]), 6, temperature=1.0).numpy()
    np.testing.assert_array_equal(a, b)
    assert tiny_gpt.training
    assert tinydl.is_grad_enabled()


def test_top_k_one_equals_greedy(tiny_gpt):
    prompt = np.array([[4, 2]])
    np.testing.assert_array_equal(tiny_gpt.generate(prompt, 4, top_k=1).numpy(),
                                  tiny_gpt.generate(prompt, 4, greedy=True).numpy())


def test_sample_next_token_frequencies_top_k_and_top_p():
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    logits = np.log(np.tile(probs, (20000, 1)))
    tinydl.manual_seed(0)
    counts = np.bincount(sample_next_token(logits), minlength=4) / 20000
    np.testing.assert_allclose(counts, probs, atol=0.015)
    # top_k=2 keeps {0, 1}: renormalised 0.625 / 0.375
    counts = np.bincount(sample_next_token(logits, top_k=2), minlength=4) / 20000
    np.testing.assert_allclose(counts, [0.625, 0.375, 0, 0], atol=0.015)
    # top_p=0.7: 0.5 < 0.7, 0.5 + 0.3 >= 0.7, so the nucleus is {0, 1}
    counts = np.bincount(sample_next_token(logits, top_p=0.7), minlength=4) / 20000
    np.testing.assert_allclose(counts, [0.625, 0.375, 0, 0], atol=0.015)
    # temperature 0.5 squares the probabilities before renormalising
    squared = probs ** 2 / (probs ** 2).sum()
    counts = np.bincount(sample_next_token(logits, temperature=0.5), minlength=4) / 20000
    np.testing.assert_allclose(counts, squared, atol=0.015)


# ---- saving --------------------------------------------------------------------------------------
def test_state_dict_round_trip_through_tinydl_io(tiny_gpt, tmp_path):
    tinydl.io.save(tiny_gpt.state_dict(), tmp_path / "gpt.npz")
    tinydl.manual_seed(99)
    fresh = GPT(GPTConfig(**TINY)).eval()
    fresh.load_state_dict(tinydl.io.load(tmp_path / "gpt.npz"))
    idx = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(fresh(idx)[0].numpy(), tiny_gpt(idx)[0].numpy())
    assert "lm_head.weight" not in tiny_gpt.state_dict()  # tied: stored once, as wte.weight


# ---- errors --------------------------------------------------------------------------------------
def test_config_errors():
    with pytest.raises(ValueError, match="n_embd=10 does not divide into n_head=3"):
        GPTConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="activation must be one of"):
        GPTConfig(activation="relu")
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        GPTConfig(vocab_size=0)


def test_input_errors(tiny_gpt):
    with pytest.raises(ShapeError, match="longer than block_size=8"):
        tiny_gpt(np.zeros((1, 9), dtype=np.int64))
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 11\), got values from 0 to 11"):
        tiny_gpt(np.array([[0, 11]]))
    with pytest.raises(TypeError, match="integer token ids"):
        tiny_gpt(np.array([[0.5]]))
    with pytest.raises(ShapeError, match=r"shape \(batch, time\)"):
        tiny_gpt(np.array([1, 2]))
    with pytest.raises(ShapeError, match="targets of shape"):
        tiny_gpt(np.array([[1, 2]]), np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        tiny_gpt.generate(np.array([[1]]), 2, temperature=0)
    with pytest.raises(ValueError, match="top_p must be in"):
        tiny_gpt.generate(np.array([[1]]), 2, top_p=1.5)


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no safetensors file"):
        from_gpt2_safetensors(tmp_path)
    tinydl.io.save_safetensors({"wte.weight": np.zeros((2, 2), np.float32)},
                               tmp_path / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        from_gpt2_safetensors(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"activation_function": "swish"}))
    with pytest.raises(ValueError, match="activation_function 'swish' is not supported"):
        from_gpt2_safetensors(tmp_path)


# ---- Hugging Face GPT-2 ----------------------------------------------------------------------
def test_gpt2_weights_give_the_same_logits_as_transformers(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    # initializer_range 0.2 (GPT-2 uses 0.02) gives logits of a few units, so a mix-up shows
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100,
                                     n_positions=64, initializer_range=0.2)
    reference = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # non-trivial LayerNorm parameters, so a mix-up would show
        for name, p in reference.named_parameters():
            if "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    reference.save_pretrained(tmp_path, safe_serialization=True)
    model = from_gpt2_safetensors(tmp_path)
    assert model.config.activation == "gelu_tanh" and model.config.block_size == 64
    idx = np.random.default_rng(0).integers(0, 100, size=(3, 20))
    with torch.no_grad():
        expected = reference(torch.from_numpy(idx)).logits.numpy()
    got = model(idx)[0].numpy()
    assert np.abs(expected).max() > 2.0
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    # the same weights through a GPTConfig given by hand, from the file itself
    again = from_gpt2_safetensors(os.path.join(tmp_path, "model.safetensors"), model.config)
    np.testing.assert_array_equal(again(idx)[0].numpy(), got)
