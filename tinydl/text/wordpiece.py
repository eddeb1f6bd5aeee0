"""BERT's WordPiece tokenizer, written out in plain Python.

Text goes through two stages:

1. **Basic tokenization** splits text into words:
   clean (drop NUL, U+FFFD and control characters, turn every whitespace character into a
   space) -> put spaces around CJK ideographs -> strip accents (NFD, then drop combining
   marks) and lower-case -> split on spaces -> split off every punctuation character.
2. **WordPiece** splits each word into vocabulary pieces, greedily taking the longest piece
   that matches at each position. Pieces after the first carry the ``##`` prefix
   ("unaffable" -> "un", "##aff", "##able"). A word that cannot be covered becomes ``[UNK]``.

Special tokens written literally in the text ("[MASK]", "[SEP]", ...) are kept whole.

``encode`` adds ``[CLS] A [SEP]`` (or ``[CLS] A [SEP] B [SEP]`` for a pair) and
``__call__`` batches, pads and builds the attention mask and token type ids, the three
arrays a BERT model takes.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Sequence

import numpy as np

# --------------------------------------------------------------------------------------
# Character classes (BERT's definitions)
# --------------------------------------------------------------------------------------

# Code point ranges of the CJK Unified Ideographs blocks (and their extensions and
# compatibility blocks). Hiragana, Katakana and Hangul are not in here: BERT treats
# them as ordinary letters.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_whitespace(char: str) -> bool:
    """Tab, newline, carriage return, or a Unicode space/line/paragraph separator."""
    return char in " \t\n\r" or unicodedata.category(char) in ("Zs", "Zl", "Zp")


def _is_control(char: str) -> bool:
    """A Unicode "other" character (categories C*), except tab/newline/CR (whitespace)."""
    if char in "\t\n\r":
        return False
    return unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    """ASCII non-alphanumeric printable characters (so $, +, ^, ` count) or Unicode P*."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


# --------------------------------------------------------------------------------------
# Basic tokenizer: text -> words
# --------------------------------------------------------------------------------------


def _clean_text(text: str) -> str:
    """Drop NUL, U+FFFD and control characters; map every whitespace character to ' '."""
    kept = []
    for char in text:
        if char == "\x00" or char == "\ufffd" or _is_control(char):
            continue
        kept.append(" " if _is_whitespace(char) else char)
    return "".join(kept)


def _space_around_cjk(text: str) -> str:
    """Put a space on both sides of every CJK ideograph so each becomes its own word."""
    return "".join(f" {char} " if _is_cjk(char) else char for char in text)


def _strip_accents(text: str) -> str:
    """Decompose (NFD: 'é' -> 'e' + U+0301) and drop the combining marks (category Mn)."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(char for char in decomposed if unicodedata.category(char) != "Mn")


def _split_punctuation(word: str) -> list[str]:
    """'hello,world!' -> ['hello', ',', 'world', '!']: each punctuation character alone."""
    pieces: list[str] = []
    current: list[str] = []
    for char in word:
        if _is_punctuation(char):
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(char)
        else:
            current.append(char)
    if current:
        pieces.append("".join(current))
    return pieces


def basic_tokenize(
    text: str,
    do_lower_case: bool = True,
    strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
) -> list[str]:
    """Split raw text into words and punctuation the way BERT does (before WordPiece).

    ``strip_accents=None`` means "strip accents exactly when lower-casing".
    Lower-casing is done character by character.
    """
    text = _clean_text(text)
    if tokenize_chinese_chars:
        text = _space_around_cjk(text)
    if strip_accents if strip_accents is not None else do_lower_case:
        text = _strip_accents(text)
    if do_lower_case:
        text = "".join(char.lower() for char in text)
    words: list[str] = []
    for chunk in text.split(" "):
        if chunk:
            words.extend(_split_punctuation(chunk))
    return words


# --------------------------------------------------------------------------------------
# WordPiece: word -> pieces
# --------------------------------------------------------------------------------------


def wordpiece_split(
    word: str,
    vocab: dict[str, int] | set[str],
    unk_token: str = "[UNK]",
    max_input_chars_per_word: int = 100,
    prefix: str = "##",
) -> list[str]:
    """Greedy longest-match-first split of one word into vocabulary pieces.

    Returns ``[unk_token]`` when the word is longer than ``max_input_chars_per_word``
    or when some position has no matching piece.
    """
    if len(word) > max_input_chars_per_word:
        return [unk_token]
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        piece = None
        while end > start:
            candidate = word[start:end]
            if start > 0:
                candidate = prefix + candidate
            if candidate in vocab:
                piece = candidate
                break
            end -= 1
        if piece is None:
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces


# --------------------------------------------------------------------------------------
# The tokenizer
# --------------------------------------------------------------------------------------


def _read_vocab_file(path: str | os.PathLike) -> list[str]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"WordPieceTokenizer: vocabulary file {path!r} does not exist; pass the path of a "
            "BERT vocab.txt (one token per line) or a list of tokens"
        )
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle]


def _truncate_pair_longest_first(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
    """Lengths to keep of two sequences so that they fit in ``budget`` tokens together.

    Longest first: the longer one is cut until it is as short as the other, then both are cut
    in turn. So when both must be cut, the longer keeps ceil(budget / 2) tokens and the shorter
    floor(budget / 2); on equal lengths the second sequence keeps the extra token.
    (The same rule as Hugging Face's 'longest_first'.)
    """
    if len_a + len_b <= budget:
        return len_a, len_b
    shorter = min(len_a, len_b)
    if 2 * shorter <= budget:  # only the longer one is cut
        keep_shorter, keep_longer = shorter, budget - shorter
    else:  # both are cut to about half
        keep_shorter, keep_longer = budget // 2, budget - budget // 2
    if len_a > len_b:
        return keep_longer, keep_shorter
    return keep_shorter, keep_longer


class WordPieceTokenizer:
    """BERT's uncased/cased WordPiece tokenizer.

    Args:
        vocab: path of a ``vocab.txt`` (one token per line, id = line number) or a list of
            tokens in id order.
        do_lower_case: lower-case the text (True for "uncased" models).
        strip_accents: remove accents; None follows ``do_lower_case``.
        tokenize_chinese_chars: make every CJK ideograph its own word.
        max_input_chars_per_word: longer words become ``[UNK]`` without being split.
        unk_token, cls_token, sep_token, pad_token, mask_token: the special token strings.
            ``unk_token`` must be in the vocabulary; the others are looked up when used.
        model_max_length: the ``max_length`` used when truncating or padding to
            'max_length' without an explicit one.
    """

    def __init__(
        self,
        vocab: str | os.PathLike | Sequence[str],
        do_lower_case: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        max_input_chars_per_word: int = 100,
        unk_token: str = "[UNK]",
        cls_token: str = "[CLS]",
        sep_token: str = "[SEP]",
        pad_token: str = "[PAD]",
        mask_token: str = "[MASK]",
        model_max_length: int = 512,
    ):
        if isinstance(vocab, (str, os.PathLike)):
            tokens = _read_vocab_file(vocab)
        elif isinstance(vocab, Sequence) and all(isinstance(token, str) for token in vocab):
            tokens = list(vocab)
        else:
            raise TypeError(
                "WordPieceTokenizer: vocab must be a path to vocab.txt or a list of token "
                f"strings, got {type(vocab).__name__}"
            )
        self._token_to_id: dict[str, int] = {}
        for index, token in enumerate(tokens):
            if token in self._token_to_id:
                raise ValueError(
                    f"WordPieceTokenizer: token {token!r} appears twice in the vocabulary "
                    f"(ids {self._token_to_id[token]} and {index}); each token needs one id"
                )
            self._token_to_id[token] = index
        self._id_to_token: list[str] = tokens
        if unk_token not in self._token_to_id:
            raise ValueError(
                f"WordPieceTokenizer: the unknown token {unk_token!r} is not in the vocabulary of "
                f"{len(tokens)} tokens; add it to the vocabulary or pass unk_token=<a token in it>"
            )
        if max_input_chars_per_word < 1:
            raise ValueError(
                "WordPieceTokenizer: max_input_chars_per_word must be >= 1, "
                f"got {max_input_chars_per_word}"
            )
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.max_input_chars_per_word = max_input_chars_per_word
        self.unk_token = unk_token
        self.cls_token = cls_token
        self.sep_token = sep_token
        self.pad_token = pad_token
        self.mask_token = mask_token
        self.model_max_length = model_max_length
        # Special tokens present in the vocabulary; written literally in a text they stay whole.
        # Longest first, so that a special token containing another one wins.
        self._never_split = sorted(
            {t for t in (unk_token, cls_token, sep_token, pad_token, mask_token)
             if t in self._token_to_id},
            key=len,
            reverse=True,
        )

    # ----------------------------------------------------------------- loading

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, **overrides) -> WordPieceTokenizer:
        """Load ``directory/vocab.txt`` and, if present, settings from ``tokenizer_config.json``.

        Read from the config (JSON, never code): do_lower_case, strip_accents,
        tokenize_chinese_chars, model_max_length and the special token strings.
        Keyword ``overrides`` win over the config.
        """
        directory = os.fspath(directory)
        vocab_path = os.path.join(directory, "vocab.txt")
        if not os.path.isfile(vocab_path):
            raise FileNotFoundError(
                f"WordPieceTokenizer.from_pretrained: no vocab.txt in {directory!r}; pass the "
                "folder of a BERT-style model (it holds vocab.txt and tokenizer_config.json)"
            )
        settings: dict = {}
        config_path = os.path.join(directory, "tokenizer_config.json")
        if os.path.isfile(config_path):
            with open(config_path, encoding="utf-8") as handle:
                config = json.load(handle)
            for key in ("do_lower_case", "strip_accents", "tokenize_chinese_chars"):
                if key in config:
                    settings[key] = config[key]
            for key in ("unk_token", "cls_token", "sep_token", "pad_token", "mask_token"):
                if isinstance(config.get(key), str):
                    settings[key] = config[key]
            # Hugging Face writes a huge sentinel (1e30) when there is no real limit.
            max_length = config.get("model_max_length")
            if isinstance(max_length, int) and 0 < max_length < 1_000_000:
                settings["model_max_length"] = max_length
        settings.update(overrides)
        return cls(vocab_path, **settings)

    # ----------------------------------------------------------------- vocabulary

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def __len__(self) -> int:
        return self.vocab_size

    def _special_id(self, token: str, role: str) -> int:
        index = self._token_to_id.get(token)
        if index is None:
            raise KeyError(
                f"WordPieceTokenizer: the {role} token {token!r} is not in the vocabulary; "
                f"add it to the vocabulary or pass {role}_token=<a token in it>"
            )
        return index

    @property
    def unk_token_id(self) -> int:
        return self._special_id(self.unk_token, "unk")

    @property
    def cls_token_id(self) -> int:
        return self._special_id(self.cls_token, "cls")

    @property
    def sep_token_id(self) -> int:
        return self._special_id(self.sep_token, "sep")

    @property
    def pad_token_id(self) -> int:
        return self._special_id(self.pad_token, "pad")

    @property
    def mask_token_id(self) -> int:
        return self._special_id(self.mask_token, "mask")

    @property
    def all_special_ids(self) -> set[int]:
        """Ids of the special tokens that are in the vocabulary."""
        return {self._token_to_id[token] for token in self._never_split}

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        """Look tokens up; tokens not in the vocabulary map to the unknown id."""
        unk_id = self.unk_token_id
        return [self._token_to_id.get(token, unk_id) for token in tokens]

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        """Look ids up; an id outside 0..vocab_size-1 is an error."""
        tokens = []
        for position, index in enumerate(ids):
            index = int(index)
            if not 0 <= index < self.vocab_size:
                raise IndexError(
                    f"WordPieceTokenizer: id {index} at position {position} is out of range for "
                    f"a vocabulary of {self.vocab_size} (valid ids: 0..{self.vocab_size - 1})"
                )
            tokens.append(self._id_to_token[index])
        return tokens

    # ----------------------------------------------------------------- text -> tokens

    def _split_on_special_tokens(self, text: str) -> list[tuple[str, bool]]:
        """Cut text around literal special tokens: [(segment, is_special), ...]."""
        segments: list[tuple[str, bool]] = []
        start = 0
        plain_start = 0
        while start < len(text):
            match = next((t for t in self._never_split if text.startswith(t, start)), None)
            if match is None:
                start += 1
                continue
            if plain_start < start:
                segments.append((text[plain_start:start], False))
            segments.append((match, True))
            start += len(match)
            plain_start = start
        if plain_start < len(text):
            segments.append((text[plain_start:], False))
        return segments

    def tokenize(self, text: str) -> list[str]:
        """Split text into WordPiece tokens (no [CLS]/[SEP] added)."""
        if not isinstance(text, str):
            raise TypeError(
                f"WordPieceTokenizer.tokenize: expected a str, got {type(text).__name__}"
            )
        tokens: list[str] = []
        for segment, is_special in self._split_on_special_tokens(text):
            if is_special:
                tokens.append(segment)
                continue
            words = basic_tokenize(
                segment, self.do_lower_case, self.strip_accents, self.tokenize_chinese_chars
            )
            for word in words:
                tokens.extend(
                    wordpiece_split(
                        word, self._token_to_id, self.unk_token, self.max_input_chars_per_word
                    )
                )
        return tokens

    # ----------------------------------------------------------------- encode / decode

    def _resolve_max_length(self, max_length: int | None, operation: str) -> int:
        if max_length is None:
            return self.model_max_length
        if not isinstance(max_length, (int, np.integer)) or max_length < 1:
            raise ValueError(f"WordPieceTokenizer.{operation}: max_length must be a positive "
                             f"int, got {max_length!r}")
        return int(max_length)

    def encode(
        self,
        text: str,
        text_pair: str | None = None,
        add_special_tokens: bool = True,
        max_length: int | None = None,
        truncation: bool = False,
    ) -> list[int]:
        """Ids for one text (``[CLS] A [SEP]``) or a pair (``[CLS] A [SEP] B [SEP]``).

        With ``truncation=True`` the result has at most ``max_length`` ids (default
        ``model_max_length``); for a pair the longer text is cut first.
        """
        return self._encode_with_type_ids(
            text, text_pair, add_special_tokens, max_length, truncation, "encode"
        )[0]

    def _encode_with_type_ids(
        self,
        text: str,
        text_pair: str | None,
        add_special_tokens: bool,
        max_length: int | None,
        truncation: bool,
        operation: str,
    ) -> tuple[list[int], list[int]]:
        """(input_ids, token_type_ids) for one text or pair, before padding."""
        ids_a = self.convert_tokens_to_ids(self.tokenize(text))
        ids_b = None if text_pair is None else self.convert_tokens_to_ids(self.tokenize(text_pair))
        if truncation:
            limit = self._resolve_max_length(max_length, operation)
            n_special = (2 if ids_b is None else 3) if add_special_tokens else 0
            budget = limit - n_special
            if budget < 0:
                raise ValueError(
                    f"WordPieceTokenizer.{operation}: max_length={limit} is shorter than the "
                    f"{n_special} special tokens it must hold; use max_length > {n_special}"
                )
            if ids_b is None:
                ids_a = ids_a[:budget]
            else:
                keep_a, keep_b = _truncate_pair_longest_first(len(ids_a), len(ids_b), budget)
                ids_a, ids_b = ids_a[:keep_a], ids_b[:keep_b]
        if not add_special_tokens:
            ids = ids_a + (ids_b or [])
            return ids, [0] * len(ids_a) + [1] * len(ids_b or [])
        first = [self.cls_token_id] + ids_a + [self.sep_token_id]
        if ids_b is None:
            return first, [0] * len(first)
        second = ids_b + [self.sep_token_id]
        return first + second, [0] * len(first) + [1] * len(second)

    def decode(
        self,
        ids: Sequence[int],
        skip_special_tokens: bool = True,
        clean_up_tokenization_spaces: bool = True,
    ) -> str:
        """Ids back to text: '##' pieces join the previous token, others are space-separated.

        The text comes back lower-cased and without accents for an uncased vocabulary, with
        spaces around punctuation ("don ' t"), except that ``clean_up_tokenization_spaces``
        removes the space before . , ? and ! (the same rule as Hugging Face's decoder).
        """
        tokens = self.convert_ids_to_tokens(ids)
        if skip_special_tokens:
            special = set(self._never_split)
            tokens = [token for token in tokens if token not in special]
        words: list[str] = []
        for token in tokens:
            if token.startswith("##"):
                if words:
                    words[-1] += token[2:]
                else:
                    words.append(token[2:])
            elif clean_up_tokenization_spaces and token in (".", ",", "?", "!") and words:
                words[-1] += token
            else:
                words.append(token)
        return " ".join(words)

    # ----------------------------------------------------------------- batches

    def __call__(
        self,
        texts: str | Sequence[str],
        text_pairs: str | Sequence[str] | None = None,
        padding: bool | str = True,
        truncation: bool = True,
        max_length: int | None = None,
        add_special_tokens: bool = True,
    ) -> dict[str, np.ndarray]:
        """Encode a batch of B texts (or text pairs) into padded int64 arrays of shape (B, T).

        Returns ``{'input_ids', 'attention_mask', 'token_type_ids'}``. ``attention_mask`` is 1
        on real tokens and 0 on padding; ``token_type_ids`` is 0 for the first text (with its
        [CLS] and [SEP]) and 1 for the second. Padding goes on the right.

        padding: True / 'longest' pads to the longest sequence in the batch; 'max_length' pads
            to ``max_length`` (default ``model_max_length``); False requires equal lengths.
        truncation: cut each sequence to ``max_length`` (default ``model_max_length``).
        """
        if isinstance(texts, str):
            texts = [texts]
        if isinstance(text_pairs, str):
            text_pairs = [text_pairs]
        texts = list(texts)
        if text_pairs is not None:
            text_pairs = list(text_pairs)
            if len(text_pairs) != len(texts):
                raise ValueError(
                    f"WordPieceTokenizer: got {len(texts)} texts but {len(text_pairs)} text_pairs; "
                    "pass one pair text per text"
                )
        if len(texts) == 0:
            raise ValueError("WordPieceTokenizer: the batch is empty; pass at least one text")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise ValueError(
                f"WordPieceTokenizer: padding={padding!r} is not one of True, False, 'longest', "
                "'max_length', 'do_not_pad'"
            )

        encoded = [
            self._encode_with_type_ids(
                text,
                None if text_pairs is None else text_pairs[row],
                add_special_tokens,
                max_length,
                truncation,
                "__call__",
            )
            for row, text in enumerate(texts)
        ]
        lengths = [len(ids) for ids, _ in encoded]
        if padding == "max_length":
            width = self._resolve_max_length(max_length, "__call__")
            if max(lengths) > width:
                raise ValueError(
                    f"WordPieceTokenizer: a sequence has {max(lengths)} tokens, more than "
                    f"max_length={width}; pass truncation=True or a larger max_length"
                )
        elif padding in (True, "longest"):
            width = max(lengths)
        else:
            if len(set(lengths)) > 1:
                raise ValueError(
                    f"WordPieceTokenizer: padding=False but the sequences have different lengths "
                    f"{sorted(set(lengths))}; pass padding=True to pad them into one array"
                )
            width = lengths[0]

        # Look the pad id up only when padding is needed (a vocabulary may lack [PAD]).
        pad_id = self.pad_token_id if any(n < width for n in lengths) else 0
        input_ids = np.full((len(texts), width), pad_id, dtype=np.int64)  # (B, T)
        attention_mask = np.zeros((len(texts), width), dtype=np.int64)  # (B, T)
        token_type_ids = np.zeros((len(texts), width), dtype=np.int64)  # (B, T)
        for row, (ids, type_ids) in enumerate(encoded):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
            token_type_ids[row, : len(ids)] = type_ids
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
        }

    def __repr__(self) -> str:
        return (
            f"WordPieceTokenizer(vocab_size={self.vocab_size}, do_lower_case={self.do_lower_case}, "
            f"strip_accents={self.strip_accents}, model_max_length={self.model_max_length})"
        )
