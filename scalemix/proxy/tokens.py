"""Byte-level tokens: ids 0-255 are UTF-8 bytes, ids 256+ are language tags ``<2xx>``, then clone bytes.

A vocabulary is the 256 bytes plus one tag per language of a task, in a fixed (sorted) order, so the
same task always maps to the same ids and one compiled model serves every mixture of that task.

A *cloned language* ``<lang>_clone`` (Schaefer et al. 2024, "The Role of Language Imbalance in
Cross-lingual Generalisation") is ``lang``'s text written through a byte bijection into ids of its own:
byte ``b`` of a clone is id ``offset + b``, where each clone owns a block of 256 ids after the tags. A
clone therefore has the same content as its source but no token in common with it (not even the
newline), and the vocabulary grows by 256 ids per clone. An offset is as good as any permutation here:
a model's embedding of an id is initialised independently of the id's value. (The suffix is ``_clone``
because run-table columns ``w.<domain>`` and MLflow names ``loss.<target>`` allow letters, digits,
``_ - . /`` and spaces; no locale code ends in ``_clone``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scalemix.errors import ScalemixError

N_BYTES = 256
CLONE_SUFFIX = "_clone"
_CLONE = re.compile(r"^([A-Za-z0-9@-]+(?:_[A-Za-z0-9@-]+)?)_clone$")
SEP = 9  # "\t": separates the source from the target in a translation example
EOS = 10  # "\n": ends every example (and is predicted, so the model learns where a target stops)
PAD = 0  # padding id; padded positions are never predicted (mask 0)


def clone_source(lang: str) -> str | None:
    """The language a clone copies (``"de_clone"`` -> ``"de"``, ``"zh_CN_clone"`` -> ``"zh_CN"``), None
    for a plain language. Raises :class:`ScalemixError` for any other name that mentions a clone
    (``"de~clone"``, ``"clone_de"``, a clone of a clone)."""
    if "clone" not in lang.lower():
        return None
    match = _CLONE.fullmatch(lang)
    if match is None or match.group(1).lower().endswith("clone"):
        raise ScalemixError(
            f"language {lang!r} is not a valid clone name: write '<lang>_clone', a language code followed by "
            "'_clone' (e.g. 'de_clone' or 'zh_CN_clone'), for a copy of that language in bytes of its own"
        )
    return match.group(1)


@dataclass(frozen=True)
class Vocab:
    """256 byte ids, one ``<2lang>`` tag id per language (``langs`` sorted, clones included), then 256
    byte ids per clone (``clones``, in the order of ``langs``)."""

    langs: tuple[str, ...]

    @classmethod
    def for_langs(cls, langs) -> "Vocab":
        return cls(tuple(sorted(set(langs))))

    @property
    def clones(self) -> tuple[str, ...]:
        return tuple(lang for lang in self.langs if clone_source(lang) is not None)

    @property
    def size(self) -> int:
        return N_BYTES + len(self.langs) + N_BYTES * len(self.clones)

    def tag(self, lang: str) -> int:
        """Id of the tag ``<2lang>`` (a target-language tag in translation, a language tag in LM)."""
        return N_BYTES + self.langs.index(lang)

    def byte_offset(self, lang: str) -> int:
        """Id of byte 0 in ``lang``'s text: 0 for a plain language, the start of its block for a clone."""
        if clone_source(lang) is None:
            return 0
        return N_BYTES + len(self.langs) + N_BYTES * self.clones.index(lang)

    def encode(self, lang: str, data: bytes) -> list[int]:
        """Ids of the bytes ``data`` written in ``lang`` (shifted into the clone's block for a clone)."""
        offset = self.byte_offset(lang)
        return [offset + b for b in data]

    def decode(self, lang: str, ids) -> bytes:
        """The inverse of :meth:`encode`: bytes of ``lang``'s ids. Raises on an id outside its range."""
        offset = self.byte_offset(lang)
        out = [int(i) - offset for i in ids]
        bad = [int(i) for i, b in zip(ids, out) if not 0 <= b < N_BYTES]
        if bad:
            raise ScalemixError(f"ids {bad[:5]} are not bytes of language {lang!r} (its ids are {offset}..{offset + 255})")
        return bytes(out)


def encode(text: str) -> list[int]:
    """UTF-8 bytes of ``text`` as token ids."""
    return list(text.encode("utf-8"))


def lm_example(vocab: Vocab, lang: str, text: str) -> tuple[list[int], list[int]]:
    """``<2lang> text \\n`` with every byte after the tag predicted: (ids, mask). A clone's bytes, the
    newline included, are its own ids (:meth:`Vocab.encode`)."""
    ids = [vocab.tag(lang), *vocab.encode(lang, text.encode("utf-8") + bytes([EOS]))]
    return ids, [0] + [1] * (len(ids) - 1)


def translation_example(vocab: Vocab, tgt_lang: str, src: str, tgt: str) -> tuple[list[int], list[int]]:
    """``<2tgt> source \\t target \\n`` with the loss on the target bytes and the final newline only."""
    head = [vocab.tag(tgt_lang), *encode(src), SEP]
    tail = [*encode(tgt), EOS]
    return head + tail, [0] * len(head) + [1] * len(tail)
