"""Text datasets: pydoc corpus, text files, the train/val split and Debian fortunes."""

import os

import numpy as np
import pytest

from tinydl.data.text import fortunes, pydoc_corpus, text_file, train_val_split_text

# ------------------------------------------------------------------ pydoc corpus


def test_pydoc_corpus_is_the_sorted_topics_joined():
    from pydoc_data.topics import topics

    corpus = pydoc_corpus()
    first, second = sorted(topics)[:2]
    assert corpus.startswith(topics[first] + "\n\n" + topics[second])
    assert len(corpus) == sum(len(page) for page in topics.values()) + 2 * (len(topics) - 1)
    assert 300_000 < len(corpus) < 700_000  # ~465k characters on Python 3.11
    assert pydoc_corpus() == corpus


# ------------------------------------------------------------------ text files


def test_text_file_reads_utf8(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("naïve 日本\n".encode())
    assert text_file(path) == "naïve 日本\n"
    assert text_file(str(path)) == "naïve 日本\n"


def test_text_file_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"text_file: '.*missing\.txt' does not exist"):
        text_file(tmp_path / "missing.txt")


def test_text_file_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"is a folder"):
        text_file(tmp_path)


def test_text_file_wrong_encoding(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError, match=r"not valid utf-8 \(byte 3\).*encoding='latin-1'"):
        text_file(path)
    assert text_file(path, encoding="latin-1") == "café"


# ------------------------------------------------------------------ train/val split


def test_split_is_contiguous_with_val_at_the_end():
    assert train_val_split_text("abcdefghij", 0.1) == ("abcdefghi", "j")
    assert train_val_split_text("abcdefghij", 0.3) == ("abcdefg", "hij")
    assert train_val_split_text("abcdefghij", 0.5) == ("abcde", "fghij")


def test_split_errors():
    with pytest.raises(ValueError, match=r"val_fraction must be between 0 and 1.*got 1.5"):
        train_val_split_text("abc", 1.5)
    with pytest.raises(ValueError, match=r"3 characters with val_fraction=0.1 leaves an empty"):
        train_val_split_text("abc", 0.1)


# ------------------------------------------------------------------ fortunes, hand-made files


@pytest.fixture
def fortune_root(tmp_path):
    (tmp_path / "cats").write_text(
        "Cats sleep\n  a lot.\n%\nA cat\tis fine.\n%\n%\n   \n%\nLast cat, no trailing percent",
        encoding="utf-8",
    )
    (tmp_path / "dogs").write_text("Dogs bark.\n%\nA much longer text about dogs.\n%\n",
                                   encoding="utf-8")
    (tmp_path / "dogs.dat").write_bytes(b"\x00\x00\x00\x02binary index")
    os.symlink(tmp_path / "dogs", tmp_path / "dogs.u8")
    (tmp_path / "off").mkdir()
    (tmp_path / "off" / "rude").write_text("nope\n%\n", encoding="utf-8")
    return tmp_path


def test_fortunes_hand_made_all_categories(fortune_root):
    texts, labels, class_names = fortunes(root=fortune_root)
    assert class_names == ["cats", "dogs"]
    assert texts == [
        "Cats sleep a lot.",
        "A cat is fine.",
        "Last cat, no trailing percent",
        "Dogs bark.",
        "A much longer text about dogs.",
    ]
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1])


def test_fortunes_label_order_follows_categories(fortune_root):
    texts, labels, class_names = fortunes(["dogs", "cats"], root=fortune_root)
    assert class_names == ["dogs", "cats"]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])
    assert texts[0] == "Dogs bark."


def test_fortunes_length_filter(fortune_root):
    texts, labels, _ = fortunes(root=fortune_root, min_length=11, max_length=20)
    assert texts == ["Cats sleep a lot.", "A cat is fine."]  # 17 and 14 characters
    np.testing.assert_array_equal(labels, [0, 0])


def test_fortunes_unknown_category_lists_available(fortune_root):
    expected = r"unknown category \['birds'\].*available: \['cats', 'dogs'\]"
    with pytest.raises(ValueError, match=expected):
        fortunes(["cats", "birds"], root=fortune_root)


def test_fortunes_missing_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no fortune files in .*apt-get install fortunes"):
        fortunes(root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"apt-get install fortunes"):
        fortunes(root=tmp_path / "does-not-exist")


def test_fortunes_bad_length_range(fortune_root):
    with pytest.raises(ValueError, match=r"max_length=5 is smaller than min_length=10"):
        fortunes(root=fortune_root, min_length=10, max_length=5)


# ------------------------------------------------------------------ fortunes, the real Debian files

REAL_CATEGORIES = ["computers", "politics", "science", "songs-poems"]


def test_real_fortunes_four_categories():
    if not all(os.path.isfile(os.path.join("/usr/share/games/fortunes", name))
               for name in REAL_CATEGORIES):
        pytest.skip("Debian fortunes not installed (apt-get install fortunes)")
    texts, labels, class_names = fortunes(REAL_CATEGORIES)
    assert class_names == REAL_CATEGORIES
    counts = np.bincount(labels, minlength=4)
    assert (counts > 50).all(), counts
    assert len(texts) == len(labels) == counts.sum()
    assert all(text and text == " ".join(text.split()) for text in texts)
    assert not any(text == "%" or "\n%\n" in text for text in texts)
