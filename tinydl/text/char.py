"""Character-level tokenizer: one id per distinct character of a training text.

The vocabulary is the sorted set of characters, so the same text always gives the same ids
(sorted order does not depend on where a character first appears). A character that was not
in the training text is an error by default; pass ``unk_token`` to map such characters to one
reserved id instead.

    >>> tok = CharTokenizer.from_text("hello")
    >>> tok.chars
    ['e', 'h', 'l', 'o']
    >>> tok.encode("hole")
    [1, 3, 2, 0]
    >>> tok.decode([1, 0, 2, 2, 3])
    'hello'
"""

from __future__ import annotations

from collections.abc import Iterable

_FORMAT = "tinydl.CharTokenizer"


class CharTokenizer:
    """Map each character to an integer id and back.

    Args:
        chars: the vocabulary, one string per id. Usually built by ``from_text``.
        unk_token: optional string that stands for every character not in ``chars``.
            It becomes part of the vocabulary (added if missing). With ``unk_token=None``
            (the default) encoding an unknown character raises a ``KeyError``.
    """

    def __init__(self, chars: Iterable[str], unk_token: str | None = None):
        chars = list(chars)
        for position, char in enumerate(chars):
            if not isinstance(char, str) or char == "":
                raise TypeError(
                    f"CharTokenizer: vocabulary entry {position} is {char!r}; "
                    "every entry must be a non-empty string"
                )
        if len(set(chars)) != len(chars):
            repeated = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(
                f"CharTokenizer: vocabulary has repeated entries {repeated!r}; "
                "each character must appear once (CharTokenizer.from_text builds a clean one)"
            )
        if unk_token is not None:
            if not isinstance(unk_token, str) or unk_token == "":
                raise TypeError(
                    "CharTokenizer: unk_token must be a non-empty string or None, "
                    f"got {unk_token!r}"
                )
            if unk_token not in chars:
                chars.append(unk_token)
        self._itos: list[str] = chars
        self._stoi: dict[str, int] = {char: index for index, char in enumerate(chars)}
        self.unk_token = unk_token

    @classmethod
    def from_text(cls, text: str, unk_token: str | None = None) -> CharTokenizer:
        """Build the vocabulary from every distinct character of ``text``, in sorted order.

        ``unk_token`` (if given) is sorted in with the characters of the text.
        """
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.from_text: expected a str, got {type(text).__name__}")
        if text == "":
            raise ValueError(
                "CharTokenizer.from_text: the text is empty, so there is no vocabulary"
            )
        chars = set(text)
        if unk_token is not None:
            chars.add(unk_token)
        return cls(sorted(chars), unk_token=unk_token)

    @property
    def vocab_size(self) -> int:
        """Number of ids (characters, plus the unknown token if there is one)."""
        return len(self._itos)

    def __len__(self) -> int:
        return self.vocab_size

    @property
    def chars(self) -> list[str]:
        """The vocabulary in id order (a copy)."""
        return list(self._itos)

    @property
    def unk_token_id(self) -> int | None:
        """Id that unknown characters map to, or None when unknown characters are an error."""
        return None if self.unk_token is None else self._stoi[self.unk_token]

    def encode(self, text: str) -> list[int]:
        """Turn a string of length T into a list of T ids."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: expected a str, got {type(text).__name__}")
        unk_id = self.unk_token_id
        ids = []
        for position, char in enumerate(text):
            index = self._stoi.get(char, unk_id)
            if index is None:
                raise KeyError(
                    f"CharTokenizer.encode: character {char!r} (U+{ord(char):04X}) at position "
                    f"{position} is not in the vocabulary of {self.vocab_size} characters; "
                    "build the tokenizer from a text that contains it "
                    "(CharTokenizer.from_text(train_text + extra)), or pass unk_token='?' "
                    "to map unknown characters to one id"
                )
            ids.append(index)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Turn a sequence of ids (list, tuple or 1-D integer array) back into a string."""
        pieces = []
        for position, index in enumerate(ids):
            try:
                index = int(index)
            except (TypeError, ValueError):
                raise TypeError(
                    f"CharTokenizer.decode: id at position {position} is {index!r}, not an integer"
                ) from None
            if not 0 <= index < self.vocab_size:
                raise IndexError(
                    f"CharTokenizer.decode: id {index} at position {position} is out of range "
                    f"for a vocabulary of {self.vocab_size} (valid ids: 0..{self.vocab_size - 1})"
                )
            pieces.append(self._itos[index])
        return "".join(pieces)

    def to_dict(self) -> dict:
        """A JSON-ready description of the tokenizer (save it with ``json.dump``)."""
        return {"format": _FORMAT, "chars": list(self._itos), "unk_token": self.unk_token}

    @classmethod
    def from_dict(cls, data: dict) -> CharTokenizer:
        """Rebuild a tokenizer from the output of ``to_dict``."""
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(
                f"CharTokenizer.from_dict: expected a dict with format {_FORMAT!r}, got {found!r}; "
                "pass the dict that CharTokenizer.to_dict() returned"
            )
        if "chars" not in data:
            raise ValueError("CharTokenizer.from_dict: the dict has no 'chars' list")
        return cls(data["chars"], unk_token=data.get("unk_token"))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, unk_token={self.unk_token!r})"
