"""proxy/tasks.py: packed task arrays never carry a held-out key into training, and disjoint sources give
each training key to one pair; a cloned language is its source through a bijection, split by the same
keys; a unique-token cap keeps a fixed shuffle's first rows."""

import re
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalemix.errors import ScalemixError
from scalemix.proxy import corpus, tasks, tokens, train


def _tagged_corpus():
    """A synthetic parallel corpus whose every text carries its key, so leaks can be searched for."""
    base = corpus.synthetic(("en", "de", "ru"), n_segments=600, seed=3)
    segs = {lang: {k: f"#{k}# {t}" for k, t in per.items()} for lang, per in base.segments.items()}
    return corpus.Corpus("tagged", segs, True, "tagged")


@pytest.mark.parametrize("mode,domains", [("translation", ("en-de", "ru-en")), ("lm", ("de", "ru"))])
def test_heldout_keys_never_reach_training_rows(mode, domains):
    c = _tagged_corpus()
    data = tasks.build(tasks.TaskSpec(mode, domains, seq_len=192), c)
    text = bytes(np.clip(data.train_tokens, 0, 255).astype(np.uint8).ravel()).decode("utf-8", "ignore")
    eval_text = bytes(np.clip(data.eval_tokens, 0, 255).astype(np.uint8).ravel()).decode("utf-8", "ignore")
    held = [k for k in c.segments["en"] if corpus.is_heldout(k, 0.05)]
    assert len(held) > 10
    assert not any(f"#{k}#" in text for k in held)
    assert sum(f"#{k}#" in eval_text for k in held) > 0.9 * len(held)


def test_disjoint_sources_give_each_training_key_to_one_pair():
    data = tasks.build(tasks.TaskSpec("translation", ("en-de", "ru-en"), seq_len=192), _tagged_corpus())
    assert data.train_tokens.shape[1] == 193 and data.vocab.size == 259
    keys = []
    for off, n in zip(data.train_offsets, data.train_counts):
        text = bytes(np.clip(data.train_tokens[off : off + n], 0, 255).astype(np.uint8).ravel()).decode("utf-8", "ignore")
        keys.append(set(re.findall(r"#(s\d+)#", text)))
    assert min(map(len, keys)) > 200 and keys[0].isdisjoint(keys[1])


def _block(array, data, k):
    """Domain ``k``'s training rows of ``array`` (``train_tokens`` or ``train_mask``)."""
    start = data.train_offsets[k]
    return array[start : start + data.train_counts[k]]


def _keys_in(rows, vocab, lang):
    """The ``#key#`` marks in rows of ``lang`` (a clone's ids mapped back to bytes first)."""
    offset = vocab.byte_offset(lang)
    raw = rows[(rows >= offset) & (rows < offset + 256)] - offset
    return set(re.findall(r"#(s\d+)#", bytes(raw.astype(np.uint8)).decode("utf-8", "ignore")))


def test_a_clone_is_its_source_in_ids_of_its_own_split_by_the_same_keys():
    c = _tagged_corpus()
    data = tasks.build(tasks.TaskSpec("lm", ("de", "de_clone", "ru"), seq_len=192), c)
    vocab = data.vocab
    assert data.vocab.size == 256 + 3 + 256
    source, clone = _block(data.train_tokens, data, 0), _block(data.train_tokens, data, 1)
    assert not (set(np.unique(source)) & set(np.unique(clone))) - {tokens.PAD}
    off = vocab.byte_offset("de_clone")
    assert clone[clone != tokens.PAD].min() == vocab.tag("de_clone") and clone.max() < vocab.size
    # through the inverse map the clone's rows are the source's rows, id for id (same packing, same masks)
    back = np.where(clone >= off, clone - off, np.where(clone == vocab.tag("de_clone"), vocab.tag("de"), clone))
    np.testing.assert_array_equal(back, source)
    np.testing.assert_array_equal(_block(data.train_mask, data, 1), _block(data.train_mask, data, 0))
    # the held-out split is by key: the clone evaluates on exactly the source's held-out keys, never trains on them
    held = {k for k in c.segments["de"] if corpus.is_heldout(k, 0.05)}
    eval_keys = [_keys_in(data.eval_tokens[data.eval_domain == k], vocab, lang) for k, lang in enumerate(data.domains)]
    assert eval_keys[1] == eval_keys[0] and eval_keys[0] <= held and len(eval_keys[0]) > 0.9 * len(held)
    assert not _keys_in(clone, vocab, "de_clone") & held
    assert not _keys_in(clone, vocab, "de")  # the clone's text is not readable as plain bytes


def test_clone_and_cap_specs_are_checked():
    with pytest.raises(ScalemixError, match="cloned languages such as 'de_clone' are domains of mode 'lm'"):
        tasks.TaskSpec("translation", ("en-de_clone",))
    with pytest.raises(ScalemixError, match="'de~clone' is not a valid clone name"):
        tasks.TaskSpec("lm", ("de", "de~clone"))
    with pytest.raises(ScalemixError, match="name a domain twice"):
        tasks.TaskSpec("lm", ("de", "de"))
    with pytest.raises(ScalemixError, match=r"cap on 'fr': not a domain of the task; its domains are \['de'\]"):
        tasks.TaskSpec("lm", ("de",), unique=(("fr", 100),))
    with pytest.raises(ScalemixError, match="de = 0 must be a positive whole number"):
        tasks.TaskSpec("lm", ("de",), unique=(("de", 0),))
    assert tasks.TaskSpec("lm", ("de", "de_clone", "zh_CN_clone")).sources == ["de", "zh_CN"]


@pytest.fixture(scope="module")
def lm_corpus():
    return corpus.synthetic(("en", "de", "fr"), n_segments=600, seed=1)


def test_a_unique_cap_keeps_the_first_rows_of_a_fixed_shuffle(lm_corpus):
    spec = tasks.TaskSpec("lm", ("de", "fr"), seq_len=32)
    full = tasks.build(spec, lm_corpus)
    small = tasks.build(replace(spec, unique=(("de", 1000),)), lm_corpus)
    larger = tasks.build(replace(spec, unique=(("de", 3200),)), lm_corpus)
    n_de, n_fr = full.train_counts
    assert n_de > 150 and small.train_counts.tolist() == [32, n_fr] and larger.train_counts.tolist() == [100, n_fr]
    np.testing.assert_array_equal(tasks.unique_tokens(small), [32 * 32, n_fr * 32])  # ceil(1000 / 32) rows of 32
    np.testing.assert_array_equal(tasks.unique_tokens(full), full.train_counts * 32)
    order = tasks.unique_order("de", n_de)
    assert sorted(order) == list(range(n_de))
    np.testing.assert_array_equal(small.train_tokens[:32], full.train_tokens[order[:32]])
    np.testing.assert_array_equal(small.train_mask[:32], full.train_mask[order[:32]])
    assert not np.array_equal(small.train_tokens[:32], full.train_tokens[:32])  # not the alphabetically first keys
    np.testing.assert_array_equal(larger.train_tokens[:32], small.train_tokens[:32])  # nested subsets
    np.testing.assert_array_equal(_block(small.train_tokens, small, 1), _block(full.train_tokens, full, 1))
    np.testing.assert_array_equal(small.eval_tokens, full.eval_tokens)
    assert len({full.fingerprint, small.fingerprint, larger.fingerprint}) == 3
    # the sampler only ever draws the kept rows
    idx = np.asarray(train.sample_rows(jax.random.PRNGKey(0), jnp.array([1.0, 0.0]), jnp.asarray(small.train_offsets),
                                       jnp.asarray(small.train_counts), 4000))
    assert idx.min() == 0 and idx.max() == 31
    everything = tasks.build(replace(spec, unique=(("de", int(n_de) * 32),)), lm_corpus)
    assert everything.train_counts.tolist() == [n_de, n_fr]
    with pytest.raises(ScalemixError, match=rf"cap de = {n_de * 32 + 1} is more than the {n_de * 32} training tokens"):
        tasks.build(replace(spec, unique=(("de", int(n_de) * 32 + 1),)), lm_corpus)


def test_the_cache_holds_uncapped_arrays_and_load_applies_the_cap(tmp_path, monkeypatch, lm_corpus):
    monkeypatch.setenv("SCALEMIX_CACHE", str(tmp_path))
    spec = tasks.TaskSpec("lm", ("de", "de_clone"), seq_len=32)
    capped = replace(spec, unique=(("de_clone", 640),))
    source = {"source": "synthetic", "langs": ["de", "en", "fr"], "n_segments": 600, "seed": 1}
    path = tasks.prepare(capped, source)
    assert tasks.prepare(spec, source) == path and len(list((tmp_path / "tasks").iterdir())) == 1
    loaded, built = tasks.load(path, capped), tasks.build(capped, lm_corpus)
    assert loaded.fingerprint == built.fingerprint and loaded.train_counts[1] == 20
    np.testing.assert_array_equal(loaded.train_tokens, built.train_tokens)
    assert tasks.load(path, spec).fingerprint == tasks.build(spec, lm_corpus).fingerprint
