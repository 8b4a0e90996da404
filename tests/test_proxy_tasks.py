"""proxy/tasks.py: packed task arrays never carry a held-out key into training, and disjoint sources give
each training key to one pair."""

import re

import numpy as np
import pytest

from scalemix.proxy import corpus, tasks


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
