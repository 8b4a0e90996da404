"""proxy/tokens.py: byte ids, language tags and which positions a translation or LM example predicts."""

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
