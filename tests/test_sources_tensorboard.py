"""``tensorboard:DIR``: runs logged with TensorBoard's own event writer read to the same table as a CSV of the
values logged; hyper-parameters from the hparams plugin or a config file; restarts; and one-line errors.

TensorFlow and torch are not installed here, so the event files are written as they write them, with the
``tensorboard`` package itself: ``EventFileWriter`` (the writer under tensorboardX / ``torch.utils.tensorboard``)
with TF1-style ``simple_value`` summaries, TF2-style tensors from ``tensorboard.plugins.scalar.summary_v2.scalar_pb``
(the proto ``tf.summary.scalar`` writes), and the hparams plugin's summaries from
``tensorboard.plugins.hparams.summary_v2.hparams_pb`` / ``hparams_config_pb``, which build them without TensorFlow.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from _support import refused
from scalemix import runs
from scalemix.cli import main
from scalemix.errors import RunTableError
from scalemix.sources import tensorboard

MAPPING = {
    "params": "hparams.n_params",
    "tokens": "hparams.tokens",
    "loss_columns": r"val/(.*)_loss",
    "weight_columns": r"hparams\.mix\.(.*)",
}

HPARAMS = {
    "a": {"n_params": 1e8, "tokens": 2e9, "mix.en": 0.75, "mix.de": 0.25, "optimizer": "adam"},
    "b": {"n_params": 3e8, "tokens": 6e9, "mix.en": 0.5, "mix.de": 0.5, "optimizer": "adam"},
    "sweep/c": {"n_params": 1e9, "tokens": 2e10, "mix.en": 0.25, "mix.de": 0.75, "optimizer": "sgd"},
}
"""Each run's hyper-parameters, as the table names them after ``hparams.``."""

HPARAMS_FROM = {"a": "plugin", "b": "config.json", "sweep/c": "config.toml"}

EVENT_FILES = {
    "a": [("simple_value", [(0, "train/loss", 5.0), (0, "val/en_loss", 4.5), (0, "val/de_loss", 4.75),
                            (50, "train/loss", 4.0),
                            (100, "train/loss", 3.5), (100, "val/en_loss", 3.3), (100, "val/de_loss", 3.6)])],
    "b": [("tensor", [(0, "train/loss", 4.8), (0, "val/en_loss", 4.2), (0, "val/de_loss", 4.4),
                      (50, "train/loss", 3.9),
                      (100, "train/loss", 3.1), (100, "val/en_loss", 3.05), (100, "val/de_loss", 3.2)])],
    # a job that logged up to step 100, crashed, and restarted from its step-100 checkpoint (a second file)
    "sweep/c": [
        ("simple_value", [(0, "train/loss", 4.6), (0, "val/en_loss", 4.1), (0, "val/de_loss", 4.3),
                          (50, "train/loss", 3.7), (100, "train/loss", 3.4), (100, "val/en_loss", 3.9)]),
        ("tensor", [(100, "train/loss", 2.95), (100, "val/en_loss", 2.99),
                    (150, "train/loss", 2.9), (150, "val/en_loss", 2.95), (150, "val/de_loss", 3.1)]),
    ],
}
"""Each run's event files in the order its job wrote them: (how scalars are written, [(step, tag, value)])."""


# -- writing runs as TensorBoard does ------------------------------------------------------------------------


def write_events(folder: Path, summaries: list[tuple[int, summary_pb2.Summary]]) -> None:
    """One event file in ``folder`` holding ``(step, summary)`` events, written with TensorBoard's writer."""
    writer = EventFileWriter(str(folder))
    for step, summary in summaries:
        writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
    writer.close()


def scalar(style: str, tag: str, value: float) -> summary_pb2.Summary:
    """A scalar summary as TF1 / tensorboardX / torch write it (``simple_value``) or as TF2 does (a tensor of the
    ``scalars`` plugin)."""
    if style == "simple_value":
        return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    return scalar_summary.scalar_pb(tag, value)


def image_and_histogram() -> summary_pb2.Summary:
    """Non-scalar summaries (an image, a histogram), which the reader must leave out."""
    image = summary_pb2.Summary.Image(height=1, width=1, colorspace=1, encoded_image_string=b"not a png")
    histogram = summary_pb2.HistogramProto(min=0.0, max=1.0, num=2, sum=1.0, bucket_limit=[1.0], bucket=[2.0])
    return summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag="samples", image=image),
        summary_pb2.Summary.Value(tag="weights", histo=histogram),
    ])


def nested(flat: dict) -> dict:
    """``{"mix.en": 0.5}`` -> ``{"mix": {"en": 0.5}}``: how a config file holds the dotted names."""
    tree: dict = {}
    for name, value in flat.items():
        *tables, key = name.split(".")
        node = tree
        for table in tables:
            node = node.setdefault(table, {})
        node[key] = value
    return tree


def toml_text(tree: dict) -> str:
    """``tree`` (values, then one level of tables) as TOML, whose floats and strings JSON writes as TOML does."""
    keys = [f"{k} = {json.dumps(v)}" for k, v in tree.items() if not isinstance(v, dict)]
    tables = [f"[{k}]\n" + "\n".join(f"{n} = {json.dumps(v)}" for n, v in table.items())
              for k, table in tree.items() if isinstance(table, dict)]
    return "\n".join(keys + tables) + "\n"


def write_run(folder: Path, run_id: str) -> None:
    """Run ``run_id`` of EVENT_FILES / HPARAMS in ``folder``, its hyper-parameters where HPARAMS_FROM says."""
    folder.mkdir(parents=True)
    where = HPARAMS_FROM[run_id]
    if where == "config.json":
        (folder / where).write_text(json.dumps(nested(HPARAMS[run_id])))
    elif where == "config.toml":
        (folder / where).write_text(toml_text(nested(HPARAMS[run_id])))
    else:  # the plugin wins over a config file beside it
        (folder / "config.json").write_text(json.dumps({"n_params": 5, "note": "not read"}))
    for number, (style, events) in enumerate(EVENT_FILES[run_id]):
        if number:  # a restarted job starts later: its file's name (which begins with the time) sorts after
            time.sleep(1.01 - time.time() % 1)
        summaries = [(step, scalar(style, tag, value)) for step, tag, value in events]
        if number == 0 and where == "plugin":
            summaries.insert(0, (0, hparams_summary.hparams_pb(HPARAMS[run_id], trial_id=run_id)))
        if run_id == "a":
            summaries.append((100, image_and_histogram()))
        write_events(folder, summaries)


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    """A sweep folder as the hparams API lays one out: the experiment's summary on top, a folder per run."""
    root = tmp_path_factory.mktemp("tensorboard") / "logs"
    for run_id in EVENT_FILES:
        write_run(root / run_id, run_id)
    experiment = hparams_summary.hparams_config_pb(
        hparams=[hparams_summary.HParam(name) for name in HPARAMS["a"]],
        metrics=[hparams_summary.Metric("val/en_loss"), hparams_summary.Metric("val/de_loss")],
    )
    write_events(root, [(0, experiment)])
    return root


# -- the same runs as a CSV, from the values logged ------------------------------------------------------------


def logged(run_id: str) -> dict[str, dict[int, float]]:
    """Tag -> {step: value} of a run, each event file read in the order it was written (later wins)."""
    values: dict[str, dict[int, float]] = {}
    for _, events in EVENT_FILES[run_id]:
        for step, tag, value in events:
            values.setdefault(tag, {})[step] = value
    return values


def csv_of_logged_values(path: Path, history: bool) -> Path:
    """The runs as a CSV: one row per run holding each tag's last value, or one per (run, step)."""
    rows = []
    for run_id in sorted(EVENT_FILES):
        constants = {"run_id": run_id, **{f"hparams.{k}": v for k, v in HPARAMS[run_id].items()}}
        scalars = logged(run_id)
        if history:
            steps = sorted({step for by_step in scalars.values() for step in by_step})
            rows += [{**constants, "step": s, **{t: v.get(s) for t, v in scalars.items()}} for s in steps]
        else:
            rows.append({**constants, **{t: v[max(v)] for t, v in scalars.items()}})
    pl.DataFrame(rows).write_csv(path)
    return path


@pytest.fixture(scope="module")
def raw(logs) -> pl.DataFrame:
    return tensorboard.read(str(logs))


@pytest.fixture(scope="module")
def raw_history(logs) -> pl.DataFrame:
    return tensorboard.read(str(logs), history=True)


def test_read_equals_the_csv_of_the_values_logged(logs, tmp_path):
    table = runs.read(f"tensorboard:{logs}", **MAPPING)
    expected = runs.read(csv_of_logged_values(tmp_path / "runs.csv", history=False), **MAPPING)
    assert table.fingerprint() == expected.fingerprint()
    assert table.runs == ("a", "b", "sweep/c")
    assert table.domains == table.targets == ("de", "en")


def test_history_equals_the_csv_of_step_rows(logs, tmp_path):
    table = runs.read(f"tensorboard:{logs}", history=True, **MAPPING)
    expected = runs.read(csv_of_logged_values(tmp_path / "steps.csv", history=True), **MAPPING)
    assert table.fingerprint() == expected.fingerprint()
    assert sorted(table.frame["step"].unique()) == [0, 100, 150]  # step 50 logged train/loss only: set aside


def test_spec_names_the_folder_relative_to_itself(logs, tmp_path, capsys):
    spec = logs.parent / "runs.toml"
    spec.write_text(
        '[runs]\nmetrics = "tensorboard:logs"\nparams = "hparams.n_params"\ntokens = "hparams.tokens"\n'
        "loss_columns = 'val/(.*)_loss'\nweight_columns = 'hparams\\.mix\\.(.*)'\n"
    )
    expected = runs.read(csv_of_logged_values(tmp_path / "runs.csv", history=False), **MAPPING).fingerprint()
    assert runs.read(spec).fingerprint() == expected
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(["inspect", str(spec), "--json"])
    assert stopped.value.code == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"] == expected


def test_raw_table_has_run_id_hparams_then_tags(raw):
    hparams = sorted(f"hparams.{name}" for name in HPARAMS["a"])
    assert raw.columns == ["run_id", *hparams, "train/loss", "val/de_loss", "val/en_loss"]  # no image, histogram
    assert raw["run_id"].to_list() == ["a", "b", "sweep/c"]  # the sweep's experiment summary on top is no run
    assert raw.schema["hparams.n_params"] == pl.Float64 and raw.schema["hparams.optimizer"] == pl.Utf8


def test_hparams_come_from_the_plugin_else_a_config_file(raw):
    for run_id, row in zip(raw["run_id"], raw.iter_rows(named=True)):
        assert {k.removeprefix("hparams."): v for k, v in row.items() if k.startswith("hparams.")} == HPARAMS[run_id]
    assert "hparams.note" not in raw.columns  # run a's config.json is not read: its events hold the hparams


def test_simple_value_and_tensor_scalars_read_as_logged(raw):
    by_run = {row["run_id"]: row for row in raw.iter_rows(named=True)}
    assert (by_run["a"]["val/en_loss"], by_run["b"]["val/en_loss"]) == (3.3, 3.05)  # float32 read back as logged


def test_a_restarted_run_is_one_run_where_the_later_event_wins(raw, raw_history):
    restarted = raw.filter(pl.col("run_id") == "sweep/c").row(0, named=True)
    assert (restarted["train/loss"], restarted["val/en_loss"], restarted["val/de_loss"]) == (2.9, 2.95, 3.1)
    at_100 = raw_history.filter((pl.col("run_id") == "sweep/c") & (pl.col("step") == 100)).row(0, named=True)
    assert (at_100["train/loss"], at_100["val/en_loss"], at_100["val/de_loss"]) == (2.95, 2.99, None)


def test_history_has_a_row_per_step_with_nulls(raw_history):
    assert raw_history.schema["step"] == pl.Int64
    assert raw_history.select("run_id", "step").rows() == [
        ("a", 0), ("a", 50), ("a", 100), ("b", 0), ("b", 50), ("b", 100),
        ("sweep/c", 0), ("sweep/c", 50), ("sweep/c", 100), ("sweep/c", 150),
    ]
    at_50 = raw_history.filter((pl.col("run_id") == "b") & (pl.col("step") == 50)).row(0, named=True)
    assert (at_50["train/loss"], at_50["val/en_loss"], at_50["hparams.n_params"]) == (3.9, None, 3e8)


def test_a_folder_holding_events_itself_is_run_dot(tmp_path):
    write_events(tmp_path, [(7, scalar("tensor", "val/en_loss", 2.5))])
    assert tensorboard.read(str(tmp_path)).rows() == [(".", 2.5)]


def test_run_ids_are_the_folder_names_as_written(tmp_path):
    for name, loss in (("007", 2.5), ("010", 2.25)):
        write_events(tmp_path / name, [(7, scalar("tensor", "val/en_loss", loss))])
    assert tensorboard.read(str(tmp_path)).rows() == [("007", 2.5), ("010", 2.25)]  # not read as numbers


# -- errors -------------------------------------------------------------------------------------------------------


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nope"
    with pytest.raises(RunTableError, match="no such folder"):
        tensorboard.read(str(missing))
    refused(capsys, ["inspect", f"tensorboard:{missing}"], f"tensorboard:{missing}: no such folder")


def test_a_folder_without_event_files_says_what_it_holds(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no runs yet")
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(RunTableError, match=r"no TensorBoard event files .* holds checkpoints/, notes.txt"):
        tensorboard.read(str(tmp_path))
    refused(capsys, ["inspect", f"tensorboard:{tmp_path}"], "events.out.tfevents", "notes.txt")


def test_a_run_without_scalars_is_named(tmp_path):
    write_events(tmp_path / "images-only", [(0, image_and_histogram())])
    with pytest.raises(RunTableError, match=r"run 'images-only' .* no scalar summaries \(tags: samples, weights\)"):
        tensorboard.read(str(tmp_path))


def test_a_sweep_described_but_not_run_is_no_table(tmp_path):
    experiment = hparams_summary.hparams_config_pb(hparams=[hparams_summary.HParam("n_params")], metrics=[])
    write_events(tmp_path, [(0, experiment)])
    with pytest.raises(RunTableError, match="hold only an hparams experiment summary, no run with scalars"):
        tensorboard.read(str(tmp_path))


def test_a_config_file_that_cannot_be_parsed_is_named(tmp_path):
    write_events(tmp_path / "r1", [(0, scalar("simple_value", "val/en_loss", 3.0))])
    (tmp_path / "r1" / "config.toml").write_text("n_params = = 1e8\n")
    with pytest.raises(RunTableError, match=r"run 'r1': cannot parse .*r1/config\.toml"):
        tensorboard.read(str(tmp_path))


def test_a_mapping_that_matches_nothing_lists_the_columns(logs):
    with pytest.raises(RunTableError) as error:
        runs.read(f"tensorboard:{logs}", **{**MAPPING, "loss_columns": r"eval/(.*)_loss"})
    line = str(error.value)
    assert "\n" not in line and f"tensorboard:{logs}: loss_columns='eval/(.*)_loss' matches no column" in line
    assert "'val/en_loss'" in line and "'train/loss'" in line
