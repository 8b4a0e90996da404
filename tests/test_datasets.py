"""Embedded datasets: exact counts and values against the original files, licences, provenance."""

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from scalemix import datasets
from scalemix.errors import RunTableError
from scalemix.proxy import mixtures
from scalemix.runs import read

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
EMBEDDED = Path(datasets.__file__).parent / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")


def test_names_and_one_line_descriptions():
    assert datasets.names() == [
        "chinchilla",
        "chinchilla-all",
        "olmix-dclm",
        "olmix-s2pdf",
        "proxy-mnmt",
        "proxy-transfer",
        "regmix-1m-test",
        "regmix-1m-train",
        "regmix-60m-test",
    ]
    for name in datasets.names():
        assert "\n" not in datasets.describe(name) and len(datasets.describe(name)) > 20


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(RunTableError, match=r"unknown dataset 'pile'; known datasets: chinchilla, chinchilla-all"):
        datasets.recipe("pile")
    with pytest.raises(RunTableError, match=r"'pile' is neither a file nor a dataset; known datasets: chinchilla, chinchilla-all"):
        read("pile")
    with pytest.raises(RunTableError, match="takes no options"):
        read("chinchilla", strict=True)


def test_every_folder_ships_licence_and_provenance():
    folders = sorted(p.name for p in EMBEDDED.iterdir() if p.is_dir())
    assert folders == ["chinchilla", "olmix", "proxy_mnmt", "proxy_transfer", "regmix"]
    for folder in folders:
        assert (EMBEDDED / folder / "LICENSE").read_text().strip()
        assert "**Rows dropped.**" in (EMBEDDED / folder / "PROVENANCE.md").read_text()


def test_chinchilla_is_the_240_points_epoch_fits():
    table = read("chinchilla")
    assert len(table) == 240 and len(table.runs) == 240 and table.targets == ("massivetext",)
    assert table.frame.columns == ["run_id", "params", "tokens", "target", "loss", "flops"]
    assert table.source == "chinchilla" and table.loss_unit == "nats" and table.domains == ()
    # the 5 highest losses of the digitisation are data rows 1-5; the next highest is 3.395... (row 6)
    assert table.rejected["row"].to_list() == [1, 2, 3, 4, 5]
    assert table.rejected["value"].to_list()[0] == "5.005581996196243"
    assert table.frame["loss"].max() == 3.4059279641864753
    assert "set aside the 5 highest-loss rows" in table.notes[-1]
    first_kept = table.frame.row(0, named=True)  # data row 6 of the CSV
    assert first_kept["run_id"] == "chinchilla-005"
    assert first_kept["params"] == 1730543416.124146
    assert first_kept["tokens"] == 9.08578900048968e18 / (6 * 1730543416.124146)
    assert first_kept["loss"] == 3.395737776160633


def test_chinchilla_all_keeps_all_245():
    table = read("chinchilla-all")
    assert len(table) == 245 and table.rejected.height == 0 and table.notes == ()
    assert table.frame["loss"].sum() == pytest.approx(655.0320929323954, rel=1e-14)
    assert table.runs[0] == "chinchilla-000" and table.runs[-1] == "chinchilla-244"


REGMIX_TARGETS = (
    "arxiv", "freelaw", "pubmed_central", "wikipedia_en", "dm_mathematics", "github", "stackexchange",
    "gutenberg_pg_19", "pile_cc", "ubuntu_irc", "hackernews", "pubmed_abstracts", "uspto_backgrounds",
)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "runs", "params", "renormalised"),
    [("regmix-1m-train", 512, 1e6, 303), ("regmix-1m-test", 256, 1e6, 133), ("regmix-60m-test", 256, 6e7, 133)],
)
def test_regmix_counts_targets_domains_and_renormalisation(name, runs, params, renormalised):
    table = read(name)
    assert len(table.runs) == runs and len(table) == runs * 13
    assert table.targets == REGMIX_TARGETS
    assert len(table.domains) == 17 and table.domains[0] == "arxiv" and "pile_cc" in table.domains
    assert table.frame["params"].unique().to_list() == [params]
    assert table.frame["tokens"].unique().to_list() == [1e9]
    assert table.notes == (f"renormalised the weights of {renormalised} rows of "
                           f"{'train' if 'train' in name else 'test'}_mixture_1m.csv whose sums were "
                           f"{'0.996' if 'train' in name else '0.997'} to 1.003 (within 0.01 of 1)",)  # fmt: skip
    sums = table.frame.select(pl.sum_horizontal(pl.col("^w\\..*$")))
    assert (sums.to_series() - 1).abs().max() < 1e-12


def test_regmix_values_match_the_csv():
    train = read("regmix-1m-train").frame
    run1 = train.filter(pl.col("run_id") == "1")
    assert run1.filter(pl.col("target") == "arxiv")["loss"].item() == 7.0255866050720215
    assert run1["w.pile_cc"][0] == 0.787  # row 1 sums to exactly 1: left as written
    assert train.filter(pl.col("run_id") == "2")["w.pile_cc"][0] == 0.299 / 0.998  # a rounded row, renormalised


def test_regmix_renormalised_weights_are_exactly_share_over_row_sum():
    """Every weight equals the CSV value divided by its row's sum (left to right), to the last bit."""
    raw = pl.read_csv(EMBEDDED / "regmix" / "train_mixture_1m.csv")
    domains = [c.removeprefix("train_the_pile_") for c in raw.columns[1:]]
    expected = {}
    for index, *shares in raw.iter_rows():
        total = sum(shares)
        expected[str(index)] = [s / total if abs(total - 1) > 1e-9 else s for s in shares]
    table = read("regmix-1m-train").frame.unique("run_id", maintain_order=True)
    got = {run: list(shares) for run, *shares in table.select("run_id", *(f"w.{d}" for d in domains)).iter_rows()}
    assert got == expected
    sixty = read("regmix-60m-test").frame
    assert sixty.filter((pl.col("run_id") == "1") & (pl.col("target") == "arxiv"))["loss"].item() == 2.9710326194763184
    assert sixty.filter(pl.col("target") == "pile_cc")["loss"].sum() == pytest.approx(1195.2113180160522, rel=1e-13)


def test_regmix_test_sets_share_their_mixtures():
    one, sixty = read("regmix-1m-test").frame, read("regmix-60m-test").frame
    weights = pl.col("^w\\..*$")
    assert one.select("run_id", weights).equals(sixty.select("run_id", weights))
    assert not one["loss"].equals(sixty["loss"])


def test_olmix_dclm_is_sparse_bits_per_byte_with_name_kept_and_index_dumps_ignored():
    table = read("olmix-dclm")
    assert len(table.runs) == 127 and len(table.targets) == 110 and len(table.domains) == 24
    assert len(table) == 127 * 110
    assert table.loss_unit == "bits per byte"
    assert table.notes == ("ignored columns '', 'index' (ignore_columns)",)
    assert table.frame.columns[-1] == "name" and "index" not in table.frame.columns and "" not in table.frame.columns
    assert table.runs[0] == "19g3guks" and table.runs[-1] == "ja7aho1s"
    last = table.frame.filter(pl.col("run_id") == "ja7aho1s")
    assert last["name"][0] == "dclm-datadelve-5xC-30m-62e7dc06-0127"
    assert last.filter(pl.col("target") == "arc_challenge:rc::olmes")["loss"].item() == 1.3737534029377867
    first = table.frame.filter(pl.col("run_id") == "19g3guks").row(0, named=True)
    assert (first["w.entertainment"], first["w.health"], first["w.social_life"]) == (0.2, 0.1, 0.7000000000000001)
    nonzero = table.frame.unique("run_id").select(pl.sum_horizontal(pl.col("^w\\..*$") > 0)).to_series()
    assert nonzero.median() == 3


def test_olmix_s2pdf_is_64_runs_over_22_domains_in_bits_per_byte():
    table = read("olmix-s2pdf")
    assert len(table.runs) == 64 and len(table.targets) == 110 and len(table.domains) == 22 and len(table) == 64 * 110
    assert table.loss_unit == "bits per byte" and table.rejected.height == 0
    assert "existing" in table.domains and "s2pdfv1:adult" in table.domains
    first = table.frame.filter(pl.col("run_id") == "hi7doihy")
    assert first.filter(pl.col("target") == "arc_challenge:rc::olmes")["loss"].item() == 1.5218056749026634
    assert first["w.existing"][0] == 0.6344365563443658 and first["w.s2pdfv1:crime_law"][0] == 0.021897810218978103
    nonzero = table.frame.unique("run_id").select(pl.sum_horizontal(pl.col("^w\\..*$") > 0)).to_series()
    assert nonzero.median() == 10


def test_info_is_json_with_source_licence_row_units_and_the_table_counts():
    info = datasets.info("olmix-dclm")
    summary = read("olmix-dclm").summary()
    assert info["licence"] == "Apache-2.0" and summary["loss_unit"] == "bits per byte"
    assert (summary["rows"], summary["runs"], len(summary["targets"]), len(summary["domains"])) == (13970, 127, 110, 24)
    assert "BITS PER BYTE" in info["units"] and "olmix/PROVENANCE.md" in info["files"]
    assert read("chinchilla").summary()["rows"] == 240
    json.dumps(info)


def test_read_resolves_dataset_names_through_their_recipe():
    recipe = datasets.recipe("chinchilla-all")
    assert read("chinchilla-all").fingerprint() == read(recipe.data, **recipe.options).fingerprint()


# --- against the original files in ../shared/data --------------------------------------------------------


@needs_shared
@pytest.mark.parametrize(
    ("shipped", "original"),
    [
        ("chinchilla/svg_extracted_data.csv", "chinchilla/svg_extracted_data.csv"),
        ("chinchilla/LICENSE", "hitchhiker_colpret/LICENSE.ColPret"),
        ("regmix/train_mixture_1m.csv", "regmix/train_mixture_1m.csv"),
        ("regmix/train_pile_loss_1m.csv", "regmix/train_pile_loss_1m.csv"),
        ("regmix/test_mixture_1m.csv", "regmix/test_mixture_60m.csv"),
        ("regmix/test_pile_loss_1m.csv", "regmix/test_pile_loss_1m.csv"),
        ("regmix/test_pile_loss_60m.csv", "regmix/test_pile_loss_60m.csv"),
        ("regmix/LICENSE", "regmix/LICENSE.regmix"),
        ("olmix/dclm_ratios.csv", "olmix/dclm_ratios.csv"),
        ("olmix/dclm_metrics.csv", "olmix/dclm_metrics.csv"),
        ("olmix/full_reuse_update_5_seed_0_ratios.csv", "olmix/full_reuse_update_5_seed_0_ratios.csv"),
        ("olmix/full_reuse_update_5_seed_0_metrics.csv", "olmix/full_reuse_update_5_seed_0_metrics.csv"),
        ("olmix/LICENSE", "olmix/LICENSE.olmix"),
    ],
)
def test_shipped_files_are_unchanged_copies(shipped, original):
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    assert digest(EMBEDDED / shipped) == digest(SHARED / original)


@needs_shared
@pytest.mark.parametrize(
    ("name", "weights", "metrics", "params"),
    [
        ("regmix-1m-train", "train_mixture_1m", "train_pile_loss_1m", "1e6"),
        ("regmix-1m-test", "test_mixture_1m", "test_pile_loss_1m", "1e6"),
        ("regmix-60m-test", "test_mixture_60m", "test_pile_loss_60m", "6e7"),
    ],
)
def test_a_user_spec_over_the_original_regmix_files_gives_the_embedded_table(tmp_path, name, weights, metrics, params):
    spec = tmp_path / "regmix.toml"
    spec.write_text(
        f'[runs]\nweights = "{SHARED / "regmix" / weights}.csv"\nmetrics = "{SHARED / "regmix" / metrics}.csv"\n'
        'join = "index"\nweight_columns = "train_the_pile_(.*)"\nloss_columns = "metric/the_pile_(.*)_val_loss"\n'
        f"params = {params}\ntokens = 1e9\n"
    )
    assert read(spec).fingerprint() == read(name).fingerprint()


@needs_shared
def test_a_user_spec_over_the_original_olmix_files_gives_the_embedded_table(tmp_path):
    spec = (EMBEDDED / "olmix" / "olmix-dclm.toml").read_text()
    for file in ("dclm_ratios.csv", "dclm_metrics.csv"):
        spec = spec.replace(f'"{file}"', f'"{SHARED / "olmix" / file}"')
    (tmp_path / "olmix.toml").write_text(spec)
    assert read(tmp_path / "olmix.toml").fingerprint() == read("olmix-dclm").fingerprint()


def test_proxy_transfer_is_the_261_runs_its_provenance_describes():
    """The file's checksum and counts as PROVENANCE.md states them; epochs.<lang> = w.<lang> tokens / unique.<lang>."""
    path = EMBEDDED / "proxy_transfer" / "runs.csv"
    assert hashlib.sha256(path.read_bytes()).hexdigest() in (EMBEDDED / "proxy_transfer" / "PROVENANCE.md").read_text()
    table = read("proxy-transfer")
    assert len(table) == 1506 and len(table.runs) == 261 and table.rejected.height == 0 and table.notes == ()
    runs_per_cohort = dict(table.frame.group_by("cohort").agg(pl.col("run_id").n_unique()).iter_rows())
    assert runs_per_cohort == {"mono": 24, "pairs": 15, "dirichlet": 48, "dirichlet-test": 24, "clone": 12, "clone-half": 3, "repeat": 15,
                               "mono-half": 24, "dirichlet-half": 48, "dirichlet-sparse": 24, "mono-half-batch": 24}
    repeat = table.frame.filter((pl.col("cohort") == "repeat") & (pl.col("target") == "de"))
    assert sorted(repeat["epochs.de"].unique().to_list()) == [1.0, 2.0, 4.0, 8.0, 16.0]
    for lang in ("en", "de", "fr", "ru", "ja", "hi"):
        rows = table.frame.filter(pl.col(f"unique.{lang}").is_not_null())
        expected = rows[f"w.{lang}"] * rows["tokens"] / rows[f"unique.{lang}"]
        assert (rows[f"epochs.{lang}"] - expected).abs().max() < 1e-5


def test_proxy_transfer_held_out_and_half_runs_are_as_designed():
    """The sparse held-out mixtures are the preset's Dirichlet(0.3) draws (seed 2) at d 32-96; both half cohorts
    hold half the full budget's tokens, one by half the steps and one by half the batch."""
    langs = ["en", "de", "fr", "ru", "ja", "hi"]
    frame = read("proxy-transfer").frame
    sparse = frame.filter(pl.col("cohort") == "dirichlet-sparse").unique(["run_id"])
    assert sorted(sparse["d_model"].unique().to_list()) == [32, 48, 64, 96]
    drawn = mixtures.dirichlet(langs, n=6, alpha=0.3, seed=2)
    for d in (32, 48, 64, 96):
        got = sparse.filter(pl.col("d_model") == d).select([f"w.{lang}" for lang in langs]).to_numpy()
        np.testing.assert_allclose(got[np.lexsort(got.T)], drawn[np.lexsort(drawn.T)], atol=1e-9)
    budget = {c: frame.filter(pl.col("cohort") == c).select("steps", "batch_size", "tokens").unique().rows()
              for c in ("mono", "mono-half", "mono-half-batch")}
    assert budget == {"mono": [(2048, 8, 2097152.0)], "mono-half": [(1024, 8, 1048576.0)], "mono-half-batch": [(2048, 4, 1048576.0)]}
