"""Byte-level tokens: ids 0-255 are UTF-8 bytes, ids 256+ are language tags ``<2xx>``.

A vocabulary is the 256 bytes plus one tag per language of a task, in a fixed (sorted) order, so the
same task always maps to the same ids and one compiled model serves every mixture of that task.
"""

from __future__ import annotations

from dataclasses import dataclass

N_BYTES = 256
SEP = 9  # "\t": separates the source from the target in a translation example
EOS = 10  # "\n": ends every example (and is predicted, so the model learns where a target stops)
PAD = 0  # padding id; padded positions are never predicted (mask 0)


@dataclass(frozen=True)
class Vocab:
    """256 byte ids followed by one ``<2lang>`` tag id per language (``langs`` sorted)."""

    langs: tuple[str, ...]

    @classmethod
    def for_langs(cls, langs) -> "Vocab":
        return cls(tuple(sorted(set(langs))))

    @property
    def size(self) -> int:
        return N_BYTES + len(self.langs)

    def tag(self, lang: str) -> int:
        """Id of the tag ``<2lang>`` (a target-language tag in translation, a language tag in LM)."""
        return N_BYTES + self.langs.index(lang)


def encode(text: str) -> list[int]:
    """UTF-8 bytes of ``text`` as token ids."""
    return list(text.encode("utf-8"))


def lm_example(vocab: Vocab, lang: str, text: str) -> tuple[list[int], list[int]]:
    """``<2lang> text \\n`` with every byte after the tag predicted: (ids, mask)."""
    ids = [vocab.tag(lang), *encode(text), EOS]
    return ids, [0] + [1] * (len(ids) - 1)


def translation_example(vocab: Vocab, tgt_lang: str, src: str, tgt: str) -> tuple[list[int], list[int]]:
    """``<2tgt> source \\t target \\n`` with the loss on the target bytes and the final newline only."""
    head = [vocab.tag(tgt_lang), *encode(src), SEP]
    tail = [*encode(tgt), EOS]
    return head + tail, [0] * len(head) + [1] * len(tail)
