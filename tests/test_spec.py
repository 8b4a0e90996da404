"""optimize/spec.py: mixtures and caps as users write them, inline or in a JSON/TOML file (only read)."""

import json

import pytest

from scalemix.errors import OptimizeError
from scalemix.optimize import spec


def test_inline_pairs_and_files_read_the_same_mapping(tmp_path):
    expected = {"github": 0.1, "arxiv": 0.25}
    assert spec.read_mapping("github=0.1, arxiv = 0.25,", "--kl-to") == expected
    (tmp_path / "m.json").write_text(json.dumps(expected))
    (tmp_path / "m.toml").write_text("github = 0.1\narxiv = 0.25\n")
    assert spec.read_mapping(str(tmp_path / "m.json"), "--kl-to") == expected
    assert spec.read_mapping(str(tmp_path / "m.toml"), "--kl-to") == expected


def test_caps_files_hold_tokens_per_domain_and_epochs(tmp_path):
    (tmp_path / "caps.toml").write_text("max_epochs = 4\n[available_tokens]\nc = 1.5e8\n")
    (tmp_path / "flat.json").write_text('{"c": 1.5e8, "d": 2}')
    assert spec.read_caps(str(tmp_path / "caps.toml")) == ({"c": 1.5e8}, 4.0)
    assert spec.read_caps(str(tmp_path / "flat.json")) == ({"c": 1.5e8, "d": 2.0}, None)


def test_what_cannot_be_read_is_named(tmp_path):
    with pytest.raises(OptimizeError, match=r"--max 'a0.3' is not KEY=VALUE"):
        spec.read_mapping("a0.3", "--max")
    with pytest.raises(OptimizeError, match=r"--max: a = 'x' is not a number"):
        spec.read_mapping("a=x", "--max")
    with pytest.raises(OptimizeError, match="no such file"):
        spec.read_mapping(str(tmp_path / "none.toml"), "--max")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(OptimizeError, match="expected a table of name -> number, got list"):
        spec.read_caps(str(tmp_path / "bad.json"))
    with pytest.raises(OptimizeError, match="no such .json/.toml file"):
        spec.read_caps("caps.txt")
