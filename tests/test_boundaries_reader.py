"""The run-table reader as a person meets it, through ``scalemix inspect``: a bad run log is refused with
one stderr line naming the file, the column (and the row, run or value) at fault; a bad measurement is set
aside with its reason and reported under ``rejected``. Every case is a small file written to tmp_path."""

import json

import pytest
from _support import refused

from scalemix import runs
from scalemix.cli import main

HEADER = "run_id,params,tokens,target,loss,w.a,w.b"
GOOD = "r1,1e6,1e9,val,3.0,0.5,0.5"
CURVE = "run_id,step,seed,params,tokens,target,loss"


def long_file(*rows):
    """A standard long file: HEADER, one good run, then ``rows``."""
    return {"log.csv": [HEADER, GOOD, *rows]}


def curve_file(*rows):
    """A learning-curve file: CURVE, one good row of run 'a' at step 100, then ``rows``."""
    return {"curve.csv": [CURVE, "a,100,0,1e6,1e8,val,4.0", *rows]}


WIDE_SPEC = {
    "spec.toml": ['[runs]', 'metrics = "wide.csv"', 'loss_columns = "loss/(.*)"', "params = 1e6", "tokens = 1e9"],
    "wide.csv": ["run_id,loss/x,loss/ ", "r1,3.0,4.0"],
}
PAIRED_SPEC = {
    "spec.toml": ['[runs]', 'metrics = "metrics.csv"', 'weights = "weights.csv"', "params = 1e6", "tokens = 1e9"],
    "metrics.csv": ["run_id,target,loss", "r1,val,3.0"],
    "weights.csv": [",run_id,a,b", "0,r1,0.5,0.5"],  # pandas' to_csv writes its index as an unnamed column
}

# (files written to tmp_path, the first one inspected; what the one error line must name)
REFUSED = [
    # counts: implausible or overflowing values (new), and the checks the reader already had
    pytest.param(long_file("r2,1e308,1e9,val,3.0,0.5,0.5"), ("log.csv", "row 2", "'params'", "1e+308", "MAX_COUNT"),
                 id="params-1e308"),
    pytest.param(long_file("r2,1e6,2e20,val,3.0,0.5,0.5"), ("log.csv", "row 2", "'tokens'", "MAX_COUNT = 1e+20"),
                 id="tokens-above-1e20"),
    pytest.param(long_file("r2,1e-30,1e9,val,3.0,0.5,0.5"), ("log.csv", "row 2", "'params'", "MIN_COUNT"),
                 id="params-below-1e-20"),
    pytest.param(long_file("r2,0,1e9,val,3.0,0.5,0.5"), ("log.csv", "row 2", "'params'", "not positive"),
                 id="params-zero"),
    pytest.param(long_file("r2,1e6,-5,val,3.0,0.5,0.5"), ("log.csv", "row 2", "'tokens'", "not positive"),
                 id="tokens-negative"),
    pytest.param(long_file("r2,big,1e9,val,3.0,0.5,0.5"), ("log.csv", "'params'", "'big'", "not a number"),
                 id="params-text"),
    pytest.param(long_file("r2,1e6,inf,val,3.0,0.5,0.5"), ("log.csv", "'tokens'", "not a finite number"),
                 id="tokens-inf"),
    # a run's configuration must agree across its rows (new)
    pytest.param(long_file("r1,1e6,1e9,test,3.0,0.25,0.75"),
                 ("log.csv", "rows 1 and 2", "run 'r1'", "'w.a'", "0.5", "0.25"), id="weights-differ-within-run"),
    pytest.param(long_file("r1,2e6,1e9,test,3.0,0.5,0.5"), ("log.csv", "rows 1 and 2", "run 'r1'", "'params'"),
                 id="params-differ-within-run"),
    pytest.param(curve_file("a,100,0,1e6,2e8,test,4.0"), ("curve.csv", "rows 1 and 2", "at step 100", "'tokens'"),
                 id="tokens-differ-at-one-step"),
    pytest.param(curve_file("a,200,1,1e6,2e8,val,3.0"), ("curve.csv", "rows 1 and 2", "run 'a'", "'seed'"),
                 id="seed-differs-within-run"),
    # the file's structure
    pytest.param({"dup.csv": ["run_id,params,tokens,target,loss,loss", "r1,1,1,v,3,4"]},
                 ("dup.csv", "'loss'", "more than once", "loss_duplicated_0"), id="loss-header-twice"),
    pytest.param({"dup.csv": ["run_id,params,tokens,target,loss,w.a,w.a", "r1,1,1,v,3,0.5,0.5"]},
                 ("dup.csv", "'w.a'", "more than once"), id="weight-header-twice"),
    pytest.param(long_file("r1,1e6,1e9,val,3.5,0.5,0.5"), ("log.csv", "rows 1 and 2", "run 'r1'", "target 'val'"),
                 id="duplicate-rows"),
    pytest.param({"m.csv": ["run_id,params,tokens,target,value", "a,1,1,v,3"]}, ("m.csv", "'loss'", "missing"),
                 id="no-loss-column"),
    pytest.param({"empty.csv": [HEADER]}, ("empty.csv", "no data rows"), id="no-rows"),
    # names: empty, blank or whitespace-padded runs, targets and domains (blank/padded new)
    pytest.param(long_file("r2,1e6,1e9, ,3.0,0.5,0.5"), ("log.csv", "row 2", "'target'", "is blank"),
                 id="target-blank"),
    pytest.param(long_file("r2,1e6,1e9,val ,3.0,0.5,0.5"), ("log.csv", "row 2", "'target'", "whitespace"),
                 id="target-padded"),
    pytest.param(long_file("r2,1e6,1e9,,3.0,0.5,0.5"), ("log.csv", "row 2", "'target'", "empty"),
                 id="target-empty"),
    pytest.param({"w.csv": ["run_id,params,tokens,target,loss,w.,w.b", "r1,1,1,v,3,0.5,0.5"]},
                 ("w.csv", "'w.'", "domain name ''", "blank"), id="weight-column-w-dot"),
    pytest.param(long_file(" ,1e6,1e9,val,3.0,0.5,0.5"), ("log.csv", "row 2", "'run_id'", "is blank"),
                 id="run-id-blank"),
    pytest.param(long_file(",1e6,1e9,val,3.0,0.5,0.5"), ("log.csv", "row 2", "'run_id'", "empty"),
                 id="run-id-empty"),
    pytest.param(WIDE_SPEC, ("wide.csv", "loss_columns", "'loss/ '", "blank"), id="wide-target-name-blank"),
    pytest.param(PAIRED_SPEC, ("weights.csv", "column ''", "blank", "ignore_columns"),
                 id="weights-file-unnamed-index-column"),
    # mixture weights
    pytest.param(long_file("r2,1e6,1e9,val,3.0,nan,nan"), ("log.csv", "row 2", "'w.a'", "not a finite number"),
                 id="weights-nan"),
    pytest.param(long_file("r2,1e6,1e9,val,3.0,0.8,0.8"), ("log.csv", "row 2", "'w.a', 'w.b'", "sum to 1.6"),
                 id="weights-sum-1.6"),
    pytest.param(long_file("r2,1e6,1e9,val,3.0,1.5,-0.5"), ("log.csv", "row 2", "'w.b'", "negative weight"),
                 id="weight-negative"),
    pytest.param(long_file("r2,1e6,1e9,val,3.0,0.5,"), ("log.csv", "row 2", "'w.b'", "empty"), id="weight-empty"),
    # step and seed
    pytest.param(curve_file("a,ten,0,1e6,1e8,val,3.0"), ("curve.csv", "row 2", "'step'", "'ten'", "not a number"),
                 id="step-text"),
    pytest.param(curve_file("a,1.5,0,1e6,1e8,val,3.0"), ("curve.csv", "row 2", "'step'", "not whole"),
                 id="step-fractional"),
    pytest.param(curve_file("a,-1,0,1e6,1e8,val,3.0"), ("curve.csv", "row 2", "'step'", "negative"),
                 id="step-negative"),
    pytest.param(curve_file("a,1e20,0,1e6,1e8,val,3.0"), ("curve.csv", "row 2", "'step'", "MAX_WHOLE"),
                 id="step-beyond-int64"),
    pytest.param(curve_file("a,200,1e19,1e6,1e8,val,3.0"), ("curve.csv", "row 2", "'seed'", "MAX_WHOLE"),
                 id="seed-beyond-int64"),
    # spec files
    pytest.param({"spec.toml": ['[runs]', 'metrics = "one.csv"', 'params = "NN"', "tokens = 1e9", 'target = "c4"'],
                  "one.csv": ["run_id,N,loss", "a,5e6,3.0"]},
                 ("one.csv", "'NN'", "(params)", "columns are: 'run_id', 'N'"), id="spec-names-absent-column"),
    pytest.param({"spec.toml": ['[runs]', 'metrics = "one.csv"', 'params = "N"', "tokens = 1e9", 'target = " "'],
                  "one.csv": ["run_id,N,loss", "a,5e6,3.0"]}, ("spec.toml", "target", "blank"), id="spec-target-blank"),
    pytest.param({"spec.toml": ['[runs]', 'metrics = "one.csv"', 'params = "N"', "tokens = 1e9", 'target = "c4"',
                                'loss_unit = ""'],
                  "one.csv": ["run_id,N,loss", "a,5e6,3.0"]}, ("spec.toml", "loss_unit", "blank"),
                 id="spec-loss-unit-blank"),
]


def write_files(folder, files):
    """Write ``files`` ({name: lines}) into ``folder``; the path of the first."""
    for name, lines in files.items():
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder / next(iter(files))


@pytest.mark.parametrize(("files", "named"), REFUSED)
def test_bad_run_logs_are_refused_with_one_line_naming_file_and_column(tmp_path, capsys, files, named):
    refused(capsys, ["inspect", write_files(tmp_path, files)], *named)


def inspected(capsys, path):
    """``scalemix inspect PATH --json`` in-process: its summary, after checking that it exited 0."""
    capsys.readouterr()
    try:
        main(["inspect", str(path), "--json"])
    except SystemExit as stopped:
        assert stopped.code in (0, None), capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


# (the bad row after one good run: what it holds in the loss column, and why it is set aside)
SET_ASIDE = [
    pytest.param("1e308", "loss is above MAX_LOSS = 1e+06", id="loss-1e308"),
    pytest.param("2e6", "loss is above MAX_LOSS = 1e+06", id="loss-above-1e6"),
    pytest.param("nan", "loss is NaN", id="loss-nan"),
    pytest.param("", "loss is missing", id="loss-missing"),
    pytest.param("diverged", "loss is not a number", id="loss-text"),
    pytest.param("inf", "loss is infinite", id="loss-inf"),
    pytest.param("-0.5", "loss is not positive", id="loss-negative"),
    pytest.param("0", "loss is not positive", id="loss-zero"),
]


@pytest.mark.parametrize(("loss", "reason"), SET_ASIDE)
def test_bad_losses_are_set_aside_with_their_reason(tmp_path, capsys, loss, reason):
    path = write_files(tmp_path, long_file(f"r2,1e6,1e9,val,{loss},0.5,0.5"))
    summary = inspected(capsys, path)
    assert summary["rows"] == 1 and summary["runs"] == 1
    assert summary["rejected"] == {"rows": 1, "reasons": {reason: 1}}
    rejected = runs.read(path).rejected
    assert rejected.select("row", "run_id", "column", "reason").rows() == [(2, "r2", "loss", reason)]


def test_values_at_the_limits_are_accepted(tmp_path, capsys):
    path = write_files(tmp_path, {"edge.csv": [
        CURVE,
        f"a,{2**53},{-(2**53)},{runs.MAX_COUNT:g},{runs.MIN_COUNT:g},val,{runs.MAX_LOSS:g}",
        f"b,0,0,{runs.MIN_COUNT:g},{runs.MAX_COUNT:g},val,3.0",
    ]})
    summary = inspected(capsys, path)
    assert summary["rows"] == 2 and summary["rejected"]["rows"] == 0
    assert summary["ranges"]["params"] == [1e-20, 1e20] and summary["ranges"]["loss"] == [3.0, 1e6]
