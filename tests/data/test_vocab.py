import json

import pytest

from tinydyn.data import Vocab, tokenize


def test_word_tokenizer_lowercases_and_splits_punctuation():
    assert tokenize("Good movie, isn't it?") == ["good", "movie", ",", "isn't", "it", "?"]


def test_char_tokenizer_keeps_every_character():
    assert tokenize("ab c", level="char") == ["a", "b", " ", "c"]


def test_tokenize_unknown_level_is_refused():
    with pytest.raises(ValueError, match="tokenize: level must be 'word' or 'char', got 'bpe'"):
        tokenize("x", level="bpe")


def test_specials_take_ids_zero_and_one():
    vocab = Vocab.build(["a b"])
    assert vocab.itos[:2] == ["<pad>", "<unk>"] and vocab.pad_id == 0 and vocab.unk_id == 1


def test_tokens_are_ordered_by_frequency_then_alphabet():
    vocab = Vocab.build(["b a c", "c b", "c"])
    assert vocab.itos[2:] == ["c", "b", "a"]
    assert Vocab.build(["z y"]).itos[2:] == ["y", "z"]


def test_min_freq_drops_rare_tokens():
    assert "a" not in Vocab.build(["a b b"], min_freq=2)


def test_max_size_counts_the_specials():
    assert len(Vocab.build(["a b c d"], max_size=4)) == 4


def test_unknown_tokens_encode_to_unk():
    assert Vocab.build(["hello world"]).encode("hello there") == [2, 1]


def test_decode_inverts_encode_and_skips_padding():
    vocab = Vocab.build(["the cat sat"])
    assert vocab.decode(vocab.encode("the cat sat") + [0, 0]) == "the cat sat"


def test_char_level_round_trip():
    vocab = Vocab.build(["abc"], level="char")
    assert vocab.decode(vocab.encode("cab")) == "cab"


def test_to_dict_from_dict_round_trip_through_json():
    vocab = Vocab.build(["x y z y"], level="word")
    again = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.encode("y z") == vocab.encode("y z")


def test_build_refuses_a_single_string():
    with pytest.raises(TypeError, match="Vocab.build: texts must be a list of strings, got a "
                                        "single str"):
        Vocab.build("a b c")


def test_build_refuses_non_string_texts():
    with pytest.raises(TypeError, match=r"Vocab.build: texts\[1\] must be a str, got int"):
        Vocab.build(["a", 3])


def test_build_needs_pad_and_unk_specials():
    with pytest.raises(ValueError, match="specials must start with a padding and an unknown"):
        Vocab.build(["a"], specials=("<pad>",))


def test_decode_out_of_range_id():
    with pytest.raises(ValueError, match="Vocab.decode: id 99 is out of range for a vocabulary "
                                         "of size 3"):
        Vocab.build(["a"]).decode([99])


def test_duplicate_tokens_are_refused():
    with pytest.raises(ValueError, match="Vocab: tokens must be unique, 'a' appears more"):
        Vocab(["<pad>", "<unk>", "a", "a"])
