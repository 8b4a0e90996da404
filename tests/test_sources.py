"""sources/__init__.py: naming a tracking tool's runs as ``<scheme>:<location>``, typing text as a CSV reader
does, and what ``runs.read`` refuses around sources. Each tool's reader has its own test file
(``test_sources_mlflow.py``, ``test_sources_tensorboard.py``, ``test_sources_wandb.py``)."""

import json
import textwrap

import polars as pl
import pytest

from scalemix import runs, sources
from scalemix.errors import RunTableError
from test_base_install import run_on_base_install


@pytest.mark.parametrize("source, parsed", [
    ("mlflow:proxy-sweep", ("mlflow", "proxy-sweep")),
    ("tensorboard:logs/run:1", ("tensorboard", "logs/run:1")),  # only the first colon separates
    ("wandb:./wandb", ("wandb", "./wandb")),
    ("runs.csv", None),
    ("C:/runs/metrics.csv", None),  # a drive letter is no scheme
    ("chinchilla", None),
])
def test_a_source_is_a_known_scheme_and_a_location(source, parsed):
    assert sources.parse(source) == parsed


def test_a_scheme_without_a_location_says_what_to_write():
    with pytest.raises(RunTableError, match=r"^'mlflow:': name what to read after 'mlflow:', e.g. mlflow:proxy-sweep$"):
        runs.read("mlflow:")


def test_source_options_are_refused_where_they_mean_nothing(tmp_path):
    with pytest.raises(RunTableError, match=r"^wandb:x: tracking_uri is MLflow's option; a wandb source has none"):
        runs.read("wandb:x", tracking_uri="sqlite:///mlflow.db")
    path = tmp_path / "runs.csv"
    pl.DataFrame({"run_id": ["a"], "params": [1e6], "tokens": [1e9], "target": ["t"], "loss": [3.0]}).write_csv(path)
    with pytest.raises(RunTableError, match=r"runs.csv: option 'history' is for a tracking source .*; drop it$"):
        runs.read(path, history=True)
    with pytest.raises(RunTableError, match=r"option 'tracking_uri' is for a tracking source"):
        runs.read(path, tracking_uri="sqlite:///mlflow.db")


def test_text_is_typed_as_a_csv_reader_types_it(tmp_path):
    frame = pl.DataFrame({"whole": ["1", "20", None], "real": ["0.5", "1e7", "3"], "text": ["a", "1", "2"],
                          "kept": ["1", "2", "3"]}, schema=dict.fromkeys(("whole", "real", "text", "kept"), pl.Utf8))
    typed = sources.typed_like_csv(frame, ["whole", "real", "text"])
    assert typed.schema == {"whole": pl.Int64, "real": pl.Float64, "text": pl.Utf8, "kept": pl.Utf8}
    assert typed["whole"].to_list() == [1, 20, None] and typed["real"].to_list() == [0.5, 1e7, 3.0]
    frame.write_csv(tmp_path / "same.csv")
    assert pl.read_csv(tmp_path / "same.csv").schema == sources.typed_like_csv(frame).schema
    assert sources.typed_like_csv(frame, []).equals(frame)  # no columns named: none typed


BASE_INSTALL = textwrap.dedent("""
    import json
    from scalemix import runs
    said = {}
    for source in ("mlflow:proxy-sweep", "tensorboard:logs", "wandb:wandb"):
        try:
            runs.read(source)
        except Exception as error:
            said[source] = [type(error).__name__, str(error)]
    print(json.dumps(said))
""")


def test_without_the_extra_a_source_names_the_extra_to_install(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "wandb" / "offline-run-1-x").mkdir(parents=True)
    (tmp_path / "wandb" / "offline-run-1-x" / "run-x.wandb").write_bytes(b"")  # where W&B's log would be
    done = run_on_base_install(BASE_INSTALL, tmp_path)
    said = json.loads(done.stdout.strip().splitlines()[-1])
    for source, extra in (("mlflow:proxy-sweep", "mlflow"), ("tensorboard:logs", "tensorboard"), ("wandb:wandb", "wandb")):
        kind, message = said[source]
        assert kind == "RunTableError" and "\n" not in message
        assert message.endswith(f"pip install 'scalemix[{extra}]'"), message
