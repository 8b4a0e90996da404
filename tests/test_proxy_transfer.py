"""Proxy features for transfer and repetition laws (#15): cloned-language domains and unique-token caps
in a sweep (run-table columns ``unique.<domain>`` and ``epochs.<domain>``, run ids that cover the cap),
a clone trained beside its source, ``[corpus] langs``, and the ``proxy-transfer`` preset's plan."""

import math

import numpy as np
import polars as pl
import pytest

from scalemix.errors import ScalemixError
from scalemix.proxy import corpus, executors, sweep, tasks, train
from scalemix.proxy.model import GPTConfig

CONFIG = """
name = "transfer-test"
[corpus]
source = "synthetic"
langs = ["de", "en", "fr"]
n_segments = 400
seed = 1
[model]
n_layers = 1
seq_len = 32
[train]
steps = 30
[[cohort]]
name = "clone"
mode = "lm"
domains = ["de", "de_clone"]
d_model = [16]
mixture = { design = "list", weights = [[0.5, 0.5]] }
[[cohort]]
name = "repeat"
mode = "lm"
domains = ["de", "fr"]
d_model = [16]
unique = { de = 1000 }
mixture = { design = "list", weights = [[0.75, 0.25]] }
"""
TOKENS = 30 * 8 * 32  # steps x batch x seq_len


def _config(tmp_path, text=CONFIG):
    path = tmp_path / "transfer.toml"
    path.write_text(text)
    return sweep.load_config(path)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("transfer")
    config = _config(path)
    return sweep.run_sweep(config, path / "runs.parquet", executors.InlineExecutor(), progress=False, say=lambda m: None)


def _full_rows(domains):
    """Training rows per domain of the uncapped task, built apart from the sweep."""
    synthetic = corpus.synthetic(("de", "en", "fr"), n_segments=400, seed=1)
    return tasks.build(tasks.TaskSpec("lm", domains, seq_len=32), synthetic).train_counts


def test_unique_and_epochs_columns(table):
    assert table.height == 4 and (table["loss"] < 5.0).all() and table["loss"].is_finite().all()
    clone = table.filter(pl.col("cohort") == "clone").row(0, named=True)
    n_de, _ = _full_rows(("de", "de_clone"))
    assert clone["unique.de"] == clone["unique.de_clone"] == n_de * 32  # uncapped: all its training tokens
    assert clone["epochs.de"] == pytest.approx(0.5 * TOKENS / (n_de * 32))
    assert clone["unique.fr"] is None  # a cohort without the domain says nothing about it
    repeat = table.filter(pl.col("cohort") == "repeat").row(0, named=True)
    _, n_fr = _full_rows(("de", "fr"))
    assert repeat["unique.de"] == math.ceil(1000 / 32) * 32 == 1024
    assert repeat["epochs.de"] == pytest.approx(0.75 * TOKENS / 1024)  # 5.625 passes over the kept rows
    assert repeat["unique.fr"] == n_fr * 32 and repeat["epochs.fr"] == pytest.approx(0.25 * TOKENS / (n_fr * 32))
    assert repeat["vocab_size"] == 258 and clone["vocab_size"] == 256 + 2 + 256


def test_run_ids_cover_the_cap(tmp_path):
    def ids(text):
        return [r.run_id for j in sweep.plan(_config(tmp_path, text), say=lambda m: None) for r in j.runs]

    base = ids(CONFIG)
    assert ids(CONFIG) == base
    other = ids(CONFIG.replace("unique = { de = 1000 }", "unique = { de = 2000 }"))
    uncapped = ids(CONFIG.replace("unique = { de = 1000 }", ""))
    assert other[0] == base[0] and len({base[1], other[1], uncapped[1]}) == 3
    # a cap in the same row block (ceil(1000 / 32) = ceil(1010 / 32)) trains the same rows: the same run
    assert ids(CONFIG.replace("de = 1000", "de = 1010"))[1] == base[1]


@pytest.mark.parametrize(
    "old,new,message",
    [
        ('"de_clone"', '"de~clone"', r"transfer.toml cohort 'clone': language 'de~clone' is not a valid clone name: write '<lang>_clone'"),
        ("de = 1000", "it = 1000", r"cohort 'repeat': unique names 'it', which is not one of the cohort's domains \['de', 'fr'\]"),
        ("de = 1000", "de = 1.5", r"cohort 'repeat': unique.de = 1.5 must be a positive whole number of tokens"),
        ("de = 1000", "de = 10_000_000", r"cohort 'repeat': unique-token cap de = 10000000 is more than the \d+ training tokens"),
        ('unique = { de = 1000 }', 'unique = 1000', r"unique = 1000 must be a table of domain = tokens"),
    ],
)
def test_bad_clones_and_caps_name_file_cohort_and_fix(tmp_path, old, new, message):
    with pytest.raises(ScalemixError, match=message):
        sweep.plan(_config(tmp_path, CONFIG.replace(old, new)), say=lambda m: None)


def test_a_clone_trained_beside_its_source_learns_it_as_well_and_alone_not_at_all():
    """Same content, disjoint ids: a 50/50 mixture gives both the same loss (the task is symmetric); a model
    that never saw the clone's ids puts less than uniform probability on them (loss above log V)."""
    data = tasks.build(tasks.TaskSpec("lm", ("de", "de_clone"), seq_len=32), corpus.synthetic(("en", "de"), n_segments=600, seed=1))
    model = GPTConfig(data.vocab.size, d_model=16, n_layers=1, seq_len=32)
    result = train.train_group(model, train.TrainConfig(steps=150, batch_size=8, warmup_frac=0.1), data,
                               np.array([[0.5, 0.5], [1.0, 0.0]]), [0, 0])
    (mixed_de, mixed_clone), (alone_de, alone_clone) = result.loss
    assert mixed_de < 0.6 * math.log(256) and abs(mixed_de - mixed_clone) < 0.05
    assert alone_de < 0.6 * math.log(256) and alone_clone > math.log(data.vocab.size)


def test_corpus_langs_fix_what_a_catalogs_corpus_reads(tmp_path):
    for lang in ("de", "fr", "ru"):
        (tmp_path / lang / "LC_MESSAGES").mkdir(parents=True)
        (tmp_path / lang / "LC_MESSAGES" / "x.mo").write_bytes(b"")
    config = {"_where": "t.toml", "corpus": {"source": "catalogs", "root": str(tmp_path), "langs": ["en", "de", "fr", "ru"]}}
    spec = sweep._resolve_corpus(config, ["en"], say=print)  # an English-only cohort still reads every listed language
    assert spec["langs"] == ["de", "fr", "ru"]
    del config["corpus"]["langs"]
    assert sweep._resolve_corpus(config, ["de", "en"], say=print)["langs"] == ["de"]
    config["corpus"]["langs"] = ["de"]
    with pytest.raises(ScalemixError, match=r"t.toml \[corpus\]: langs = \['de'\] lacks \['fr'\], which a cohort trains on"):
        sweep._resolve_corpus(config, ["fr"], say=print)


def test_the_transfer_preset_is_valid():
    config = sweep.load_config(preset="proxy-transfer")
    cohorts = config["cohort"]
    langs = set(config["corpus"]["langs"])
    assert len(langs) >= 6 and all(c["mode"] == "lm" for c in cohorts)
    assert len({d for c in cohorts for d in c["d_model"]}) >= 3
    assert any(d.endswith("_clone") for c in cohorts for d in c["domains"])
    caps = sorted(c["unique"][d] for c in cohorts for d in c.get("unique", {}))
    assert len(caps) == 5 and caps[-1] == 16 * caps[0]
    for c in cohorts:
        task = tasks.TaskSpec("lm", tuple(c["domains"]), unique=tuple(sorted(c.get("unique", {}).items())))
        assert set(task.sources) <= langs


@pytest.mark.skipif(not corpus.catalogs_available(["de", "fr", "ru", "ja", "hi"]), reason="needs the gettext catalogs of de fr ru ja hi")
def test_the_transfer_preset_plans_its_design_on_the_catalogs():
    jobs = sweep.plan(sweep.load_config(preset="proxy-transfer"), say=lambda m: None)
    runs = [r for j in jobs for r in j.runs]
    assert len(runs) == len({r.run_id for r in runs}) == 261
    by_cohort = {}
    for r in runs:
        by_cohort[r.cohort] = by_cohort.get(r.cohort, 0) + 1
    assert by_cohort == {"mono": 24, "pairs": 15, "dirichlet": 48, "dirichlet-test": 24, "clone": 12, "clone-half": 3, "repeat": 15,
                         "mono-half": 24, "dirichlet-half": 48, "dirichlet-sparse": 24, "mono-half-batch": 24}
    half = {r.cohort: r.train.steps for r in runs if r.cohort.endswith("-half")}
    assert half == {"clone-half": 1024, "mono-half": 1024, "dirichlet-half": 1024}
    assert {(r.train.steps, r.train.batch_size) for r in runs if r.cohort == "mono-half-batch"} == {(2048, 4)}
    epochs = set()
    for job in jobs:
        run = job.runs[0]
        if run.cohort == "repeat":
            data = tasks.load(job.data_path, run.task)
            k = run.task.domains.index("de")
            epochs.add(run.train.steps * run.train.batch_size * run.model.seq_len / tasks.unique_tokens(data)[k])
        if run.cohort.startswith("clone"):
            assert run.model.vocab_size == 256 + 2 + 256
    assert epochs == {1.0, 2.0, 4.0, 8.0, 16.0}
