"""proxy/tokens.py: byte ids, language tags and which positions a translation or LM example predicts,
cloned languages' ids."""

import pytest

from scalemix.errors import ScalemixError
from scalemix.proxy import tokens


def test_translation_rows_mask_only_target_bytes():
    vocab = tokens.Vocab.for_langs(["en", "de"])
    ids, mask = tokens.translation_example(vocab, "de", "Hi", "Hallo")
    assert ids == [vocab.tag("de"), 72, 105, tokens.SEP, 72, 97, 108, 108, 111, tokens.EOS]
    assert mask == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]


def test_vocab_is_the_bytes_then_one_sorted_tag_per_language():
    vocab = tokens.Vocab.for_langs(["fr", "de", "fr"])
    assert vocab.langs == ("de", "fr") and vocab.size == 258
    assert vocab.tag("de") == 256 and vocab.tag("fr") == 257
    assert tokens.encode("é!") == [0xC3, 0xA9, 0x21]  # UTF-8 bytes


def test_lm_rows_predict_every_byte_after_the_tag():
    vocab = tokens.Vocab.for_langs(["de"])
    ids, mask = tokens.lm_example(vocab, "de", "Ja")
    assert ids == [256, 74, 97, tokens.EOS] and mask == [0, 1, 1, 1]


def test_a_clone_is_a_bijection_onto_ids_of_its_own():
    vocab = tokens.Vocab.for_langs(["en", "de", "de_clone"])
    assert vocab.langs == ("de", "de_clone", "en") and vocab.clones == ("de_clone",)
    assert vocab.size == 256 + 3 + 256  # bytes, three tags, the clone's 256 bytes
    every_byte = bytes(range(256))
    plain, cloned = vocab.encode("de", every_byte), vocab.encode("de_clone", every_byte)
    assert plain == list(range(256)) and cloned == list(range(259, 515))
    assert vocab.decode("de_clone", cloned) == every_byte and vocab.decode("de", plain) == every_byte
    ids, mask = tokens.lm_example(vocab, "de_clone", "Ja")
    assert ids == [257, 259 + 74, 259 + 97, 259 + tokens.EOS] and mask == [0, 1, 1, 1]
    source, _ = tokens.lm_example(vocab, "de", "Ja")
    assert not set(ids) & set(source)  # not even the tag or the newline is shared
    with pytest.raises(ScalemixError, match=r"ids \[74\] are not bytes of language 'de_clone' \(its ids are 259..514\)"):
        vocab.decode("de_clone", [74])


def test_two_clones_get_separate_blocks_and_plain_tasks_keep_their_ids():
    vocab = tokens.Vocab.for_langs(["de", "de_clone", "zh_CN_clone"])
    assert tokens.clone_source("zh_CN_clone") == "zh_CN" and tokens.clone_source("zh_CN") is None
    assert vocab.byte_offset("de_clone") == 259 and vocab.byte_offset("zh_CN_clone") == 259 + 256
    assert vocab.size == 259 + 512
    assert tokens.Vocab.for_langs(["de", "fr"]).size == 258  # no clone, no extra ids


@pytest.mark.parametrize("name", ["de~clone", "clone_de", "de_clone_clone", "_clone", "de clone"])
def test_malformed_clone_names_say_how_to_write_one(name):
    with pytest.raises(ScalemixError, match=r"is not a valid clone name: write '<lang>_clone'"):
        tokens.clone_source(name)
