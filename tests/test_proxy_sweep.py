"""proxy/sweep.py: configs, run-table rows, resume, content-hash run ids, the CLI preset. The sweep is
the session's ``swept`` fixture (conftest), shared with test_proxy_executors."""

import numpy as np
import polars as pl
import pytest

from _support import SWEEP_CONFIG as CONFIG
from _support import CountingExecutor
from scalemix.cli import main
from scalemix.errors import ScalemixError
from scalemix.proxy import corpus, mixtures, sweep


def test_rows_follow_the_run_table_format(swept):
    config, _, table, first = swept
    assert first.runs == 2 and table.height == 6  # 2 runs x 3 targets
    assert table.columns[:9] == ["run_id", "params", "tokens", "seed", "target", "loss", "w.de", "w.en", "w.fr"]
    assert table.schema["params"] == pl.Float64 and table.schema["seed"] == pl.Int64
    np.testing.assert_allclose(table.select(pl.sum_horizontal("^w\\..*$")).to_series(), 1.0)
    expected = mixtures.dirichlet(["de", "en", "fr"], n=2, alpha=1.0, seed=4)
    got = table.filter(pl.col("target") == "de").sort("w.de")[["w.de", "w.en", "w.fr"]].to_numpy()
    np.testing.assert_allclose(got, expected[np.argsort(expected[:, 0])])
    assert set(table["target"]) == {"de", "en", "fr"}
    assert (table["params"] == 12 * 16**2 + 13 * 16 + 32).all() and (table["tokens"] == 30 * 8 * 32).all()
    assert (table["loss"] < 5.0).all() and (table["flops"] > 0).all() and (table["wall_s"] > 0).all()


def test_resume_skips_finished_runs(swept):
    config, path, table, _ = swept
    again = CountingExecutor()
    resumed = sweep.run_sweep(config, path / "runs.parquet", again, progress=False, say=lambda m: None)
    assert again.runs == 0
    assert resumed.sort(["run_id", "target"]).equals(table.sort(["run_id", "target"]))


def test_run_id_is_a_content_hash(swept):
    config, _, table, _ = swept
    jobs = sweep.plan(config, say=lambda m: None)
    assert sorted(r.run_id for j in jobs for r in j.runs) == sorted(set(table["run_id"]))
    run = jobs[0].runs[0]
    other = sweep.run_id("fp", run.model, run.train, run.weights, run.seed)
    assert other == sweep.run_id("fp", run.model, run.train, run.weights, run.seed)
    assert other != sweep.run_id("fp", run.model, run.train, run.weights, run.seed + 1)


def test_a_cohort_replaces_the_steps_or_batch_of_its_own_runs(tmp_path):
    """Half the tokens by half the steps or by half the batch: each cohort's runs get its own TrainConfig
    (and so their own run ids); the other cohort keeps [train]'s."""
    path = tmp_path / "halves.toml"
    cohort = CONFIG[CONFIG.index("[[cohort]]"):]
    path.write_text(CONFIG + cohort.replace('name = "lm"', 'name = "half-steps"').replace("seeds = [0]", "seeds = [0]\nsteps = 15")
                    + cohort.replace('name = "lm"', 'name = "half-batch"').replace("seeds = [0]", "seeds = [0]\nbatch_size = 4"))
    runs = [r for job in sweep.plan(sweep.load_config(path), say=lambda m: None) for r in job.runs]
    trains = {r.cohort: (r.train.steps, r.train.batch_size) for r in runs}
    assert trains == {"lm": (30, 8), "half-steps": (15, 8), "half-batch": (30, 4)}
    assert len({r.run_id for r in runs}) == 6
    path.write_text(CONFIG.replace("seeds = [0]", 'seeds = [0]\nbatch_size = 4.5'))
    with pytest.raises(ScalemixError, match=r"halves.toml cohort 'lm': batch_size = 4.5 must be an int"):
        sweep.load_config(path)


def test_cohorts_with_other_domains_get_zero_weight():
    rows = [
        {"run_id": "a", "params": 1.0, "tokens": 1.0, "seed": 0, "target": "en-de", "loss": 1.0, "w.en-de": 1.0},
        {"run_id": "b", "params": 1.0, "tokens": 1.0, "seed": 0, "target": "de-en", "loss": 1.0, "w.de-en": 1.0},
    ]
    frame = sweep.to_frame(rows)
    assert frame["w.de-en"].to_list() == [0.0, 1.0] and frame["w.en-de"].to_list() == [1.0, 0.0]


def test_bad_config_names_file_key_and_fix(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.replace("steps = 30", "stepz = 30"))
    with pytest.raises(ScalemixError, match=r"bad.toml \[train\]: unknown key 'stepz' \(value 30\); allowed keys"):
        sweep.load_config(bad)
    bad.write_text(CONFIG.replace("steps = 30", 'steps = "30"'))
    with pytest.raises(ScalemixError, match=r"\[train\]: steps = '30' must be an int"):
        sweep.load_config(bad)
    bad.write_text(CONFIG.replace("n_segments = 400", "n_segment = 400"))
    with pytest.raises(ScalemixError, match=r"corpus 'synthetic': bad or missing keys"):
        sweep.plan(sweep.load_config(bad), say=lambda m: None)
    with pytest.raises(ScalemixError, match="does not exist"):
        sweep.load_config(tmp_path / "none.toml")


def test_cli_cpu_tiny_preset(tmp_path, capsys):
    out = tmp_path / "tiny.csv"
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--preset", "cpu-tiny", "--out", str(out), "--workers", "1", "--no-progress"])
    assert exit_.value.code in (0, None)
    text = capsys.readouterr().out
    if not corpus.catalogs_available(["de", "fr"]):
        assert "using the synthetic corpus" in text
    table = pl.read_csv(out)
    assert table.height == 8 and set(table["target"]) == {"en-de", "en-fr"}
    assert (table["loss"] < 5.0).all()


def test_a_job_refuses_data_that_changed_since_planning(swept):
    config, _, _, _ = swept
    job = sweep.plan(config, say=lambda m: None)[0]
    stale = sweep.Job(job.corpus, job.data_path, "0" * 16, job.runs)
    with pytest.raises(ScalemixError, match="changed since the sweep was planned"):
        sweep.execute(stale)
