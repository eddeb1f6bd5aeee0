"""CharTokenizer: sorted vocabulary, round trips, the unknown-character policy, saving."""

import json

import numpy as np
import pytest

from tinydl.text import CharTokenizer


def test_vocabulary_is_sorted_distinct_characters():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.vocab_size == 8 and len(tok) == 8


def test_vocabulary_does_not_depend_on_character_order():
    assert CharTokenizer.from_text("abc").chars == CharTokenizer.from_text("cbaabc").chars


def test_encode_decode_hand_worked():
    tok = CharTokenizer.from_text("hello")  # e=0 h=1 l=2 o=3
    assert tok.encode("hole") == [1, 3, 2, 0]
    assert tok.decode([1, 0, 2, 2, 3]) == "hello"
    assert tok.decode(np.array([3, 2], dtype=np.int64)) == "ol"
    assert tok.encode("") == []


def test_round_trip_on_unicode_text():
    text = "Ångström naïve 日本 😀\n\ttab"
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode(text)) == len(text)


def test_unknown_character_is_an_error_naming_it():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(KeyError, match=r"character 'é' \(U\+00E9\) at position 2 .*unk_token="):
        tok.encode("abé")


def test_unknown_character_maps_to_unk_token():
    tok = CharTokenizer.from_text("cab", unk_token="?")  # ? sorts first: ?=0 a=1 b=2 c=3
    assert tok.chars == ["?", "a", "b", "c"]
    assert tok.unk_token_id == 0
    assert tok.encode("axb") == [1, 0, 2]
    assert tok.decode(tok.encode("axb")) == "a?b"


def test_unk_token_already_in_text_is_not_duplicated():
    tok = CharTokenizer.from_text("a?b", unk_token="?")
    assert tok.chars == ["?", "a", "b"]


def test_without_unk_token_the_id_is_none():
    assert CharTokenizer.from_text("ab").unk_token_id is None


def test_to_dict_from_dict_round_trip_through_json():
    tok = CharTokenizer.from_text("hello, wörld", unk_token="~")
    data = json.loads(json.dumps(tok.to_dict()))
    again = CharTokenizer.from_dict(data)
    assert again.chars == tok.chars and again.unk_token == "~"
    assert again.encode("hex") == tok.encode("hex")


def test_from_dict_rejects_other_dicts():
    with pytest.raises(ValueError, match=r"expected a dict with format 'tinydl.CharTokenizer'"):
        CharTokenizer.from_dict({"chars": ["a"]})


def test_decode_out_of_range_id():
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(IndexError, match=r"id 2 at position 1 is out of range .*0\.\.1"):
        tok.decode([0, 2])
    with pytest.raises(IndexError, match=r"id -1 at position 0"):
        tok.decode([-1])


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"repeated entries \['a'\]"):
        CharTokenizer(["a", "b", "a"])
    with pytest.raises(ValueError, match=r"text is empty"):
        CharTokenizer.from_text("")
    with pytest.raises(TypeError, match=r"expected a str, got list"):
        CharTokenizer.from_text(["a"])
