"""proxy/corpus.py: gettext catalogs, LibreOffice help, user text and TSV corpora, the held-out split by
key, the synthetic corpus (no training)."""

import math
import struct

import pytest

from scalemix.errors import ScalemixError
from scalemix.proxy import corpus, tasks


def _write_mo(path, entries):
    """A GNU .mo file (the format msgfmt writes) for ``{msgid: msgstr}``; keys/values may hold \\x00/\\x04."""
    keys = sorted(entries)
    ids = b"".join(k.encode() + b"\0" for k in keys)
    strs = b"".join(entries[k].encode() + b"\0" for k in keys)
    n = len(keys)
    key_start = 7 * 4 + 16 * n
    val_start = key_start + len(ids)
    koffs, voffs, ko, vo = [], [], 0, 0
    for k in keys:
        koffs += [len(k.encode()), key_start + ko]
        ko += len(k.encode()) + 1
        voffs += [len(entries[k].encode()), val_start + vo]
        vo += len(entries[k].encode()) + 1
    header = struct.pack("Iiiiiii", 0x950412DE, 0, n, 7 * 4, 7 * 4 + 8 * n, 0, 0)
    path.write_bytes(header + struct.pack(f"{2 * n}i", *koffs) + struct.pack(f"{2 * n}i", *voffs) + ids + strs)


def test_clean_strips_context_accelerators_and_whitespace():
    assert corpus.clean("menu\x04_Open  the\n file") == "Open the file"
    assert corpus.clean("Save &As ~Copy") == "Save As Copy"
    assert corpus.clean("文件(_F)") == "文件"
    assert corpus.clean("keep file_name and a & b") == "keep file_name and a & b"


def test_read_catalogs_cleans_and_drops_plural_untranslated(tmp_path):
    header = "Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"
    for lang, words in {"de": ("_Datei", "Fenster"), "fr": ("_Fichier", "Fenêtre")}.items():
        (tmp_path / lang / "LC_MESSAGES").mkdir(parents=True)
        _write_mo(
            tmp_path / lang / "LC_MESSAGES" / "app.mo",
            {
                "": header,
                "_File": words[0],
                "ctx\x04Window": words[1],
                "Same": "Same",  # untranslated (identical): dropped
                "one file\x00%d files": "1 x\x00%d xs",  # plural: only form 0 kept
            },
        )
    c = corpus.read_catalogs(["de", "fr"], root=tmp_path)
    assert c.segments["de"] == {"File": "Datei", "Window": "Fenster", "one file": "1 x"}
    assert c.segments["fr"]["File"] == "Fichier" and c.segments["en"]["Window"] == "Window"
    assert c.parallel and c.english_bytes("Window") == 6.0
    with pytest.raises(ScalemixError, match="no gettext catalogs for language 'xx'"):
        corpus.read_catalogs(["xx"], root=tmp_path)


def test_heldout_split_is_by_key_and_near_the_fraction():
    keys = [f"k{i}" for i in range(20000)]
    train, held = corpus.split_keys(keys, 0.05)
    assert set(train).isdisjoint(held) and len(train) + len(held) == len(keys)
    sd = math.sqrt(20000 * 0.05 * 0.95)
    assert abs(len(held) - 1000) < 5 * sd
    assert held == corpus.split_keys(reversed(keys), 0.05)[1]  # order-free, hence the same in every language


def test_synthetic_is_deterministic_and_temperature_raises_entropy():
    a, b = corpus.synthetic(seed=1), corpus.synthetic(seed=1)
    assert a.segments == b.segments and a.fingerprint == b.fingerprint
    words = lambda c: {w for t in c.segments["de"].values() for w in t.split()}  # noqa: E731
    cold = words(corpus.synthetic(temperature=0.01, n_concepts=32, synonyms=4))
    hot = words(corpus.synthetic(temperature=5.0, n_concepts=32, synonyms=4))
    assert len(cold) <= 32 < len(hot)


def test_user_corpora_and_readable_errors(tmp_path):
    (tmp_path / "de.txt").write_text("Guten  Tag\n\nHallo\n", encoding="utf-8")
    c = corpus.read_text_dir(tmp_path)
    assert c.segments == {"de": {"Guten Tag": "Guten Tag", "Hallo": "Hallo"}} and not c.parallel
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("en\tfr\nHello\tBonjour\nYes\t\n", encoding="utf-8")
    p = corpus.read_tsv(tsv)
    assert p.segments == {"en": {"Hello": "Hello", "Yes": "Yes"}, "fr": {"Hello": "Bonjour"}}
    with pytest.raises(ScalemixError, match="no <lang>.txt files"):
        corpus.read_text_dir(tmp_path / "missing")
    with pytest.raises(ScalemixError, match="has no text for"):
        tasks.build(tasks.TaskSpec("lm", ("ja",)), c)
    with pytest.raises(ScalemixError, match="must read 'src-tgt'"):
        tasks.TaskSpec("translation", ("ende",))


def test_libreoffice_help_aligns_paragraphs_by_file_and_id(tmp_path):
    pages = {
        "en-US": '<p id="par_1" class="paragraph">Open a <emph>file</emph></p><p id="par_2">Close</p><p>no id</p>',
        "de": '<p id="par_2">Schlie&szlig;en</p><p id="par_1">Eine <emph>Datei</emph> öffnen</p><p id="x">Nur DE</p>',
    }
    for lang, html in pages.items():
        (tmp_path / lang / "text").mkdir(parents=True)
        (tmp_path / lang / "text" / "a.html").write_text(f"<html><body>{html}</body></html>", encoding="utf-8")
    c = corpus.read_libreoffice_help(tmp_path)
    assert c.segments["de"] == {"Open a file": "Eine Datei öffnen", "Close": "Schließen"}
    assert c.segments["en"] == {"Open a file": "Open a file", "Close": "Close"} and c.parallel
    with pytest.raises(ScalemixError, match="needs an en-US/ folder"):
        corpus.read_libreoffice_help(tmp_path / "de")
