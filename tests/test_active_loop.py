"""The closed proxy loop (active/loop.py) for real on the CPU: a tiny synthetic-corpus sweep, two rounds of
fit -> suggest -> train through ``scalemix loop``, the round log, the goal's spread, and a resumed loop."""

import json

import polars as pl
import pytest

from scalemix.cli import main

CONFIG = """
name = "loop"
[corpus]
source = "synthetic"
langs = ["de", "en"]
n_segments = 400
[model]
n_layers = 1
seq_len = 32
[train]
steps = 30
[[cohort]]
name = "lm"
mode = "lm"
domains = ["de", "en"]
d_model = [8, 16]
seeds = [0]
mixture = { design = "grid", p = [0.2, 0.5, 0.8] }
"""

ARGS = ["--law", "multilingual", "--law-option", "f=linear", "--goal", "predict", "--at", "params=20000,w.de=0.5,w.en=0.5",
        "--budget", "1e15", "--batch", "2", "--pool", "12", "--n-boot", "16", "--workers", "1", "--no-progress", "--json"]


def _loop(tmp_path, capsys, rounds):
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["loop", str(tmp_path / "loop.toml"), "--out", str(tmp_path / "runs.parquet"), "--rounds", str(rounds), *ARGS])
    assert stop.value.code == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loop")
    (folder / "loop.toml").write_text(CONFIG)
    return folder


def test_two_rounds_train_the_suggestions_and_the_spread_shrinks(two_rounds, capsys):
    records = _loop(two_rounds, capsys, 2)
    assert [r["round"] for r in records] == [1, 2, "final"]
    table = pl.read_parquet(two_rounds / "runs.parquet")
    assert table["run_id"].n_unique() == 6 + 2 + 2
    picked = [p["run_id"] for r in records[:2] for p in r["picks"]]
    assert len(set(picked)) == 4 and set(picked) <= set(table["run_id"].to_list())
    assert [r["runs"] for r in records] == [6, 8, 10]
    assert all(isinstance(r["warnings"], list) for r in records)  # each round fit's convergence warnings
    assert all(p["gain"] > 0 and p["cost"] > 0 for r in records[:2] for p in r["picks"])
    assert records[1]["spent_before"] == pytest.approx(records[0]["cost"])
    # the predicted loss at the goal point is pinned down by the runs the loop chose
    assert records[-1]["uncertainty"] < 0.5 * records[0]["uncertainty"], records
    log = [json.loads(line) for line in (two_rounds / "runs.rounds.jsonl").read_text().splitlines()]
    assert [r["round"] for r in log] == [1, 2, "final"] and log[0]["picks"] == records[0]["picks"]


def test_a_loop_run_again_continues_from_its_table_and_log(two_rounds, capsys):
    records = _loop(two_rounds, capsys, 1)
    assert [r["round"] for r in records] == [1, 2, 3, "final"]
    assert pl.read_parquet(two_rounds / "runs.parquet")["run_id"].n_unique() == 12
    assert records[2]["spent_before"] == pytest.approx(records[0]["cost"] + records[1]["cost"])


def test_the_report_shows_the_rounds_of_the_loop(two_rounds, tmp_path):
    from scalemix import laws, runs
    from scalemix.fit import fit
    from scalemix.report import build_report

    table = pl.read_parquet(two_rounds / "runs.parquet")
    fitted = fit(table, laws.get("multilingual", f="linear"), method="bootstrap", n_boot=8, extrapolation=False)
    out = build_report(fitted, tmp_path / "report.html", runs=runs.read(table), rounds=two_rounds / "runs.rounds.jsonl")
    summary = json.loads(out.with_suffix(".json").read_text())["loop"]
    logged = [json.loads(line) for line in (two_rounds / "runs.rounds.jsonl").read_text().splitlines()]
    rounds = [r for r in logged if isinstance(r["round"], int)]
    assert summary["status"] == "computed" and [r["round"] for r in summary["rows"]][:len(rounds)] == [r["round"] for r in rounds]
    assert [r["uncertainty"] for r in summary["rows"]][:len(rounds)] == [r["uncertainty"] for r in rounds]
    assert len(summary["picks"]) == sum(len(r["picks"]) for r in rounds)
    html = out.read_text()
    assert 'id="loop-rounds"' in html and "goal uncertainty by round" in html


def test_a_broken_round_log_is_named_with_its_line(tmp_path):
    from scalemix.active.rounds import read_log
    from scalemix.errors import SuggestError

    log = tmp_path / "runs.rounds.jsonl"
    log.write_text('{"round": 1}\n{"round": 2\n')
    with pytest.raises(SuggestError, match="line 2: not JSON"):
        read_log(log)
