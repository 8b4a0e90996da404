"""RunTable and read(): formats, options, spec files, and every validation rule (fatal or set aside)."""

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalemix.errors import RunTableError
from scalemix.runs import RunTable, read

HEADER = "run_id,params,tokens,target,loss,w.a,w.b"


def write(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def good_csv(tmp_path):
    return write(
        tmp_path,
        "runs.csv",
        [
            HEADER + ",lr",
            "007,1e6,1e9,val,3.5,0.25,0.75,0.001",
            "007,1e6,1e9,test,3.75,0.25,0.75,0.001",
            "r2,2e6,2e9,val,3.0,1.0,0.0,0.002",
            "r2,2e6,2e9,test,3.25,1.0,0.0,0.002",
        ],
    )


# --- reading a standard long file ------------------------------------------------------------------------


def test_long_csv_reads_standard_columns_types_and_order(good_csv):
    table = read(good_csv)
    assert table.frame.columns == ["run_id", "params", "tokens", "target", "loss", "w.a", "w.b", "lr"]
    assert table.frame.dtypes == [pl.Utf8, pl.Float64, pl.Float64, pl.Utf8] + [pl.Float64] * 4
    assert table.runs == ("007", "r2")  # run ids stay text: "007", not 7
    assert table.targets == ("val", "test")
    assert table.domains == ("a", "b")
    assert table.frame["loss"].to_list() == [3.5, 3.75, 3.0, 3.25]
    assert table.rejected.height == 0 and table.notes == ()
    assert table.source == str(good_csv) and table.loss_unit == "nats"
    assert len(table) == 4


def test_step_and_seed_become_int64_and_sit_before_target(tmp_path):
    path = write(
        tmp_path,
        "curve.csv",
        ["run_id,seed,step,params,tokens,target,loss", "a,1,100,1e6,1e8,val,4.0", "a,1,200.0,1e6,2e8,val,3.5"],
    )
    table = read(path)
    assert table.frame.columns == ["run_id", "params", "tokens", "step", "seed", "target", "loss"]
    assert table.frame["step"].dtype == pl.Int64 and table.frame["step"].to_list() == [100, 200]
    assert table.summary()["steps"] == 2


def test_fractional_step_is_fatal(tmp_path):
    path = write(tmp_path, "curve.csv", ["run_id,step,params,tokens,target,loss", "a,1.5,1e6,1e8,val,4.0"])
    with pytest.raises(RunTableError, match=r"curve.csv row 1 \(run 'a'\), column 'step': value 1.5 is not whole"):
        read(path)


def test_parquet_jsonl_polars_and_pandas_sources_give_the_same_table(good_csv, tmp_path):
    frame = pl.read_csv(good_csv, schema_overrides={"run_id": pl.Utf8})
    frame.write_parquet(tmp_path / "runs.parquet")
    frame.write_ndjson(tmp_path / "runs.jsonl")
    expected = read(good_csv).fingerprint()
    assert read(tmp_path / "runs.parquet").fingerprint() == expected
    assert read(str(tmp_path / "runs.jsonl")).fingerprint() == expected
    assert read(frame).fingerprint() == expected
    assert read(frame).source == "<polars frame>"
    assert read(frame.to_pandas()).fingerprint() == expected


def test_pandas_nan_loss_is_reported_as_nan_not_missing():
    frame = pd.DataFrame({"run_id": ["a", "b"], "params": [1e6, 1e6], "tokens": [1e9, 1e9], "loss": [3.0, math.nan]})
    table = read(frame, target="val")
    assert table.rejected["reason"].to_list() == ["loss is NaN"]


READ_PANDAS_WITHOUT_PYARROW = """
import json, sys
sys.modules["pyarrow"] = None  # as on the base install, where pyarrow (test extra only) cannot be imported
import pandas as pd
import polars as pl
from scalemix import runs

frame = pd.read_csv(sys.argv[1], dtype={"run_id": str})
try:
    pl.from_pandas(frame)
    from_pandas = "works"
except Exception as error:
    from_pandas = type(error).__name__
table = runs.read(frame)
print(json.dumps({"from_pandas": from_pandas, "fingerprint": table.fingerprint(),
                  "rejected": table.rejected.select("row", "reason").rows()}))
"""


def test_pandas_frame_reads_without_pyarrow(good_csv, tmp_path):
    path = write(tmp_path, "nan.csv", [*good_csv.read_text().splitlines(), "r3,1e6,1e9,val,nan,0.5,0.5,0.003"])
    done = subprocess.run([sys.executable, "-c", READ_PANDAS_WITHOUT_PYARROW, str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["from_pandas"] != "works"  # the blocked pyarrow really is what pl.from_pandas needs
    assert result["fingerprint"] == read(path).fingerprint() == read(good_csv).fingerprint()
    assert result["rejected"] == [[5, "loss is NaN"]]


def test_pandas_index_text_nullable_and_mixed_columns():
    frame = pd.DataFrame(
        {
            "run_id": ["r1", "r2"],
            "params": [1e6, 2e6],
            "tokens": pd.array([10**9, None], dtype="Int64"),  # a nullable column: its missing value is null
            "target": pd.Categorical(["val", "val"]),
            "loss": pd.Series(["3.5", 2.5], dtype=object),  # text and numbers in one column
            "note": ["first", None],
        }
    ).set_index("run_id")  # a named index is a column
    with pytest.raises(RunTableError, match=r"<pandas frame> row 2 \(run 'r2'\), column 'tokens': the cell is empty"):
        read(frame)
    table = read(frame.fillna({"tokens": 10**9}))
    assert table.frame.select("run_id", "params", "tokens", "target", "loss", "note").rows() == [
        ("r1", 1e6, 1e9, "val", 3.5, "first"),
        ("r2", 2e6, 1e9, "val", 2.5, None),
    ]
    unnamed = read(frame.reset_index().set_index(pd.Index([7, 8])).fillna({"tokens": 10**9}))
    assert unnamed.frame["index"].to_list() == [7, 8]  # a non-default index is kept, named as reset_index names it


def test_pandas_repeated_column_name_is_fatal():
    frame = pd.DataFrame([["a", 1, 1, "v", 3.0, 3.5]], columns=["run_id", "params", "tokens", "target", "loss", "loss"])
    with pytest.raises(RunTableError, match=r"<pandas frame>: column 'loss' appears more than once"):
        read(frame)


def test_params_tokens_and_target_from_options(tmp_path):
    path = write(tmp_path, "one.csv", ["name,N,loss", "a,5e6,3.0", "b,7e6,2.5"])
    table = read(path, run_id="name", params="N", tokens=2e9, target="c4")
    assert table.frame.select("run_id", "params", "tokens", "target").rows() == [
        ("a", 5e6, 2e9, "c4"),
        ("b", 7e6, 2e9, "c4"),
    ]
    assert table.frame.columns == ["run_id", "params", "tokens", "target", "loss"]  # N and name consumed


def test_options_clashing_with_columns_are_fatal(good_csv):
    with pytest.raises(RunTableError, match="params=1000000.0 was given but the file has a 'params' column"):
        read(good_csv, params=1e6)
    with pytest.raises(RunTableError, match="has a 'target' column and target='dev' was given"):
        read(good_csv, target="dev")
    with pytest.raises(RunTableError, match="run ids come from column 'lr', but the file also has a 'run_id' column"):
        read(good_csv, run_id="lr")


# --- wide and paired files -------------------------------------------------------------------------------


def test_wide_metrics_turn_long_in_row_then_column_order(tmp_path):
    path = write(
        tmp_path,
        "wide.csv",
        ["run_id,params,tokens,x_a,val/pile_cc,val/github", "r1,1e6,1e9,1.0,5.25,6.5", "r2,1e6,1e9,1.0,5.0,6.25"],
    )
    table = read(path, loss_columns="val/(.*)", weight_columns="x_(.*)")
    assert table.frame.select("run_id", "target", "loss").rows() == [
        ("r1", "pile_cc", 5.25),
        ("r1", "github", 6.5),
        ("r2", "pile_cc", 5.0),
        ("r2", "github", 6.25),
    ]
    assert table.domains == ("a",)


def test_bad_loss_in_wide_file_names_the_original_column(tmp_path):
    path = write(tmp_path, "wide.csv", ["run_id,params,tokens,val/a,val/b", "r1,1e6,1e9,5.0,oops"])
    table = read(path, loss_columns="val/(.*)")
    assert table.rejected.rows() == [(str(path), 1, "r1", "val/b", "oops", "loss is not a number")]


def paired_files(folder: Path, weight_lines: list[str]) -> Path:
    metrics = write(folder, "metrics.csv", ["index,loss/x,loss/y", "1,3.0,4.0", "2,3.5,4.5"])
    write(folder, "weights.csv", weight_lines)
    return metrics


def test_weights_file_columns_are_matched_by_name_not_position(tmp_path):
    metrics = paired_files(tmp_path, ["index,w_a,w_b", "1,0.25,0.75", "2,0.5,0.5"])
    options = dict(join="index", weight_columns="w_(.*)", loss_columns="loss/(.*)", params=1e6, tokens=1e9)
    aligned = read(metrics, weights=tmp_path / "weights.csv", **options)
    write(tmp_path, "swapped.csv", ["w_b,index,w_a", "0.5,2,0.5", "0.75,1,0.25"])  # other column and row order
    swapped = read(metrics, weights=tmp_path / "swapped.csv", **options)
    assert swapped.fingerprint() == aligned.fingerprint()
    assert aligned.frame.filter(pl.col("run_id") == "1")["w.b"].to_list() == [0.75, 0.75]


def test_join_with_unmatched_runs_on_both_sides_is_fatal(tmp_path):
    metrics = paired_files(tmp_path, ["index,a,b", "0,0.5,0.5", "1,0.5,0.5"])
    with pytest.raises(RunTableError) as error:
        read(metrics, weights=tmp_path / "weights.csv", join="index", loss_columns="loss/(.*)", params=1, tokens=1)
    message = str(error.value)
    assert "1 runs of metrics.csv have no weights ('2')" in message
    assert "1 runs of weights.csv have no metrics ('0')" in message
    assert "\n" not in message


def test_repeated_run_in_weights_file_is_fatal(tmp_path):
    metrics = paired_files(tmp_path, ["index,a,b", "1,0.5,0.5", "2,0.5,0.5", "2,0.25,0.75"])
    with pytest.raises(RunTableError, match=r"weights.csv rows 2 and 3 both give weights for run '2'"):
        read(metrics, weights=tmp_path / "weights.csv", join="index", loss_columns="loss/(.*)", params=1, tokens=1)


def test_columns_shared_by_both_files_must_agree(tmp_path):
    write(tmp_path, "metrics.csv", ["run,name,loss/x", "a,alpha,3.0", "b,beta,3.5"])
    write(tmp_path, "weights.csv", ["run,name,d1,d2", "a,alpha,0.5,0.5", "b,BETA,1.0,0.0"])
    options = dict(weights=tmp_path / "weights.csv", join="run", loss_columns="loss/(.*)", params=1, tokens=1)
    with pytest.raises(RunTableError, match=r"row 2 \(run 'b'\), column 'name': value 'beta' differs from 'BETA'"):
        read(tmp_path / "metrics.csv", **options)


# --- validation: fatal configuration problems ------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "pattern"),
    [
        ("r9,1e6,1e9,val,3.0,0.5,abc", r"row 2 \(run 'r9'\), column 'w.b': value 'abc' is not a number"),
        ("r9,1e6,1e9,val,3.0,0.5,", r"row 2 \(run 'r9'\), column 'w.b': the cell is empty; write 0"),
        ("r9,1e6,1e9,val,3.0,1.5,-0.5", r"row 2 \(run 'r9'\), column 'w.b': value -0.5 is a negative weight"),
        ("r9,big,1e9,val,3.0,0.5,0.5", r"row 2 \(run 'r9'\), column 'params': value 'big' is not a number"),
        ("r9,0,1e9,val,3.0,0.5,0.5", r"row 2 \(run 'r9'\), column 'params': value 0.0 is not positive"),
        ("r9,1e6,-1e9,val,3.0,0.5,0.5", r"row 2 \(run 'r9'\), column 'tokens': value -1000000000.0 is not positive"),
        ("r9,1e6,inf,val,3.0,0.5,0.5", r"column 'tokens': value inf is not a finite number"),
        (",1e6,1e9,val,3.0,0.5,0.5", r"row 2 \(no run id\), column 'run_id': the cell is empty; give every row"),
        ("r9,1e6,1e9,,3.0,0.5,0.5", r"row 2 \(run 'r9'\), column 'target': the cell is empty"),
        ("r9,1e6,1e9,val,3.0,0.6,0.6", r"row 2 \(run 'r9'\), columns 'w.a', 'w.b': weights sum to 1.2, more than"),
        ("r1,1e6,1e9,val,3.0,0.5,0.5", r"rows 1 and 2 both report run 'r1', target 'val'"),
    ],
)
def test_configuration_problems_are_fatal_with_one_line_naming_row_column_value(tmp_path, row, pattern):
    path = write(tmp_path, "log.csv", [HEADER, "r1,1e6,1e9,val,3.0,0.5,0.5", row])
    with pytest.raises(RunTableError, match=pattern) as error:
        read(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_acceptance_weight_sum_of_1_2_is_fatal_even_next_to_a_nan_loss(tmp_path):
    path = write(tmp_path, "bad.csv", [HEADER, "r1,1e6,1e9,val,nan,0.5,0.5", "r2,1e6,1e9,val,3.0,0.7,0.5"])
    with pytest.raises(RunTableError, match=r"bad.csv row 2 \(run 'r2'\), columns 'w.a', 'w.b': weights sum to 1.2"):
        read(path)


def test_weights_within_1e_2_of_one_are_renormalised_and_counted(tmp_path):
    path = write(
        tmp_path,
        "rounded.csv",
        [HEADER, "r1,1e6,1e9,val,3.0,0.503,0.5", "r2,1e6,1e9,val,3.0,0.25,0.75", "r3,1e6,1e9,val,3.0,0.3,0.696"],
    )
    table = read(path)
    assert table.frame["w.a"].to_list() == [0.503 / (0.503 + 0.5), 0.25, 0.3 / (0.3 + 0.696)]
    assert table.notes == (
        "renormalised the weights of 2 rows of rounded.csv whose sums were 0.996 to 1.003 (within 0.01 of 1)",
    )


def test_duplicate_rows_with_steps_name_the_step(tmp_path):
    lines = ["run_id,step,params,tokens,target,loss", "a,1,1,1,v,3", "a,2,1,1,v,2", "a,2,1,1,v,2"]
    path = write(tmp_path, "c.csv", lines)
    with pytest.raises(RunTableError, match=r"rows 2 and 3 both report run 'a', target 'v' at step 2"):
        read(path)


def test_empty_file_is_fatal(tmp_path):
    with pytest.raises(RunTableError, match=r"empty.csv: no data rows"):
        read(write(tmp_path, "empty.csv", [HEADER]))


@pytest.mark.parametrize(
    ("header", "row", "pattern"),
    [
        ("id,params,tokens,target,loss", "a,1,1,v,3", r"missing required run key column 'run_id'; columns are: 'id'"),
        ("run_id,tokens,target,loss", "a,1,v,3", r"missing required column 'params' \(params\)"),
        ("run_id,params,tokens,target,value", "a,1,1,v,3", r"missing required column 'loss'"),
        ("run_id,params,tokens,loss", "a,1,1,3", r"missing required column 'target'"),
    ],
)
def test_missing_required_column_is_fatal_and_says_how_to_fix_it(tmp_path, header, row, pattern):
    with pytest.raises(RunTableError, match=pattern) as error:
        read(write(tmp_path, "m.csv", [header, row]))
    assert "pass" in str(error.value) or "rename" in str(error.value)


# --- validation: bad losses are set aside ----------------------------------------------------------------


def test_bad_losses_are_set_aside_with_reasons_and_counted_in_notes(tmp_path):
    path = write(
        tmp_path,
        "log.csv",
        [
            HEADER,
            "r1,1e6,1e9,val,3.0,0.5,0.5",
            "r2,1e6,1e9,val,nan,0.5,0.5",
            "r3,1e6,1e9,val,,0.5,0.5",
            "r4,1e6,1e9,val,diverged,0.5,0.5",
            "r5,1e6,1e9,val,inf,0.5,0.5",
            "r6,1e6,1e9,val,-0.5,0.5,0.5",
            "r7,1e6,1e9,val,0,0.5,0.5",
        ],
    )
    table = read(path)
    assert table.runs == ("r1",)
    assert table.rejected.columns == ["source", "row", "run_id", "column", "value", "reason"]
    assert table.rejected.select("row", "value", "reason").rows() == [
        (2, "nan", "loss is NaN"),
        (3, None, "loss is missing"),
        (4, "diverged", "loss is not a number"),
        (5, "inf", "loss is infinite"),
        (6, "-0.5", "loss is not positive"),
        (7, "0", "loss is not positive"),
    ]
    assert table.notes[-1].startswith("set aside 6 of 7 rows with an unusable loss (1 loss is NaN, 1 loss is missing")
    summary = table.summary()
    assert summary["rejected"] == {
        "rows": 6,
        "reasons": {
            "loss is NaN": 1,
            "loss is missing": 1,
            "loss is not a number": 1,
            "loss is infinite": 1,
            "loss is not positive": 2,
        },
    }
    json.dumps(summary)


def test_strict_makes_a_bad_loss_fatal(tmp_path):
    path = write(tmp_path, "log.csv", [HEADER, "r1,1e6,1e9,val,3.0,0.5,0.5", "r2,1e6,1e9,val,nan,0.5,0.5"])
    with pytest.raises(RunTableError, match=r"log.csv row 2 \(run 'r2'\), column 'loss': value 'nan': loss is NaN"):
        read(path, strict=True)


def test_all_losses_unusable_is_fatal(tmp_path):
    with pytest.raises(RunTableError, match="every row has an unusable loss"):
        read(write(tmp_path, "log.csv", [HEADER, "r1,1e6,1e9,val,nan,0.5,0.5"]))


# --- options, regexes, sources ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"colour": "red"}, r"unknown option 'colour'; known options: history, ignore_columns, join, loss_columns"),
        ({"params": [1]}, r"option 'params' must be int or float or str, got"),
        ({"loss_columns": "val/.*"}, r"needs exactly one \(group\) capturing the target name; it has 0"),
        ({"loss_columns": "(nope)"}, r"matches no column \(it must match whole names\)"),
        ({"loss_columns": "(["}, r"is not a valid regular expression"),
        ({"ignore_columns": ["zzz"]}, r"ignore_columns names 'zzz', which no file has"),
    ],
)
def test_option_errors_are_one_readable_line(good_csv, options, pattern):
    with pytest.raises(RunTableError, match=pattern):
        read(good_csv, **options)


def test_regex_giving_two_columns_one_name_is_fatal(tmp_path):
    path = write(tmp_path, "w.csv", ["run_id,params,tokens,a_x,b_x", "r,1,1,1,2"])
    with pytest.raises(RunTableError, match=r"gives column 'b_x' the target name 'x', as it does 'a_x'"):
        read(path, loss_columns="._(.*)")


def test_ignore_columns_drops_them_and_says_so(good_csv):
    table = read(good_csv, ignore_columns=["lr"])
    assert "lr" not in table.frame.columns
    assert table.notes == ("ignored columns 'lr' (ignore_columns)",)


def test_unknown_name_and_unsupported_files_are_fatal(tmp_path):
    with pytest.raises(RunTableError, match=r"'nope' is neither a file nor a dataset; known datasets: chinchilla"):
        read("nope")
    with pytest.raises(RunTableError, match=r"unsupported file type '.xlsx'"):
        read(write(tmp_path, "runs.xlsx", ["x"]))
    with pytest.raises(RunTableError, match=r"missing.csv: no such file"):
        read(tmp_path / "missing.csv")
    with pytest.raises(RunTableError, match=r"read\(\) cannot take a int"):
        read(3)


# --- spec files ------------------------------------------------------------------------------------------


def test_spec_file_paths_are_relative_to_the_spec_and_options_match_read(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    metrics = paired_files(data, ["index,w_a,w_b", "1,0.25,0.75", "2,0.5,0.5"])
    spec = tmp_path / "spec.toml"
    spec.write_text(
        '[runs]\nweights = "data/weights.csv"\nmetrics = "data/metrics.csv"\njoin = "index"\n'
        'weight_columns = "w_(.*)"\nloss_columns = "loss/(.*)"\nparams = 1e6\ntokens = "index"\n'
        'loss_unit = "bits per byte"\n'
    )
    table = read(spec)
    direct = read(
        metrics, weights=data / "weights.csv", join="index", weight_columns="w_(.*)", loss_columns="loss/(.*)",
        params=1e6, tokens="index", loss_unit="bits per byte",
    )
    assert table.fingerprint() == direct.fingerprint()
    assert table.source == str(spec) and table.loss_unit == "bits per byte"
    assert table.frame["tokens"].to_list() == [1.0, 1.0, 2.0, 2.0]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[runs\n", r"not valid TOML"),
        ('[other]\nmetrics = "m.csv"\n', r"needs a \[runs\] table with at least metrics"),
        ('[runs]\nmetrics = "m.csv"\nexec = "rm -rf /"\n', r"unknown option 'exec'"),
        ('[runs]\nmetrics = "m.csv"\nparams = true\n', r"option 'params' must be int or float or str, got"),
        ('[runs]\nmetrics = "absent.csv"\n', r"absent.csv: no such file; check the path"),
    ],
)
def test_bad_spec_files_are_fatal(tmp_path, text, pattern):
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    with pytest.raises(RunTableError, match=pattern):
        read(spec)


# --- RunTable methods ------------------------------------------------------------------------------------


def test_select_by_target_and_expression(good_csv):
    table = read(good_csv)
    assert table.select("test").frame["loss"].to_list() == [3.75, 3.25]
    assert table.select(["val"], where=pl.col("params") > 1.5e6).runs == ("r2",)
    with pytest.raises(RunTableError, match=r"unknown target 'dev'; known targets: 'val', 'test'"):
        table.select("dev")
    with pytest.raises(RunTableError, match="leaves no rows"):
        table.select(where=pl.col("loss") > 100)


def test_fingerprint_ignores_row_order_but_not_values(good_csv):
    table = read(good_csv)
    shuffled = RunTable(frame=table.frame.reverse())
    assert shuffled.fingerprint() == table.fingerprint()
    changed = RunTable(frame=table.frame.with_columns(pl.col("loss") + 1e-12))
    assert changed.fingerprint() != table.fingerprint()


def test_summary_reports_counts_ranges_and_is_json(good_csv):
    summary = read(good_csv).summary()
    assert summary["rows"] == 4 and summary["runs"] == 2
    assert summary["targets"] == ["val", "test"] and summary["domains"] == ["a", "b"]
    assert summary["ranges"] == {"params": [1e6, 2e6], "tokens": [1e9, 2e9], "loss": [3.0, 3.75]}
    assert json.loads(json.dumps(summary)) == summary


# --- property-based round trips --------------------------------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
COUNTS = st.floats(min_value=1.0, max_value=1e13, allow_nan=False)
LOSSES = st.floats(min_value=1e-3, max_value=20.0, allow_nan=False)


@st.composite
def long_tables(draw, min_domains=0):
    """A random valid long run table as a polars frame (run-major rows, targets in first-seen order)."""
    run_ids = draw(st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,6}", fullmatch=True), min_size=1, max_size=5, unique=True))
    targets = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    domains = sorted(draw(st.lists(NAMES, min_size=min_domains, max_size=4, unique=True)))
    rows = []
    for run in run_ids:
        params, tokens = draw(COUNTS), draw(COUNTS)
        raw = draw(st.lists(st.floats(0.0, 1.0), min_size=len(domains), max_size=len(domains)))
        raw = raw if sum(raw) > 0 else [1.0] + raw[1:]
        weights = {f"w.{d}": share / sum(raw) for d, share in zip(domains, raw)}
        for target in targets:
            rows.append(dict(run_id=run, params=params, tokens=tokens, target=target, loss=draw(LOSSES), **weights))
    schema = {"run_id": pl.Utf8, "params": pl.Float64, "tokens": pl.Float64, "target": pl.Utf8, "loss": pl.Float64}
    return pl.DataFrame(rows, schema=schema | {f"w.{d}": pl.Float64 for d in domains})


@settings(max_examples=40, deadline=None)
@given(frame=long_tables(), fmt=st.sampled_from(["csv", "parquet", "jsonl"]))
def test_long_files_round_trip(frame, fmt):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"runs.{fmt}"
        {"csv": frame.write_csv, "parquet": frame.write_parquet, "jsonl": frame.write_ndjson}[fmt](path)
        assert read(path).frame.equals(frame)


@settings(max_examples=40, deadline=None)
@given(frame=long_tables(min_domains=1), data=st.data())
def test_wide_and_paired_files_read_back_the_same_frame_whatever_the_weight_column_order(frame, data):
    weight_columns = [c for c in frame.columns if c.startswith("w.")]
    runs = frame.select("run_id", "params", "tokens", *weight_columns).unique("run_id", maintain_order=True)
    wide_losses = frame.pivot(on="target", index="run_id", values="loss")
    wide_losses = wide_losses.rename({t: f"loss/{t}" for t in frame["target"].unique(maintain_order=True)})
    order = data.draw(st.permutations(weight_columns))
    with tempfile.TemporaryDirectory() as folder:
        wide = Path(folder) / "wide.csv"
        runs.select("run_id", "params", "tokens", *order).join(wide_losses, on="run_id").write_csv(wide)
        assert read(wide, loss_columns="loss/(.*)").frame.equals(frame)

        weights = Path(folder) / "weights.csv"
        runs.select(*order, "run_id").reverse().rename({c: c[2:] for c in order}).write_csv(weights)
        metrics = Path(folder) / "metrics.csv"
        runs.select("run_id", "params", "tokens").join(wide_losses, on="run_id").write_csv(metrics)
        assert read(metrics, weights=weights, loss_columns="loss/(.*)").frame.equals(frame)
