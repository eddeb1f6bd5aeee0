"""Tokenizers: turn text into integer ids and back (pure Python, no Tensor needed)."""

from tinydl.text.char import CharTokenizer
from tinydl.text.wordpiece import WordPieceTokenizer, basic_tokenize, wordpiece_split

__all__ = ["CharTokenizer", "WordPieceTokenizer", "basic_tokenize", "wordpiece_split"]
