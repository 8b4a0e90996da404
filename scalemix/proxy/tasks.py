"""Training and evaluation arrays for a task: language modelling or translation pairs, packed in rows.

A task turns a :class:`~scalemix.proxy.corpus.Corpus` into fixed-shape arrays that one compiled
training step can consume for every mixture:

- ``translation``: domains are pairs ``"src-tgt"``; an example is ``<2tgt> src \\t tgt \\n`` with the
  loss on the target bytes only (so En->X and X->En directions can be compared). With
  ``disjoint_sources`` each training key is given to exactly one pair (separate corpora per pair, as in
  Fernandes et al. 2023), so mixing pairs adds languages, not copies of the same English sentences.
- ``lm``: domains are languages; an example is ``<2lang> text \\n``, every byte after the tag predicted.
  A domain ``<lang>_clone`` is ``lang``'s text in a byte alphabet of its own (a cloned language,
  :mod:`scalemix.proxy.tokens`): the same segments, split by the same keys (so the clone never trains
  on a copy of one of ``lang``'s evaluation segments), with no token in common with ``lang``.

Whole examples are packed greedily into rows of ``seq_len + 1`` ids (row ``r`` trains positions
``1..seq_len``); an LM segment longer than a row is cut into chunks, a translation example that does
not fit is dropped. Held-out keys (:func:`~scalemix.proxy.corpus.is_heldout`) only ever reach the
evaluation rows. Prepared arrays are cached under ``$SCALEMIX_CACHE`` (default ``~/.cache/scalemix``).

A task may cap a domain's *unique* training tokens (``unique``, for repetition series: Muennighoff et al.
2023, "Scaling Data-Constrained Language Models"): the domain then trains on only the first
``ceil(U / seq_len)`` of its rows in a fixed shuffled order (:func:`cap_unique`), repeated for as many
epochs as the budget takes. A token here is a trained row position (``seq_len`` per row, padding
included), the unit of a run's ``tokens``, so ``epochs = weight * tokens / unique`` exactly in expectation.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from scalemix.errors import ScalemixError
from scalemix.proxy import corpus as corpus_mod
from scalemix.proxy.tokens import PAD, Vocab, clone_source, lm_example, translation_example


@dataclass(frozen=True)
class TaskSpec:
    """What to train on: ``mode`` ('translation' | 'lm'), ``domains`` (pairs 'en-de' or languages 'de',
    clones 'de_clone' in lm mode), and ``unique``: ``(domain, tokens)`` caps on unique training tokens."""

    mode: str
    domains: tuple[str, ...]
    seq_len: int = 128
    heldout_frac: float = 0.05
    disjoint_sources: bool = True
    unique: tuple[tuple[str, int], ...] = ()

    def __post_init__(self):
        if self.mode not in ("translation", "lm"):
            raise ScalemixError(f"task mode {self.mode!r} is not known; use 'translation' or 'lm'")
        if len(set(self.domains)) != len(self.domains):
            raise ScalemixError(f"task domains {list(self.domains)} name a domain twice; list each once")
        if self.mode == "translation":
            for d in self.domains:
                parts = d.split("-")
                if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
                    raise ScalemixError(f"translation pair {d!r} must read 'src-tgt', e.g. 'en-de'")
                if "clone" in d.lower():
                    raise ScalemixError(f"translation pair {d!r}: cloned languages such as 'de_clone' are domains of mode 'lm'")
        else:
            for d in self.domains:
                clone_source(d)  # raises on a malformed clone name
        for domain, cap in self.unique:
            if domain not in self.domains:
                raise ScalemixError(f"unique-token cap on {domain!r}: not a domain of the task; its domains are {list(self.domains)}")
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
                raise ScalemixError(f"unique-token cap {domain} = {cap!r} must be a positive whole number of tokens, e.g. 200000")

    @property
    def langs(self) -> list[str]:
        """The task's languages: its vocabulary's tags (clones included)."""
        if self.mode == "lm":
            return sorted(set(self.domains))
        return sorted({lang for d in self.domains for lang in d.split("-")})

    @property
    def sources(self) -> list[str]:
        """The languages whose text the task reads from a corpus (a clone reads its source's)."""
        return sorted({clone_source(lang) or lang for lang in self.langs})


@dataclass(frozen=True)
class TaskData:
    """Packed arrays of one task. Row arrays have shape ``[rows, seq_len + 1]``.

    ``train_offsets[k]``/``train_counts[k]`` locate domain ``k``'s rows in ``train_tokens``;
    ``eval_domain[r]`` is the domain of evaluation row ``r`` and ``eval_en_bytes[r]`` the English bytes
    of the segments in it (NaN when the corpus has no English side).
    """

    spec: TaskSpec
    vocab: Vocab
    train_tokens: np.ndarray
    train_mask: np.ndarray
    train_offsets: np.ndarray
    train_counts: np.ndarray
    eval_tokens: np.ndarray
    eval_mask: np.ndarray
    eval_domain: np.ndarray
    eval_en_bytes: np.ndarray
    corpus_fingerprint: str
    fingerprint: str

    @property
    def domains(self) -> tuple[str, ...]:
        return self.spec.domains


def _pack(examples, row_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy packing of ``(ids, mask, en_bytes)`` examples into rows; returns tokens, mask, en bytes."""
    rows_t, rows_m, rows_e = [], [], []
    cur_t, cur_m, cur_e = [], [], 0.0
    for ids, mask, en in examples:
        if len(cur_t) + len(ids) > row_len:
            rows_t.append(cur_t), rows_m.append(cur_m), rows_e.append(cur_e)
            cur_t, cur_m, cur_e = [], [], 0.0
        cur_t, cur_m, cur_e = cur_t + ids, cur_m + mask, cur_e + en
    if cur_t:
        rows_t.append(cur_t), rows_m.append(cur_m), rows_e.append(cur_e)
    tokens = np.full((len(rows_t), row_len), PAD, dtype=np.int32)
    masks = np.zeros((len(rows_t), row_len), dtype=np.float32)
    for r, (t, m) in enumerate(zip(rows_t, rows_m)):
        tokens[r, : len(t)] = t
        masks[r, : len(m)] = m
    return tokens, masks, np.asarray(rows_e, dtype=np.float64)


def _lm_examples(vocab, corpus, lang, keys, row_len):
    source = clone_source(lang) or lang
    for key in keys:
        text = corpus.segments[source][key]
        raw = text.encode("utf-8")
        en = corpus.english_bytes(key) if corpus.parallel else float("nan")
        step = row_len - 2  # tag + newline
        for start in range(0, len(raw), step):
            chunk = raw[start : start + step].decode("utf-8", errors="ignore")
            ids, mask = lm_example(vocab, lang, chunk)
            yield ids, mask, en * len(chunk.encode("utf-8")) / max(len(raw), 1)


def _translation_examples(vocab, corpus, pair, keys, row_len):
    src, tgt = pair.split("-")
    for key in keys:
        s, t = corpus.segments[src].get(key), corpus.segments[tgt].get(key)
        if s is None or t is None:
            continue
        ids, mask = translation_example(vocab, tgt, s, t)
        if len(ids) <= row_len:
            yield ids, mask, corpus.english_bytes(key)


def _pair_of_key(key: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(("pair-split:" + key).encode()).digest()[:8], "big") % n


def build(spec: TaskSpec, corpus: corpus_mod.Corpus) -> TaskData:
    """Pack ``corpus`` for ``spec`` (see the module docstring) and apply its unique-token caps
    (:func:`cap_unique`). Raises if a domain gets no rows."""
    missing = [lang for lang in spec.sources if lang not in corpus.segments]
    if missing:
        raise ScalemixError(
            f"corpus {corpus.name!r} has no text for {missing}; it has {corpus.langs}. Change the task's domains."
        )
    vocab = Vocab.for_langs(spec.langs)
    row_len = spec.seq_len + 1
    train_parts, eval_parts = [], []
    for k, domain in enumerate(spec.domains):
        if spec.mode == "lm":
            keys = corpus.segments[clone_source(domain) or domain].keys()
        else:
            src, tgt = domain.split("-")
            keys = corpus.segments[src].keys() & corpus.segments[tgt].keys()
        train_keys, held_keys = corpus_mod.split_keys(keys, spec.heldout_frac)
        if spec.mode == "translation" and spec.disjoint_sources and len(spec.domains) > 1:
            train_keys = [key for key in train_keys if _pair_of_key(key, len(spec.domains)) == k]
        make = _lm_examples if spec.mode == "lm" else _translation_examples
        train_parts.append(_pack(make(vocab, corpus, domain, train_keys, row_len), row_len))
        eval_parts.append(_pack(make(vocab, corpus, domain, held_keys, row_len), row_len))
        if len(train_parts[-1][0]) == 0 or len(eval_parts[-1][0]) == 0:
            raise ScalemixError(f"domain {domain!r} has no training or held-out text in corpus {corpus.name!r}")
    counts = np.array([len(p[0]) for p in train_parts], dtype=np.int32)
    arrays = dict(
        train_tokens=np.concatenate([p[0] for p in train_parts]),
        train_mask=np.concatenate([p[1] for p in train_parts]),
        train_offsets=np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32),
        train_counts=counts,
        eval_tokens=np.concatenate([p[0] for p in eval_parts]),
        eval_mask=np.concatenate([p[1] for p in eval_parts]),
        eval_domain=np.concatenate([np.full(len(p[0]), k, np.int32) for k, p in enumerate(eval_parts)]),
        eval_en_bytes=np.concatenate([p[2] for p in eval_parts]),
    )
    data = TaskData(spec, vocab, **arrays, corpus_fingerprint=corpus.fingerprint, fingerprint=_hash_arrays(arrays))
    return cap_unique(data, spec.unique)


def unique_order(domain: str, n: int) -> np.ndarray:
    """The fixed order in which a capped domain's ``n`` training rows are kept: a permutation seeded by
    the domain's name. (Rows are packed from keys in sorted order, so keeping the first rows as packed
    would keep only the segments whose keys sort first, e.g. English msgids starting with '%' or 'A'.)
    A smaller cap keeps a prefix of a larger one's rows: a repetition series trains on nested subsets."""
    seed = int.from_bytes(hashlib.sha256(("unique-order:" + domain).encode()).digest()[:8], "big")
    return np.random.default_rng(seed).permutation(n)


def cap_rows(tokens: int, seq_len: int) -> int:
    """Rows that hold ``tokens`` unique training tokens: ``ceil(tokens / seq_len)`` (a row trains ``seq_len``)."""
    return max(1, math.ceil(tokens / seq_len))


def cap_unique(data: TaskData, unique) -> TaskData:
    """``data`` with each capped domain ``(domain, tokens)`` of ``unique`` limited to its first
    :func:`cap_rows` training rows in :func:`unique_order`: that domain's block of ``train_tokens`` is
    put in that order and its ``train_counts`` entry cut, so training samples only the kept rows. The
    fingerprint is the new arrays' content hash, so a run's id covers its caps. Evaluation is unchanged.
    Raises when a cap is above what the domain holds."""
    if not unique:
        return data
    tokens, mask, counts = data.train_tokens.copy(), data.train_mask.copy(), data.train_counts.copy()
    seq_len = tokens.shape[1] - 1
    for domain, cap in unique:
        k = data.domains.index(domain)
        start, n, keep = int(data.train_offsets[k]), int(counts[k]), cap_rows(cap, seq_len)
        if keep > n:
            raise ScalemixError(
                f"unique-token cap {domain} = {cap} is more than the {n * seq_len} training tokens ({n} rows of "
                f"{seq_len}) domain {domain!r} holds in this corpus; lower the cap or drop it"
            )
        order = start + unique_order(domain, n)
        tokens[start : start + n], mask[start : start + n] = tokens[order], mask[order]
        counts[k] = keep
    arrays = {f: getattr(data, f) for f in _ARRAY_FIELDS} | {"train_tokens": tokens, "train_mask": mask, "train_counts": counts}
    return replace(data, **arrays, fingerprint=_hash_arrays(arrays))


def unique_tokens(data: TaskData) -> np.ndarray:
    """Unique training tokens each domain can train on (``train_counts * seq_len``; capped or not)."""
    return data.train_counts.astype(np.float64) * (data.train_tokens.shape[1] - 1)


def _hash_arrays(arrays: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """``$SCALEMIX_CACHE`` or ``~/.cache/scalemix`` (prepared arrays only; never inside the repo)."""
    return Path(os.environ.get("SCALEMIX_CACHE", Path.home() / ".cache" / "scalemix"))


def prepare(spec: TaskSpec, corpus_spec: dict, corpus: corpus_mod.Corpus | None = None) -> Path:
    """Build the task's arrays for the corpus ``corpus_spec`` describes (see :func:`open_corpus`) unless
    the cache already holds them; return the cached ``.npz`` path. ``corpus``: that corpus already open
    (a sweep's plan opens each corpus once for all its cohorts).

    The cache key covers the task spec, the corpus spec and the corpus fingerprint (catalog file names,
    sizes and times, or a user corpus's content), so a changed corpus is re-read. The file holds the
    uncapped arrays (one file serves every cap of a repetition series); :func:`load` applies the caps. A sweep loads the
    file prepared when it was planned (:func:`load`), so a corpus that changes mid-sweep (a package
    installed) cannot mix two versions of the data in one table.
    """
    corpus = open_corpus(corpus_spec) if corpus is None else corpus
    base = replace(spec, unique=())
    key = {k: v for k, v in asdict(base).items() if k != "unique"}  # the key of the tasks before caps existed
    key = [_CACHE_FORMAT, key, corpus_spec, corpus.fingerprint]
    key = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
    path = cache_dir() / "tasks" / f"{key.hexdigest()[:20]}.npz"
    if not path.exists():
        data = build(base, corpus)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        arrays = {f: getattr(data, f) for f in _ARRAY_FIELDS}
        np.savez(tmp, fingerprint=np.array(data.fingerprint), corpus_fingerprint=np.array(corpus.fingerprint), **arrays)
        os.replace(tmp, path)
    return path


def load(path, spec: TaskSpec) -> TaskData:
    """Task arrays saved by :func:`prepare`, with ``spec``'s unique-token caps applied."""
    with np.load(path) as z:
        arrays = {name: z[name] for name in _ARRAY_FIELDS}
        fps = str(z["fingerprint"]), str(z["corpus_fingerprint"])
    data = TaskData(spec, Vocab.for_langs(spec.langs), **arrays, corpus_fingerprint=fps[1], fingerprint=fps[0])
    return cap_unique(data, spec.unique)


def load_or_build(spec: TaskSpec, corpus_spec: dict) -> TaskData:
    """:func:`load` of :func:`prepare`: the task's arrays, from the cache when possible."""
    return load(prepare(spec, corpus_spec), spec)


_CACHE_FORMAT = 2  # bump when the saved arrays change
_ARRAY_FIELDS = (
    "train_tokens", "train_mask", "train_offsets", "train_counts",
    "eval_tokens", "eval_mask", "eval_domain", "eval_en_bytes",
)


def open_corpus(corpus_spec: dict) -> corpus_mod.Corpus:
    """A corpus from a spec: ``{"source": "catalogs", "langs": [...]}``, ``{"source": "synthetic", ...}``
    (keyword arguments of :func:`~scalemix.proxy.corpus.synthetic`), ``{"source": "dir", "path": ...}``,
    ``{"source": "tsv", "path": ...}`` or ``{"source": "libreoffice", "path": ...}``."""
    spec = dict(corpus_spec)
    source = spec.pop("source", None)
    try:
        return _open(source, spec)
    except (TypeError, KeyError) as e:
        raise ScalemixError(f"corpus {source!r}: bad or missing keys, have {sorted(corpus_spec)} ({e})") from None


def _open(source, spec: dict) -> corpus_mod.Corpus:
    if source == "catalogs":
        return corpus_mod.read_catalogs(**spec)
    if source == "synthetic":
        return corpus_mod.synthetic(**spec)
    if source == "libreoffice":
        return corpus_mod.read_libreoffice_help(spec["path"])
    if source == "dir":
        return corpus_mod.read_text_dir(spec["path"])
    if source == "tsv":
        return corpus_mod.read_tsv(spec["path"])
    raise ScalemixError(
        f"corpus source {source!r} is not known; use 'catalogs', 'synthetic', 'libreoffice', 'dir' or 'tsv'"
    )
