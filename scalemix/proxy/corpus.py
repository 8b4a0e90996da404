"""Multilingual corpora for proxy runs: segments keyed across languages, cleaned, with a held-out split.

A :class:`Corpus` maps ``lang -> {key: text}``. In a *parallel* corpus the key is the English source
segment (a gettext msgid, a TSV's first column, or a synthetic segment id) and every language's text
under that key is its translation, so the held-out split is decided **by key, across all languages**:
no language ever trains on the translation of an evaluation segment.

Sources:

- :func:`read_catalogs` -- the translation catalogs installed on Debian systems
  (``/usr/share/locale/*/LC_MESSAGES/*.mo``, GPL/LGPL text: read at run time, never committed).
- :func:`read_libreoffice_help` -- LibreOffice help pages (MPL-2.0; an optional download, e.g.
  ``apt-get download libreoffice-help-de libreoffice-help-en-us`` then ``dpkg -x`` each package),
  paragraph-aligned by ``<p id=...>`` across languages: several MB more parallel text per language.
- :func:`read_text_dir` -- a directory of ``<lang>.txt`` files (one segment per line; not parallel).
- :func:`read_tsv` -- a TSV of parallel segments whose header row names the languages.
- :func:`synthetic` -- generated languages with controllable entropy and shared structure (tests).
"""

from __future__ import annotations

import gettext
import hashlib
import re
from html.parser import HTMLParser
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalemix.errors import ScalemixError

CATALOG_ROOT = Path("/usr/share/locale")
_CLEANING_VERSION = "1"
_ACCEL_PAREN = re.compile(r"\(\s*[_&~][^\W_]\s*\)")  # CJK-style accelerators: "文件(_F)"
_ACCEL_MARK = re.compile(r"(?<![\w&_~])[_&~](?=[^\W_])")  # "_File", "&Open", "~Save"


@dataclass(frozen=True)
class Corpus:
    """Segments per language: ``segments[lang][key] = text``; ``parallel`` says keys align languages."""

    name: str
    segments: dict[str, dict[str, str]]
    parallel: bool
    fingerprint: str

    @property
    def langs(self) -> list[str]:
        return sorted(self.segments)

    def english_bytes(self, key: str) -> float:
        """UTF-8 length of the English side of ``key`` (NaN where the corpus has no English)."""
        en = self.segments.get("en", {}).get(key)
        return float(len(en.encode("utf-8"))) if en is not None else float("nan")


def clean(text: str) -> str:
    """Strip a msgctxt prefix and accelerator marks (``_ & ~`` before a letter), collapse whitespace."""
    text = text.split("\x04", 1)[-1]
    text = _ACCEL_PAREN.sub("", text)
    text = _ACCEL_MARK.sub("", text)
    return " ".join(text.split())


def is_heldout(key: str, frac: float) -> bool:
    """Deterministic split by key: the same key is held out in every language (and every process)."""
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return h / 2.0**64 < frac


def split_keys(keys, frac: float) -> tuple[list[str], list[str]]:
    """``(train, heldout)`` keys, each sorted, split by :func:`is_heldout`."""
    keys = sorted(keys)
    held = [k for k in keys if is_heldout(k, frac)]
    held_set = set(held)
    return [k for k in keys if k not in held_set], held


def _fingerprint(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8"))
    return h.hexdigest()[:16]


# --- gettext catalogs ---------------------------------------------------------------------------


def catalog_files(lang: str, root: Path = CATALOG_ROOT) -> list[Path]:
    """The ``.mo`` files installed for ``lang``, sorted (so deduplication keeps a stable first)."""
    return sorted((Path(root) / lang / "LC_MESSAGES").glob("*.mo"))


def catalogs_available(langs=("de",), root: Path = CATALOG_ROOT) -> bool:
    """True when every language in ``langs`` has at least one installed catalog."""
    return all(catalog_files(lang, root) for lang in langs)


def _read_mo(path: Path) -> dict[str, str]:
    """Singular msgid -> msgstr of one catalog, cleaned; plural forms > 0, headers and
    untranslated entries (empty or identical to the msgid) dropped. Unreadable catalogs give {}."""
    try:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    out: dict[str, str] = {}
    for key, value in catalog.items():
        if isinstance(key, tuple):  # plural entry: (msgid, form index)
            if key[1] != 0:
                continue
            key = key[0]
        src, tgt = clean(key), clean(value)
        if src and tgt and src != tgt:
            out.setdefault(src, tgt)
    return out


def read_catalogs(langs, root: Path = CATALOG_ROOT) -> Corpus:
    """The installed gettext catalogs of ``langs`` as a parallel corpus keyed by the English msgid.

    Every catalog of a language is read (first translation of a msgid wins, files in name order);
    English is the msgids themselves, restricted to those translated into at least one language.
    Raises :class:`ScalemixError` when a language has no catalogs.
    """
    langs = sorted(set(langs) - {"en"})
    segments: dict[str, dict[str, str]] = {}
    stamp = []
    for lang in langs:
        files = catalog_files(lang, root)
        if not files:
            raise ScalemixError(
                f"no gettext catalogs for language {lang!r} under {Path(root) / lang / 'LC_MESSAGES'}; "
                "install the Debian packages that ship them or use corpus source 'synthetic'/'dir'/'tsv'"
            )
        merged: dict[str, str] = {}
        for path in files:
            for k, v in _read_mo(path).items():
                merged.setdefault(k, v)
            st = path.stat()
            stamp.append((lang, path.name, st.st_size, int(st.st_mtime)))
        segments[lang] = merged
    segments["en"] = {k: k for per in segments.values() for k in per}
    return Corpus("catalogs", segments, True, _fingerprint("catalogs", _CLEANING_VERSION, stamp))


# --- LibreOffice help -------------------------------------------------------------------------


class _IdParagraphs(HTMLParser):
    """Text of every ``<p>``/``<h1-6>`` element that has an ``id``, by id."""

    _TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: dict[str, str] = {}
        self._id, self._depth, self._text = None, 0, []

    def handle_starttag(self, tag, attrs):
        if self._id is not None:
            self._depth += tag in self._TAGS
        elif tag in self._TAGS and dict(attrs).get("id"):
            self._id, self._depth, self._text = dict(attrs)["id"], 0, []

    def handle_endtag(self, tag):
        if self._id is None or tag not in self._TAGS:
            return
        if self._depth:
            self._depth -= 1
            return
        self.found.setdefault(self._id, "".join(self._text))
        self._id = None

    def handle_data(self, data):
        if self._id is not None:
            self._text.append(data)


def _help_lang(dirname: str) -> str:
    """``en-US`` -> ``en``, ``pt-BR`` -> ``pt-br``, ``de`` -> ``de``."""
    return "en" if dirname.lower().startswith("en") else dirname.lower()


def read_libreoffice_help(root) -> Corpus:
    """Extracted LibreOffice help (``root/<lang>/**/*.html``, English under ``en-US``) as a parallel
    corpus: paragraphs with the same file path and ``id`` are translations; the key is the English
    paragraph. Raises :class:`ScalemixError` without an English directory."""
    root = Path(root)
    langs = {_help_lang(d.name): d for d in sorted(root.iterdir()) if d.is_dir()} if root.is_dir() else {}
    if "en" not in langs:
        raise ScalemixError(
            f"LibreOffice help dir {str(root)!r} needs an en-US/ folder beside the other languages "
            "(apt-get download libreoffice-help-en-us, then dpkg -x it into the same help/ folder)"
        )

    def paragraphs(d: Path) -> dict[tuple[str, str], str]:
        out = {}
        for f in sorted(d.rglob("*.html")):
            parser = _IdParagraphs()
            parser.feed(f.read_text(encoding="utf-8", errors="replace"))
            rel = str(f.relative_to(d))
            out.update({(rel, pid): clean(text) for pid, text in parser.found.items()})
        return out

    english = paragraphs(langs["en"])
    segments: dict[str, dict[str, str]] = {"en": {}}
    for lang, d in langs.items():
        if lang == "en":
            continue
        per = segments.setdefault(lang, {})
        for where, text in paragraphs(d).items():
            key = english.get(where)
            if key and text and text != key:
                per.setdefault(key, text)
                segments["en"][key] = key
    stamp = [(str(f.relative_to(root)), f.stat().st_size) for f in sorted(root.rglob("*.html"))]
    return Corpus("libreoffice-help", segments, True, _fingerprint("lohelp", _CLEANING_VERSION, stamp))


# --- user corpora -------------------------------------------------------------------------------


def read_text_dir(path) -> Corpus:
    """A directory of ``<lang>.txt`` files, one segment per line (not parallel: held out by text)."""
    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else []
    if not files:
        raise ScalemixError(f"corpus dir {str(path)!r} has no <lang>.txt files; put one UTF-8 file per language there")
    segments = {}
    for f in files:
        lines = (clean(line) for line in f.read_text(encoding="utf-8", errors="replace").splitlines())
        segments[f.stem] = {line: line for line in lines if line}
    return Corpus(f"dir:{path.name}", segments, False, _fingerprint("dir", _CLEANING_VERSION, segments))


def read_tsv(path) -> Corpus:
    """A TSV of parallel segments: header ``en<TAB>de<TAB>...``, then one aligned row per segment.

    The first column is the key (the source segment); empty cells mean "no translation".
    """
    path = Path(path)
    if not path.is_file():
        raise ScalemixError(f"corpus TSV {str(path)!r} does not exist; give a file with a header of language codes")
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    header = [h.strip() for h in rows[0]] if rows else []
    if len(header) < 2 or len(set(header)) != len(header):
        raise ScalemixError(
            f"corpus TSV {str(path)!r}: header {header!r} must name >= 2 distinct languages, e.g. 'en<TAB>de'"
        )
    segments: dict[str, dict[str, str]] = {lang: {} for lang in header}
    for row in rows[1:]:
        key = clean(row[0])
        if not key:
            continue
        for lang, cell in zip(header, row):
            text = clean(cell)
            if text:
                segments[lang].setdefault(key, text)
    return Corpus(f"tsv:{path.name}", segments, True, _fingerprint("tsv", _CLEANING_VERSION, segments))


# --- synthetic languages ------------------------------------------------------------------------


def synthetic(
    langs=("en", "de", "fr"),
    n_segments: int = 2000,
    n_concepts: int = 64,
    synonyms: int = 3,
    temperature: float = 1.0,
    seed: int = 0,
) -> Corpus:
    """Generated parallel languages sharing one structure, with controllable entropy.

    Segment ``k`` is a latent sequence of 3-9 concepts drawn from a Zipf law (shared by every language:
    the corpus is parallel). Each language spells each concept with ``synonyms`` words of its own
    alphabet, picked with probabilities ``softmax(-rank / temperature)``: temperature -> 0 gives one
    deterministic spelling (a translation is a lookup), larger temperature raises the entropy.
    Languages also differ in word order (odd-indexed languages reverse it). Same arguments, same text.
    """
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, n_concepts + 1)
    zipf /= zipf.sum()
    latent = [rng.choice(n_concepts, size=rng.integers(3, 10), p=zipf) for _ in range(n_segments)]
    logits = -np.arange(synonyms) / max(temperature, 1e-6)
    pick = np.exp(logits - logits.max())
    pick /= pick.sum()
    segments = {}
    for li, lang in enumerate(sorted(langs)):
        lrng = np.random.default_rng([seed, li])
        letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))[lrng.permutation(26)[:12]]
        lexicon = [
            ["".join(lrng.choice(letters, size=lrng.integers(2, 7))) for _ in range(synonyms)]
            for _ in range(n_concepts)
        ]
        texts = {}
        for k, concepts in enumerate(latent):
            order = concepts[::-1] if li % 2 else concepts
            words = [lexicon[c][lrng.choice(synonyms, p=pick)] for c in order]
            texts[f"s{k:06d}"] = " ".join(words)
        segments[lang] = texts
    fp = _fingerprint("synthetic", tuple(sorted(langs)), n_segments, n_concepts, synonyms, temperature, seed)
    return Corpus("synthetic", segments, True, fp)
