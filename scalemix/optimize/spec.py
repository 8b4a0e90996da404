"""Mixtures, priors and data caps as users write them: ``a=0.3,b=0.7`` inline, or a JSON/TOML file.

A file holds a flat table ``{name: number}``; a caps file may instead hold ``available_tokens = {...}``
and ``max_epochs = 4``. Files are only read, never run.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Mapping

from scalemix.errors import OptimizeError


def read_pairs(text: str, option: str, example: str, error=OptimizeError) -> dict[str, str]:
    """``"a=0.3, b=x"`` -> ``{"a": "0.3", "b": "x"}``; a pair that is not KEY=VALUE raises ``error``
    naming ``option`` and an ``example``."""
    content = {}
    for pair in (p for p in text.split(",") if p.strip()):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise error(f"{option} {pair!r} is not KEY=VALUE (e.g. {option} {example})")
        content[key.strip()] = value.strip()
    return content


def read_mapping(text: str, option: str) -> dict[str, float]:
    """``a=0.3,b=0.7`` or a ``.json``/``.toml`` file of ``{name: number}`` -> dict."""
    content = _file_content(text, option)
    if content is None:
        content = read_pairs(text, option, "github=0.1,arxiv=0.2, or a .json/.toml file")
    return _numbers(content, option)


def read_caps(path: str) -> tuple[dict[str, float], float | None]:
    """A caps file: ``(available tokens per domain, max_epochs or None)``."""
    content = _file_content(path, "--cap-from")
    if content is None:
        raise OptimizeError(f"--cap-from {path!r}: no such .json/.toml file (available tokens per domain)")
    epochs = content.pop("max_epochs", None)
    available = content.pop("available_tokens", content)
    return _numbers(available, "--cap-from"), None if epochs is None else float(epochs)


def _file_content(text: str, option: str) -> dict | None:
    path = Path(text)
    if path.suffix.lower() not in (".json", ".toml"):
        return None
    if not path.is_file():
        raise OptimizeError(f"{option} {text!r}: no such file")
    try:
        content = json.loads(path.read_text()) if path.suffix.lower() == ".json" else tomllib.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise OptimizeError(f"{option} {text}: not valid {path.suffix[1:].upper()}: {error}") from None
    if not isinstance(content, dict):
        raise OptimizeError(f"{option} {text}: expected a table of name -> number, got {type(content).__name__}")
    return content


def _numbers(content: Mapping, option: str) -> dict[str, float]:
    parsed = {}
    for key, value in content.items():
        try:
            parsed[str(key)] = float(value)
        except (TypeError, ValueError):
            raise OptimizeError(f"{option}: {key} = {value!r} is not a number") from None
    return parsed
